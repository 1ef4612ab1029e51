package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// pageClock is put into each page before its scripts: the times, on the
// wall clock in milliseconds (performance.timeOrigin + a high-resolution
// offset, as the nodes' time.Now()), of each key pressed, each binary
// WebSocket message sent and received (the documents' sync messages,
// before the room handles them), each growth of the editor's text (its
// DOM changed: a MutationObserver, which runs once CodeMirror updated the
// view), and the animation frame that shows it. For the pages' own steps:
// each input event (the browser has put the key into the editor's DOM,
// which CodeMirror then reads), and the start and end of each time the
// reader's copy of the shared document tells its listeners it changed
// (before: Automerge took the change; between: the editor's plugin diffs
// the copy and CodeMirror updates its view).
const pageClock = `(() => {
  const now = () => performance.timeOrigin + performance.now();
  const c = window.parleyClock = { keys: [], inputs: [], wsOut: [], wsIn: [], emitIn: [], emitOut: [], grew: [], frames: [], painted: [] };
  addEventListener("keydown", (e) => c.keys.push(performance.timeOrigin + e.timeStamp), true);
  addEventListener("input", () => c.inputs.push(now()), true);
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      this.addEventListener("message", (e) => { if (typeof e.data !== "string") c.wsIn.push(now()); });
    }
    send(d) {
      if (typeof d !== "string") c.wsOut.push(now());
      super.send(d);
    }
  };
  c.watch = () => {
    const d = window.parleyChannel.docs.shared, emit = d.emit.bind(d);
    d.emit = () => { c.emitIn.push(now()); emit(); c.emitOut.push(now()); };
    c.lis = [];
    const ls = [...d.listeners]; d.listeners.clear();
    ls.forEach((f, i) => { c.lis[i] = []; d.listeners.add(() => { const t = performance.now(); f(); c.lis[i].push(performance.now() - t); }); });
    const el = document.querySelector(".editor .cm-content");
    let len = window.parleyRoom.text().length;
    c.base = len;
    new MutationObserver(() => {
      const n = window.parleyRoom.text()?.length ?? 0;
      if (n <= len) return;
      len = n;
      const at = now();
      c.grew.push([n - c.base, at]);
      requestAnimationFrame(() => {
        c.frames.push([n - c.base, now()]);
        setTimeout(() => c.painted.push([n - c.base, now()]));
      });
    }).observe(el, { subtree: true, childList: true, characterData: true });
  };
})()`

// pathEvent is one step of a keystroke's way through the nodes, as they
// log it at debug level (node/follow.go, node/docsync.go).
type pathEvent struct {
	node, msg, peer string
	at, received    time.Time
}

// pathLog collects the nodes' keystroke-path records.
type pathLog struct {
	mu     sync.Mutex
	events []pathEvent
}

type pathHandler struct {
	log  *pathLog
	node string
}

func (h pathHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h pathHandler) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "page change stored", "change sent", "change applied", "changes for the page":
	default:
		return nil
	}
	e := pathEvent{node: h.node, msg: r.Message, at: r.Time}
	shared := false
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "peer":
			e.peer = a.Value.String()
		case "received":
			e.received = a.Value.Time()
		case "doc":
			shared = a.Value.String() == "shared"
		}
		return true
	})
	if shared {
		h.log.mu.Lock()
		h.log.events = append(h.log.events, e)
		h.log.mu.Unlock()
	}
	return nil
}

func (h pathHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		if a.Key == "demo" {
			h.node = a.Value.String()
		}
	}
	return h
}

func (h pathHandler) WithGroup(string) slog.Handler { return h }

// first returns the time of the first event on node with message msg (and
// peer, if set) at or after t, or the zero time.
func (p *pathLog) first(node, msg, peer string, t time.Time) (pathEvent, bool) {
	for _, e := range p.events {
		if e.node == node && e.msg == msg && (peer == "" || e.peer == peer) && !e.at.Before(t) {
			return e, true
		}
	}
	return pathEvent{}, false
}

