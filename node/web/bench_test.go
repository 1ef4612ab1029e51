package web

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"parley/crdt"
	"parley/internal/procstat"
	"parley/internal/trace"
	"parley/node"
)

// BenchmarkPageKeystroke measures a keystroke from one page to another
// through two nodes, over the live WebSocket protocol (PROTOCOL.md), with
// no browser: the candidate's page (an automerge-go client in this
// process) types the rustcode trace, one transaction every 10 ms; the
// interviewer's page is timed to each change's arrival in its own copy.
// Each -benchtime iteration is one transaction (2000x: Yjs's
// client-server-client anchor, ../shared/bench/yjs, types the same). The
// company node takes part, as in every interview. The path: the sending
// page's sync message to its node, that node's worker (judge, apply,
// store), the change frame to the other node, its worker, its sync message
// to its page. The typist's page sends its caret as the room does, at most
// every 50 ms; so do the nodes (node.Follower).
func BenchmarkPageKeystroke(b *testing.B) {
	tr, anaPage, samPage := typingPages(b)

	// sent are the candidate's changes in order, with when each was made;
	// the interviewer's page takes them in order (each depends on the one
	// before), so the first not yet arrived is all it need look for.
	type sent struct {
		hash automerge.ChangeHash
		at   time.Time
	}
	var (
		pending []sent
		lat     []time.Duration
		next    int
	)
	arrived := make(chan struct{}, 1)
	anaPage.mu.Lock()
	anaPage.synced = func() {
		now := time.Now()
		samPage.mu.Lock() // pending is the typist's
		defer samPage.mu.Unlock()
		for next < len(pending) {
			if _, err := anaPage.docs[crdt.Shared].Change(pending[next].hash); err != nil {
				break
			}
			lat = append(lat, now.Sub(pending[next].at))
			next++
		}
		if next == len(pending) {
			signal(arrived)
		}
	}
	anaPage.mu.Unlock()

	i := 0
	var caretSent time.Time
	typeTx := func() {
		tx := tr.Txns[i%len(tr.Txns)]
		i++
		samPage.mu.Lock()
		at := time.Now()
		t := samPage.docs[crdt.Shared].Path("files", "f").Text()
		for _, p := range tx.Patches {
			if err := t.Splice(p.Pos, p.Del, p.Ins); err != nil {
				samPage.mu.Unlock()
				m, _ := samPage.last("error", nil)
				b.Fatalf("transaction %d: %v (the page's last error: %s)", i-1, err, m.Error)
			}
		}
		h, err := samPage.commitLocked(crdt.Shared)
		if err != nil {
			samPage.mu.Unlock()
			b.Fatal(err)
		}
		pending = append(pending, sent{hash: h, at: at})
		samPage.mu.Unlock()
		// As the room does: the caret moved, and goes to the node at
		// most every 50 ms (room.js; the node passes carets on at most as
		// often).
		if n := len(tx.Patches); n > 0 && time.Since(caretSent) >= 50*time.Millisecond {
			caretSent = time.Now()
			caret := tx.Patches[n-1].Pos + len([]rune(tx.Patches[n-1].Ins))
			samPage.sendText(map[string]any{"type": "cursor", "file": "f", "anchor": caret, "head": caret})
		}
	}
	all := func() bool {
		samPage.mu.Lock()
		defer samPage.mu.Unlock()
		return next == len(pending)
	}
	// The trace's first transaction pastes 42k characters: timed on its
	// own, as Yjs's anchor does, before the typing.
	typeTx()
	deadline := time.Now().Add(60 * time.Second)
	for !all() {
		if time.Now().After(deadline) {
			samPage.mu.Lock()
			for _, m := range samPage.texts {
				if m.Type != "state" {
					b.Logf("typist's page got %s %s %s", m.Type, m.Error, m.Reset)
				}
			}
			samPage.mu.Unlock()
			anaPage.mu.Lock()
			for _, m := range anaPage.texts {
				if m.Type != "state" {
					b.Logf("reader's page got %s %s %s", m.Type, m.Error, m.Reset)
				}
			}
			anaPage.mu.Unlock()
			b.Fatal("the paste does not reach the other page")
		}
		<-time.After(10 * time.Millisecond)
	}
	paste := lat[0]
	lat = lat[:0]

	anaPage.mu.Lock()
	text0, sync0 := anaPage.textBytes, anaPage.syncBytes
	anaPage.mu.Unlock()

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for b.Loop() {
		<-tick.C
		typeTx()
	}
	waitWithin(b, 60*time.Second, "every keystroke reaches the other page", all)
	b.StopTimer()
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(float64(paste.Microseconds())/1000, "paste-ms")
	// What the reading page received per keystroke.
	anaPage.mu.Lock()
	b.ReportMetric(float64(anaPage.syncBytes-sync0)/float64(len(lat)), "page-sync-B/key")
	b.ReportMetric(float64(anaPage.textBytes-text0)/float64(len(lat)), "page-JSON-B/key")
	anaPage.mu.Unlock()
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPageKeystrokeGrowth measures what a keystroke costs as the
// document's history grows (issue 17: a node's CPU per change rose from
// about 1.1 ms to 8 ms between 4k and 26k changes): the same two pages and
// three nodes as BenchmarkPageKeystroke, the candidate's page typing the
// rustcode trace; at 1k, 10k and 30k changes, 200 transactions typed one
// every 10 ms, the pipeline drained before and after, are measured for the
// CPU time of the three nodes' Automerge workers (worker-CPU-ms/key) and of
// this process (test-CPU-ms/key: the three nodes, and the two pages'
// automerge-go, which a browser would run instead), and for the sync
// messages and change frames the two pages sent and received
// (page-msgs/key). In the windows the typist's page sends its caret as the
// room does, at most every 50 ms. Between the windows the trace is typed as
// fast as the path takes it.
func BenchmarkPageKeystrokeGrowth(b *testing.B) {
	tr, anaPage, samPage := typingPages(b)

	var last automerge.ChangeHash
	typed := 0
	typeTx := func() {
		tx := tr.Txns[typed%len(tr.Txns)]
		typed++
		samPage.mu.Lock()
		defer samPage.mu.Unlock()
		t := samPage.docs[crdt.Shared].Path("files", "f").Text()
		for _, p := range tx.Patches {
			if err := t.Splice(p.Pos, p.Del, p.Ins); err != nil {
				b.Fatalf("transaction %d: %v", typed-1, err)
			}
		}
		h, err := samPage.commitLocked(crdt.Shared)
		if err != nil {
			b.Fatal(err)
		}
		last = h
	}
	drain := func() {
		samPage.mu.Lock()
		h := last
		samPage.mu.Unlock()
		waitWithin(b, 120*time.Second, "the reading page has every change", func() bool {
			anaPage.mu.Lock()
			defer anaPage.mu.Unlock()
			_, err := anaPage.docs[crdt.Shared].Change(h)
			return err == nil
		})
	}
	cpu := func() (workers, self time.Duration) {
		for _, pid := range procstat.Children(os.Getpid()) {
			workers += procstat.CPU(pid)
		}
		return workers, procstat.CPU(os.Getpid())
	}
	msgs := func() int {
		n := 0
		for _, p := range []*page{anaPage, samPage} {
			p.mu.Lock()
			n += p.syncIn + p.syncOut + p.changesIn + p.changesOut
			p.mu.Unlock()
		}
		return n
	}
	// Once, whatever b.N: the trace is typed once (-benchtime 1x).
	const window = 200
	b.ResetTimer()
	for _, at := range []int{1000, 10000, 30000} {
		for typed < at {
			typeTx()
			if typed%200 == 0 {
				drain() // as fast as the path takes it, not faster
			}
		}
		drain()
		w0, s0 := cpu()
		m0 := msgs()
		tick := time.NewTicker(10 * time.Millisecond)
		var caretSent time.Time
		for range window {
			<-tick.C
			typeTx()
			if tx := tr.Txns[(typed-1)%len(tr.Txns)]; len(tx.Patches) > 0 && time.Since(caretSent) >= 50*time.Millisecond {
				caretSent = time.Now()
				p := tx.Patches[len(tx.Patches)-1]
				caret := p.Pos + len([]rune(p.Ins))
				samPage.sendText(map[string]any{"type": "cursor", "file": "f", "anchor": caret, "head": caret})
			}
		}
		tick.Stop()
		drain()
		w1, s1 := cpu()
		key := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / window }
		b.ReportMetric(key(w1-w0), fmt.Sprintf("worker-CPU-ms/key@%dk", at/1000))
		b.ReportMetric(key(s1-s0), fmt.Sprintf("test-CPU-ms/key@%dk", at/1000))
		b.ReportMetric(float64(msgs()-m0)/window, fmt.Sprintf("page-msgs/key@%dk", at/1000))
	}
	b.ReportMetric(0, "ns/op")
}

