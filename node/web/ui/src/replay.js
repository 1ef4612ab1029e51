// The Replay page: plays a session's code history from the saved document
// (the same changes `parley replay` lists): play and pause, speeds up to
// 32x, skipping idle stretches, a timeline to scrub with each participant's
// changes in their color, the code at any moment, what each change
// inserted highlighted in its author's color, and the runs of the code at
// their moments, with their output.
import { basicSetup } from "codemirror";
import { EditorView, Decoration } from "@codemirror/view";
import { EditorState, StateEffect, StateField } from "@codemirror/state";
import * as A from "@automerge/automerge";
import { get } from "./api.js";
import { h, clear, fmtTime, colorsFor } from "./dom.js";
import { initWasm } from "./sync.js";

const IDLE = 3000; // ms without a change that "skip idle" jumps over
const SPEEDS = [1, 2, 4, 8, 16, 32];


const setMarks = StateEffect.define();
const marks = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    for (const e of tr.effects) if (e.is(setMarks)) return e.value;
    return deco.map(tr.changes);
  },
  provide: (f) => EditorView.decorations.from(f),
});

function b64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export async function replay(main, id) {
  await initWasm();
  const hist = await get(`/sessions/${encodeURIComponent(id)}/history`);
  document.title = `Replay: ${hist.title}: Parley`;
  const doc = A.load(b64(hist.doc));
  const timeOf = new Map((hist.changes || []).map((c) => [c.hash, Date.parse(c.time)]));
  // Steps: the changes by time (the order `parley replay` prints), each
  // with the heads after it, so that the code at step i holds exactly the
  // changes up to it (and what they build on).
  const steps = [];
  const depsOf = new Map();
  for (const raw of A.getAllChanges(doc)) {
    const c = A.decodeChange(raw);
    depsOf.set(c.hash, c.deps);
    const t = timeOf.get(c.hash);
    if (t > 0) steps.push({ hash: c.hash, actor: c.actor, time: t }); // not the genesis
  }
  steps.sort((a, b) => a.time - b.time);
  const hs = new Set();
  for (const s of steps) {
    for (const d of depsOf.get(s.hash) || []) hs.delete(d);
    hs.add(s.hash);
    s.heads = [...hs];
  }
  const who = (actor) => hist.actors[actor.slice(0, 16)] || { name: "someone", peer: actor };

  // The runs of the code, at the moments Run was pressed.
  let runs = [];
  try {
    runs = (await get(`/sessions/${encodeURIComponent(id)}/runs`)).map((r) => ({ ...r, time: Date.parse(r.started) })).filter((r) => r.time > 0);
  } catch {
    // This node kept no runs.
  }
  const title = h("h1", {}, "Replay: ", hist.title);
  main.append(title);
  if (!steps.length) {
    main.append(h("p", { class: "muted" }, "Nobody wrote any code in this session."));
    return;
  }
  const t0 = steps[0].time, t1 = Math.max(steps[steps.length - 1].time, ...runs.map((r) => r.time));
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
  for (const s of steps) if (!firsts.has(who(s.actor).peer)) firsts.set(who(s.actor).peer, new Date(s.time).toISOString());
  const colors = colorsFor([...firsts].map(([peer, since]) => ({ peer, since })));
  const colorOf = (peer) => colors[peer];
  const seen = new Set();
  for (const s of steps) {
    const w = who(s.actor);
    if (!seen.has(w.peer)) {
      seen.add(w.peer);
      legend.append(h("li", {}, h("span", { class: "dot", style: `background:${colorOf(w.peer)}` }), `${w.name}${w.role ? ` (${w.role})` : ""}`));
    }
  }
  // The timeline: a tick per change (sampled when there are many).
  const every = Math.max(1, Math.ceil(steps.length / 1500));
  for (let i = 0; i < steps.length; i += every) {
    const s = steps[i];
    const x = t1 === t0 ? 0 : ((s.time - t0) / (t1 - t0)) * 100;
    track.append(h("span", { style: `left:${x}%;background:${colorOf(who(s.actor).peer)}` }));
  }
  for (const r of runs) {
    const x = t1 === t0 ? 0 : ((r.time - t0) / (t1 - t0)) * 100;
    track.append(h("span", { class: "run-mark", style: `left:${x}%`, title: `${r.by} ran ${r.main}` }));
  }
  const runEl = h("section", { class: "run-panel", id: "replay-run", "aria-label": "The last run", "aria-live": "polite", hidden: true });
  main.append(
    h("div", { class: "replay-controls" }, play, h("label", {}, "Speed ", speed), h("label", {}, skip, " Skip idle stretches"), clock),
    scrub, track, legend, fileTabs, codeEl, runEl,
    h("p", { class: "muted" }, `${steps.length} changes from ${fmtTime(t0)} to ${fmtTime(t1)}.`));

  const view = new EditorView({
    doc: "",
    extensions: [basicSetup, EditorState.readOnly.of(true), EditorView.editable.of(false), marks,
      EditorView.contentAttributes.of({ "aria-label": "Code at this moment" })],
    parent: codeEl,
  });

  let at = t0; // the moment shown (ms)
  let index = -1; // the last step at or before it
  let file = null; // the file picked by the user, if any
  let shownFile = null;

  const stepAt = (t) => {
    let lo = 0, hi = steps.length - 1, ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (steps[mid].time <= t) { ans = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return ans;
  };
  const stateAt = (i) => (i < 0 ? {} : A.view(doc, steps[i].heads));

  // What the last few changes inserted into the file shown, in their
  // authors' colors.
  const recentMarks = (i, name) => {
    const ranges = [];
    for (let k = i; k >= 0 && k > i - 12; k--) {
      const before = k === 0 ? [] : steps[k - 1].heads;
      let patches;
      try {
        patches = A.diff(doc, before, steps[k].heads);
      } catch {
        continue;
      }
      const color = colorOf(who(steps[k].actor).peer);
      for (const p of patches) {
        if (p.action === "splice" && p.path[0] === "files" && p.path[1] === name && typeof p.value === "string") {
          const from = p.path[2];
          ranges.push({ from, to: from + p.value.length, color, age: i - k });
        }
      }
    }
    return ranges;
  };

  function render() {
    const i = stepAt(at);
    const state = stateAt(i);
    const files = Object.keys(state.files || {}).sort();
    const name = file && files.includes(file) ? file : files.includes(state.active) ? state.active : files[0] || null;
    const text = name ? String(state.files[name]) : "";
    if (i !== index || name !== shownFile) {
      index = i;
      shownFile = name;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      const len = view.state.doc.length;
      const deco = [];
      for (const r of name ? recentMarks(i, name) : []) {
        const from = Math.min(r.from, len), to = Math.min(r.to, len);
        if (to > from) deco.push(Decoration.mark({ attributes: { style: `background:${r.color}${r.age ? "22" : "44"}` } }).range(from, to));
      }
      deco.sort((a, b) => a.from - b.from);
      view.dispatch({ effects: setMarks.of(Decoration.set(deco, true)) });
      clear(fileTabs);
      for (const f of files) {
        fileTabs.append(h("button", { type: "button", role: "tab", class: "file-tab", "aria-selected": String(f === name), onclick: () => { file = f; render(); } }, f));
      }
    }
    drawRun();
    scrub.value = String(at - t0);
    const s = steps[Math.max(i, 0)];
    clock.textContent = `${new Date(at).toLocaleTimeString()}${i >= 0 ? ` · ${who(s.actor).name}` : ""} · change ${i + 1} of ${steps.length}`;
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

  let playing = false, last = 0;
  function tick(now) {
    if (!playing) return;
    const dt = (now - last) * Number(speed.value);
    last = now;
    let next = at + dt;
    if (skip.checked) {
      const i = stepAt(at);
      if (i + 1 < steps.length && steps[i + 1].time - at > IDLE) next = Math.max(next, steps[i + 1].time - 250);
    }
    at = Math.min(next, t1);
    render();
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

  // For scripts and the browser tests.
  window.parleyReplay = {
    steps: () => steps.map((s) => ({ time: new Date(s.time).toISOString(), actor: s.actor })),
    seek: (iso) => { at = Math.min(Math.max(Date.parse(iso), t0), t1); render(); },
    end: () => { at = t1; render(); },
    file: () => shownFile,
    text: () => view.state.doc.toString(),
    playing: () => playing,
  };
}
