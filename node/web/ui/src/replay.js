// The Replay page: plays a session's code history (the same changes
// `parley replay` lists): play and pause, speeds up to 32x, skipping idle
// stretches, a timeline to scrub with each participant's changes in their
// color, the code at any moment, what each change inserted highlighted in
// its author's color, and the runs of the code at their moments, with their
// output. The node sends the history worked out as patches on the files,
// change by change (crdt/replay.go): the page plays them on CodeMirror's
// texts, with no Automerge of its own, keeping the files every CHECKPOINT
// changes so that a jump costs at most that many patches.
import { basicSetup } from "codemirror";
import { EditorView, Decoration } from "@codemirror/view";
import { ChangeSet, EditorState, StateEffect, StateField, Text } from "@codemirror/state";
import { get } from "./api.js";
import { h, clear, fmtTime, colorsFor } from "./dom.js";

const IDLE = 3000; // ms without a change that "skip idle" jumps over
const SPEEDS = [1, 2, 4, 8, 16, 32];
const CHECKPOINT = 256; // changes between two kept states of the files
const MARKED = 12; // the last changes whose insertions are highlighted

const setMarks = StateEffect.define();
const marks = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    for (const e of tr.effects) if (e.is(setMarks)) return e.value;
    return deco.map(tr.changes);
  },
  provide: (f) => EditorView.decorations.from(f),
});

const textOf = (s) => Text.of((s || "").split("\n"));

// advance applies a step's patches (with p and d filled in on arrival) to a
// state of the files ({files: Map of name to Text, active}).
function advance(state, step) {
  for (const p of step.p || []) {
    switch (p.o) {
      case "new": state.files.set(p.f, textOf(p.i)); break;
      case "gone": state.files.delete(p.f); break;
      case "active": state.active = p.f; break;
      default: {
        const t = state.files.get(p.f);
        if (t) state.files.set(p.f, t.replace(p.p, p.p + p.d, textOf(p.i)));
      }
    }
  }
}

// Where a position moves through a splice, for the start and the end of a
// highlighted range.
const mapStart = (x, p) => (x < p.p ? x : x >= p.p + p.d ? x - p.d + p.n : p.p + p.n);
const mapEnd = (x, p) => (x <= p.p ? x : x >= p.p + p.d ? x - p.d + p.n : p.p);

