// The room's channel to its node (PROTOCOL.md, "The session page"): one
// WebSocket carrying the Automerge sync protocol for each document (binary
// frames: a document byte, then the sync message) and JSON messages
// (hello, state, error from the node; cursor from the page).
import * as A from "@automerge/automerge";
import { guest } from "./mode.js";

export const DOC_CODES = { shared: 0, private: 1 };
// Flags of a binary frame's first byte: the document saved whole (from the
// node), changes rather than a sync message (either way, ?changes=1).
const SAVED = 0x80, CHANGES = 0x40;

// initWasm loads Automerge's WebAssembly, once per page.
let wasmReady;
export function initWasm() {
  wasmReady ??= A.initializeWasm(new URL("/automerge.wasm", location.href));
  return wasmReady;
}

// DocChannel is the page's copy of one document, kept in sync with the
// node's. handle() is what @automerge/automerge-codemirror binds to.
class DocChannel {
  constructor(code, send, actorPrefix) {
    this.code = code;
    this.send = send;
    // The node's actor prefix names this page's edits after its
    // participant in the history; the random rest keeps this page's actor
    // its own (a second tab, a reload).
    this.doc = A.init();
    this.name(actorPrefix);
    this.state = A.initSyncState();
    this.listeners = new Set();
  }

  // name gives the page's copy its actor: the node's prefix (the hello's
  // "actor") and 8 random bytes. A copy made before the hello (the room
  // asked for it early) takes it when the hello comes, before it makes
  // any change: the node refuses changes by any other actor.
  name(actorPrefix) {
    if (!/^[0-9a-f]{16}$/.test(actorPrefix || "") || A.getActorId(this.doc).startsWith(actorPrefix)) return;
    const rest = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
    this.doc = A.clone(this.doc, { actor: actorPrefix + rest });
  }

  receive(msg) {
    const before = A.getHeads(this.doc);
    [this.doc, this.state] = A.receiveSyncMessage(this.doc, this.state, msg);
    this.flush();
    if (!A.equals(before, A.getHeads(this.doc))) this.emit();
  }

  // receiveChanges takes changes the node fed this page (a change frame).
  // Some may wait for changes this copy lacks (it missed some while the
  // socket was down): a sync round finds them.
  // An empty copy (the first exchange is not over) takes nothing so: the
  // exchange brings these too.
  receiveChanges(bytes) {
    const before = A.getHeads(this.doc);
    if (before.length === 0) return this.flush();
    try {
      this.doc = A.loadIncremental(this.doc, bytes);
    } catch {
      return this.flush();
    }
    if (A.getMissingDeps(this.doc, []).length > 0) this.flush();
    if (!A.equals(before, A.getHeads(this.doc))) this.emit();
  }

  // sendLocal sends the change this page just made as a change frame: no
  // sync round per keystroke. If the socket is down it is lost here, and
  // the sync round of the next hello brings it.
  sendLocal() {
    const change = A.getLastLocalChange(this.doc);
    if (change) this.send(this.code | CHANGES, change);
  }

  // flush sends what the node has not seen yet, if anything.
  flush() {
    const [state, msg] = A.generateSyncMessage(this.doc, this.state);
    this.state = state;
    if (msg) this.send(this.code, msg);
  }

  // reset starts the exchange afresh, on a new socket.
  reset() {
    this.state = A.initSyncState();
  }

  // load takes the document saved whole, in place of an empty copy (a long
  // history loads far faster so than through sync, change by change), and
  // starts the exchange from it.
  load(saved) {
    if (A.getHeads(this.doc).length === 0) {
      this.doc = A.load(saved, { actor: A.getActorId(this.doc) });
      this.emit();
    }
    this.reset();
    this.flush();
  }

  emit() {
    for (const f of this.listeners) f();
  }

