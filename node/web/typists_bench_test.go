package web

import (
	"context"
	"flag"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"parley/crdt"
	"parley/internal/procstat"
	"parley/internal/trace"
)

var (
	typistsTxns  = flag.Int("typists.txns", 10800, "BenchmarkTwoTypists: transactions each typist types (10800: three a second for an hour)")
	typistsWait  = flag.Duration("typists.wait", 5*time.Minute, "BenchmarkTwoTypists: how long the copies may take to converge")
	typistsEvery = flag.Duration("typists.every", 15*time.Millisecond, "BenchmarkTwoTypists: time between a typist's transactions, for pages that take change frames (-page.protocol=changes)")
)

// BenchmarkTwoTypists is an hour of two people typing at once (issue 17,
// target 6) through two nodes, over the page protocol: Ana's page types
// the rustcode trace and Sam's the sveltecomponent trace, -typists.txns
// transactions each (three a second for an hour by default), into one
// file: Sam's region first, Ana's after it, so that the end of Sam's last
// line and the start of Ana's first are the same line. With
// -page.protocol=sync each typist types its next transaction once its node
// answered the last: as fast as its own node takes it. With change frames
// (the web app's protocol, the default) nothing answers a change: each
// typist types one every -typists.every (15 ms: about as fast). Either way
// not at human speed: the hour is compressed, and on a
// 2-core machine the other node, the company's and the other page fall
// behind, so converge-ms is mostly the time they take to work off that
// backlog. The company node takes part. Reports, after the last
// transaction: the time for the two pages and the three nodes to hold the
// same code (converge-ms), each worker's memory (RSS and its own,
// anonymous, part), this process's (three nodes and two page clients), and
// the CPU the typing took. Run with -benchtime 1x.
func BenchmarkTwoTypists(b *testing.B) {
	sv, err := trace.Load("sveltecomponent")
	if err != nil {
		b.Fatal(err)
	}
	ra, iv, anaPage, samPage := typingInterview(b)
	n := *typistsTxns
	if n > len(ra.Txns) || n > len(sv.Txns) {
		n = min(len(ra.Txns), len(sv.Txns))
	}
	ctx := context.Background()
	for b.Loop() {
		cpu0 := procstat.CPU(os.Getpid())
		var wcpu0 time.Duration
		for _, pid := range procstat.Children(os.Getpid()) {
			wcpu0 += procstat.CPU(pid)
		}
		start := time.Now()
		var wg sync.WaitGroup
		wg.Go(func() { typeRegion(b, anaPage, ra.Txns[:n], true) })
		wg.Go(func() { typeRegion(b, samPage, sv.Txns[:n], false) })
		wg.Wait()
		typed := time.Since(start)
		done := time.Now()
		defer func() {
			if !b.Failed() {
				return
			}
			// Who is behind: each copy's length and heads.
			for name, p := range map[string]*page{"ana's page": anaPage, "sam's page": samPage} {
				p.mu.Lock()
				b.Logf("%s: %d code points, %d heads, %d sync in, %d out, %d change frames in, %d out", name,
					utf8.RuneCountInString(p.fileLocked("f")), len(p.docs[crdt.Shared].Heads()), p.syncIn, p.syncOut, p.changesIn, p.changesOut)
				p.mu.Unlock()
			}
			for name, nd := range map[string]interface {
				View(context.Context, string, crdt.Kind) (crdt.View, error)
			}{"company": iv.company, "ana": iv.ana, "sam": iv.sam} {
				v, err := nd.View(ctx, iv.id, crdt.Shared)
				b.Logf("%s's node: %d code points, %v", name, utf8.RuneCountInString(v.Files["f"]), err)
			}
		}()
		waitWithin(b, *typistsWait, "the pages and the nodes hold the same code", func() bool {
			a, s := anaPage.file("f"), samPage.file("f")
			if a != s {
				return false
			}
			for _, nd := range []interface {
				View(context.Context, string, crdt.Kind) (crdt.View, error)
			}{iv.company, iv.ana, iv.sam} {
				if v, err := nd.View(ctx, iv.id, crdt.Shared); err != nil || v.Files["f"] != a {
					return false
				}
			}
			return true
		})
		converge := time.Since(done)
		var wcpu time.Duration
		var mems []procstat.Memory
		for _, pid := range procstat.Children(os.Getpid()) {
			wcpu += procstat.CPU(pid)
			m, err := procstat.Read(pid)
			if err != nil {
				b.Fatal(err)
			}
			mems = append(mems, m)
		}
		self, err := procstat.Read(os.Getpid())
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(typed.Seconds(), "typed-s")
		b.ReportMetric(float64(converge.Milliseconds()), "converge-ms")
		b.ReportMetric(float64(2*n), "changes")
		b.ReportMetric(float64(utf8.RuneCountInString(anaPage.file("f"))), "final-chars")
		for i, m := range mems {
			b.Logf("worker %d: RSS %.1f MB, own (anon) %.1f MB, PSS %.1f MB", i, mb(m.RSS), mb(m.Anon), mb(m.PSS))
		}
		var maxRSS, maxAnon int64
		for _, m := range mems {
			maxRSS, maxAnon = max(maxRSS, m.RSS), max(maxAnon, m.Anon)
		}
		b.ReportMetric(mb(maxRSS), "worker-max-RSS-MB")
		b.ReportMetric(mb(maxAnon), "worker-max-anon-MB")
		// And once the session has been quiet a few seconds: a worker hands
		// freed memory back after a second idle.
		<-time.After(3 * time.Second)
		maxRSS, maxAnon = 0, 0
		for i, pid := range procstat.Children(os.Getpid()) {
			m, err := procstat.Read(pid)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("worker %d, quiet: RSS %.1f MB, own (anon) %.1f MB", i, mb(m.RSS), mb(m.Anon))
			maxRSS, maxAnon = max(maxRSS, m.RSS), max(maxAnon, m.Anon)
		}
		b.ReportMetric(mb(maxRSS), "worker-quiet-RSS-MB")
		b.ReportMetric(mb(maxAnon), "worker-quiet-anon-MB")
		b.ReportMetric(mb(self.RSS), "process-RSS-MB")
		b.ReportMetric(mb(self.Anon), "process-anon-MB")
		b.ReportMetric(mb(int64(ms.HeapInuse)), "process-heap-MB")
		b.ReportMetric((wcpu - wcpu0).Seconds(), "workers-cpu-s")
		b.ReportMetric((procstat.CPU(os.Getpid()) - cpu0).Seconds(), "process-cpu-s")
	}
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

// typeRegion types txns into file f of the page's shared document: at the
// start of the text, or into a region at its end (suffix), which it finds
// from the text's length and its own region's. Where the two regions meet,
// the other typist's concurrent inserts can land on either side of the
// boundary, so over a long run a region's length drifts from what its
// typist counts: positions are kept within the text (in the hour, a few
// hundred transactions before the end, they left it). The page sends its
// caret as the room does, at most every 50 ms.
func typeRegion(b *testing.B, p *page, txns []trace.Txn, suffix bool) {
	region := 0 // code points
	var caretSent time.Time
	for i, tx := range txns {
		p.mu.Lock()
		t := p.docs[crdt.Shared].Path("files", "f").Text()
		base := 0
		if suffix {
			base = t.Len() - region
		}
		for _, x := range tx.Patches {
			n := t.Len()
			pos := min(max(base+x.Pos, 0), n)
			if err := t.Splice(pos, min(x.Del, n-pos), x.Ins); err != nil {
				p.mu.Unlock()
				b.Fatalf("transaction %d: %v", i, err)
			}
			region += utf8.RuneCountInString(x.Ins) - x.Del
		}
		answered := p.syncIn
		if _, err := p.commitLocked(crdt.Shared); err != nil {
			p.mu.Unlock()
			b.Fatal(err)
		}
		caret := -1
		if n := len(tx.Patches); n > 0 && time.Since(caretSent) >= 50*time.Millisecond {
			x := tx.Patches[n-1]
			caret = min(max(base+x.Pos, 0), t.Len()) + utf8.RuneCountInString(x.Ins)
			caretSent = time.Now()
		}
		p.mu.Unlock()
		if caret >= 0 {
			p.sendText(map[string]any{"type": "cursor", "file": "f", "anchor": caret, "head": caret})
		}
		if p.changes {
			select {
			case <-p.done:
				b.Fatalf("the page's socket closed: %v", p.err)
			case <-time.After(*typistsEvery):
			}
			continue
		}
		// The next once the node has answered (or a second passed).
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			p.mu.Lock()
			more := p.syncIn > answered
			p.mu.Unlock()
			if more {
				break
			}
			select {
			case <-p.done:
				b.Fatalf("the page's socket closed: %v", p.err)
			case <-time.After(time.Millisecond):
			}
		}
	}
}
