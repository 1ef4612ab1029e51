// Parley's web app: one page that reads its path.
//
//	/          dashboard (company node: interviews by status; others: theirs)
//	/new       new interview (company node)
//	/team      team: add and remove members, or accept a credential
//	/join#LINK what a link holds, then join it
//	/s/ID      the interview room
//	/r/ID      the replay of an interview's code
import { get } from "./api.js";
import { h, clear, errorBox } from "./dom.js";
import { dashboard, newInterview } from "./dashboard.js";
import { team } from "./team.js";
import { joinPage } from "./join.js";
import { room } from "./room.js";
import { replay } from "./replay.js";

async function main() {
  const app = document.getElementById("app");
  let info;
  try {
    info = await get("/info");
  } catch (e) {
    clear(app).append(h("main", {}, h("h1", {}, "Parley"), errorBox(e)));
    return;
  }
  const path = location.pathname;
  const company = !!info.org;
  const nav = h("nav", { "aria-label": "Main" },
    h("a", { href: "/", class: "brand" }, "Parley"),
    h("a", { href: "/", "aria-current": path === "/" ? "page" : null }, "Interviews"),
    company && h("a", { href: "/new", "aria-current": path === "/new" ? "page" : null }, "New interview"),
    h("a", { href: "/team", "aria-current": path === "/team" ? "page" : null }, "Team"),
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
    else await dashboard(main, info);
  } catch (e) {
    main.append(errorBox(e));
  }
}

main();
