package node

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"parley/crdt"
	"parley/internal/trace"
)

// typeTrace replays the first n transactions of a trace into a file from
// one node, as its user would: at positions that fit the text as that node
// sees it at the moment, whatever the others typed meanwhile.
func typeTrace(t testing.TB, n *Node, id, file string, tr *trace.Trace, txns int) {
	t.Helper()
	ctx := context.Background()
	for _, tx := range tr.Txns[:txns] {
		v, err := n.View(ctx, id, crdt.Shared)
		if err != nil {
			t.Error(err)
			return
		}
		length := len([]rune(v.Files[file]))
		var edits []crdt.Edit
		for _, p := range tx.Patches {
			pos := min(p.Pos, length)
			del := min(p.Del, length-pos)
			edits = append(edits, crdt.Edit{Op: "splice", Target: "file:" + file, Pos: pos, Del: del, Text: p.Ins})
			length += len([]rune(p.Ins)) - del
		}
		if err := n.Edit(ctx, id, crdt.Shared, edits...); err != nil {
			t.Error(err)
			return
		}
	}
}

// waitSame waits until every node has the same text in file, and returns it.
func waitSame(t testing.TB, id, file string, nodes ...*Node) string {
	t.Helper()
	var text string
	waitFor(t, 30*time.Second, "all nodes converge", func() bool {
		text = view(t, nodes[0], id, crdt.Shared).Files[file]
		for _, n := range nodes[1:] {
			if view(t, n, id, crdt.Shared).Files[file] != text {
				return false
			}
		}
		return true
	})
	return text
}

func loadTrace(t testing.TB, name string) *trace.Trace {
	t.Helper()
	tr, err := trace.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Three nodes typing real traces at once into one file converge.
func TestConvergeTyping(t *testing.T) {
	tm := startTeam(t, 2)
	i1, i2 := tm.interviewers[0], tm.interviewers[1]
	cand := startNode(t, nodeOpts{})
	s := tm.create(t, NewSessions{})
	for _, n := range []*Node{i1, i2, cand} {
		join(t, n, s.Link, "")
	}
	waitRoster(t, s.ID, []string{"Sam Doe/candidate", "Interviewer 1/interviewer", "Interviewer 2/interviewer"}, tm.company, i1, i2, cand)
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.rs"})
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	all := []*Node{tm.company, i1, i2, cand}
	waitSame(t, s.ID, "main.rs", all...)
	waitFor(t, 10*time.Second, "the candidate may type", func() bool {
		return cand.Edit(context.Background(), s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.rs", Text: "// ü\n"}) == nil
	})
	traces := map[*Node]*trace.Trace{i1: loadTrace(t, "rustcode"), i2: loadTrace(t, "sveltecomponent"), cand: loadTrace(t, "automerge-paper")}
	var wg sync.WaitGroup
	for n, tr := range traces {
		wg.Go(func() { typeTrace(t, n, s.ID, "main.rs", tr, 150) })
	}
	wg.Wait()
	text := waitSame(t, s.ID, "main.rs", all...)
	if len(text) < 1000 {
		t.Fatalf("converged on %d bytes: the traces did not arrive", len(text))
	}
}

// switchGate is a connection gater that can cut a node off from everyone
// but the relay.
type switchGate struct {
	relay peer.ID
	cut   atomic.Bool
}

func (g *switchGate) allow(p peer.ID) bool             { return !g.cut.Load() || p == g.relay }
func (g *switchGate) InterceptPeerDial(p peer.ID) bool { return g.allow(p) }
func (g *switchGate) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool {
	return g.allow(p)
}
func (g *switchGate) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (g *switchGate) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allow(p)
}
func (g *switchGate) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// A node cut off from the others keeps typing, as do they; when the cut
// heals, everyone converges to the same text.
func TestPartitionHeals(t *testing.T) {
	tm := startTeam(t, 1)
	i1 := tm.interviewers[0]
	relayID, _ := peer.Decode(tm.relay.ID())
	gate := &switchGate{relay: relayID}
	cand := startNode(t, nodeOpts{cfg: Config{Gater: gate}})
	s := tm.create(t, NewSessions{})
	join(t, i1, s.Link, "")
	join(t, cand, s.Link, "")
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "a.py", Text: "def f():\n    pass\n"})
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	all := []*Node{tm.company, i1, cand}
	waitSame(t, s.ID, "a.py", all...)
	waitFor(t, 10*time.Second, "the candidate may type", func() bool {
		return cand.Edit(context.Background(), s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:a.py", Pos: 0, Text: "# é\n"}) == nil
	})

	// Cut the candidate off.
	gate.cut.Store(true)
	for _, p := range cand.p2p.host.Network().Peers() {
		if p != relayID {
			cand.p2p.host.Network().ClosePeer(p)
		}
	}
	waitRoster(t, s.ID, []string{"Interviewer 1/interviewer"}, i1)
	tr := loadTrace(t, "sveltecomponent")
	var wg sync.WaitGroup
	wg.Go(func() { typeTrace(t, i1, s.ID, "a.py", tr, 60) })
	wg.Go(func() {
		for i := range 30 {
			cand.Edit(context.Background(), s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:a.py", Pos: 0, Text: string(rune('a' + i%26))})
		}
	})
	wg.Wait()
	if view(t, cand, s.ID, crdt.Shared).Files["a.py"] == view(t, i1, s.ID, crdt.Shared).Files["a.py"] {
		t.Fatal("the partition did not separate the nodes")
	}
	gate.cut.Store(false)
	text := waitSame(t, s.ID, "a.py", all...)
	if len(text) < 60 {
		t.Fatalf("converged on %q", text)
	}
}
