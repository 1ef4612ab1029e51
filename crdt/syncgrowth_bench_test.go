package crdt

import (
	"math/rand"
	"testing"

	"github.com/automerge/automerge-go"
)

// BenchmarkSyncWhileTyping shows why the page's hop does not run the sync
// protocol per keystroke (PROTOCOL.md, "Change frames"): a node's copy and
// a page's, both automerge-go, sync as the page did (each side answers every
// message it takes), while the page types and the node takes another
// typist's changes, messages crossing in flight. The shared heads stop
// advancing, so each message's Bloom filter holds every change since they
// last did: its size grows with the history, and so does the cost of each
// message (Automerge walks the history to build it). Reports the filter's
// mean entries over the last 500 of 3000 rounds, and the exchanges it takes
// to settle once the typing stops.
func BenchmarkSyncWhileTyping(b *testing.B) {
	for b.Loop() {
		n := automerge.New()
		n.SetActorID("aaaaaaaa")
		n.Path("t").Set(automerge.NewText(""))
		n.Commit("init")
		p, _ := automerge.Load(n.Save())
		p.SetActorID("bbbbbbbb")
		r, _ := automerge.Load(n.Save())
		r.SetActorID("cccccccc")
		ns, ps := automerge.NewSyncState(n), automerge.NewSyncState(p)
		var toP, toN [][]byte
		flush := func(s *automerge.SyncState, to *[][]byte) {
			if m, ok := s.GenerateMessage(); ok {
				*to = append(*to, m.Bytes())
			}
		}
		rng := rand.New(rand.NewSource(1))
		var entries, msgs int
		const rounds = 3000
		for i := range rounds {
			p.Path("t").Text().Insert(0, "p")
			p.Commit("p")
			flush(ps, &toN)
			r.Path("t").Text().Insert(0, "r")
			r.Commit("r")
			n.LoadIncremental(r.SaveIncremental())
			flush(ns, &toP)
			for k := rng.Intn(3); k > 0; k-- {
				if len(toN) > 0 && (len(toP) == 0 || rng.Intn(2) == 0) {
					m := toN[0]
					toN = toN[1:]
					if sm, err := DecodeSyncMessage(m); err == nil && len(sm.Have) > 0 && i >= rounds-500 {
						entries += int(sm.Have[0].Bloom.Entries)
						msgs++
					}
					ns.ReceiveMessage(m)
					flush(ns, &toP)
				} else if len(toP) > 0 {
					m := toP[0]
					toP = toP[1:]
					ps.ReceiveMessage(m)
					flush(ps, &toN)
				}
			}
		}
		settle := 0
		for ; len(toP) > 0 || len(toN) > 0; settle++ {
			if len(toN) > 0 {
				m := toN[0]
				toN = toN[1:]
				ns.ReceiveMessage(m)
				flush(ns, &toP)
			}
			if len(toP) > 0 {
				m := toP[0]
				toP = toP[1:]
				ps.ReceiveMessage(m)
				flush(ps, &toN)
			}
		}
		a, _ := n.Path("t").Text().Get()
		c, _ := p.Path("t").Text().Get()
		if a != c {
			b.Fatal("the copies differ once settled")
		}
		b.ReportMetric(float64(entries)/float64(max(msgs, 1)), "bloom-entries/msg")
		b.ReportMetric(float64(settle), "settle-exchanges")
	}
}
