package crdt

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// An actor's change number is taken once: a second version of a change
// (same actor and number, other content), alone or beside the first in
// one message, is refused: as a broken rule naming its author when it is
// a candidate's, left out without blame when it is an interviewer's
// (whoever sends it: the first may have been the forgery) or this node's
// own; and the document, saved, loads again.
func TestSecondVersionRefused(t *testing.T) {
	at := time.Unix(1700000000, 0)
	base := sharedBase(t, Edit{Op: "add", Name: "f", Text: "x\n"})
	saved := base.am.Save()
	const mallory = "6d616c6c6f727921"
	version := func(text string) *Change {
		t.Helper()
		d, err := loadDoc(Shared, mallory, saved)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.apply([]Edit{{Op: "splice", Target: "file:f", Pos: 0, Text: text}}, at); err != nil {
			t.Fatal(err)
		}
		chs, err := d.am.Changes(base.am.Heads()...)
		if err != nil || len(chs) != 1 {
			t.Fatalf("changes: %v %v", chs, err)
		}
		dec, err := DecodeChanges(chs[0].Save())
		if err != nil {
			t.Fatal(err)
		}
		return dec[0]
	}
	a, b := version("A"), version("B")
	if a.Actor != b.Actor || a.Seq != b.Seq || a.Hash == b.Hash {
		t.Fatalf("not two versions of one change: %s/%d %s, %s/%d %s", a.Actor, a.Seq, a.Hash, b.Actor, b.Seq, b.Hash)
	}
	g := &Guard{Sender: ActorKey(mallory), SenderRole: RoleCandidate, Open: true}
	s := &server{docs: map[string]*doc{}}

	target := func() *doc {
		d, err := loadDoc(Shared, "bbbbbbbbbbbbbbbb", saved)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	refused := func(what string, err error) {
		t.Helper()
		var rule *RuleError
		if !errors.As(err, &rule) || rule.Actor != mallory || !strings.Contains(rule.What, "second version") {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// One after the other.
	d := target()
	if keep, _, err := s.judge(d, g, []*Change{a}); err != nil || keep != nil {
		t.Fatalf("the first version: %v %v", keep, err)
	}
	if err := d.am.LoadIncremental(a.Raw); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.judge(d, g, []*Change{b})
	refused("the second version after the first", err)
	if _, err := loadDoc(Shared, "cccccccccccccccc", d.am.Save()); err != nil {
		t.Fatalf("the document no longer loads: %v", err)
	}

	// Both in one message.
	_, _, err = s.judge(target(), g, []*Change{a, b})
	refused("both versions at once", err)

	// An interviewer's passed on by another node: left out, nobody blamed
	// (either version may be the forgery), the first version taken; the
	// same for this node's own change. A candidate's is blamed on the
	// candidate.
	relay := &Guard{Sender: "cccccccccccccccc", SenderRole: RoleStaff, Open: true}
	_, _, err = s.judge(d, &Guard{Sender: "cccccccccccccccc", SenderRole: RoleStaff, Open: true, Candidates: []string{ActorKey(mallory)}}, []*Change{b})
	refused("a candidate's second version passed on", err)
	if keep, skipped, err := s.judge(d, &Guard{Sender: "cccccccccccccccc", SenderRole: RoleStaff, Open: true, Self: ActorKey(mallory), Candidates: []string{ActorKey(mallory)}}, []*Change{b}); err != nil || skipped != 1 || len(keep) != 0 {
		t.Fatalf("a second version of this node's own change: keep %d, skipped %d, %v", len(keep), skipped, err)
	}
	d2 := target()
	if err := d2.am.LoadIncremental(a.Raw); err != nil {
		t.Fatal(err)
	}
	if keep, skipped, err := s.judge(d2, relay, []*Change{b}); err != nil || skipped != 1 || len(keep) != 0 {
		t.Fatalf("the second version passed on: keep %d, skipped %d, %v", len(keep), skipped, err)
	}
	if keep, skipped, err := s.judge(target(), relay, []*Change{a, b}); err != nil || skipped != 1 || len(keep) != 1 || string(keep[0]) != string(a.Raw) {
		t.Fatalf("both versions passed on at once: keep %d, skipped %d, %v", len(keep), skipped, err)
	}
	// An interviewer's, sent by her own node: left out, not blamed (a
	// colleague's modified node may have forged the first).
	own := &Guard{Sender: ActorKey(mallory), SenderRole: RoleStaff, Open: true}
	if keep, skipped, err := s.judge(d2, own, []*Change{b}); err != nil || skipped != 1 || len(keep) != 0 {
		t.Fatalf("an interviewer's second version from her own node: keep %d, skipped %d, %v", len(keep), skipped, err)
	}

	// The very same change again is no second version.
	if _, _, err := s.judge(d, g, []*Change{a}); err != nil {
		t.Fatalf("the same change again: %v", err)
	}
}

// A change held back for its dependencies still numbers its actor's
// change: a second version that comes meanwhile is refused (else
// Automerge applies both once the dependency comes, and the document's
// save no longer loads). A second version the arbiter's guard names as
// refused is left out, and listed as left out for good.
func TestSecondVersionOfHeldBack(t *testing.T) {
	at := time.Unix(1700000000, 0)
	base := sharedBase(t, Edit{Op: "add", Name: "f", Text: "x\n"})
	saved := base.am.Save()
	const mallory = "6d616c6c6f727921"
	m, err := loadDoc(Shared, mallory, saved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.apply([]Edit{{Op: "splice", Target: "file:f", Pos: 0, Text: "1"}}, at); err != nil {
		t.Fatal(err)
	}
	first := m.am.SaveIncremental()
	fork, err := m.am.Fork()
	if err != nil {
		t.Fatal(err)
	}
	two := func(d *automerge.Doc, text string) []byte {
		t.Helper()
		if err := d.Path("files", "f").Text().Insert(0, text); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Commit(""); err != nil {
			t.Fatal(err)
		}
		return d.SaveIncremental()
	}
	a := two(m.am, "A")
	if err := fork.SetActorID(mallory); err != nil {
		t.Fatal(err)
	}
	fork.SaveIncremental()
	b := two(fork, "B")

	s := &server{docs: map[string]*doc{}, syncs: map[[2]string]*automerge.SyncState{}}
	d, err := loadDoc(Shared, "bbbbbbbbbbbbbbbb", saved)
	if err != nil {
		t.Fatal(err)
	}
	s.docs["d"] = d
	g := &Guard{Sender: ActorKey(mallory), SenderRole: RoleCandidate, Open: true}
	if _, _, err := s.do(request{Op: "apply", Doc: "d", Guard: g}, a); err != nil {
		t.Fatalf("the first version, held back: %v", err)
	}
	_, _, err = s.do(request{Op: "apply", Doc: "d", Guard: g}, b)
	var rule *RuleError
	if !errors.As(err, &rule) || !strings.Contains(rule.What, "second version") || rule.Hash == "" {
		t.Fatalf("the second version while the first is held back: %v", err)
	}
	if _, _, err := s.do(request{Op: "apply", Doc: "d", Guard: g}, first); err != nil {
		t.Fatal(err)
	}
	if _, err := loadDoc(Shared, "cccccccccccccccc", s.docs["d"].am.Save()); err != nil {
		t.Fatalf("the document no longer loads: %v", err)
	}
	// Refused by the arbiter: left out without blame, and said so; the
	// arbiter itself may send it.
	bh := hashesIn(b)[0].String()
	refused := &Guard{Sender: "cccccccccccccccc", SenderRole: RoleStaff, Open: true, Refused: []string{bh}}
	d2, _ := loadDoc(Shared, "bbbbbbbbbbbbbbbb", saved)
	s.docs["d2"] = d2
	_, resp, err := s.do(request{Op: "apply", Doc: "d2", Guard: refused}, slices.Concat(first, b))
	if err != nil || resp.Skipped != 1 || !slices.Equal(resp.LeftOut, []string{bh}) {
		t.Fatalf("a change the arbiter refused: skipped %d, left out %v, %v", resp.Skipped, resp.LeftOut, err)
	}
	refused.Arbiter = true
	if _, resp, err := s.do(request{Op: "apply", Doc: "d2", Guard: refused}, b); err != nil || resp.Skipped != 0 || !resp.Changed {
		t.Fatalf("the arbiter sends it: skipped %d, changed %v, %v", resp.Skipped, resp.Changed, err)
	}
}

// sharedBase returns a shared document, its genesis made by actor aaaa…,
// with edits made by that actor.
func sharedBase(t *testing.T, edits ...Edit) *doc {
	t.Helper()
	d, err := newDoc("s", Shared, "aaaaaaaaaaaaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.apply(edits, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	return d
}

// An actor's changes follow each other: one that skips a number, or
// numbers its operations below its predecessor's, is refused: naming its
// author when it is a candidate's, without blame when an interviewer's
// (as a second version is). Automerge takes either, and its save then no
// longer loads ("changes out of order"), which is what the rule spares
// every node.
func TestOutOfOrderRefused(t *testing.T) {
	at := time.Unix(1700000000, 0)
	base := sharedBase(t, Edit{Op: "add", Name: "f", Text: "x\n"})
	saved := base.am.Save()
	const mallory = "6d616c6c6f727921"
	d, err := loadDoc(Shared, mallory, saved)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"AB", "C"} {
		if _, err := d.apply([]Edit{{Op: "splice", Target: "file:f", Pos: 0, Text: text}}, at); err != nil {
			t.Fatal(err)
		}
	}
	chs, err := d.am.Changes(base.am.Heads()...)
	if err != nil || len(chs) != 2 {
		t.Fatalf("changes: %v %v", chs, err)
	}
	first, second := decodeOne(t, chs[0]), decodeOne(t, chs[1])
	if first.Seq+1 != second.Seq || len(first.Ops) != 2 || len(second.Ops) != 1 {
		t.Fatalf("not two changes of 2 and 1 operations in a row: %d %d, %d %d", first.Seq, len(first.Ops), second.Seq, len(second.Ops))
	}
	// rewrite changes the second's number and first operation's counter.
	rewrite := func(seq, startOp uint64) *Change {
		t.Helper()
		b := second.Raw
		i := 4 + 4 + 1 // magic, checksum, type
		_, n := binary.Uvarint(b[i:])
		i += n
		body := b[i:]
		j := 0
		deps, n := binary.Uvarint(body)
		j += n + 32*int(deps)
		alen, n := binary.Uvarint(body[j:])
		j += n + int(alen)
		_, n = binary.Uvarint(body[j:]) // seq
		k := j + n
		_, n = binary.Uvarint(body[k:]) // start op
		rest := body[k+n:]
		nb := slices.Concat(body[:j], uleb(nil, seq), uleb(nil, startOp), rest)
		c := decodeOneBytes(t, frame(nb))
		if c.Seq != seq || c.StartOp != startOp || c.Actor != second.Actor {
			t.Fatalf("rewritten: %d %d %s", c.Seq, c.StartOp, c.Actor)
		}
		return c
	}
	gap := rewrite(second.Seq+1, second.StartOp)
	low := rewrite(second.Seq, first.StartOp)

	target := func() *doc {
		t.Helper()
		d, err := loadDoc(Shared, "bbbbbbbbbbbbbbbb", saved)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.am.LoadIncremental(first.Raw); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Taken unjudged, each makes a save that does not load.
	for _, c := range []*Change{gap, low} {
		d := target()
		if err := d.am.LoadIncremental(c.Raw); err != nil {
			t.Fatalf("automerge-go refuses the crafted change itself: %v", err)
		}
		if _, err := automerge.Load(d.am.Save()); err == nil || !strings.Contains(err.Error(), "out of order") {
			t.Fatalf("the save of a document holding change %d (start %d) loads: %v", c.Seq, c.StartOp, err)
		}
	}
	g := &Guard{Sender: ActorKey(mallory), SenderRole: RoleCandidate, Open: true}
	staff := &Guard{Sender: ActorKey(mallory), SenderRole: RoleStaff, Open: true}
	s := &server{docs: map[string]*doc{}}
	for _, tc := range []struct {
		c    *Change
		want string
	}{{gap, "is not among what it depends on"}, {low, "below those of change"}} {
		_, _, err := s.judge(target(), g, []*Change{tc.c})
		var rule *RuleError
		if !errors.As(err, &rule) || rule.Actor != mallory || !strings.Contains(rule.What, tc.want) {
			t.Fatalf("change %d (start %d): %v", tc.c.Seq, tc.c.StartOp, err)
		}
		if keep, skipped, err := s.judge(target(), staff, []*Change{tc.c}); err != nil || skipped != 1 || len(keep) != 0 {
			t.Fatalf("an interviewer's change %d (start %d): keep %d, skipped %d, %v", tc.c.Seq, tc.c.StartOp, len(keep), skipped, err)
		}
	}
	// Both honest changes, alone or together, are taken.
	if keep, _, err := s.judge(target(), g, []*Change{second}); err != nil || keep != nil {
		t.Fatalf("the honest second change: %v %v", keep, err)
	}
	d2, err := loadDoc(Shared, "bbbbbbbbbbbbbbbb", saved)
	if err != nil {
		t.Fatal(err)
	}
	if keep, _, err := s.judge(d2, g, []*Change{second, first}); err != nil || keep != nil {
		t.Fatalf("both honest changes, the second first: %v %v", keep, err)
	}
}

func decodeOneBytes(t *testing.T, b []byte) *Change {
	t.Helper()
	chs, err := DecodeChanges(b)
	if err != nil || len(chs) != 1 {
		t.Fatalf("decode: %v %v", chs, err)
	}
	return chs[0]
}
