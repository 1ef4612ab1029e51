package node

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/internal/procstat"
	"parley/internal/trace"
	"parley/node/store"
)

// BenchmarkKeystroke types the rustcode trace from one interviewer's node,
// one transaction every 10 ms, in a 4-node session (the company node,
// two interviewers, the candidate), and measures when each change reaches
// each other node's document (applied in its worker and stored). Reports
// latency percentiles, document bytes sent per keystroke per receiver, and
// memory: the process (4 nodes and a relay) and the 4 workers, per node.
func BenchmarkKeystroke(b *testing.B) {
	tr, err := trace.Load("rustcode")
	if err != nil {
		b.Fatal(err)
	}
	tm := startTeam(b, 2)
	i1, i2 := tm.interviewers[0], tm.interviewers[1]
	cand := startNode(b, nodeOpts{})
	s := tm.create(b, NewSessions{})
	for _, n := range []*Node{i1, i2, cand} {
		join(b, n, s.Link, "")
	}
	all := []*Node{tm.company, i1, i2, cand}
	for _, n := range all {
		waitFor(b, 10*time.Second, "everyone admitted", func() bool { return len(roster(b, n, s.ID)) == 3 })
	}
	ctx := context.Background()
	// The trace's first transaction writes the starting file at once.
	if err := i1.Edit(ctx, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "skiplist.rs", Text: tr.Txns[0].Patches[0].Ins}); err != nil {
		b.Fatal(err)
	}
	if _, err := i1.StartSession(ctx, s.ID); err != nil {
		b.Fatal(err)
	}
	receivers := []*Node{tm.company, i2, cand}
	for _, n := range receivers {
		waitFor(b, 10*time.Second, "the file arrives", func() bool {
			v, err := n.View(ctx, s.ID, crdt.Shared)
			return err == nil && v.Files["skiplist.rs"] == tr.Txns[0].Patches[0].Ins
		})
	}
	// The typist begins a few seconds after the start, as in an interview,
	// once the catch-up that follows the start settled.
	<-time.After(5 * time.Second)
	// Each receiver notes when it has handled each change frame from the
	// typist: one per change, in order.
	var mu sync.Mutex
	arrivals := map[*Node][]time.Time{}
	for _, n := range receivers {
		n.changeHook = func(session string, from peer.ID) {
			if from == i1.ID() {
				mu.Lock()
				arrivals[n] = append(arrivals[n], time.Now())
				mu.Unlock()
			}
		}
	}
	sender := liveOf(i1, s.ID)
	bytes0 := sender.sentBytes.Load()
	var sent []time.Time
	next := time.Now()
	txns := tr.Txns[1:]
	i := 0
	for b.Loop() {
		if i == len(txns) {
			b.Fatal("the trace is over: use a smaller -benchtime")
		}
		tx := txns[i]
		i++
		var edits []crdt.Edit
		for _, p := range tx.Patches {
			edits = append(edits, crdt.Edit{Op: "splice", Target: "file:skiplist.rs", Pos: p.Pos, Del: p.Del, Text: p.Ins})
		}
		<-time.After(time.Until(next))
		next = next.Add(10 * time.Millisecond)
		sender.mu.Lock()
		before := sender.docVersions[crdt.Shared]
		sender.mu.Unlock()
		at := time.Now()
		if err := i1.Edit(ctx, s.ID, crdt.Shared, edits...); err != nil {
			b.Fatalf("keystroke %d: %v", i, err)
		}
		sender.mu.Lock()
		if sender.docVersions[crdt.Shared] != before {
			sent = append(sent, at) // a transaction that changed nothing sends nothing
		}
		sender.mu.Unlock()
	}
	keys := len(sent)
	waitFor(b, 30*time.Second, "every keystroke arrives", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range receivers {
			if len(arrivals[n]) < keys {
				return false
			}
		}
		return true
	})
	var lat []time.Duration
	mu.Lock()
	for ri, n := range receivers {
		for k := range keys {
			d := arrivals[n][k].Sub(sent[k])
			lat = append(lat, d)
			if os.Getenv("PARLEY_BENCH_DEBUG") != "" && d > 20*time.Millisecond {
				b.Logf("receiver %d keystroke %d at %v: %v", ri, k, sent[k].Sub(sent[0]), d)
			}
		}
	}
	mu.Unlock()
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(float64(sender.sentBytes.Load()-bytes0)/float64(keys*len(receivers)), "wire-B/key/receiver")
	self, workers := procMem(b, os.Getpid()), workersMem(b)
	b.ReportMetric(float64(self.RSS+workers.RSS)/4/(1<<20), "MB-RSS/node")
	b.ReportMetric(float64(workers.RSS)/4/(1<<20), "MB-RSS-worker/node")
	// Without the executable's code pages, which every process of the
	// binary shares (procstat): what a node and its worker allocate.
	b.ReportMetric(float64(self.Anon+workers.Anon)/4/(1<<20), "MB-anon/node")
	b.ReportMetric(float64(workers.Anon)/4/(1<<20), "MB-anon-worker/node")
	// The nodes' process, after a collection: the Go heap in use (Badger's
	// memtables and caches, libp2p, the nodes; the relay and this test's
	// own are in it too). PARLEY_HEAP_PROFILE=file writes its profile, to
	// split it by package (go tool pprof -sample_index=inuse_space).
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapInuse)/4/(1<<20), "MB-goheap/node")
	if path := os.Getenv("PARLEY_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
	}
}

