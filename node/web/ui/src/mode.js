// Where the app runs. On a node's local server it is that node's web app;
// on the company's public gateway (a <meta name="parley-mode"
// content="guest"> in the page) it is a guest's: the join page and the room
// only, talking to the gateway's guest routes, never a node's local API.
export const guest = document.querySelector('meta[name="parley-mode"]')?.content === "guest";

// GATEWAY_MARK ends the name of a candidate who joined from a browser
// through the company's gateway (the gateway's participant presents it so).
export const GATEWAY_MARK = " (browser, via gateway)";

// plainName is a participant's name without the gateway's mark, and
// whether it had it.
export function plainName(name) {
  const s = String(name ?? "");
  return s.endsWith(GATEWAY_MARK) ? [s.slice(0, -GATEWAY_MARK.length), true] : [s, false];
}
