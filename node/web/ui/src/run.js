// Running the code from the room: Run and Stop, the command before the
// run, the output (standard output and error apart) as it streams, and how
// the run ended: exit status, time, peak memory, which version of the code
// ran, on whose runner. Every participant's page shows every run of the
// session: the node passes them on over the WebSocket ("run" messages).
import { api, post } from "./api.js";
import { h, clear, fmtTime } from "./dom.js";

// What a runner will run, shown before the press (the runner says exactly
// what it ran once it starts).
const PREVIEW = {
  python: (f) => `python3 ${f}`,
  javascript: (f) => `node ${f}`,
  go: () => "go build -o /tmp/prog . && /tmp/prog",
  c: () => "gcc -O2 -std=gnu17 -o /tmp/prog *.c -lm && /tmp/prog",
  cpp: () => "g++ -O2 -std=gnu++17 -o /tmp/prog *.cpp && /tmp/prog",
  java: (f) => `javac -d /tmp/classes *.java && java -cp /tmp/classes ${f.replace(/\.java$/, "").split("/").pop()}`,
};

const REASONS = {
  time: "stopped: out of time",
  memory: "stopped: out of memory",
  output: "stopped: too much output",
  processes: "stopped: too many processes",
  file_size: "stopped: a file grew too large",
  stopped: "stopped",
};

const fmtBytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.max(1, Math.round(n / 1024))} KiB`);
const fmtMS = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms} ms`);