// BenchmarkBrowserKeystroke measures a keystroke from a key pressed in one
// Chromium page to the text in another's editor, through two nodes: the
// demo's candidate types into the room's editor (real key events, one
// every 100 ms: a fast typist), and the interviewer's page is timed to the
// moment its editor's DOM holds the character (p50-ms, p99-ms) and to the
// animation frame that shows it (frame-p50-ms). The company node takes part
// as in every interview. Each -benchtime iteration is one keystroke.
//
// The breakdown (p50 of each step, ms): key (the key event to the typist's
// change frame sent: CodeMirror, Automerge in the page), up (the socket to
// the typist's node), commit (its worker judges, applies and stores),
// queue (to the change frame written), wire (to the other node), apply (its
// worker), feed (the reading page's socket takes the change from its
// feed), down (the socket to the reading page), render (Automerge and
// CodeMirror in the reading page, to its DOM), frame (to the next
// animation frame). The pages' steps are split too: key-input (the key
// event to the browser's input event: it has put the key into the editor's
// DOM; the rest of key is CodeMirror reading it, the room and Automerge's
// change), render-am (the change frame to the reader's copy telling its
// listeners: Automerge took it) and render-cm (the editor's plugin diffs the
// copy and CodeMirror updates its view). The nodes' steps come from their debug log (node:
// "page change stored", "change sent", "change applied", "changes for the
// page"); page and node clocks are the same machine's wall clock. Nothing
// on the path batches or debounces a keystroke: the page sends a change
// frame per change, the node one per change to each peer and to each
// page, unless changes pile up while a page's socket is busy (carets, not
// timed here, go at most every 50 ms).
//
// painted-p50/p99 time to a task queued from that animation frame, which
// runs once the page has laid out and painted it: frame-p50 is when the
// page starts its frame, painted when it is done with it.
//
// With the call (the default in an interview: both pages send and show
// 640x480 video of Chromium's fake camera, encoded and decoded in software)
// and without (no camera or microphone: the pages join the call with
// nothing to send). clicked is no-call with a reader who clicked the page's
// heading first: a page with no selection at all makes CodeMirror read the
// DOM's selection in each update (EditorView.docView.updateSelection),
// which makes Chromium lay the page out there and then, in the update,
// rather than in the frame.
//
// PARLEY_PAGE_PROFILE=dir writes each page's JavaScript CPU profile there
// (candidate.cpuprofile, interviewer.cpuprofile; Chrome DevTools opens
// them), taken while the keys are typed.
//
// Target (issue 17): p50 <= 10 ms, p99 <= 40 ms on an otherwise idle machine.
func BenchmarkBrowserKeystroke(b *testing.B) {
	chromium(b)
	b.Run("call", func(b *testing.B) { browserKeystrokes(b, false) })
	noCall := chromedp.Flag("use-fake-device-for-media-stream", false)
	b.Run("no-call", func(b *testing.B) { browserKeystrokes(b, false, noCall) })
	b.Run("clicked", func(b *testing.B) { browserKeystrokes(b, true, noCall) })
}

