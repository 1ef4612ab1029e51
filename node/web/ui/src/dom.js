// A few helpers to build the DOM without a framework.

// h makes an element: h("button", {class: "x", onclick: f}, "text", child).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function fmtTime(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d) || d.getFullYear() < 2000) return "";
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// copyButton copies text and says so.
export function copyButton(text, label = "Copy") {
  const b = h("button", { type: "button", class: "copy" }, label);
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard refused (not focused, or no permission): select a
      // hidden field's text instead, and let the user press Ctrl-C.
      const t = h("textarea", { class: "offscreen", "aria-hidden": "true" }, text);
      document.body.append(t);
      t.select();
      document.execCommand("copy");
      t.remove();
    }
    b.textContent = "Copied";
    b.setAttribute("aria-live", "polite");
    setTimeout(() => (b.textContent = label), 1500);
  });
  return b;
}

// errorBox shows what went wrong, where the user looks.
export function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, err?.message || String(err));
}

// dialog opens a modal dialog with content; returns it (close() closes).
export function dialog(title, ...content) {
  const d = h("dialog", { "aria-labelledby": "dialog-title" },
    h("h2", { id: "dialog-title" }, title), ...content,
    h("form", { method: "dialog", class: "actions" }, h("button", { value: "close" }, "Close")));
  d.addEventListener("close", () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}

// color gives a participant a stable color from their peer ID.
export function colorOf(id) {
  let x = 0;
  for (const c of id || "") x = (x * 31 + c.charCodeAt(0)) >>> 0;
  const palette = ["#c0392b", "#1f78b4", "#2e7d32", "#8e44ad", "#b35900", "#00838f", "#ad1457", "#5d4037"];
  return palette[x % palette.length];
}
