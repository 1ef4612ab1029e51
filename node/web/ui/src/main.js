// Parley's web app: one page that reads its path.
//
//	/          dashboard (company node: interviews by status; others: theirs)
//	/new       new interview (company node)
//	/team      team: add and remove members, or accept a credential
//	/join#LINK what a link holds, then join it
//	/s/ID      the interview room
//	/r/ID      the replay of an interview's code
//
// On the company's public gateway (guest mode, see mode.js), only:
//
//	/join#LINK    what the link holds; the guest's name; join
//	/guest/s/ID   the interview room
import { get } from "./api.js";
import { h, clear, errorBox, copyButton } from "./dom.js";
import { dashboard, newInterview } from "./dashboard.js";
import { team } from "./team.js";
import { joinPage } from "./join.js";
import { room } from "./room.js";
import { replay } from "./replay.js";
import { guest } from "./mode.js";
import { guestJoinPage } from "./join.js";

// dropToken takes an access token out of the address and the history. The
// server answers an address with ?token= by a redirect without it; should
// one reach the page all the same (a saved page, a proxy), it goes here.
function dropToken() {
  const params = new URLSearchParams(location.search);
  if (!params.has("token")) return;
  params.delete("token");
  const q = params.toString();
  history.replaceState(history.state, "", location.pathname + (q ? "?" + q : "") + location.hash);
}

// noAccess is what a browser without a valid cookie for this node sees:
// how to get in.
function noAccess(app) {
  const m = location.pathname.match(/^\/s\/([a-z0-9]{4,64})$/i); // only an ID goes into the command
  const cmd = m ? `parley open ${m[1]}` : "parley open";
  clear(app).append(h("main", { class: "no-access" },
    h("h1", {}, "No access to this node"),
    h("p", {}, `This browser has no access to the Parley node at ${location.host}: it was never opened here `,
      "with the node's address, its access is over 30 days old, or the node's web secret changed."),
    h("p", {}, "To get in, run this on the machine where the node runs and open the address it prints:"),
    h("p", {}, h("code", { class: "command" }, cmd), " ", copyButton(cmd, "Copy command")),
    h("p", { class: "muted" }, "Add ", h("code", {}, "--data DIR"), " if the node uses another data directory. ",
      "The address ", h("code", {}, "parley up"), " printed when the node last started works too.")));
}

// guestMain is the app of a guest of the company's gateway: no node of
// their own, no dashboard; the join page and the room. Joining opens the
// room in the same page: Automerge's WebAssembly, compiled while the guest
// read the join page, is ready for it.
async function guestMain(app) {
  const main = h("main", { id: "main" });
  clear(app).append(h("header", {}, h("nav", { "aria-label": "Main" }, h("span", { class: "brand" }, "Parley"))), main);
  const show = async () => {
    const path = location.pathname;
    clear(main);
    try {
      const m = path.match(/^\/guest\/s\/([a-z2-7]{16})$/);
      if (m) {
        app.classList.add("in-room");
        await room(main, m[1], { peer: null });
      } else if (path === "/join") {
        await guestJoinPage(main, (to) => {
          history.pushState(null, "", to);
          show();
        });
      } else main.append(h("h1", {}, "Parley"), h("p", {}, "Open the interview link you were sent."));
    } catch (e) {
      main.append(errorBox(e));
    }
  };
  window.addEventListener("popstate", () => location.reload());
  await show();
}

async function main() {
  const app = document.getElementById("app");
  if (guest) return guestMain(app);
  dropToken();
  let info;
  try {
    info = await get("/info");
  } catch (e) {
    if (e.status === 401) noAccess(app);
    else clear(app).append(h("main", {}, h("h1", {}, "Parley"), errorBox(e)));
    return;
  }
  const path = location.pathname;
  const company = !!info.org;
  // A node with no team credential joins interviews as the candidate: the
  // Team page is no use to it, bar accepting a first credential, which the
  // dashboard links to.
  const held = company ? [] : await get("/team").catch(() => []);
  const teamTab = company || held.length > 0 || path === "/team";
  const nav = h("nav", { "aria-label": "Main" },
    h("a", { href: "/", class: "brand" }, "Parley"),
    h("a", { href: "/", "aria-current": path === "/" ? "page" : null }, "Interviews"),
    company && h("a", { href: "/new", "aria-current": path === "/new" ? "page" : null }, "New interview"),
    teamTab && h("a", { href: "/team", "aria-current": path === "/team" ? "page" : null }, "Team"),
    h("a", { href: "/join", "aria-current": path === "/join" ? "page" : null }, "Join"),
    h("span", { class: "who" }, company ? `${info.org} (company node)` : `Node ${info.peer.slice(-8)}`));
  const main = h("main", { id: "main" });
  clear(app).append(h("header", {}, nav), main);
  try {
    if (path.startsWith("/s/")) {
      app.classList.add("in-room");
      await room(main, decodeURIComponent(path.slice(3)), info);
    } else if (path.startsWith("/r/")) {
      app.classList.add("in-room");
      await replay(main, decodeURIComponent(path.slice(3)));
    } else if (path === "/new") await newInterview(main, info);
    else if (path === "/team") await team(main, info);
    else if (path === "/join") await joinPage(main, info);
    else await dashboard(main, info, { credentials: held.length > 0 });
  } catch (e) {
    main.append(errorBox(e));
  }
}

main();
