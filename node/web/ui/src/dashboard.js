// The dashboard and the new-interview form.
import { get, post } from "./api.js";
import { h, clear, fmtTime, parseDuration, copyButton, errorBox, dialog } from "./dom.js";
import { REC_LABELS } from "./feedback.js";

// A session cancelled before it started ends like any other (the node says
// "ended", with the reason "canceled"), but it is not an interview that
// took place: it has a tab of its own.
const cancelled = (s) => s.status === "ended" && s.end_reason === "canceled";

const tabs = [
  { id: "live", label: "Live", has: (s) => s.status === "live" || s.status === "lobby" },
  { id: "pending", label: "Pending", has: (s) => s.status === "pending" },
  { id: "ended", label: "Ended", has: (s) => s.status === "ended" && !cancelled(s) },
  { id: "cancelled", label: "Cancelled", has: cancelled },
  { id: "expired", label: "Expired", has: (s) => s.status === "expired" },
];

// durationText says a duration as the node writes it ("1h30m") for people.
function durationText(s) {
  const ms = parseDuration(s);
  if (isNaN(ms)) return s;
  const m = Math.round(ms / 60000);
  return m % 60 === 0 ? `${m / 60} h` : m > 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`;
}

// whoCame lists who took part in a session, once each.
function whoCame(s) {
  const seen = new Map();
  for (const a of s.attendance || []) if (!seen.has(a.peer)) seen.set(a.peer, `${a.name} (${a.role})`);
  return [...seen.values()].join(", ");
}

export async function dashboard(main, info, { credentials = false } = {}) {
  const company = !!info.org;
  let current = new URLSearchParams(location.search).get("tab");
  if (!tabs.some((t) => t.id === current)) current = null;
  const heading = h("h1", {}, company ? "Interviews" : "Your interviews");
  const tablist = h("div", { role: "tablist", "aria-label": "Interviews by status" });
  const panel = h("div", { role: "tabpanel", id: "sessions-panel", tabindex: "0" });
  const status = h("p", { class: "muted", "aria-live": "polite" });
  main.append(heading, tablist, panel, status);
  if (company) main.append(h("p", {}, h("a", { href: "/new", class: "button" }, "New interview")));
  else {
    main.append(h("p", {}, "Have a link? ", h("a", { href: "/join" }, "Join an interview"), "."));
    // An interviewer's node learns of an interview from its link: the
    // company node tells no other node which sessions name whom (see
    // README, "The dashboard").
    if (credentials) {
      main.append(h("p", { class: "muted", id: "named-note" }, "Interviews you are named on show here once you open their link: ",
        "the company sends it to you by email."));
    } else {
      main.append(h("p", { class: "muted" }, "Interviewing for a company? ",
        h("a", { href: "/team" }, "Accept your team credential"), " first."));
    }
  }

  let sessions = [];
  const pick = (id) => {
    current = id;
    history.replaceState(null, "", "/?tab=" + id);
    draw();
  };
  const draw = () => {
    clear(tablist);
    for (const t of tabs) {
      const n = sessions.filter(t.has).length;
      const b = h("button", {
        role: "tab", id: "tab-" + t.id, "aria-selected": String(t.id === current), "aria-controls": "sessions-panel",
        tabindex: t.id === current ? "0" : "-1",
        onclick: () => pick(t.id),
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
    const over = current === "ended" || current === "cancelled";
    const cols = ["Candidate", "Title", "Block", "Time", "Status", over ? "Who came" : "Who is in", current === "ended" ? "Feedback" : "Link", "Actions"];
    panel.append(h("table", { class: "sessions" },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((s) => h("tr", { dataset: { session: s.id } },
        h("td", {}, s.candidate),
        h("td", {}, s.title),
        h("td", {}, `${s.block} of ${s.blocks}`),
        h("td", { class: "when" }, fmtTime(s.starts), h("br"), h("span", { class: "muted" }, durationText(s.duration))),
        h("td", {}, h("span", { class: "badge " + (cancelled(s) ? "cancelled" : s.status) }, cancelled(s) ? "cancelled" : s.status)),
        h("td", { class: "who" }, (over ? whoCame(s) : (s.participants || []).map((p) => `${p.name} (${p.role})`).join(", ")) || "—"),
        current === "ended" ? h("td", { class: "fb-cell" }, feedbackCell(s))
          : h("td", { class: "link" }, h("code", { class: "link-text", title: s.link }, s.link.slice(0, 28) + "…"), " ", copyButton(s.link, "Copy link")),
        h("td", { class: "row-actions" }, actions(s))))),
    ));
  };
  // actions are what a row offers: Open (the room; an interview that took
  // place, its final code), Replay, Email (the invites, on the company
  // node) and Cancel (the company node, before the start).
  const actions = (s) => {
    const out = [];
    if (s.role && s.status !== "expired" && !cancelled(s)) {
      out.push(h("a", { href: "/s/" + s.id, class: "button open-room" }, "Open"));
    }
    if (s.status === "ended" && !cancelled(s) && s.role !== "candidate") out.push(h("a", { href: "/r/" + s.id, class: "button replay-link" }, "Replay"));
    if (company && (s.status === "pending" || s.status === "lobby" || s.status === "live")) {
      out.push(h("button", { type: "button", class: "email-button", onclick: () => showEmails([s], "Invite emails") }, "Email"));
    }
    if (company && (s.status === "pending" || s.status === "lobby")) {
      out.push(h("button", {
        type: "button", class: "cancel-button",
        onclick: async () => {
          const who = (s.participants || []).map((p) => p.name).join(", ");
          const q = `Cancel ${s.title} with ${s.candidate}${s.blocks > 1 ? ` (block ${s.block} of ${s.blocks})` : ""}? ` +
            (who ? `${who} ${s.participants.length > 1 ? "are" : "is"} in its lobby and will be sent away. ` : "") + "Its link is refused from then on.";
          if (!confirm(q)) return;
          try {
            await post(`/sessions/${s.id}/cancel`);
            await load();
          } catch (e) {
            status.textContent = `Cancel: ${e.message}`;
          }
        },
      }, "Cancel"));
    }
    return out;
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
    // Opened without a tab: the first that has interviews, the live ones
    // first (the demo's interview is live: its tab opens).
    current ??= (tabs.find((t) => sessions.some(t.has)) || tabs[1]).id;
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

const HOUR = 3600e9, DAY = 24 * HOUR; // nanoseconds, as the API counts

// durationInput is a number with a unit (hours or days), in nanoseconds.
export function durationInput(name, ns, { min = 1 } = {}) {
  const days = ns % DAY === 0;
  const amount = h("input", { name, type: "number", min: String(min), step: "1", value: String(ns / (days ? DAY : HOUR)), class: "amount" });
  const unit = h("select", { name: name + "_unit", "aria-label": "Unit" },
    h("option", { value: "hours", selected: !days }, "hours"), h("option", { value: "days", selected: days }, "days"));
  return { el: h("span", { class: "duration" }, amount, " ", unit), value: () => Number(amount.value) * (unit.value === "days" ? DAY : HOUR) };
}

export async function newInterview(main, info) {
  main.append(h("h1", {}, "New interview"));
  if (!info.org) {
    main.append(h("p", {}, "Only the company node creates interviews."));
    return;
  }
  const [members, limits] = await Promise.all([get("/team").then((m) => m || []), get("/limits")]);
  const d = limits.defaults;
  const minutes = (ns) => String(Math.round(ns / 60e9));
  const candidate = h("input", { name: "candidate", required: true, autocomplete: "off" });
  const email = h("input", { name: "candidate_email", type: "email", autocomplete: "off" });
  const title = h("input", { name: "title", required: true, value: "Technical interview" });
  const starts = h("input", { name: "starts", type: "datetime-local", value: localInput(new Date()) });
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  // The limits are the node's (GET /limits), the same the command line
  // has: the browser says what is out of range before anything is sent.
  const duration = h("input", { name: "duration", type: "number", min: minutes(limits.min_duration), max: minutes(limits.max_duration), value: minutes(d.duration), required: true });
  const blocks = h("input", { name: "blocks", type: "number", min: "1", max: String(limits.max_blocks), value: "1", required: true });
  const maxInt = h("input", { name: "max_interviewers", type: "number", min: "1", max: String(limits.max_interviewers), value: String(d.max_interviewers), required: true });
  const validity = durationInput("validity", d.validity);
  const language = h("select", { name: "language" },
    limits.languages.map((l) => h("option", { value: l.id, selected: l.id === d.language }, `${l.name} (${l.file})`)));
  const criteria = h("input", { name: "criteria", value: d.criteria.join(", "), autocomplete: "off" });
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
  const form = h("form", { class: "stack" },
    field("Candidate", candidate),
    field("Candidate's email", email, "Optional: fills in the invite email."),
    field("Title", title),
    field("Starts", starts, zone ? `In your time zone, ${zone}: the invite email gives times in it and in UTC.` : ""),
    field("Duration (minutes)", duration, `Of each block: ${minutes(limits.min_duration)} to ${minutes(limits.max_duration)} minutes.`),
    field("Blocks", blocks, `Several blocks make one link each, back to back: 1 to ${limits.max_blocks}.`),
    field("Language", language, "Each session starts with one file in it; interviewers add more in the room."),
    h("fieldset", {}, h("legend", {}, "Interviewers"),
      picks.length ? picks : h("p", { class: "muted" }, "No team members yet: ", h("a", { href: "/team" }, "add them"), ".")),
    field("Maximum interviewers at once", maxInt, `1 to ${limits.max_interviewers}.`),
    h("fieldset", {}, h("legend", {}, "Conferencing"),
      h("label", { class: "check" }, builtIn, " Built-in audio and video"),
      h("label", { class: "check" }, external, " An external meeting link"),
      field("Meeting link", conference)),
    field("Feedback recorder", recorder),
    field("Feedback criteria", criteria, `Rated 1 to 4 each, comma-separated: at most ${limits.max_criteria}, of ${limits.max_criterion_len} characters each.`),
    h("div", { class: "field" }, h("span", {}, "Link valid for"), validity.el,
      h("small", { class: "muted" }, "After its block starts; the link is refused from then on.")),
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
      validity: validity.value(),
      blocks: Number(blocks.value),
      interviewers: picks.map((l) => l.querySelector("input")).filter((b) => b.checked).map((b) => b.value),
      max_interviewers: Number(maxInt.value),
      conference: external.checked ? conference.value.trim() : undefined,
      recorder: recorder.value || undefined,
      criteria: criteria.value.split(",").map((c) => c.trim()).filter(Boolean),
      language: language.value,
      zone: zone || undefined,
    };
    try {
      const made = await post("/sessions", req);
      const d = await showEmails(made, "Interview created");
      d.addEventListener("close", () => (location.href = "/?tab=pending"));
    } catch (err) {
      out.append(errorBox(err));
    }
  });
}

// emailBox shows one rendered email with a button to copy it.
function emailBox(e, label, cls) {
  const text = `Subject: ${e.subject}\n\n${e.body}`;
  return h("details", { class: "email-box " + cls, open: cls === "candidate-email" },
    h("summary", {}, label + (e.to ? (cls === "candidate-email" ? ` to ${e.to}` : ` (${e.to})`) : "")),
    h("textarea", { readonly: true, rows: 14, class: "email " + cls, "aria-label": label }, text),
    copyButton(text, "Copy email"));
}

// linkAdvice says how the candidate opens a link: in any browser when the
// company runs a public gateway (an https link), else with Parley.
function linkAdvice(link) {
  if (link.startsWith("https://")) return "Open this link in your browser; nothing to install. The company's gateway hosts the candidate.";
  return "The candidate opens this link with Parley of their own (its Join page, or `parley join LINK`). " +
    "For links that open in any browser, with nothing to install, run the company's gateway: `parley init --public-url https://HOST` and `parley up --public-listen ...`.";
}

