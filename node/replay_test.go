package node

import (
	"context"
	"sync"
	"testing"
	"time"

	"parley/crdt"
	"parley/internal/trace"
)

// steadyClock is the wall clock, but every reading is at least 2 ms after
// the one before, so that each change of a fast replay has its own moment
// (Automerge keeps milliseconds).
type steadyClock struct {
	mu   sync.Mutex
	last time.Time
}

func (c *steadyClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = later(time.Now(), c.last.Add(2*time.Millisecond))
	return c.last
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Replay reproduces a replayed trace: the final code exactly, and the code
// at chosen moments of it, on the node that typed it (after it left, from
// its store) and on the company node.
func TestReplayTrace(t *testing.T) {
	tr := loadTrace(t, "rustcode")
	clk := &steadyClock{}
	tm := startTeam(t, 0)
	i1 := startNode(t, nodeOpts{cfg: Config{Now: clk.Now}})
	res, err := tm.company.AddMember(context.Background(), NewMember{Name: "Ana", Email: "ana@acme.test", Peer: i1.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := i1.AcceptCredential(context.Background(), res.Member.Token); err != nil {
		t.Fatal(err)
	}
	s := tm.create(t, NewSessions{})
	join(t, i1, s.Link, "Ana")
	ctx := context.Background()
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.rs", Lang: "rust"})

	marks := []int{40, 150, 400}
	moments := map[int]time.Time{}
	done := 0
	for _, k := range marks {
		typeTrace(t, i1, s.ID, "main.rs", &trace.Trace{Txns: tr.Txns[done:k]}, k-done)
		moments[k] = clk.Now() // after change k, before change k+1
		done = k
	}
	final := tr.Apply(done)
	waitFile(t, s.ID, "main.rs", final, tm.company)
	if _, err := i1.LeaveSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{i1, tm.company} {
		for _, k := range marks {
			got, file, err := n.CodeAt(ctx, s.ID, "main.rs", moments[k])
			if err != nil || file != "main.rs" {
				t.Fatalf("code at change %d (%s) on %s: %v", k, moments[k].Format(time.RFC3339Nano), n.ID().ShortString(), err)
			}
			if want := tr.Apply(k); got != want {
				t.Fatalf("code at change %d differs: %d code points, want %d", k, len([]rune(got)), len([]rune(want)))
			}
		}
		tl, err := n.Timeline(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		net := 0
		for _, e := range tl {
			if e.File != "main.rs" || e.Participant != "Ana" {
				t.Fatalf("timeline entry %+v", e)
			}
			net += e.Inserted - e.Deleted
		}
		if net != len([]rune(final)) {
			t.Fatalf("the timeline adds up to %d code points, the code has %d", net, len([]rune(final)))
		}
		h, err := n.History(ctx, s.ID)
		if err != nil || len(h.Doc) == 0 || h.Actors[actorKey(actorOf(i1.ID()))].Name != "Ana" {
			t.Fatalf("history: %d bytes, actors %v, %v", len(h.Doc), h.Actors, err)
		}
	}
}
