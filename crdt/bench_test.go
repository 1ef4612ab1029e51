package crdt

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"parley/internal/trace"
)

func loadTrace(b testing.TB, name string) *trace.Trace {
	tr, err := trace.Load(name)
	if err != nil {
		b.Fatal(err)
	}
	return tr
}

// traceEdits turns a trace into batches of splices of one file.
func traceEdits(tr *trace.Trace, file string) [][]Edit {
	out := make([][]Edit, len(tr.Txns))
	for i, tx := range tr.Txns {
		for _, p := range tx.Patches {
			out[i] = append(out[i], Edit{Op: "splice", Target: "file:" + file, Pos: p.Pos, Del: p.Del, Text: p.Ins})
		}
	}
	return out
}

// BenchmarkLayerOverhead replays the automerge-paper trace (260k edits, a
// change each) through the crdt layer and through raw automerge-go, in
// this process, transaction by transaction in turn, so that the machine's
// noise falls on both alike: the layer's cost is its checks and the tally
// in each change's message. Reports the ratio.
func BenchmarkLayerOverhead(b *testing.B) {
	tr := loadTrace(b, "automerge-paper")
	edits := traceEdits(tr, "paper.tex")
	at := time.Unix(0, 0)
	var layer, raw time.Duration
	for b.Loop() {
		d, err := newDoc("s", Shared, "aaaa")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.apply([]Edit{{Op: "add", Name: "paper.tex"}}, at); err != nil {
			b.Fatal(err)
		}
		am := automerge.New()
		files := automerge.NewMap()
		am.RootMap().Set("files", files)
		files.Set("paper.tex", automerge.NewText(""))
		am.Commit("", automerge.CommitOptions{Time: &at})
		fv, _ := am.RootMap().Get("files")
		tv, _ := fv.Map().Get("paper.tex")
		text := tv.Text()
		for i, batch := range edits {
			start := time.Now()
			if _, err := d.apply(batch, at); err != nil {
				b.Fatal(err)
			}
			mid := time.Now()
			for _, p := range tr.Txns[i].Patches {
				if err := text.Splice(p.Pos, p.Del, p.Ins); err != nil {
					b.Fatal(err)
				}
			}
			am.Commit("", automerge.CommitOptions{Time: &at})
			end := time.Now()
			layer += mid.Sub(start)
			raw += end.Sub(mid)
		}
		if v, _ := d.view(); v.Files["paper.tex"] != tr.EndContent {
			b.Fatal("the layer's replay does not end with the trace's text")
		}
	}
	n := float64(b.N * len(tr.Txns))
	b.ReportMetric(float64(layer.Nanoseconds())/n, "layer-ns/edit")
	b.ReportMetric(float64(raw.Nanoseconds())/n, "raw-ns/edit")
	b.ReportMetric(float64(layer)/float64(raw), "overhead-x")
}

// BenchmarkWorkerBoundary measures a keystroke through the worker (one
// splice, committed, its change returned) against the same in this process:
// the cost of the process boundary per keystroke; and a request that asks
// next to nothing of the worker (the document's heads): the round trip.
func BenchmarkWorkerBoundary(b *testing.B) {
	w := NewWorker(WorkerConfig{Command: ReexecCommand})
	defer w.Close()
	if err := w.New("s/shared", Shared, "aaaa"); err != nil {
		b.Fatal(err)
	}
	add := []Edit{{Op: "add", Name: "main.go"}}
	if _, err := w.Edit("s/shared", add, time.Now()); err != nil {
		b.Fatal(err)
	}
	d, _ := newDoc("s", Shared, "aaaa")
	d.apply(add, time.Now())
	key := []Edit{{Op: "splice", Target: "file:main.go", Pos: 0, Text: "x"}}
	var through, local, trip time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := w.Edit("s/shared", key, time.Now()); err != nil {
			b.Fatal(err)
		}
		through += time.Since(start)
		start = time.Now()
		if _, err := d.apply(key, time.Now()); err != nil {
			b.Fatal(err)
		}
		local += time.Since(start)
		start = time.Now()
		if _, err := w.Heads("s/shared"); err != nil {
			b.Fatal(err)
		}
		trip += time.Since(start)
	}
	b.ReportMetric(float64(through.Nanoseconds())/float64(b.N)/1000, "worker-µs/key")
	b.ReportMetric(float64(local.Nanoseconds())/float64(b.N)/1000, "inproc-µs/key")
	b.ReportMetric(float64((through-local).Nanoseconds())/float64(b.N)/1000, "boundary-µs/key")
	b.ReportMetric(float64(trip.Nanoseconds())/float64(b.N)/1000, "roundtrip-µs")
}

