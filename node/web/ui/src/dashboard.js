// The dashboard and the new-interview form.
import { get, post } from "./api.js";
import { h, clear, fmtTime, copyButton, errorBox, dialog } from "./dom.js";
import { REC_LABELS } from "./feedback.js";

const tabs = [
  { id: "pending", label: "Pending", has: (s) => s.status === "pending" },
  { id: "live", label: "Live", has: (s) => s.status === "live" || s.status === "lobby" },
  { id: "ended", label: "Ended", has: (s) => s.status === "ended" },
  { id: "expired", label: "Expired", has: (s) => s.status === "expired" },
];

export async function dashboard(main, info) {
  const company = !!info.org;
  let current = new URLSearchParams(location.search).get("tab") || "pending";
  const heading = h("h1", {}, company ? "Interviews" : "Your interviews");
  const tablist = h("div", { role: "tablist", "aria-label": "Interviews by status" });
  const panel = h("div", { role: "tabpanel", id: "sessions-panel", tabindex: "0" });
  const status = h("p", { class: "muted", "aria-live": "polite" });
  main.append(heading, tablist, panel, status);
  if (company) main.append(h("p", {}, h("a", { href: "/new", class: "button" }, "New interview")));
  else main.append(h("p", {}, "Have a link? ", h("a", { href: "/join" }, "Join an interview"), "."));

  let sessions = [];
  const draw = () => {
    clear(tablist);
    for (const t of tabs) {
      const n = sessions.filter(t.has).length;
      const b = h("button", {
        role: "tab", id: "tab-" + t.id, "aria-selected": String(t.id === current), "aria-controls": "sessions-panel",
        tabindex: t.id === current ? "0" : "-1",
        onclick: () => { current = t.id; history.replaceState(null, "", "/?tab=" + t.id); draw(); },
        onkeydown: (e) => {
          const i = tabs.indexOf(t);
          const next = e.key === "ArrowRight" ? tabs[(i + 1) % tabs.length] : e.key === "ArrowLeft" ? tabs[(i + tabs.length - 1) % tabs.length] : null;
          if (next) { current = next.id; draw(); document.getElementById("tab-" + next.id).focus(); }
        },
      }, `${t.label} (${n})`);
      tablist.append(b);
    }
    const rows = sessions.filter(tabs.find((t) => t.id === current).has);
    clear(panel);
    panel.setAttribute("aria-labelledby", "tab-" + current);
    if (!rows.length) {
      panel.append(h("p", { class: "muted" }, "No interviews here."));
      return;
    }
    const endedTab = current === "ended";
    const cols = ["Candidate", "Title", "Block", "Time", "Status", "Who is in", endedTab ? "Feedback" : "Link", ""];
    panel.append(h("table", { class: "sessions" },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((s) => h("tr", { dataset: { session: s.id } },
        h("td", {}, s.candidate),
        h("td", {}, s.title),
        h("td", {}, `${s.block} of ${s.blocks}`),
        h("td", {}, fmtTime(s.starts), h("br"), h("span", { class: "muted" }, s.duration)),
        h("td", {}, h("span", { class: "badge " + s.status }, s.status)),
        h("td", {}, (s.participants || []).map((p) => `${p.name} (${p.role})`).join(", ") || "—"),
        endedTab ? h("td", { class: "fb-cell" }, feedbackCell(s))
          : h("td", { class: "link" }, h("code", { class: "link-text", title: s.link }, s.link.slice(0, 28) + "…"), " ", copyButton(s.link, "Copy link")),
        h("td", {},
          s.role && s.role !== "company" && s.status !== "expired" ? h("a", { href: "/s/" + s.id }, s.status === "ended" ? "Open" : "Open room") : "",
          s.status === "ended" && s.role !== "candidate" ? [" ", h("a", { href: "/r/" + s.id, class: "replay-link" }, "Replay")] : "")))),
    ));
  };
  // Feedback, on the company node: whether it arrived (the session says),
  // and on Open the scorecard.
  const feedbackCell = (s) => {
    if (!company) {
      if (s.role !== "interviewer") return "—";
      const mine = { draft: "Draft", outbox: "Sent, waiting for the company node", recorded: "Recorded", refused: "Refused" }[s.my_feedback] || "Not written";
      return [h("span", { class: "badge " + (s.my_feedback || "") }, mine), " ", h("a", { href: "/s/" + s.id + "#feedback" }, "Your feedback")];
    }
    if (!s.feedback) return h("span", { class: "muted" }, "Not yet");
    return [h("span", { class: "badge recorded" }, "Recorded"), " ",
      h("button", {
        type: "button", class: "open-feedback",
        onclick: async () => {
          try {
            showFeedback(await get(`/sessions/${s.id}/feedback`));
          } catch (e) {
            status.textContent = e.message;
          }
        },
      }, "Open")];
  };
  const load = async () => {
    try {
      sessions = await get("/sessions?status=all");
      status.textContent = "";
    } catch (e) {
      status.textContent = e.message;
    }
    draw();
  };
  await load();
  setInterval(load, 3000);
}

