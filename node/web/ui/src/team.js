// The team: on the company node, add and remove members (a member sends
// their peer ID and gets a credential token back); on a participant's node,
// accept a credential and see the ones held.
import { get, post, api } from "./api.js";
import { h, clear, fmtTime, copyButton, errorBox } from "./dom.js";
import { durationInput } from "./dashboard.js";

export async function team(main, info) {
  main.append(h("h1", {}, "Team"));
  const list = h("div", {});
  const out = h("div", { "aria-live": "polite" });
  const company = !!info.org;
  const draw = async () => {
    const members = (await get("/team")) || [];
    clear(list);
    if (!members.length) {
      list.append(h("p", { class: "muted" }, company ? "No members yet." : "This node holds no team credential: it joins interviews as a candidate."));
      return;
    }
    list.append(h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Email", "Role", company ? "Peer" : "Organisation", "Expires", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, members.map((m) => h("tr", {},
        h("td", {}, m.name), h("td", {}, m.email), h("td", { class: "role" }, m.role),
        h("td", {}, company ? h("code", { title: m.peer }, "…" + m.peer.slice(-10)) : m.org),
        h("td", {}, fmtTime(m.expires)),
        h("td", {}, company && h("button", {
          type: "button", "aria-label": `Remove ${m.name}`,
          onclick: async () => {
            if (!confirm(`Remove ${m.name} from the team? Their credential is revoked for every link made from now on.`)) return;
            try {
              await api("DELETE", "/team/" + encodeURIComponent(m.email));
              await draw();
            } catch (e) {
              clear(out).append(errorBox(e));
            }
          },
        }, "Remove")))))));
  };
  main.append(list, out);
  if (company) {
    // The same choices as `parley team add` (--role, --expires), with the
    // node's defaults.
    const limits = await get("/limits");
    const role = h("select", { name: "role" }, limits.roles.map((r) => h("option", { value: r }, r)));
    const expires = durationInput("lifetime", limits.defaults.credential_lifetime);
    const name = h("input", { name: "name", required: true, autocomplete: "off" });
    const email = h("input", { name: "email", type: "email", required: true, autocomplete: "off" });
    const peer = h("input", { name: "peer", required: true, autocomplete: "off", placeholder: "12D3KooW…", spellcheck: false });
    const form = h("form", { class: "stack" },
      h("h2", {}, "Add a member"),
      h("p", { class: "muted" }, "Ask them for their node's peer ID (`parley id`, or the top of their Team page)."),
      h("label", { class: "field" }, h("span", {}, "Name"), name),
      h("label", { class: "field" }, h("span", {}, "Email"), email),
      h("label", { class: "field" }, h("span", {}, "Peer ID"), peer),
      h("label", { class: "field" }, h("span", {}, "Role"), role),
      h("div", { class: "field" }, h("span", {}, "Credential valid for"), expires.el,
        h("small", { class: "muted" }, "They need a new credential after that.")),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clear(out);
      try {
        const res = await post("/team", { name: name.value.trim(), email: email.value.trim(), peer: peer.value.trim(), role: role.value, lifetime: expires.value() });
        const tok = res.member.token;
        out.append(h("section", { class: "result" },
          h("p", {}, `Added ${res.member.name}. Send them this credential; they accept it on their Team page or with \`parley team accept\`.`),
          h("textarea", { readonly: true, rows: 4, "aria-label": "Credential token", class: "token" }, tok), copyButton(tok, "Copy credential")));
        form.reset();
        await draw();
      } catch (err) {
        out.append(errorBox(err));
      }
    });
    main.append(form);
  } else {
    const token = h("textarea", { name: "token", rows: 4, required: true, spellcheck: false });
    const form = h("form", { class: "stack" },
      h("h2", {}, "Accept a credential"),
      h("p", {}, "Your peer ID, to send to your company's admin: ", h("code", { class: "peer-id" }, info.peer), " ", copyButton(info.peer, "Copy peer ID")),
      h("label", { class: "field" }, h("span", {}, "Credential token"), token),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Accept")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clear(out);
      try {
        const m = await post("/team/accept", { token: token.value.trim() });
        out.append(h("p", { class: "ok" }, `This node now joins ${m.org}'s interviews as ${m.name}, an interviewer.`));
        form.reset();
        await draw();
      } catch (err) {
        out.append(errorBox(err));
      }
    });
    main.append(form);
  }
  await draw();
}
