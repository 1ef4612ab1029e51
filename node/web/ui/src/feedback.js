// The feedback form of the room (interviewers only): who records the
// session's feedback, the scorecard (recommendation, 1 to 4 ratings on the
// company's criteria, free text), drafts kept on this node, and the
// submission's fate (waiting in the outbox, recorded, refused).
import { api, get, post } from "./api.js";
import { h, clear, fmtTime, errorBox } from "./dom.js";

export const REC_LABELS = { "strong-no": "Strong no", no: "No", yes: "Yes", "strong-yes": "Strong yes" };

export function feedbackPanel(id) {
  const el = h("aside", { class: "feedback", id: "feedback", "aria-label": "Feedback" }, h("h2", {}, "Feedback"));
  const recorderLine = h("p", { id: "recorder", "aria-live": "polite" });
  const stateLine = h("p", { id: "feedback-state", "aria-live": "polite" });
  const errors = h("div", { "aria-live": "assertive" });
  const fields = h("fieldset", { class: "scorecard" });
  const form = h("form", { class: "stack" }, fields);
  el.append(recorderLine, form, stateLine, errors);

  let f = null; // the last form state from the node
  let built = false;
  let recs = {}, ratings = {}, text = null;

  const card = () => {
    const sc = { recommendation: "", ratings: {}, text: text.value };
    for (const [k, r] of Object.entries(recs)) if (r.checked) sc.recommendation = k;
    for (const [name, sel] of Object.entries(ratings)) if (sel.value) sc.ratings[name] = Number(sel.value);
    return sc;
  };
  const fail = (what, e) => clear(errors).append(errorBox(new Error(`${what}: ${e.message}`)));

  function build() {
    built = true;
    const rec = h("div", { role: "radiogroup", "aria-label": "Recommendation", class: "recs" });
    for (const k of f.recommendations) {
      recs[k] = h("input", { type: "radio", name: "recommendation", value: k });
      rec.append(h("label", { class: "check" }, recs[k], " " + (REC_LABELS[k] || k)));
    }
    const rows = f.criteria.map((name) => {
      ratings[name] = h("select", { "aria-label": `Rating: ${name}`, dataset: { criterion: name } },
        h("option", { value: "" }, "not rated"), [1, 2, 3, 4].map((n) => h("option", { value: String(n) }, `${n} of 4`)));
      return h("label", { class: "field rating" }, h("span", {}, name), ratings[name]);
    });
    text = h("textarea", { rows: 6, id: "feedback-text", "aria-label": "Feedback text", placeholder: "What you saw: strengths, concerns, evidence." });
    const draft = h("button", { type: "button", id: "save-draft", onclick: saveDraft }, "Save draft");
    const submit = h("button", { type: "submit", class: "primary", id: "submit-feedback" }, "Submit feedback");
    clear(fields).append(h("legend", {}, "Scorecard"), h("div", { class: "field" }, h("span", {}, "Recommendation"), rec), ...rows,
      h("label", { class: "field" }, h("span", {}, "Notes for the hiring team"), text), h("div", { class: "actions" }, draft, submit));
    const sc = f.mine?.scorecard;
    if (sc) {
      if (recs[sc.recommendation]) recs[sc.recommendation].checked = true;
      for (const [name, v] of Object.entries(sc.ratings || {})) if (ratings[name]) ratings[name].value = String(v);
      text.value = sc.text || "";
    }
  }

  async function saveDraft() {
    clear(errors);
    try {
      const mine = await api("PUT", `/sessions/${id}/feedback/draft`, card());
      f.mine = mine;
      draw();
    } catch (e) {
      fail("Save draft", e);
    }
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(errors);
    const sc = card();
    if (!sc.recommendation) {
      fail("Submit", new Error("choose a recommendation first"));
      return;
    }
    if (!confirm("Submit this feedback? It is recorded once for the session and cannot change afterwards.")) return;
    try {
      f.mine = await post(`/sessions/${id}/feedback`, sc);
      draw();
      refresh();
    } catch (e) {
      fail("Submit", e);
    }
  });

  function draw() {
    clear(recorderLine);
    if (f.recorder) {
      const you = f.recorder.toLowerCase() === f.me.toLowerCase();
      recorderLine.append("Recorded by: ", h("strong", {}, f.recorder_name || f.recorder), f.recorder_name ? ` <${f.recorder}>` : "",
        you ? " (you)" : "", f.recorder_preset ? " (named in the link)" : "");
      if (!you) recorderLine.append(h("br"), h("span", { class: "muted" }, "Add what you saw to the private notes; the recorder writes the feedback."));
    } else {
      recorderLine.append("Nobody records the feedback yet. ",
        h("button", {
          type: "button", id: "claim-recorder",
          onclick: async () => {
            clear(errors);
            try {
              f = await post(`/sessions/${id}/feedback/recorder`);
              draw();
            } catch (e) {
              fail("Record the feedback", e);
            }
          },
        }, "I'll record it"),
        h("br"), h("span", { class: "muted" }, "Otherwise the first interviewer to submit records it."));
    }
    const mine = f.mine;
    const sent = mine && mine.state !== "draft";
    form.hidden = !f.may_record && !mine;
    for (const input of fields.querySelectorAll("input, select, textarea, button")) input.disabled = sent || !f.may_record;
    const submit = fields.querySelector("#submit-feedback");
    if (submit) submit.disabled = sent || !f.may_record || !f.started;
    clear(stateLine);
    if (!mine) stateLine.append(h("span", { class: "muted" }, f.started ? "" : "You can write a draft now and submit it once the interview started."));
    else if (mine.state === "draft") stateLine.append(h("span", { class: "muted" }, `Draft saved on this node ${fmtTime(mine.saved)}.`));
    else if (mine.state === "outbox") {
      stateLine.append("Submitted; waiting for the company node to record it", mine.last_error ? h("span", { class: "muted" }, ` (it will retry: ${mine.last_error})`) : "", ".");
    } else if (mine.state === "recorded") stateLine.append(h("strong", {}, `Recorded by ${mine.by} at ${fmtTime(mine.at)}.`));
    else stateLine.append(h("strong", { class: "error-text" }, `Refused: ${mine.reason}`));
  }

  async function refresh() {
    try {
      f = await get(`/sessions/${id}/feedback/form`);
    } catch (e) {
      el.hidden = true; // not an interviewer here
      return;
    }
    el.hidden = false;
    if (!built) build();
    draw();
  }
  refresh();
  // The recorder may be claimed by another interviewer, and the company
  // node's answer comes when it comes.
  const timer = setInterval(refresh, 2000);
  return { el, stop: () => clearInterval(timer) };
}