// localInput formats a date for a datetime-local input.
function localInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

const field = (label, input, hint) => h("label", { class: "field" }, h("span", {}, label), input, hint && h("small", { class: "muted" }, hint));

export async function newInterview(main, info) {
  main.append(h("h1", {}, "New interview"));
  if (!info.org) {
    main.append(h("p", {}, "Only the company node creates interviews."));
    return;
  }
  const members = (await get("/team")) || [];
  const candidate = h("input", { name: "candidate", required: true, autocomplete: "off" });
  const email = h("input", { name: "candidate_email", type: "email", autocomplete: "off" });
  const title = h("input", { name: "title", required: true, value: "Technical interview" });
  const starts = h("input", { name: "starts", type: "datetime-local", value: localInput(new Date()) });
  const duration = h("input", { name: "duration", type: "number", min: "5", max: "480", value: "60" });
  const blocks = h("input", { name: "blocks", type: "number", min: "1", max: "8", value: "1" });
  const maxInt = h("input", { name: "max_interviewers", type: "number", min: "1", max: "8", value: "3" });
  const conference = h("input", { name: "conference", type: "url", placeholder: "https://zoom.us/j/…", disabled: true });
  const builtIn = h("input", { type: "radio", name: "conf", value: "builtin", checked: true, onchange: () => (conference.disabled = true) });
  const external = h("input", { type: "radio", name: "conf", value: "external", onchange: () => { conference.disabled = false; conference.focus(); } });
  const recorder = h("select", { name: "recorder" }, h("option", { value: "" }, "Nobody yet: the first to submit records it"));
  const picks = members.map((m) => {
    const box = h("input", { type: "checkbox", name: "interviewers", value: m.email });
    box.addEventListener("change", drawRecorder);
    return h("label", { class: "check" }, box, ` ${m.name} <${m.email}>`);
  });
  function drawRecorder() {
    const chosen = picks.map((l) => l.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
    const keep = recorder.value;
    clear(recorder).append(h("option", { value: "" }, "Nobody yet: the first to submit records it"),
      ...chosen.map((e) => h("option", { value: e, selected: e === keep }, e)));
  }
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "stack", novalidate: false },
    field("Candidate", candidate),
    field("Candidate's email", email, "Optional: fills in the invite email."),
    field("Title", title),
    field("Starts", starts),
    field("Duration (minutes)", duration),
    field("Blocks", blocks, "Several blocks make one link each, back to back."),
    h("fieldset", {}, h("legend", {}, "Interviewers"),
      picks.length ? picks : h("p", { class: "muted" }, "No team members yet: ", h("a", { href: "/team" }, "add them"), ".")),
    field("Maximum interviewers at once", maxInt),
    h("fieldset", {}, h("legend", {}, "Conferencing"),
      h("label", { class: "check" }, builtIn, " Built-in audio and video"),
      h("label", { class: "check" }, external, " An external meeting link"),
      field("Meeting link", conference)),
    field("Feedback recorder", recorder),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save")),
    out);
  main.append(form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(out);
    const req = {
      candidate: candidate.value.trim(),
      candidate_email: email.value.trim() || undefined,
      title: title.value.trim(),
      starts: new Date(starts.value).toISOString(),
      duration: Number(duration.value) * 60e9,
      blocks: Number(blocks.value),
      interviewers: picks.map((l) => l.querySelector("input")).filter((b) => b.checked).map((b) => b.value),
      max_interviewers: Number(maxInt.value),
      conference: external.checked ? conference.value.trim() : undefined,
      recorder: recorder.value || undefined,
    };
    try {
      const made = await post("/sessions", req);
      await showLinks(made);
    } catch (err) {
      out.append(errorBox(err));
    }
  });
}

