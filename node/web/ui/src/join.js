// The join page: paste a link, or open /join#TOKEN; it shows what the link
// holds and the role this node will have, then joins.
import { post, guestPost } from "./api.js";
import { h, clear, fmtTime, errorBox } from "./dom.js";
import { initWasm } from "./sync.js";

const explain = {
  expired: "This link has expired: ask the company for a new one.",
  not_yet_valid: "This link is not valid yet: open it again closer to the interview's start.",
  ended: "This interview has ended.",
  credential: "Your team credential cannot be used for this interview.",
  invalid: "This link cannot be used.",
};

export async function joinPage(main, info) {
  main.append(h("h1", {}, "Join an interview"));
  const link = h("input", { name: "link", required: true, spellcheck: false, autocomplete: "off", placeholder: "parley://join/… or https://…/join#…" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "stack" },
    h("label", { class: "field" }, h("span", {}, "Interview link"), link),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Check link")));
  main.append(form, out);
  const inspect = async () => {
    clear(out);
    const l = link.value.trim();
    if (!l) return;
    let ins;
    try {
      ins = await post("/inspect", { link: l });
    } catch (e) {
      out.append(errorBox(e));
      return;
    }
    // The company key's fingerprint is for interviewers to compare with
    // their credential's; a candidate has nothing to compare it with.
    const rows = [
      ["Organisation", ins.role === "candidate" || !ins.role ? ins.org : `${ins.org} (key ${ins.company_key})`],
      ["Interview", ins.title],
      ["Candidate", ins.candidate],
      ["Block", `${ins.block} of ${ins.blocks}`],
      ["Starts", fmtTime(ins.starts)],
      ["Duration", ins.duration],
      ["Link valid", `${fmtTime(ins.valid_from)} to ${fmtTime(ins.valid_until)}`],
      ["Conferencing", ins.conference || "built-in audio and video"],
    ];
    if (ins.valid) rows.push(["You join as", ins.role === "interviewer" ? `an interviewer (${ins.name})` : ins.role === "company" ? "the company node" : "the candidate"]);
    out.append(h("dl", { class: "facts" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
    if (!ins.valid) {
      out.append(h("p", { class: "error", role: "alert" }, explain[ins.code] || explain.invalid, " ", h("span", { class: "muted" }, ins.error)));
      if (ins.joined) out.append(h("p", {}, h("a", { href: "/s/" + ins.session }, "Open the room")));
      return;
    }
    if (ins.joined) {
      out.append(h("p", {}, "This node already takes part. ", h("a", { href: "/s/" + ins.session, class: "button primary" }, "Open the room")));
      return;
    }
    const name = h("input", { name: "name", value: ins.name || "", autocomplete: "name" });
    const go = h("form", { class: "stack" },
      ins.role === "candidate" && h("label", { class: "field" }, h("span", {}, "Your name"), name),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Join interview")));
    const status = h("p", { "aria-live": "polite" });
    go.addEventListener("submit", async (e) => {
      e.preventDefault();
      status.textContent = "Joining: finding the others…";
      try {
        const res = await post("/join", { link: l, name: name.value.trim() });
        location.href = "/s/" + res.session.id;
      } catch (err) {
        status.replaceWith(errorBox(err));
      }
    });
    out.append(go, status);
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); inspect(); });
  const fromHash = async () => {
    const tok = decodeURIComponent(location.hash.slice(1));
    if (!tok) return;
    link.value = tok;
    // The token stays out of the address bar and the history.
    history.replaceState(null, "", "/join");
    await inspect();
  };
  // A link opened while this page shows changes only the fragment.
  window.addEventListener("hashchange", fromHash);
  await fromHash();
}

// guestJoinPage is the join page of a guest of the company's gateway, who
// runs no node: /join#TOKEN shows what the link holds, asks for the name,
// and joins with a POST of the token (the gateway runs a participant for
// the guest); the room follows. The token leaves the address at once, and
// stays in this tab only, so that a reload of the page still has it.
export async function guestJoinPage(main, joined) {
  // Another link opened while this page shows changes only the fragment.
  window.addEventListener("hashchange", () => location.reload());
  initWasm(); // for the room, while the guest reads this page
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash) {
    sessionStorage.setItem("parley-link", fromHash);
    history.replaceState(null, "", "/join");
  }
  const token = fromHash || sessionStorage.getItem("parley-link") || "";
  main.append(h("h1", {}, "Join your interview"));
  const out = h("div", { "aria-live": "polite" });
  main.append(out);
  if (!token) {
    out.append(h("p", {}, "Open the interview link you were sent: it ends in #… and holds your invitation."));
    return;
  }
  let ins;
  try {
    ins = await guestPost("/guest/inspect", { token });
  } catch (e) {
    out.append(h("p", { class: "error", role: "alert" }, explain.invalid, " ", h("span", { class: "muted" }, e.message)));
    return;
  }
  const rows = [
    ["Company", ins.org],
    ["Interview", ins.blocks > 1 ? `${ins.title} (part ${ins.block} of ${ins.blocks})` : ins.title],
    ["For", ins.candidate],
    ["Starts", fmtTime(ins.starts)],
    ["Duration", ins.duration],
    ["Call", ins.conference ? `on ${ins.conference}` : "audio and video in this page"],
  ];
  out.append(h("dl", { class: "facts" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  if (!ins.valid) {
    out.append(h("p", { class: "error", role: "alert" }, explain[ins.code] || explain.invalid, " ", h("span", { class: "muted" }, ins.error)));
    return;
  }
  const room = "/guest/s/" + ins.session;
  if (ins.joined) {
    out.append(h("p", {}, "You are in this interview already. ", h("a", { href: room, class: "button primary", id: "back-to-room" }, "Back to the interview")));
    return;
  }
  const name = h("input", { name: "name", value: ins.candidate || "", autocomplete: "name", maxlength: 60, required: true });
  const go = h("form", { class: "stack" },
    h("p", {}, "This page is all you need: nothing to install. You wait in a lobby until your interviewer starts; ",
      ins.conference ? "the call takes place on the link above." : "the page then asks for your camera and microphone."),
    h("label", { class: "field" }, h("span", {}, "Your name, as the others see it"), name),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Join interview")));
  const status = h("p", { "aria-live": "polite" });
  go.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.textContent = "Joining…";
    try {
      const res = await guestPost("/guest/join", { token, name: name.value.trim() });
      joined(res.room);
    } catch (err) {
      clear(status).append(errorBox(err));
    }
  });
  out.append(go, status);
}