// BenchmarkLoad measures automerge-go's own Load of the documents the
// traces make (one change per transaction): the yardstick of a late
// joiner's catch-up.
func BenchmarkLoad(b *testing.B) {
	for _, name := range []string{"rustcode", "automerge-paper"} {
		b.Run(name, func(b *testing.B) {
			tr := loadTrace(b, name)
			batches := append([][]Edit{{{Op: "add", Name: "f"}}}, traceEdits(tr, "f")...)
			saved, err := Build("s", Shared, "aaaa", batches, func(int) time.Time { return time.Unix(0, 0) })
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := automerge.Load(saved); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(saved)), "saved-bytes")
		})
	}
}

// BenchmarkReplay measures what replay costs on a long session (the
// rustcode trace, one change per transaction, 100 ms apart), through the
// worker: the history `parley replay` lists, the code at a moment in the
// middle, and the Replay page's playback (each change as patches on the
// files, replay.go) with its size as JSON.
func BenchmarkReplay(b *testing.B) {
	tr := loadTrace(b, "rustcode")
	batches := append([][]Edit{{{Op: "add", Name: "f"}}}, traceEdits(tr, "f")...)
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 100 * time.Millisecond) }
	saved, err := Build("s/shared", Shared, "aaaa", batches, at)
	if err != nil {
		b.Fatal(err)
	}
	w := NewWorker(WorkerConfig{Command: ReexecCommand})
	defer w.Close()
	if err := w.Load("s/shared", "s/shared", Shared, "bbbb", saved); err != nil {
		b.Fatal(err)
	}
	var hist, moment, play time.Duration
	playBytes := 0
	for b.Loop() {
		start := time.Now()
		h, err := w.History("s/shared")
		if err != nil || len(h) != len(batches)+1 {
			b.Fatalf("history: %d changes, %v", len(h), err)
		}
		hist += time.Since(start)
		start = time.Now()
		if _, err := w.At("s/shared", at(len(batches)/2)); err != nil {
			b.Fatal(err)
		}
		moment += time.Since(start)
		start = time.Now()
		r, err := w.Replay("s/shared")
		if err != nil || len(r.Steps) != len(batches)+1 {
			b.Fatalf("replay: %d steps, %v", len(r.Steps), err)
		}
		play += time.Since(start)
		js, _ := json.Marshal(r)
		playBytes = len(js)
	}
	n := float64(b.N)
	b.ReportMetric(float64(hist.Milliseconds())/n, "history-ms")
	b.ReportMetric(float64(moment.Milliseconds())/n, "at-middle-ms")
	b.ReportMetric(float64(play.Milliseconds())/n, "replay-ms")
	b.ReportMetric(float64(playBytes), "replay-json-bytes")
	b.ReportMetric(float64(len(saved)), "saved-bytes")
	b.ReportMetric(float64(len(batches)), "changes")
}

// BenchmarkGuardSnapshot is what judging a whole document costs a node that
// takes it as a snapshot (a late joiner): the rustcode trace saved as
// 37k changes, loaded into an empty document through the worker without a
// guard and with one (every change decoded and checked in Go). Reports the
// guard's share.
func BenchmarkGuardSnapshot(b *testing.B) {
	tr := loadTrace(b, "rustcode")
	edits := append([][]Edit{{{Op: "add", Name: "main.rs"}}}, traceEdits(tr, "main.rs")...)
	saved, err := Build("s/shared", Shared, "aaaaaaaaaaaaaaaa", edits, func(int) time.Time { return time.UnixMilli(1) })
	if err != nil {
		b.Fatal(err)
	}
	w := startWorker(b, 10*time.Minute)
	g := &Guard{Sender: "aaaaaaaaaaaaaaaa", SenderRole: RoleStaff, Open: true}
	var bare, guarded time.Duration
	for i := 0; b.Loop(); i++ {
		for _, guard := range []*Guard{nil, g} {
			id := fmt.Sprintf("s/shared@%d-%v", i, guard != nil)
			if err := w.NewCopy(id, "s/shared", Shared, "bbbbbbbbbbbbbbbb"); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := w.Replace(id, saved, guard); err != nil {
				b.Fatal(err)
			}
			if guard == nil {
				bare += time.Since(start)
			} else {
				guarded += time.Since(start)
			}
			w.CloseDoc(id)
		}
	}
	b.ReportMetric(float64(bare.Milliseconds())/float64(b.N), "bare-ms/op")
	b.ReportMetric(float64(guarded.Milliseconds())/float64(b.N), "guarded-ms/op")
	b.ReportMetric(float64(guarded)/float64(bare), "ratio")
	b.ReportMetric(float64(len(edits)), "changes")
}

// rustcodeDoc returns a shared document holding file f as the first n
// transactions of the rustcode trace typed it, a change each, and the
// trace's transactions.
func rustcodeDoc(b *testing.B, n int) (*doc, [][]Edit) {
	b.Helper()
	edits := traceEdits(loadTrace(b, "rustcode"), "f")
	at := time.Unix(0, 0)
	d, err := newDoc("s", Shared, "aaaa")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.apply([]Edit{{Op: "add", Name: "f"}}, at); err != nil {
		b.Fatal(err)
	}
	for _, e := range edits[:n] {
		if _, err := d.apply(e, at); err != nil {
			b.Fatal(err)
		}
	}
	return d, edits
}