// linkAdvice says how the candidate opens a link: in any browser when the
// company runs a public gateway (an https link), else with Parley.
function linkAdvice(link) {
  if (link.startsWith("https://")) return "Open this link in your browser; nothing to install. The company's gateway hosts the candidate.";
  return "The candidate opens this link with Parley of their own (its Join page, or `parley join LINK`). " +
    "For links that open in any browser, with nothing to install, run the company's gateway: `parley init --public-url https://HOST` and `parley up --public-listen ...`.";
}

// showLinks is the popup after Save: each block's link, and the invite
// email to copy.
async function showLinks(sessions) {
  const parts = [];
  for (const s of sessions) {
    parts.push(h("section", { class: "block-link" },
      h("h3", {}, `Block ${s.block} of ${s.blocks}: ${fmtTime(s.starts)}`),
      h("label", { class: "field" }, h("span", {}, "Interview link"),
        h("input", { readonly: true, value: s.link, class: "link-field", onfocus: (e) => e.target.select() })),
      copyButton(s.link, "Copy link"),
      h("p", { class: "muted link-advice" }, linkAdvice(s.link))));
  }
  let email;
  try {
    email = await post(`/sessions/${sessions[0].id}/email`, {});
  } catch (e) {
    email = null;
  }
  if (email) {
    const text = `Subject: ${email.subject}\n\n${email.body}`;
    parts.push(h("section", {},
      h("h3", {}, "Invite email" + (email.to ? ` to ${email.to}` : "")),
      h("textarea", { readonly: true, rows: 12, class: "email", "aria-label": "Invite email" }, text),
      copyButton(text, "Copy email"),
      h("p", { class: "muted" }, "To send it from this node through your mail server: `parley session email ", sessions[0].id, " --smtp HOST:PORT --from ADDRESS`.")));
  }
  const d = dialog("Interview created", ...parts);
  d.addEventListener("close", () => (location.href = "/?tab=pending"));
}

// showFeedback opens a session's recorded feedback.
function showFeedback(f) {
  const sc = f.scorecard || {};
  const names = [...new Set([...(f.criteria || []), ...Object.keys(sc.ratings || {})])];
  dialog(`Feedback: ${f.candidate}, ${f.title}`,
    h("dl", { class: "facts", id: "feedback-facts" },
      h("dt", {}, "Recommendation"), h("dd", { id: "fb-recommendation" }, REC_LABELS[sc.recommendation] || sc.recommendation),
      names.flatMap((n) => [h("dt", {}, n), h("dd", {}, sc.ratings?.[n] ? `${sc.ratings[n]} of 4` : "not rated")]),
      h("dt", {}, "Recorded by"), h("dd", {}, `${f.by} <${f.email}>, ${fmtTime(f.at)}`)),
    sc.text ? h("pre", { class: "final-code", id: "fb-text" }, sc.text) : h("p", { class: "muted" }, "No text."));
}