// workersMem sums the memory of this process's child processes (the
// Automerge workers).
func workersMem(tb testing.TB) procstat.Memory {
	var total procstat.Memory
	for _, pid := range procstat.Children(os.Getpid()) {
		total = total.Add(procMem(tb, pid))
	}
	return total
}

// BenchmarkLateJoin measures a candidate's catch-up after a long session:
// the interviewer's node holds the document a whole trace makes (a change
// per transaction); the candidate's node joins after the start and is
// timed from its join until its text is identical (ms/catch-up). On the
// way, what its page gets while the node loads (arriving.go): the code to
// show (view-ms: the node has the interviewer's view) and the document to
// load itself (saved-ms), from the start of the join; a page that loads it
// can type once its own Automerge has (see BENCHMARKS.md for that load in
// the browser's engine).
func BenchmarkLateJoin(b *testing.B) {
	for _, name := range []string{"rustcode", "automerge-paper"} {
		b.Run(name, func(b *testing.B) {
			tr, err := trace.Load(name)
			if err != nil {
				b.Fatal(err)
			}
			var total, views, saveds time.Duration
			for b.Loop() {
				b.StopTimer()
				tm := startTeam(b, 1)
				i1 := tm.interviewers[0]
				s := tm.create(b, NewSessions{})
				// The long session, made fast: the document built in this
				// process from the trace and stored as the interviewer's
				// snapshot before it joins.
				batches := [][]crdt.Edit{{{Op: "add", Name: "f"}}}
				for _, tx := range tr.Txns {
					var e []crdt.Edit
					for _, p := range tx.Patches {
						e = append(e, crdt.Edit{Op: "splice", Target: "file:f", Pos: p.Pos, Del: p.Del, Text: p.Ins})
					}
					batches = append(batches, e)
				}
				saved, err := crdt.Build(s.ID, crdt.Shared, i1.actor(), batches, func(int) time.Time { return time.Unix(1700000000, 0) })
				if err != nil {
					b.Fatal(err)
				}
				if err := i1.db.PutSnapshot(s.ID, string(crdt.Shared), store.Snapshot{Bytes: saved, Good: true}); err != nil {
					b.Fatal(err)
				}
				join(b, i1, s.Link, "")
				if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
					b.Fatal(err)
				}
				cand := startNode(b, nodeOpts{})
				b.StartTimer()
				start := time.Now()
				join(b, cand, s.Link, "")
				f, err := cand.Follow(context.Background(), s.ID)
				if err != nil {
					b.Fatal(err)
				}
				var sawView, sawSaved time.Duration
				waitFor(b, 60*time.Second, "the late joiner has the text", func() bool {
					if view, saved := f.Arriving(crdt.Shared); view != nil || saved != nil {
						if sawView == 0 && view != nil {
							sawView = time.Since(start)
						}
						if sawSaved == 0 && saved != nil {
							sawSaved = time.Since(start)
						}
						return false // still loading
					}
					v, err := cand.View(context.Background(), s.ID, crdt.Shared)
					return err == nil && v.Files["f"] == tr.EndContent
				})
				total += time.Since(start)
				f.Close()
				if sawView == 0 || sawSaved == 0 {
					b.Fatalf("the page would not have had the code before the node loaded it (view at %v, document at %v)", sawView, sawSaved)
				}
				views += sawView
				saveds += sawSaved
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/catch-up")
			b.ReportMetric(float64(views.Milliseconds())/float64(b.N), "view-ms")
			b.ReportMetric(float64(saveds.Milliseconds())/float64(b.N), "saved-ms")
		})
	}
}