  // handle is what the editor of the text at path binds to. Its changes
  // carry the nodes' conventions: the time in milliseconds, and a message
  // tallying what they did to the text, for the history (`parley replay`).
  handle(path) {
    const textAt = (d) => {
      let v = d;
      for (const k of path) v = v?.[k];
      return v === undefined ? "" : String(v);
    };
    return {
      isReady: () => true,
      doc: () => this.doc,
      change: (fn) => {
        const before = textAt(this.doc);
        const opts = { time: Date.now() };
        this.doc = A.change(this.doc, opts, (d) => {
          fn(d);
          // Automerge reads the message when it commits, after this.
          opts.message = tally(path, before, textAt(d));
        });
        this.sendLocal();
        this.emit();
      },
      on: (_, f) => this.listeners.add(f),
      off: (_, f) => this.listeners.delete(f),
    };
  }
}

// tally is a change's message: code points inserted and deleted in the
// text at path, as the nodes write it (crdt.Tally).
function tally(path, before, after) {
  // Compare in UTF-16 units without copying the texts (this runs on every
  // keystroke), then count code points in what differs.
  let pre = 0;
  const max = Math.min(before.length, after.length);
  while (pre < max && before.charCodeAt(pre) === after.charCodeAt(pre)) pre++;
  if (pre > 0 && isHigh(before.charCodeAt(pre - 1))) pre--; // not inside a pair
  let suf = 0;
  while (suf < max - pre && before.charCodeAt(before.length - 1 - suf) === after.charCodeAt(after.length - 1 - suf)) suf++;
  if (suf > 0 && isLow(before.charCodeAt(before.length - suf))) suf--;
  const t = { t: path[0] === "files" ? "file:" + path[1] : path[0] };
  const ins = codePoints(after, pre, after.length - suf), del = codePoints(before, pre, before.length - suf);
  if (ins) t.i = ins;
  if (del) t.d = del;
  return JSON.stringify([t]);
}

const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;

// codePoints counts the code points of s[from:to].
function codePoints(s, from, to) {
  let n = 0;
  for (let i = from; i < to; i++) if (!(isLow(s.charCodeAt(i)) && i > from && isHigh(s.charCodeAt(i - 1)))) n++;
  return n;
}

// afterPaint resolves once the page has painted its next frame (a task
// queued from the frame's callback runs after the paint), or after 100 ms
// in a hidden tab, which paints nothing.
function afterPaint() {
  return new Promise((done) => {
    requestAnimationFrame(() => setTimeout(done));
    setTimeout(done, 100);
  });
}

