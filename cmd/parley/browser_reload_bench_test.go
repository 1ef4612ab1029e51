package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/chromedp/chromedp"
)

// loadClock is put into each page before its scripts: when, after the
// navigation started, the room said hello (its socket is open) and its
// editor first took keystrokes.
const loadClock = `(() => {
  const c = window.parleyLoad = { editable: 0 };
  new MutationObserver((_, o) => {
    if (document.querySelector(".editor .cm-content[contenteditable=true]")) {
      c.editable = performance.now();
      o.disconnect();
    }
  }).observe(document, { subtree: true, childList: true, attributes: true });
})()`

// BenchmarkBrowserReload opens the candidate's room of the demo in a
// headless Chromium, then reloads it b.N times, as a participant does who
// reloads mid-interview, and times each load from its navigation: to the
// room's hello (`hello-ms`: the page's script run, its socket open) and to
// its editor taking keystrokes (`editable-ms`: Automerge's WebAssembly
// compiled, the document taken). first-* is the first load (nothing in the
// browser's cache), the others are the median of the reloads.
func BenchmarkBrowserReload(b *testing.B) {
	chromium(b)
	ctx := context.Background()
	d, err := startDemo(ctx, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if _, err := d.Interviewer.StartSession(ctx, d.Session); err != nil {
		b.Fatal(err)
	}
	tb := newTab(b, "candidate", chromedp.Flag("use-fake-device-for-media-stream", false))
	tb.run("clock the loads", beforeScripts(loadClock))
	type load struct{ Hello, Editable float64 }
	measure := func(action chromedp.Action) load {
		tb.run("load the room", action)
		tb.waitJS("the editor takes keystrokes", `window.parleyLoad && window.parleyLoad.editable > 0`)
		var l load
		tb.eval(`({Hello: performance.getEntriesByName("parley:hello")[0]?.startTime ?? 0, Editable: window.parleyLoad.editable})`, &l)
		return l
	}
	first := measure(chromedp.Navigate(d.CandidateURL))
	var hello, editable []float64
	for b.Loop() {
		l := measure(chromedp.Reload())
		hello, editable = append(hello, l.Hello), append(editable, l.Editable)
	}
	b.ReportMetric(first.Hello, "first-hello-ms")
	b.ReportMetric(first.Editable, "first-editable-ms")
	b.ReportMetric(pct(hello, 50), "hello-ms")
	b.ReportMetric(pct(editable, 50), "editable-ms")
	b.ReportMetric(0, "ns/op")
}