export async function replay(main, id) {
  const t0Load = performance.now();
  const hist = await get(`/sessions/${encodeURIComponent(id)}/history`);
  const historyAt = performance.now() - t0Load;
  document.title = `Replay: ${hist.title}: Parley`;
  const steps = hist.steps || [];
  for (const s of steps) {
    for (const p of s.p || []) {
      p.p = p.p || 0;
      p.d = p.d || 0;
      p.n = p.i ? p.i.length : 0; // UTF-16 units, as the patches count
    }
  }
  const who = (a) => {
    const actor = hist.actors[a] || "";
    return hist.authors[actor.slice(0, 16)] || { name: "someone", peer: actor };
  };
  // The steps before the first timed one (the genesis) are played first.
  const first = steps.findIndex((s) => s.t > 0);

  // The runs of the code, at the moments Run was pressed.
  let runs = [];
  try {
    runs = (await get(`/sessions/${encodeURIComponent(id)}/runs`)).map((r) => ({ ...r, time: Date.parse(r.started) })).filter((r) => r.time > 0);
  } catch {
    // This node kept no runs.
  }
  const title = h("h1", {}, "Replay: ", hist.title);
  main.append(title);
  if (first < 0) {
    main.append(h("p", { class: "muted" }, "Nobody wrote any code in this session."));
    return;
  }
  const count = steps.length - first; // the changes people made
  const t0 = steps[first].t, t1 = Math.max(steps[steps.length - 1].t, ...runs.map((r) => r.time));
  const play = h("button", { type: "button", id: "replay-play", class: "primary" }, "Play");
  const speed = h("select", { id: "replay-speed", "aria-label": "Speed" }, SPEEDS.map((s) => h("option", { value: String(s), selected: s === 4 }, `${s}x`)));
  const skip = h("input", { type: "checkbox", id: "replay-skip", checked: true });
  const scrub = h("input", { type: "range", id: "replay-scrub", min: "0", max: String(t1 - t0), step: "1", value: "0", "aria-label": "Moment in the session" });
  const clock = h("span", { id: "replay-time", "aria-live": "off" });
  const fileTabs = h("div", { class: "file-tabs", role: "tablist", "aria-label": "Files" });
  const codeEl = h("div", { class: "replay-code", id: "replay-code" });
  const track = h("div", { class: "replay-track", "aria-hidden": "true" });
  const legend = h("ul", { class: "replay-legend", "aria-label": "Participants" });
  // Distinct colors, in the order people first wrote.
  const firsts = new Map();
  for (let i = first; i < steps.length; i++) {
    const w = who(steps[i].a);
    if (!firsts.has(w.peer)) firsts.set(w.peer, new Date(steps[i].t).toISOString());
  }
  const colors = colorsFor([...firsts].map(([peer, since]) => ({ peer, since })));
  const colorOf = (peer) => colors[peer];
  for (const peer of firsts.keys()) {
    const w = Object.values(hist.authors).find((x) => x.peer === peer) || { name: "someone" };
    legend.append(h("li", {}, h("span", { class: "dot", style: `background:${colorOf(peer)}` }), `${w.name}${w.role ? ` (${w.role})` : ""}`));
  }
  // The timeline: a tick per change (sampled when there are many).
  const every = Math.max(1, Math.ceil(count / 1500));
  for (let i = first; i < steps.length; i += every) {
    const s = steps[i];
    const x = t1 === t0 ? 0 : ((s.t - t0) / (t1 - t0)) * 100;
    track.append(h("span", { style: `left:${x}%;background:${colorOf(who(s.a).peer)}` }));
  }
  for (const r of runs) {
    const x = t1 === t0 ? 0 : ((r.time - t0) / (t1 - t0)) * 100;
    track.append(h("span", { class: "run-mark", style: `left:${x}%`, title: `${r.by} ran ${r.main}` }));
  }
  const runEl = h("section", { class: "run-panel", id: "replay-run", "aria-label": "The last run", "aria-live": "polite", hidden: true });
  main.append(
    h("div", { class: "replay-controls" }, play, h("label", {}, "Speed ", speed), h("label", {}, skip, " Skip idle stretches"), clock),
    scrub, track, legend, fileTabs, codeEl, runEl,
    h("p", { class: "muted" }, `${count} changes from ${fmtTime(t0)} to ${fmtTime(t1)}.`));

  const view = new EditorView({
    doc: "",
    extensions: [basicSetup, EditorState.readOnly.of(true), EditorView.editable.of(false), marks,
      EditorView.contentAttributes.of({ "aria-label": "Code at this moment" })],
    parent: codeEl,
  });

  // The files after step i: from the last kept state at or before it. The
  // kept states are made as far as they are needed.
  const kept = [{ i: first - 1, files: new Map(), active: "" }];
  for (let i = 0; i < first; i++) advance(kept[0], steps[i]);
  const keepNext = () => {
    const last = kept[kept.length - 1];
    const next = { i: last.i + CHECKPOINT, files: new Map(last.files), active: last.active };
    for (let j = last.i + 1; j <= next.i; j++) advance(next, steps[j]);
    kept.push(next);
  };
  const allKept = () => kept[kept.length - 1].i + CHECKPOINT >= steps.length;
  const stateAt = (i) => {
    const k = Math.floor((i - first + 1) / CHECKPOINT);
    while (kept.length <= k) keepNext();
    const from = kept[k];
    const st = { files: new Map(from.files), active: from.active };
    for (let j = from.i + 1; j <= i; j++) advance(st, steps[j]);
    return st;
  };

  let at = t0; // the moment shown (ms)
  let index = -2; // the step shown: its changes and those before it
  let file = null; // the file picked by the user, if any
  let picked = null; // the pick the file shown was chosen with
  let shownFile = null;
  let tabsFor = "";

  // The last step at or before t (first - 1 before the first change).
  const stepAt = (t) => {
    let lo = first, hi = steps.length - 1, ans = first - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (steps[mid].t <= t) { ans = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return ans;
  };

  // The file's splices from step a to step b, or null if the file itself
  // came or went (then the page shows it anew).
  const splicesOf = (name, a, b) => {
    const out = [];
    for (let j = a; j <= b; j++) {
      for (const p of steps[j].p || []) {
        if (p.f !== name || p.o === "active") continue;
        if (p.o) return null;
        out.push(p);
      }
    }
    return out;
  };

  // What the last few changes inserted into the file shown, in their
  // authors' colors, moved through what came after them.
  const recentMarks = (i, name) => {
    const ranges = [];
    for (let k = Math.max(first, i - MARKED + 1); k <= i; k++) {
      const color = colorOf(who(steps[k].a).peer);
      const ps = steps[k].p || [];
      for (let x = 0; x < ps.length; x++) {
        const p = ps[x];
        if (p.f !== name || p.o) continue;
        for (const r of ranges) {
          r.from = mapStart(r.from, p);
          r.to = mapEnd(r.to, p);
        }
        if (p.n) ranges.push({ from: p.p, to: p.p + p.n, color, age: i - k });
      }
    }
    return ranges;
  };

  function render() {
    const i = stepAt(at);
    if (i !== index || file !== picked) {
      picked = file;
      const st = stateAt(i);
      const files = [...st.files.keys()].sort();
      const name = file && st.files.has(file) ? file : st.files.has(st.active) ? st.active : files[0] || null;
      const text = name ? st.files.get(name) : Text.empty;
      const ps = name === shownFile && index >= first - 1 && i > index && i - index <= CHECKPOINT ? splicesOf(name, index + 1, i) : null;
      let changes;
      if (ps) {
        changes = ChangeSet.empty(view.state.doc.length);
        for (const p of ps) changes = changes.compose(ChangeSet.of({ from: p.p, to: p.p + p.d, insert: textOf(p.i) }, changes.newLength));
      } else {
        changes = ChangeSet.of({ from: 0, to: view.state.doc.length, insert: text }, view.state.doc.length);
      }
      index = i;
      shownFile = name;
      const len = changes.newLength;
      const deco = [];
      for (const r of name ? recentMarks(i, name) : []) {
        const from = Math.min(r.from, len), to = Math.min(r.to, len);
        if (to > from) deco.push(Decoration.mark({ attributes: { style: `background:${r.color}${r.age ? "22" : "44"}` } }).range(from, to));
      }
      deco.sort((a, b) => a.from - b.from);
      // One update a frame, the text and its marks together: each update
      // costs CodeMirror a layout of the page.
      view.dispatch({ changes, effects: setMarks.of(Decoration.set(deco, true)) });
      const tabs = files.join("\n") + "\n" + name;
      if (tabs !== tabsFor) {
        tabsFor = tabs;
        clear(fileTabs);
        for (const f of files) {
          fileTabs.append(h("button", { type: "button", role: "tab", class: "file-tab", "aria-selected": String(f === name), onclick: () => { file = f; render(); } }, f));
        }
      }
    }
    drawRun();
    scrub.value = String(at - t0);
    const s = steps[i];
    clock.textContent = `${new Date(at).toLocaleTimeString()}${i >= first ? ` · ${who(s.a).name}` : ""} · change ${i - first + 1} of ${count}`;
  }

  // The last run pressed at or before the moment shown.
  let runShown = null;
  function drawRun() {
    let r = null;
    for (const x of runs) if (x.time <= at) r = x;
    if (r === runShown) return;
    runShown = r;
    clear(runEl);
    runEl.hidden = !r;
    if (!r) return;
    const text = (s) => (r.output || []).filter((c) => c.stream === s).map((c) => c.data).join("");
    const res = r.result;
    const ended = r.state === "running" ? "running" : !res ? `failed: ${r.error || "no result"}` : res.reason ? `stopped (${res.reason})` : `exit status ${res.exit}`;
    runEl.append(
      h("div", { class: "run-head" }, `${fmtTime(r.started)}: ${r.by} ran ${r.main} on ${r.runner}: `, h("strong", {}, ended),
        res ? h("span", { class: "muted" }, ` · ${res.wall_ms} ms`) : ""),
      h("div", { class: "run-streams" },
        h("div", {}, h("h3", {}, "Output"), h("pre", { class: "run-out" }, text("stdout"))),
        h("div", {}, h("h3", {}, "Errors"), h("pre", { class: "run-err" }, text("stderr")))));
  }

  // Frame times while playing (from one animation frame to the next) and
  // the page's own part of each (render), for BenchmarkBrowserReplay.
  const stats = { firstFrame: 0, ready: 0, frames: [], renders: [] };
  let playing = false, last = 0;
  function tick(now) {
    if (!playing) return;
    stats.frames.push(now - last);
    const dt = (now - last) * Number(speed.value);
    last = now;
    let next = at + dt;
    if (skip.checked) {
      const i = stepAt(at);
      if (i + 1 < steps.length && steps[i + 1].t - at > IDLE) next = Math.max(next, steps[i + 1].t - 250);
    }
    at = Math.min(next, t1);
    const r0 = performance.now();
    render();
    stats.renders.push(performance.now() - r0);
    if (at >= t1) stop();
    else requestAnimationFrame(tick);
  }
  function start() {
    if (at >= t1) at = t0;
    playing = true;
    play.textContent = "Pause";
    last = performance.now();
    requestAnimationFrame(tick);
  }
  function stop() {
    playing = false;
    play.textContent = "Play";
  }
  play.addEventListener("click", () => (playing ? stop() : start()));
  scrub.addEventListener("input", () => {
    at = t0 + Number(scrub.value);
    render();
  });
  render();
  requestAnimationFrame(() => { stats.firstFrame = performance.now(); stats.history = historyAt; });
  // The kept states, made while the page is idle, so that a jump anywhere
  // costs at most CHECKPOINT changes.
  const idle = window.requestIdleCallback || ((f) => setTimeout(() => f({ timeRemaining: () => 8 }), 0));
  const keepWhileIdle = (deadline) => {
    while (!allKept() && deadline.timeRemaining() > 2) keepNext();
    if (allKept()) stats.ready = performance.now();
    else idle(keepWhileIdle);
  };
  idle(keepWhileIdle);

  // For scripts and the browser tests.
  window.parleyReplay = {
    steps: () => steps.slice(first).map((s) => ({ time: new Date(s.t).toISOString(), actor: hist.actors[s.a] })),
    seek: (iso) => { at = Math.min(Math.max(Date.parse(iso), t0), t1); render(); },
    end: () => { at = t1; render(); },
    file: () => shownFile,
    text: () => view.state.doc.toString(),
    playing: () => playing,
    stats: () => stats,
  };
}
