// The room's call: this participant's camera and microphone go to its own
// node over WebRTC (signaling on the session's WebSocket), and the node
// sends back the others', a track pair (audio, video) per slot; the node
// says who is in which slot. Before the start the page shows only its own
// preview.
import { h, clear, colorOf } from "./dom.js";
import { guest, plainName } from "./mode.js";

export class Call {
  constructor(el, channel, { onError, colorFor = colorOf }) {
    this.el = el;
    this.channel = channel;
    this.onError = onError;
    this.colorFor = colorFor; // a participant's color in the room
    this.local = null; // MediaStream of camera and microphone
    this.pc = null;
    this.streams = {}; // slot -> MediaStream
    this.mic = true;
    this.cam = true;
    this.started = false;
    this.slots = [];
    this.names = {};
    this.me = null;
    this.tiles = h("div", { class: "tiles" });
    this.micButton = h("button", { type: "button", id: "mic", "aria-pressed": "false", onclick: () => this.toggle("mic") }, "Mute microphone");
    this.camButton = h("button", { type: "button", id: "cam", "aria-pressed": "false", onclick: () => this.toggle("cam") }, "Turn camera off");
    this.devices = h("select", { id: "camera-pick", "aria-label": "Camera", onchange: () => this.pickCamera() });
    this.blocked = h("button", { type: "button", hidden: true, onclick: () => this.playAll() }, "Click to hear the others");
    el.append(h("h2", {}, "Call"), this.tiles, h("div", { class: "call-controls" }, this.micButton, this.camButton, this.devices, this.blocked));
  }

  // preview asks for the camera and microphone, once, and shows them here.
  preview() {
    this.previewed ||= this.openDevices();
    return this.previewed;
  }

  async openDevices() {
    try {
      this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
    } catch (e) {
      try {
        this.local = await navigator.mediaDevices.getUserMedia({ audio: true });
        this.cam = false;
      } catch {
        this.onError(`No camera or microphone: ${e.message}. Others will not see or hear you.`);
        this.local = new MediaStream();
        this.mic = this.cam = false;
      }
    }
    await this.listDevices();
    this.draw();
  }