// showEmails is the popup after Save, and a row's Email: for every block,
// its link, the invite email to the candidate and the one to the
// interviewers, to copy.
async function showEmails(sessions, title) {
  const parts = [];
  for (const s of sessions) {
    const [cand, staff] = await Promise.all([
      post(`/sessions/${s.id}/email`, {}).catch(() => null),
      post(`/sessions/${s.id}/email`, { for: "interviewers" }).catch(() => null),
    ]);
    parts.push(h("section", { class: "block-link", dataset: { session: s.id } },
      h("h3", {}, `Block ${s.block} of ${s.blocks}: ${fmtTime(s.starts)}`),
      h("label", { class: "field" }, h("span", {}, "Interview link"),
        h("input", { readonly: true, value: s.link, class: "link-field", onfocus: (e) => e.target.select() })),
      copyButton(s.link, "Copy link"),
      h("p", { class: "muted link-advice" }, linkAdvice(s.link)),
      cand && emailBox(cand, "Invite email", "candidate-email"),
      staff && emailBox(staff, "Email to the interviewers", "interviewer-email")));
  }
  parts.push(h("p", { class: "muted" }, "To send them from this node through your mail server: ",
    h("code", {}, "parley session email ID [--interviewers] --smtp HOST:PORT --from ADDRESS"), "."));
  return dialog(title, ...parts);
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
