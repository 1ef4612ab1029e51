package crdt

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/automerge/automerge-go"
)

func TestSyncSim(t *testing.T) {
	n := automerge.New()
	n.SetActorID("aaaaaaaa")
	n.Path("t").Set(automerge.NewText(""))
	n.Commit("init")
	p, _ := automerge.Load(n.Save())
	p.SetActorID("bbbbbbbb")
	r, _ := automerge.Load(n.Save())
	r.SetActorID("cccccccc")
	ns := automerge.NewSyncState(n)
	ps := automerge.NewSyncState(p)
	var toP, toN [][]byte
	rng := rand.New(rand.NewSource(1))
	flushN := func() {
		for {
			m, ok := ns.GenerateMessage()
			if !ok {
				return
			}
			toP = append(toP, m.Bytes())
		}
	}
	flushP := func() {
		for {
			m, ok := ps.GenerateMessage()
			if !ok {
				return
			}
			toN = append(toN, m.Bytes())
		}
	}
	bloom := 0
	msgs := 0
	for i := 0; i < 3000; i++ {
		// p types
		p.Path("t").Text().Insert(0, "p")
		p.Commit("p")
		flushP()
		// r types, n gets it
		rs := r.SaveIncremental()
		r.Path("t").Text().Insert(0, "r")
		r.Commit("r")
		_ = rs
		n.LoadIncremental(r.SaveIncremental())
		flushN()
		// deliver some messages in random order of direction
		for k := rng.Intn(3); k > 0 && (len(toP) > 0 || len(toN) > 0); k-- {
			if len(toN) > 0 && rng.Intn(2) == 0 {
				m := toN[0]
				toN = toN[1:]
				if mm, err := DecodeSyncMessage(m); err == nil && len(mm.Have) > 0 {
					bloom += int(mm.Have[0].Bloom.Entries)
					msgs++
				}
				ns.ReceiveMessage(m)
				flushN()
			} else if len(toP) > 0 {
				m := toP[0]
				toP = toP[1:]
				ps.ReceiveMessage(m)
				flushP()
			}
		}
		if i%500 == 0 {
			fmt.Printf("i=%d avg bloom %.1f over %d msgs\n", i, float64(bloom)/float64(max(msgs, 1)), msgs)
			bloom, msgs = 0, 0
		}
	}
	// drain
	rounds := 0
	for (len(toP) > 0 || len(toN) > 0) && rounds < 100000 {
		rounds++
		if len(toN) > 0 {
			m := toN[0]
			toN = toN[1:]
			ns.ReceiveMessage(m)
			flushN()
		}
		if len(toP) > 0 {
			m := toP[0]
			toP = toP[1:]
			ps.ReceiveMessage(m)
			flushP()
		}
	}
	a, _ := n.Path("t").Text().Get()
	b, _ := p.Path("t").Text().Get()
	fmt.Printf("drained in %d rounds, equal=%v len %d %d heads %v %v\n", rounds, a == b, len(a), len(b), n.Heads(), p.Heads())
}