  async listDevices() {
    try {
      const all = await navigator.mediaDevices.enumerateDevices();
      const cams = all.filter((d) => d.kind === "videoinput");
      const current = this.local.getVideoTracks()[0]?.getSettings().deviceId;
      clear(this.devices).append(...cams.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `Camera ${i + 1}`)));
      this.devices.hidden = cams.length < 2;
    } catch {
      this.devices.hidden = true;
    }
  }

  async pickCamera() {
    try {
      const s = await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: this.devices.value } } });
      const track = s.getVideoTracks()[0];
      for (const old of this.local.getVideoTracks()) {
        this.local.removeTrack(old);
        old.stop();
      }
      this.local.addTrack(track);
      track.enabled = this.cam;
      const tx = this.pc?.getTransceivers()[1];
      if (tx) await tx.sender.replaceTrack(track);
      this.draw();
    } catch (e) {
      this.onError(`Camera: ${e.message}`);
    }
  }

  // start joins the call: once the interview started.
  async start() {
    if (this.started) return;
    this.started = true;
    this.startedAt = performance.now();
    this.firstFrames = {}; // peer -> ms from start() to its first frame shown
    this.marks = {};
    const mark = (k) => (this.marks[k] = Math.round(performance.now() - this.startedAt));
    this.mark = mark;
    // Ask for the node's offer while the camera starts.
    this.previewing = this.preview().then(() => this.mark?.("preview"));
    this.channel.sendJSON({ type: "media-start" });
    this.watch(5000);
  }

  // watch starts the call afresh when, after ms, no offer came since it
  // asked (the node refused to start it yet, as while it restarts, or the
  // offer was lost with a socket), or its leg is down: failed, gone, or
  // still connecting 10 s after the answer. A leg this page is still
  // answering (the camera or the candidates are slow to come on a busy
  // machine) is given the time it takes: starting afresh would only start
  // the wait again.
  watch(ms) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (!this.started) return;
      const offered = this.offeredAt >= this.startedAt;
      const answered = offered && this.answeredAt >= this.offeredAt;
      const state = this.pc?.connectionState;
      if (offered && state === "connected") return;
      if ((offered && !answered) || (answered && (state === "new" || state === "connecting") && performance.now() - this.answeredAt < 10000)) {
        this.watch(1000);
        return;
      }
      this.started = false;
      this.start();
    }, ms);
  }

  // offer takes the node's offer and answers it. A guest's page (its node
  // is the company's gateway, elsewhere) gets the link's STUN and TURN
  // servers with it.
  async offer(sdp, iceServers) {
    this.mark?.("offer");
    this.offeredAt = performance.now();
    this.pc?.close();
    this.streams = {};
    const pc = new RTCPeerConnection({ iceServers: iceServers || [] });
    this.pc = pc;
    pc.ontrack = (ev) => {
      if (this.pc !== pc) return;
      const slot = Math.floor(Number(ev.transceiver.mid) / 2);
      (this.streams[slot] ||= new MediaStream()).addTrack(ev.track);
      this.draw();
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      if (pc.connectionState === "connected") this.mark?.("connected");
      if (pc.connectionState === "failed") {
        this.started = false;
        this.start(); // a fresh leg
      }
      // Down: a leg to this machine's node that does not come back within
      // seconds will not.
      if (pc.connectionState === "disconnected") this.watch(3000);
    };
    try {
      await this.answer(pc, sdp);
    } catch (e) {
      if (this.pc === pc) throw e; // else a newer offer replaced this one
    }
  }

  // answer answers the offer on pc. A newer offer replaces this one while
  // it is answered: this one stops at the next step.
  async answer(pc, sdp) {
    await pc.setRemoteDescription({ type: "offer", sdp });
    await this.previewing;
    if (this.pc !== pc) return;
    const tx = pc.getTransceivers();
    const audio = this.local.getAudioTracks()[0] || null;
    const video = this.local.getVideoTracks()[0] || null;
    tx.forEach((t, i) => {
      if (i === 0 && audio) {
        t.sender.replaceTrack(audio);
        t.direction = "sendrecv";
      } else if (i === 1 && video) {
        t.sender.replaceTrack(video);
        t.direction = "sendrecv";
      } else t.direction = "recvonly";
    });
    // The node is on this machine: the first host candidate will do, and
    // waiting for every interface's costs a third of a second. A guest's
    // node is elsewhere: its STUN and TURN candidates are worth the wait.
    const gathered = new Promise((done) => {
      const t = setTimeout(done, 3000);
      const finish = () => {
        clearTimeout(t);
        done();
      };
      pc.addEventListener("icecandidate", (e) => !guest && e.candidate && e.candidate.type === "host" && finish());
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && finish());
    });
    const answer = await pc.createAnswer();
    if (this.pc !== pc) return;
    await pc.setLocalDescription(answer);
    await gathered;
    if (this.pc !== pc) return;
    this.mark?.("answer");
    this.answeredAt = performance.now();
    this.channel.sendJSON({ type: "media-answer", sdp: pc.localDescription.sdp });
    this.channel.sendJSON({ type: "media-state", mic: this.mic, cam: this.cam });
  }

  toggle(what) {
    this[what] = !this[what];
    const tracks = what === "mic" ? this.local?.getAudioTracks() : this.local?.getVideoTracks();
    for (const t of tracks || []) t.enabled = this[what];
    this.channel.sendJSON({ type: "media-state", mic: this.mic, cam: this.cam });
    this.draw();
  }

  // update takes who is in which slot, and the participants' names.
  update(slots, participants, me) {
    this.slots = slots || [];
    this.me = me;
    for (const p of participants || []) this.names[p.peer] = plainName(p.name)[0];
    this.draw();
  }

  playAll() {
    for (const v of this.tiles.querySelectorAll("video.remote")) v.play().catch(() => {});
    this.blocked.hidden = true;
  }

  draw() {
    this.micButton.textContent = this.mic ? "Mute microphone" : "Unmute microphone";
    this.micButton.setAttribute("aria-pressed", String(!this.mic));
    this.camButton.textContent = this.cam ? "Turn camera off" : "Turn camera on";
    this.camButton.setAttribute("aria-pressed", String(!this.cam));
    const want = [];
    if (this.local) want.push({ key: "self", name: "You", stream: this.local, mic: this.mic, cam: this.cam, self: true, color: this.colorFor(this.me) });
    for (const s of this.slots) {
      if (s.peer === this.me || s.slot < 0) continue;
      want.push({ key: "slot-" + s.slot, peer: s.peer, name: this.names[s.peer] || "…", stream: this.streams[s.slot], mic: s.mic, cam: s.cam, color: this.colorFor(s.peer) });
    }
    const keep = new Set(want.map((w) => w.key));
    for (const t of [...this.tiles.children]) if (!keep.has(t.dataset.key)) t.remove();
    for (const w of want) {
      let tile = this.tiles.querySelector(`[data-key="${w.key}"]`);
      if (!tile) {
        const video = h("video", { autoplay: true, playsInline: true, muted: !!w.self, class: w.self ? "self" : "remote" });
        video.muted = !!w.self;
        if (!w.self) {
          video.addEventListener("resize", () => {
            const peer = tile.dataset.peer;
            if (peer && this.firstFrames && !(peer in this.firstFrames) && video.videoWidth > 0) {
              this.firstFrames[peer] = Math.round(performance.now() - this.startedAt);
            }
          });
        }
        tile = h("figure", { class: "tile", dataset: { key: w.key } }, video, h("figcaption", {}));
        this.tiles.append(tile);
      }
      tile.dataset.peer = w.peer || "";
      tile.style.borderColor = w.color;
      const video = tile.querySelector("video");
      if (w.stream && video.srcObject !== w.stream) {
        video.srcObject = w.stream;
        video.play().catch(() => (this.blocked.hidden = w.self));
      }
      tile.classList.toggle("cam-off", !w.cam);
      const cap = tile.querySelector("figcaption");
      clear(cap).append(w.name, !w.mic ? h("span", { class: "state" }, " · muted") : "", !w.cam ? h("span", { class: "state" }, " · camera off") : "");
    }
  }

  // stats counts the video frames decoded per slot (tests, diagnostics).
  async stats() {
    const out = {};
    if (!this.pc) return out;
    const mids = {};
    for (const t of this.pc.getTransceivers()) if (t.receiver.track) mids[t.receiver.track.id] = t.mid;
    const report = await this.pc.getStats();
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") {
        const mid = r.mid ?? mids[r.trackIdentifier];
        out[Math.floor(Number(mid) / 2)] = r.framesDecoded || 0;
      }
    });
    return out;
  }

  stop() {
    clearTimeout(this.watchdog);
    this.pc?.close();
    this.pc = null;
    for (const t of this.local?.getTracks() || []) t.stop();
    this.local = null;
    this.previewed = null;
    this.started = false;
    clear(this.tiles);
  }
}
