// The room's channel to its node (PROTOCOL.md, "The session page"): one
// WebSocket carrying the Automerge sync protocol for each document (binary
// frames: a document byte, then the sync message) and JSON messages
// (hello, state, error from the node; cursor from the page).
import * as A from "@automerge/automerge";

export const DOC_CODES = { shared: 0, private: 1 };

// DocChannel is the page's copy of one document, kept in sync with the
// node's. handle() is what @automerge/automerge-codemirror binds to.
class DocChannel {
  constructor(code, send) {
    this.code = code;
    this.send = send;
    this.doc = A.init();
    this.state = A.initSyncState();
    this.listeners = new Set();
  }

  receive(msg) {
    const before = A.getHeads(this.doc);
    [this.doc, this.state] = A.receiveSyncMessage(this.doc, this.state, msg);
    this.flush();
    if (!A.equals(before, A.getHeads(this.doc))) this.emit();
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

  emit() {
    for (const f of this.listeners) f();
  }

  handle() {
    return {
      isReady: () => true,
      doc: () => this.doc,
      change: (fn) => {
        this.doc = A.change(this.doc, fn);
        this.flush();
        this.emit();
      },
      on: (_, f) => this.listeners.add(f),
      off: (_, f) => this.listeners.delete(f),
    };
  }
}

// Channel connects to a session's WebSocket and reconnects when it drops.
export class Channel {
  constructor(sessionID, { onHello, onState, onError, onStatus, onMedia }) {
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/sessions/${encodeURIComponent(sessionID)}/live`;
    this.on = { onHello, onState, onError, onStatus, onMedia };
    this.docs = {};
    this.ws = null;
    this.closed = false;
    this.retry = 500;
    this.connect();
  }

  doc(kind) {
    if (!this.docs[kind]) {
      this.docs[kind] = new DocChannel(DOC_CODES[kind], (code, msg) => this.sendBinary(code, msg));
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
      if (typeof ev.data === "string") {
        let m;
        try {
          m = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (m.type === "hello") {
          for (const kind of m.docs || []) {
            const d = this.doc(kind);
            d.reset();
            d.flush();
          }
          this.on.onHello?.(m);
        } else if (m.type === "state") this.on.onState?.(m);
        else if (m.type === "media-offer") this.on.onMedia?.(m);
        else if (m.type === "error") this.on.onError?.(m.error);
        return;
      }
      const b = new Uint8Array(ev.data);
      if (b.length < 2) return;
      const kind = Object.keys(DOC_CODES).find((k) => DOC_CODES[k] === b[0]);
      if (!kind) return;
      try {
        this.doc(kind).receive(b.subarray(1));
      } catch (e) {
        this.on.onError?.(`could not apply the node's ${kind} document data: ${e.message}`);
      }
    };
    ws.onclose = (ev) => {
      if (this.closed) return;
      this.on.onStatus?.("disconnected", ev.reason);
      if (ev.code === 1000) return; // the node left the session
      setTimeout(() => !this.closed && this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 5000);
    };
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
    this.ws?.close();
  }
}
