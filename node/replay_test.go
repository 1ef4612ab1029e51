package node

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

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
	for i, k := range marks {
		if i == 1 {
			// The node keeps the history it worked out, but not past a
			// change.
			h1, err := i1.History(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if h2, err := i1.History(ctx, s.ID); err != nil || len(h2.Steps) != len(h1.Steps) {
				t.Fatalf("history asked again: %d steps, then %d (%v)", len(h1.Steps), len(h2.Steps), err)
			}
			defer func() {
				if h3, err := i1.History(ctx, s.ID); err != nil || len(h3.Steps) <= len(h1.Steps) {
					t.Errorf("history after more changes: %d steps, %d before (%v)", len(h3.Steps), len(h1.Steps), err)
				}
			}()
		}
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
		// The Replay page's history, played as the page plays it, gives the
		// same code at the same moments.
		h, err := n.History(ctx, s.ID)
		if err != nil || h.Authors[actorKey(actorOf(i1.ID()))].Name != "Ana" {
			t.Fatalf("history: %d steps, authors %v, %v", len(h.Steps), h.Authors, err)
		}
		for _, k := range append(marks, done) {
			if got, want := playTo(t, h, moments[k])["main.rs"], tr.Apply(k); got != want {
				t.Fatalf("the replay at change %d differs: %d code points, want %d", k, len([]rune(got)), len([]rune(want)))
			}
		}
	}
}

// playTo plays a history's patches up to the moment t, as the Replay page
// does, and returns the files.
func playTo(t *testing.T, h History, at time.Time) map[string]string {
	t.Helper()
	files := map[string][]uint16{}
	for i, s := range h.Steps {
		if s.Time > at.UnixMilli() {
			break
		}
		for _, p := range s.Patches {
			switch p.Op {
			case crdt.PatchNew:
				files[p.File] = utf16.Encode([]rune(p.Ins))
			case crdt.PatchGone:
				delete(files, p.File)
			case "":
				f := files[p.File]
				if p.Pos+p.Del > len(f) {
					t.Fatalf("step %d: %+v on a text of %d", i, p, len(f))
				}
				files[p.File] = slices.Concat(f[:p.Pos], utf16.Encode([]rune(p.Ins)), f[p.Pos+p.Del:])
			}
		}
	}
	out := map[string]string{}
	for k, v := range files {
		out[k] = string(utf16.Decode(v))
	}
	return out
}