// runPanel returns the panel and what the room calls: update(session,
// file, lang, role) when the session or the file changes, event(ev) for
// each run message, reset() on a new WebSocket. A guest's page has no API
// of its node: send, when given, puts Run and Stop on the page's socket
// ({"type":"run"}, {"type":"run-stop"}), whose errors come back on it.
export function runPanel(id, showError, send) {
  const runBtn = h("button", { type: "button", class: "primary", id: "run" }, "Run");
  const stopBtn = h("button", { type: "button", id: "stop", hidden: true }, "Stop");
  const inputToggle = h("button", { type: "button", id: "run-input-toggle", "aria-expanded": "false" }, "Input");
  const input = h("textarea", { id: "run-input", rows: 3, hidden: true, placeholder: "What the program reads on its standard input", "aria-label": "Program input" });
  const switchBtn = h("button", { type: "button", id: "run-switch", hidden: true });
  const command = h("code", { class: "run-command", id: "run-command" });
  const note = h("span", { class: "muted", id: "run-note" });
  const picker = h("select", { id: "run-pick", "aria-label": "Earlier runs", hidden: true });
  const head = h("div", { class: "run-head", id: "run-head", "aria-live": "polite" });
  const out = h("pre", { class: "run-out", id: "run-stdout", "aria-label": "Standard output" });
  const err = h("pre", { class: "run-err", id: "run-stderr", "aria-label": "Standard error" });
  const result = h("div", { class: "run-result", id: "run-result", role: "status", "aria-live": "polite" });
  const el = h("section", { class: "run-panel", "aria-label": "Run the code" },
    h("div", { class: "run-bar" }, runBtn, stopBtn, inputToggle, h("span", { class: "muted" }, "Runs: "), command, note, switchBtn, picker),
    input, head,
    h("div", { class: "run-streams" },
      h("div", {}, h("h3", {}, "Output"), out),
      h("div", {}, h("h3", {}, "Errors"), err)),
    result);

  let runs = new Map(); // id -> {run, stdout, stderr}
  let shown = null; // the run on screen
  let ctx = { session: null, file: null, lang: null, role: null };

  inputToggle.addEventListener("click", () => {
    input.hidden = !input.hidden;
    inputToggle.setAttribute("aria-expanded", String(!input.hidden));
  });
  runBtn.addEventListener("click", async () => {
    runBtn.disabled = true;
    try {
      if (send) {
        send({ type: "run", file: ctx.file, lang: ctx.lang, stdin: input.value || undefined });
        return;
      }
      const r = await post(`/sessions/${id}/run?detach=true`, { main: ctx.file, lang: ctx.lang, stdin: input.value || undefined });
      shown = r.id;
      // The WebSocket brings the run's start, output and end.
    } catch (e) {
      showError(`Run: ${e.message}`);
    } finally {
      draw();
    }
  });
  stopBtn.addEventListener("click", async () => {
    if (!shown) return;
    try {
      if (send) {
        send({ type: "run-stop", run: shown });
        return;
      }
      await post(`/sessions/${id}/runs/${shown}/stop`);
    } catch (e) {
      showError(`Stop: ${e.message}`);
    }
  });
  switchBtn.addEventListener("click", async () => {
    const on = !!ctx.session?.execution?.off;
    try {
      await api("PUT", `/sessions/${id}/running`, { on });
    } catch (e) {
      showError(`Running code: ${e.message}`);
    }
  });
  picker.addEventListener("change", () => {
    shown = picker.value;
    draw();
  });

  function draw() {
    const s = ctx.session;
    const ex = s?.execution;
    const running = [...runs.values()].some((x) => x.run.state === "running");
    const runners = (ex?.runners || []).filter((r) => r.languages.some((l) => l.name === ctx.lang));
    let why = "";
    if (!s || s.status === "ended") why = "The interview has ended.";
    else if (ctx.role === "candidate" && s.status !== "live") why = "You can run code once the interview starts.";
    else if (ex?.off) why = `${ex.off_by || "An interviewer"} switched running code off.`;
    else if (!ctx.file) why = "No file to run.";
    else if (!runners.length) why = (ex?.runners || []).length ? `No runner here runs ${ctx.lang || "this file's language"}.` : "No runner is in this session: the company node, or an interviewer's node started with `parley up --runner`, runs the code.";
    runBtn.disabled = !!why || running || ctx.role === "company";
    runBtn.title = why;
    note.textContent = why || (runners.length ? ` on ${runners[0].name}` : "");
    const preview = PREVIEW[ctx.lang];
    command.textContent = ctx.file ? (preview ? preview(ctx.file) : ctx.file) : "";
    switchBtn.hidden = ctx.role !== "interviewer" || !s || s.status === "ended";
    switchBtn.textContent = ex?.off ? "Switch running on" : "Switch running off";

    clear(picker);
    const ids = [...runs.keys()];
    picker.hidden = ids.length < 2;
    for (const rid of ids.slice().reverse()) {
      const r = runs.get(rid).run;
      picker.append(h("option", { value: rid, selected: rid === shown }, `${fmtTime(r.started)}: ${r.main} by ${r.by}`));
    }
    const x = shown && runs.get(shown);
    stopBtn.hidden = !x || x.run.state !== "running";
    clear(head);
    clear(result);
    out.textContent = x ? x.stdout : "";
    err.textContent = x ? x.stderr : "";
    if (!x) return;
    const r = x.run;
    const version = (r.heads || []).map((hd) => hd.slice(0, 8)).join(", ");
    head.append(`${r.by} ran ${r.main} on ${r.runner}`, r.command?.length ? h("code", { class: "run-command" }, r.command.join(" && ")) : "",
      version ? h("span", { class: "muted", title: (r.heads || []).join("\n") }, ` version ${version}`) : "");
    if (r.state === "running") {
      result.append(h("span", { class: "run-state running" }, "Running…"));
    } else if (r.state === "failed" || !r.result) {
      result.append(h("span", { class: "run-state failed" }, `Failed: ${r.error || "no result"}`));
    } else {
      const res = r.result;
      const ended = res.reason ? REASONS[res.reason] || `stopped: ${res.reason}` : res.stage === "compile" && res.exit ? `did not compile (exit status ${res.exit})` : `exit status ${res.exit}`;
      result.append(
        h("span", { class: "run-state " + (res.exit === 0 && !res.reason ? "ok" : "bad"), id: "run-exit" }, ended),
        h("span", { class: "muted" }, ` · ${fmtMS(res.wall_ms)}${res.compile_ms ? ` (compile ${fmtMS(res.compile_ms)})` : ""} · CPU ${fmtMS(res.cpu_ms)} · peak ${fmtBytes(res.peak_memory)}`),
        r.incomplete ? h("span", { class: "muted" }, " · some output was lost on the way") : "");
    }
  }

  return {
    el,
    update(session, file, lang, role) {
      ctx = { session, file, lang, role };
      draw();
    },
    reset() {
      runs = new Map();
      shown = null;
      draw();
    },
    // load shows runs read from the node (GET /runs), after the session.
    load(list) {
      for (const r of list || []) {
        const text = (s) => (r.output || []).filter((c) => c.stream === s).map((c) => c.data).join("");
        runs.set(r.id, { run: r, stdout: text("stdout"), stderr: text("stderr") });
        shown = r.id;
      }
      draw();
    },
    event(ev) {
      if (ev.type === "start") {
        runs.set(ev.id, { run: ev.run, stdout: "", stderr: "" });
        shown = ev.id; // everyone sees the newest run
      } else if (ev.type === "output") {
        const x = runs.get(ev.id);
        if (!x) return;
        if (ev.stream === "stderr") x.stderr += ev.data;
        else x.stdout += ev.data;
        if (ev.id === shown) {
          (ev.stream === "stderr" ? err : out).textContent = ev.stream === "stderr" ? x.stderr : x.stdout;
          return;
        }
      } else if (ev.type === "end") {
        const x = runs.get(ev.id);
        if (x) x.run = ev.run;
        else runs.set(ev.id, { run: ev.run, stdout: "", stderr: "" });
      }
      draw();
    },
  };
}