// BenchmarkSecondVersionCheck measures the lookup that refuses a second
// version of a change (guard.go): on a document of 20k changes of the
// rustcode trace, one more change each time, the index brought up to date
// and asked once. The first lookup reads every change.
func BenchmarkSecondVersionCheck(b *testing.B) {
	const base = 20000
	d, edits := rustcodeDoc(b, base)
	at := time.Unix(0, 0)
	start := time.Now()
	d.numbered("x", 1)
	first := time.Since(start)
	var total time.Duration
	i := base
	for b.Loop() {
		if i == len(edits) {
			b.Fatal("the trace is over: use a smaller -benchtime")
		}
		if _, err := d.apply(edits[i], at); err != nil {
			b.Fatal(err)
		}
		i++
		start := time.Now()
		d.numbered("x", 1)
		total += time.Since(start)
	}
	b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/1000, "us/check")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkTouchGrowth measures, at 1k, 10k and 30k changes of the rustcode
// trace, what a keystroke from a node's own page costs its worker on top of
// applying it: the incremental save that stores it (saveinc), and the check
// made before it is stored or sent (the worker's "touch", issue 15: the next
// incremental save and a lookup of every object, texts counted), beside
// what the touch did before 2026-12-02 on top of that (a full read, which
// renders every text, and a first sync message) and an incremental sync
// message to a peer that is current.
func BenchmarkTouchGrowth(b *testing.B) {
	tr := loadTrace(b, "rustcode")
	edits := traceEdits(tr, "f")
	for _, n := range []int{1000, 10000, 30000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			batches := append([][]Edit{{{Op: "add", Name: "f"}}}, edits[:n]...)
			saved, err := Build("s", Shared, "aaaa", batches, func(int) time.Time { return time.Unix(0, 0) })
			if err != nil {
				b.Fatal(err)
			}
			d, err := loadDoc(Shared, "bbbbbbbbbbbbbbbb", saved)
			if err != nil {
				b.Fatal(err)
			}
			st := automerge.NewSyncState(d.am)
			st.GenerateMessage()
			var save, touch, view, first, incr time.Duration
			keys := 0
			for b.Loop() {
				if _, err := d.apply([]Edit{{Op: "splice", Target: "file:f", Pos: 0, Text: "x"}}, time.Unix(0, 0)); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				d.am.SaveIncremental()
				t1 := time.Now()
				d.am.SaveIncremental()
				if _, err := d.read(false); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if _, err := d.view(); err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				automerge.NewSyncState(d.am).GenerateMessage()
				t4 := time.Now()
				st.GenerateMessage()
				incr += time.Since(t4)
				save, touch, view, first = save+t1.Sub(t0), touch+t2.Sub(t1), view+t3.Sub(t2), first+t4.Sub(t3)
				keys++
			}
			us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(keys) }
			b.ReportMetric(us(save), "saveinc-us/key")
			b.ReportMetric(us(touch), "touch-us/key")
			b.ReportMetric(us(view), "read-us/key")
			b.ReportMetric(us(first), "first-sync-us/key")
			b.ReportMetric(us(incr), "sync-us/key")
		})
	}
}

// BenchmarkOrderCheck measures the check that an actor's change follows its
// predecessor (outOfOrder) at 20k changes of the rustcode trace: "hit" as a
// typist's next keystroke pays it (its predecessor noted when applied),
// "miss" when the predecessor must be read from the document (the first
// change of an actor after a load).
func BenchmarkOrderCheck(b *testing.B) {
	d, _ := rustcodeDoc(b, 20001)
	heads := d.am.Heads()
	last, err := d.am.Change(heads[0])
	if err != nil {
		b.Fatal(err)
	}
	prev, err := d.am.Change(last.Dependencies()[0])
	if err != nil {
		b.Fatal(err)
	}
	c := decodeOneBench(b, last.Save())
	p := decodeOneBench(b, prev.Save())
	for _, mode := range []string{"hit", "miss"} {
		b.Run(mode, func(b *testing.B) {
			d.numbered(c.Actor, 1) // the index, as the second-version check keeps it
			for b.Loop() {
				if mode == "hit" {
					d.noteOps(p)
				} else {
					d.lastOps = nil
				}
				if what := d.outOfOrder(c, batch{}); what != "" {
					b.Fatal(what)
				}
			}
		})
	}
}

func decodeOneBench(b *testing.B, raw []byte) *Change {
	b.Helper()
	chs, err := DecodeChanges(raw)
	if err != nil || len(chs) != 1 {
		b.Fatalf("decode: %v", err)
	}
	return chs[0]
}