// Channel connects to a session's WebSocket and reconnects when it drops.
// It may be made before Automerge's WebAssembly is ready: the documents'
// messages wait for it, the call's offer does not.
export class Channel {
  constructor(sessionID, { onHello, onState, onError, onStatus, onMedia, onRun, onPreview }) {
    // A guest of the company's gateway talks to the participant the gateway
    // hosts for it; anyone else to their own node.
    const path = guest ? `/guest/s/${encodeURIComponent(sessionID)}/live` : `/api/v1/sessions/${encodeURIComponent(sessionID)}/live`;
    // saved=1: the node may send documents saved whole, and previews of
    // those it is still loading. changes=1: what a document gains travels
    // as changes, either way, without a sync round per keystroke.
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}?saved=1&changes=1`;
    this.on = { onHello, onState, onError, onStatus, onMedia, onRun, onPreview };
    this.docs = {};
    this.ws = null;
    this.closed = false;
    this.retry = 500;
    this.timer = null;
    this.pending = initWasm(); // what arrives waits for Automerge
    // Back online: try at once rather than after the back-off (the call
    // comes back with the socket).
    this.onOnline = () => {
      if (this.closed || !this.timer) return;
      clearTimeout(this.timer);
      this.timer = null;
      this.connect();
    };
    window.addEventListener("online", this.onOnline);
    this.connect();
  }

  doc(kind) {
    if (!this.docs[kind]) {
      this.docs[kind] = new DocChannel(DOC_CODES[kind], (code, msg) => this.sendBinary(code, msg), this.actorPrefix);
    }
    return this.docs[kind];
  }

  connect() {
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.retry = 500;
      this.on.onStatus?.("connected");
    };
    ws.onmessage = (ev) => {
      let m = null;
      if (typeof ev.data === "string") {
        try {
          m = JSON.parse(ev.data);
        } catch {
          return;
        }
        // The call needs no Automerge: its offer is taken at once, while
        // the WebAssembly may still compile (a reload mid-call comes back
        // sooner). Nor does a preview of the code, which a late joiner
        // sees while everything else loads.
        if (m.type === "media-offer") {
          this.on.onMedia?.(m);
          return;
        }
        if (m.type === "preview") {
          this.on.onPreview?.(m);
          return;
        }
      }
      // Everything else in order, once Automerge is ready.
      this.pending = this.pending.then(() => this.handle(m, ev.data)).catch((e) => console.error("parley:", e));
    };
    ws.onclose = (ev) => {
      if (this.closed) return;
      if (ev.code >= 4000 && ev.code < 5000) {
        // Refused for good by the company's gateway (this browser has no
        // seat, the interview ended, the gateway is full): it said why in
        // an error message first; no retrying.
        this.closed = true;
        this.on.onStatus?.("refused", ev.reason);
        return;
      }
      if (ev.code === 1000) {
        // The node left the session (it ended, or this node left): there
        // is nothing to reconnect to.
        this.closed = true;
        this.on.onStatus?.("closed", ev.reason);
        return;
      }
      this.on.onStatus?.("disconnected", ev.reason);
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.closed) this.connect();
      }, this.retry);
      // The node is this machine's (or the company's gateway): trying
      // every two seconds costs little, and a call waits no longer.
      this.retry = Math.min(this.retry * 2, 2000);
    };
  }

  // handle takes a message from the node: m if it is text (JSON), else
  // the binary data.
  handle(m, data) {
    if (m) {
      if (m.type === "hello") {
        this.actorPrefix ??= m.actor;
        for (const d of Object.values(this.docs)) d.name(this.actorPrefix);
        for (const kind of m.docs || []) {
          const d = this.doc(kind);
          d.reset();
          // A document saved whole follows: the exchange starts from it.
          if (!(m.saved || []).includes(kind)) d.flush();
        }
        this.on.onHello?.(m);
      } else if (m.type === "state") this.on.onState?.(m);
      else if (m.type === "run") this.on.onRun?.(m.run);
      else if (m.type === "error") {
        this.on.onError?.(m.error);
        // The node refused a change this page made (it breaks the
        // session's rules): the page's copy is not the session's any
        // more; start again from the node's.
        if (m.reset) setTimeout(() => location.reload(), 1500);
      }
      return;
    }
    const b = new Uint8Array(data);
    if (b.length < 2) return;
    const kind = Object.keys(DOC_CODES).find((k) => DOC_CODES[k] === (b[0] & ~(SAVED | CHANGES)));
    if (!kind) return;
    // A document saved whole holds the main thread while it loads, seconds
    // for a long interview's: what the page drew before (the preview of
    // the code that came just before it) is painted first.
    if (b[0] & SAVED) return afterPaint().then(() => this.apply(kind, b));
    this.apply(kind, b);
  }

  apply(kind, b) {
    try {
      if (b[0] & SAVED) this.doc(kind).load(b.subarray(1));
      else if (b[0] & CHANGES) this.doc(kind).receiveChanges(b.subarray(1));
      else this.doc(kind).receive(b.subarray(1));
    } catch (e) {
      this.on.onError?.(`could not apply the node's ${kind} document data: ${e.message}`);
    }
  }

  sendBinary(code, msg) {
    if (this.ws?.readyState !== WebSocket.OPEN) return; // the next hello resyncs
    const b = new Uint8Array(msg.length + 1);
    b[0] = code;
    b.set(msg, 1);
    this.ws.send(b);
  }

  sendJSON(m) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    window.removeEventListener("online", this.onOnline);
    this.ws?.close();
  }
}
