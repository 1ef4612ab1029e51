// make-js.mjs writes changes and a sync message made by the browser's
// Automerge (@automerge/automerge as node/web/ui pins it) into js-*.hex,
// one line of hex each, for change_test.go to decode. The changes are made
// the way the session page makes them: A.change with the time in
// milliseconds and a tally as the message, A.splice and A.updateText on a
// file's text inside the "files" map.
//
// Run it from the repository root after `npm ci` in node/web/ui:
//
//	node crdt/testdata/make-js.mjs
//
// Its output is the same on every run: the actors are fixed and Date.now is.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(new URL("../../node/web/ui/package.json", import.meta.url));
const A = require("@automerge/automerge");

const pkg = new URL("../../node/web/ui/node_modules/@automerge/automerge/package.json", import.meta.url);
const version = JSON.parse(readFileSync(pkg)).version;
if (version !== "3.5.0") throw new Error(`@automerge/automerge ${version}, expected 3.5.0 (run npm ci in node/web/ui)`);

const out = (name, bytes) => writeFileSync(new URL(`js-${name}.hex`, import.meta.url), Buffer.from(bytes).toString("hex") + "\n");

// Fixed times, in milliseconds as the page writes them; Date.now is fixed
// too, for the change that takes Automerge's own default (seconds).
const T = 1764590400000; // 2025-12-01 12:00 UTC
Date.now = () => T + 99_999;

const STAFF = "1111111111111111aaaaaaaaaaaaaaaa";
const CANDIDATE = "2222222222222222bbbbbbbbbbbbbbbb";

// genesis makes a document's first change as crdt's newDoc does: its root
// objects, by an actor derived from the document's ID, at time zero.
function genesis(id, kind) {
  const actor = createHash("sha256").update("parley/1 genesis\0" + id).digest("hex").slice(0, 32);
  return A.change(A.init({ actor }), { time: 0 }, (d) => {
    if (kind === "shared") {
      d.files = {};
      d.languages = {};
      d.question = "";
    } else {
      d.notes = "";
    }
  });
}

// edit makes a change to the text at path as the page's document handle
// does (the time in milliseconds, a tally of code points inserted and
// deleted as the message) and writes it.
function edit(doc, name, time, path, fn) {
  const before = textAt(doc, path);
  const opts = { time };
  doc = A.change(doc, opts, (d) => {
    fn(d);
    opts.message = tally(path, before, textAt(d, path));
  });
  out(name, A.getLastLocalChange(doc));
  return doc;
}

const textAt = (d, path) => String(path.reduce((v, k) => v?.[k], d) ?? "");

// tally is node/web/ui/src/sync.js's, in short: code points inserted and
// deleted between the common prefix and suffix.
function tally(path, before, after) {
  const b = [...before], a = [...after];
  let pre = 0;
  while (pre < b.length && pre < a.length && b[pre] === a[pre]) pre++;
  let suf = 0;
  while (suf < b.length - pre && suf < a.length - pre && b[b.length - 1 - suf] === a[a.length - 1 - suf]) suf++;
  const t = { t: path[0] === "files" ? "file:" + path[1] : path[0] };
  if (a.length - pre - suf) t.i = a.length - pre - suf;
  if (b.length - pre - suf) t.d = b.length - pre - suf;
  return JSON.stringify([t]);
}

// The shared document: the staff add a file and write the question, the
// candidate edits the file.
let shared = genesis("js/shared", "shared");
out("genesis-shared", A.getLastLocalChange(shared));
let staff = A.clone(shared, { actor: STAFF });
const file = ["files", "main.go"];
staff = edit(staff, "staff-add", T, file, (d) => {
  d.files["main.go"] = "héllo 🙂\n";
  // A plain string would be a text: Automerge 3 makes every string
  // assigned a text unless told otherwise.
  d.languages["main.go"] = new A.ImmutableString("go");
});
// As "staff-language-text" shows, which the rules refuse.
edit(A.clone(staff, { actor: STAFF }), "staff-language-text", T + 500, file, (d) => {
  d.languages["main.go"] = "python";
});
staff = edit(staff, "staff-question", T + 1000, ["question"], (d) => {
  A.splice(d, ["question"], 0, 0, "Reverse a list 🔁");
});

let cand = A.clone(staff, { actor: CANDIDATE });
cand = edit(cand, "splice", T + 2000, file, (d) => {
  A.splice(d, file, 1, 1, "e"); // héllo -> hello
});
cand = edit(cand, "splice-emoji", T + 3000, file, (d) => {
  // UTF-16 positions: after "hello " (6); a thumb with a skin tone is two
  // code points, four UTF-16 units.
  A.splice(d, file, 6, 0, "ça 👍🏽 ");
});
cand = edit(cand, "updatetext", T + 4000, file, (d) => {
  A.updateText(d, file, "package main\n");
});
// Automerge's own default time, which is seconds.
cand = A.change(cand, (d) => A.splice(d, file, 0, 0, "// "));
out("default-time", A.getLastLocalChange(cand));
// A paste big enough that Automerge would compress the change if it ever
// did for a single change (it does not: getLastLocalChange is raw).
cand = edit(cand, "paste", T + 5000, file, (d) => {
  A.splice(d, file, 0, 0, "fn(){}\n".repeat(428) + "abcd");
});

// A sync message from the candidate's page to its node, which has only the
// staff's changes. The node runs Automerge 0.5, which appends no flags to
// its messages; strip them from the stand-in's, or the page would send a
// version 2 message.
let node = staff;
let nodeState = A.initSyncState();
let pageState = A.initSyncState();
const v1 = (msg) => {
  const flags = [0x02, 0x02, 0x84];
  const n = msg.length - flags.length;
  if (!flags.every((b, i) => msg[n + i] === b)) throw new Error("unexpected flags on a sync message");
  return msg.subarray(0, n);
};
let sent = false;
for (let round = 0; round < 10 && !sent; round++) {
  let msg;
  [nodeState, msg] = A.generateSyncMessage(node, nodeState);
  if (msg) [cand, pageState] = A.receiveSyncMessage(cand, pageState, v1(msg));
  [pageState, msg] = A.generateSyncMessage(cand, pageState);
  if (!msg) continue;
  if (A.decodeSyncMessage(msg).changes.length > 0) {
    out("sync", msg);
    sent = true;
  }
  [node, nodeState] = A.receiveSyncMessage(node, nodeState, msg);
}
if (!sent) throw new Error("the page never sent its changes");

// The private document: the staff write notes.
let priv = genesis("js/private", "private");
out("genesis-private", A.getLastLocalChange(priv));
priv = A.clone(priv, { actor: STAFF });
edit(priv, "staff-notes", T + 6000, ["notes"], (d) => {
  A.splice(d, ["notes"], 0, 0, "Strong on recursion ✓");
});
