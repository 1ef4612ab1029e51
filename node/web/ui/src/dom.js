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

// fmtTime formats a time for people, in this browser's zone, naming it:
// "Mar 1, 2027, 03:00 PM GMT+1".
export function fmtTime(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d) || d.getFullYear() < 2000) return "";
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
}

// parseDuration reads a duration as the node writes it ("1h", "1h30m",
// "45m", "1m30s") into milliseconds; NaN if it is not one.
export function parseDuration(s) {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(s || "");
  if (!m || !s) return NaN;
  return ((Number(m[1] || 0) * 60 + Number(m[2] || 0)) * 60 + Number(m[3] || 0)) * 1000;
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

const PALETTE = ["#c0392b", "#1f78b4", "#2e7d32", "#8e44ad", "#b35900", "#00838f", "#ad1457", "#5d4037"];

function hashOf(id) {
  let x = 0;
  for (const c of id || "") x = (x * 31 + c.charCodeAt(0)) >>> 0;
  return x;
}

// colorOf gives a participant a stable color from their peer ID (see
// colorsFor for a session's people, whose colors must differ).
export function colorOf(id) {
  return PALETTE[hashOf(id) % PALETTE.length];
}

// colorsFor gives each of a session's people a color of their own, the
// same on every page: in the order they joined (each node's join time, as
// every node sees it), each takes the color its peer ID hashes to, or the
// next one nobody has. Someone who joins later never takes an earlier
// one's color. It returns peer ID -> color; people: [{peer, since}].
export function colorsFor(people) {
  const at = (p) => Date.parse(p.since) || 0;
  const order = [...people].sort((a, b) => at(a) - at(b) || (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
  const taken = new Set();
  const out = {};
  for (const p of order) {
    if (out[p.peer]) continue;
    let i = hashOf(p.peer) % PALETTE.length;
    for (let k = 0; k < PALETTE.length && taken.has(PALETTE[i]); k++) i = (i + 1) % PALETTE.length;
    out[p.peer] = PALETTE[i];
    taken.add(PALETTE[i]);
  }
  return out;
}