// typingPages starts an interview (startInterview) with an empty file "f",
// started, and a page on the interviewer's node and on the candidate's,
// both holding the file: the setup of the page keystroke benchmarks, which
// type the rustcode trace (returned) from the candidate's page.
func typingPages(b *testing.B) (*trace.Trace, *page, *page) {
	b.Helper()
	tr, _, anaPage, samPage := typingInterview(b)
	return tr, anaPage, samPage
}

var pageProtocol = flag.String("page.protocol", "changes", "the page benchmarks' protocol: changes (change frames, as the web app) or sync (the sync protocol only)")

// openBenchPage opens a page that speaks -page.protocol.
func openBenchPage(b *testing.B, s *Server, session string) *page {
	if *pageProtocol == "sync" {
		return openPage(b, s, session)
	}
	return openAppPage(b, s, session)
}

func typingInterview(b *testing.B) (*trace.Trace, interview, *page, *page) {
	b.Helper()
	tr, err := trace.Load("rustcode")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	iv := startInterview(b, node.Config{})
	ana, anaWeb, samWeb, id := iv.ana, iv.anaWeb, iv.samWeb, iv.id
	if err := ana.Edit(ctx, id, crdt.Shared, crdt.Edit{Op: "add", Name: "f"}); err != nil {
		b.Fatal(err)
	}
	if _, err := ana.StartSession(ctx, id); err != nil {
		b.Fatal(err)
	}
	anaPage, samPage := openBenchPage(b, anaWeb, id), openBenchPage(b, samWeb, id)
	has := func(p *page) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		v, err := p.docs[crdt.Shared].Path("files", "f").Get()
		return err == nil && v.Kind() == automerge.KindText && p.actor != ""
	}
	waitFor(b, "both pages have the file", func() bool { return has(anaPage) && has(samPage) })
	return tr, iv, anaPage, samPage
}