func browserKeystrokes(b *testing.B, readerClicked bool, tabOpts ...chromedp.ExecAllocatorOption) {
	plog := &pathLog{}
	ctx := context.Background()
	d, err := startDemo(ctx, slog.New(pathHandler{log: plog}), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if _, err := d.Interviewer.StartSession(ctx, d.Session); err != nil {
		b.Fatal(err)
	}
	typist, reader := newTab(b, "candidate", tabOpts...), newTab(b, "interviewer", tabOpts...)
	for _, x := range []struct {
		tb  *tab
		url string
	}{{typist, d.CandidateURL}, {reader, d.InterviewerURL}} {
		x.tb.run("open the room",
			beforeScripts(pageClock),
			chromedp.Navigate(x.url))
		x.tb.waitJS("the editor holds the starter file", `window.parleyRoom && window.parleyRoom.text() !== null && document.querySelector(".editor .cm-content[contenteditable=true]")`)
	}
	typist.run("go to a new line at the end",
		chromedp.Click(".editor .cm-content", chromedp.ByQuery),
		chromedp.KeyEvent(kb.End, chromedp.KeyModifiers(input.ModifierCtrl)),
		chromedp.KeyEvent("\n"))
	typist.waitJS("the typist's editor has the focus", `document.activeElement && document.activeElement.closest(".cm-content")`)
	var want string
	typist.eval(`window.parleyRoom.text()`, &want)
	reader.waitJS("the reader has the typist's text", `window.parleyRoom.text() === `+jsString(want))
	var watching bool
	if readerClicked {
		// A click on the page's heading leaves the reader's selection a
		// caret there, outside the editor.
		reader.run("click the heading", chromedp.Click("h1", chromedp.ByQuery))
		reader.waitJS("the reader's page has a selection", `getSelection().type === "Caret"`)
	}
	reader.eval(`window.parleyClock.watch(), true`, &watching)
	var skip struct{ Keys int }
	typist.eval(`({keys: window.parleyClock.keys.length})`, &skip)

	stopProfiles := profilePages(b, typist, reader)
	keys := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for b.Loop() {
		<-tick.C
		typist.run("press a key", chromedp.KeyEvent(string(rune('a'+keys%26))))
		keys++
	}
	reader.waitJS("every key reaches the reader", fmt.Sprintf(`window.parleyClock.grew.length && window.parleyClock.grew.at(-1)[0] >= %d && window.parleyClock.frames.at(-1)[0] >= %d`, keys, keys))
	b.StopTimer()
	stopProfiles()

	var typed struct {
		Keys   []float64
		Inputs []float64
		WSOut  []float64
	}
	typist.eval(`({Keys: window.parleyClock.keys, Inputs: window.parleyClock.inputs, WSOut: window.parleyClock.wsOut})`, &typed)
	var read struct {
		WSIn    []float64
		EmitIn  []float64
		EmitOut []float64
		Grew    [][2]float64
		Frames  [][2]float64
		Painted [][2]float64
	}
	reader.eval(`({WSIn: window.parleyClock.wsIn, EmitIn: window.parleyClock.emitIn, EmitOut: window.parleyClock.emitOut, Grew: window.parleyClock.grew, Frames: window.parleyClock.frames, Painted: window.parleyClock.painted})`, &read)
	typed.Keys = typed.Keys[skip.Keys:]
	if len(typed.Keys) != keys {
		b.Fatalf("the typist's page saw %d key presses of %d", len(typed.Keys), keys)
	}
	ms := func(t float64) time.Time { return time.UnixMicro(int64(t * 1000)) }
	// at returns the first time of ts at or after t.
	at := func(ts []float64, t time.Time) (time.Time, bool) {
		for _, x := range ts {
			if !ms(x).Before(t) {
				return ms(x), true
			}
		}
		return time.Time{}, false
	}
	// reached returns when the reader's editor first held n typed
	// characters.
	reached := func(pairs [][2]float64, n int) (time.Time, bool) {
		for _, p := range pairs {
			if int(p[0]) >= n {
				return ms(p[1]), true
			}
		}
		return time.Time{}, false
	}
	cand, ana := d.Candidate.ID().String(), d.Interviewer.ID().String()
	steps := []string{"key", "up", "commit", "queue", "wire", "apply", "feed", "down", "render", "frame"}
	split := map[string][]time.Duration{}
	var total, shown, painted []time.Duration
	plog.mu.Lock()
	defer plog.mu.Unlock()
	for i, k := range typed.Keys {
		press := ms(k)
		grew, ok1 := reached(read.Grew, i+1)
		frame, ok2 := reached(read.Frames, i+1)
		paint, ok3 := reached(read.Painted, i+1)
		if !ok1 || !ok2 || !ok3 {
			b.Fatalf("key %d never shows in the reader's editor", i+1)
		}
		total = append(total, grew.Sub(press))
		shown = append(shown, frame.Sub(press))
		painted = append(painted, paint.Sub(press))
		// The steps, each the first of its kind after the one before.
		sent, ok := at(typed.WSOut, press)
		stored, ok3 := plog.first("candidate", "page change stored", "", sent)
		if !ok || !ok3 {
			continue
		}
		out, ok4 := plog.first("candidate", "change sent", ana, stored.at)
		applied, ok5 := plog.first("interviewer", "change applied", "", out.at)
		gen, ok6 := plog.first("interviewer", "changes for the page", "", applied.at)
		in, ok7 := at(read.WSIn, gen.at)
		if !ok4 || !ok5 || !ok6 || !ok7 || applied.peer != cand || in.After(grew) {
			continue // the change went another way (a sync round, through the company node)
		}
		prev := press
		for j, t := range []time.Time{sent, stored.received, stored.at, out.at, applied.received, applied.at, gen.at, in, grew, frame} {
			split[steps[j]] = append(split[steps[j]], t.Sub(prev))
			prev = t
		}
		// The pages' steps, split: the typist's browser to its input
		// event, and the rest of key (CodeMirror, the room, Automerge's
		// change); the reader's Automerge, then its editor.
		if input, ok := at(typed.Inputs, press); ok && !input.After(sent) {
			split["key-input"] = append(split["key-input"], input.Sub(press))
		}
		emitIn, ok8 := at(read.EmitIn, in)
		emitOut, ok9 := at(read.EmitOut, in)
		if ok8 && ok9 && !emitOut.After(grew) {
			split["render-am"] = append(split["render-am"], emitIn.Sub(in))
			split["render-cm"] = append(split["render-cm"], emitOut.Sub(emitIn))
		}
	}
	q := func(ds []time.Duration, f float64) float64 {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return float64(ds[int(f*float64(len(ds)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(total, 0.5), "p50-ms")
	b.ReportMetric(q(total, 0.99), "p99-ms")
	b.ReportMetric(q(total, 1), "max-ms")
	b.ReportMetric(q(shown, 0.5), "frame-p50-ms")
	b.ReportMetric(q(shown, 0.99), "frame-p99-ms")
	b.ReportMetric(q(painted, 0.5), "painted-p50-ms")
	b.ReportMetric(q(painted, 0.99), "painted-p99-ms")
	if n := len(split["key"]); n > 0 {
		for _, s := range append(steps, "key-input", "render-am", "render-cm") {
			if len(split[s]) > 0 {
				b.ReportMetric(q(split[s], 0.5), s+"-ms")
			}
		}
		b.ReportMetric(float64(n)/float64(keys), "direct-share")
	}
	b.ReportMetric(0, "ns/op")
}

// profilePages starts the JavaScript CPU profiler in each page when
// PARLEY_PAGE_PROFILE names a directory, and returns what stops them and
// writes each page's profile there (typist.cpuprofile, reader.cpuprofile:
// Chrome DevTools' Performance panel opens them).
func profilePages(b *testing.B, tabs ...*tab) (stop func()) {
	dir := os.Getenv("PARLEY_PAGE_PROFILE")
	if dir == "" {
		return func() {}
	}
	for _, tb := range tabs {
		tb.run("start the profiler", profiler.Enable(), profiler.SetSamplingInterval(100), profiler.Start())
	}
	return func() {
		for _, tb := range tabs {
			var p *profiler.Profile
			tb.run("stop the profiler", chromedp.ActionFunc(func(ctx context.Context) (err error) {
				p, err = profiler.Stop().Do(ctx)
				return err
			}))
			data, err := json.Marshal(p)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tb.name+".cpuprofile"), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
}
