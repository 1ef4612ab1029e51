package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"parley/crdt"
)

// forge makes edits on a node's copy of a session's shared document and
// sends the change to its peers, skipping the node's own checks: what a
// modified node does.
func forge(t *testing.T, n *Node, id string, edits ...crdt.Edit) {
	t.Helper()
	l, err := n.lookupLive(id)
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.doc(crdt.Shared)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.editDoc(d, edits, func(c []byte) { l.pushChange(crdt.Shared, c) }); err != nil {
		t.Fatal(err)
	}
}

// quarantinedOn reports whether n quarantined who in a session, for a
// reason that says what.
func quarantinedOn(t *testing.T, n *Node, sessionID string, who *Node, what string) bool {
	t.Helper()
	s, err := n.Session(context.Background(), sessionID)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range s.Quarantined {
		if q.Peer == who.ID().String() && strings.Contains(q.Reason, what) {
			return true
		}
	}
	return false
}

func sharedView(t *testing.T, n *Node, id string) crdt.View {
	t.Helper()
	v, err := n.View(context.Background(), id, crdt.Shared)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Every honest node judges a candidate's changes against the candidate's
// rules and the session's state, whatever the candidate's node lets
// through: nothing in the lobby, the text of files after the start (but
// never the question or the file list), nothing after the end. A change
// that breaks a rule is refused whole and its author quarantined; the
// interviewers see why.
func TestDocumentRules(t *testing.T) {
	ctx := context.Background()
	honest := func(tm *team, i1 *Node) []*Node { return []*Node{tm.company, i1} }

	t.Run("lobby", func(t *testing.T) {
		tm, i1, cand, s := interview(t, "Ana", "Sam")
		if err := i1.Edit(ctx, s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "question", Text: "Reverse a list."}); err != nil {
			t.Fatal(err)
		}
		forge(t, cand, s.ID, crdt.Edit{Op: "splice", Target: "question", Text: "Say hello. "})
		for _, n := range honest(tm, i1) {
			waitFor(t, 10*time.Second, "the candidate quarantined", func() bool { return quarantinedOn(t, n, s.ID, cand, "before the interview started") })
			// Ana's question arrives (it may come after the candidate's
			// forgery), and the forgery never joins it.
			waitFor(t, 10*time.Second, "the question on "+n.ID().ShortString()+" is Ana's alone", func() bool {
				return sharedView(t, n, s.ID).Question == "Reverse a list."
			})
		}
	})

	t.Run("live", func(t *testing.T) {
		tm, i1, cand, s := interview(t, "Ana", "Sam")
		if err := i1.Edit(ctx, s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "question", Text: "Reverse a list."},
			crdt.Edit{Op: "add", Name: "main.py", Text: "def f():\n"}); err != nil {
			t.Fatal(err)
		}
		if _, err := i1.StartSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the candidate has the code", func() bool { return sharedView(t, cand, s.ID).Files["main.py"] != "" })
		// The text of a file: taken everywhere.
		forge(t, cand, s.ID, crdt.Edit{Op: "splice", Target: "file:main.py", Pos: 9, Text: "    return 1 # é😀\n"})
		want := "def f():\n    return 1 # é😀\n"
		for _, n := range honest(tm, i1) {
			waitFor(t, 10*time.Second, "the candidate's edit arrives", func() bool { return sharedView(t, n, s.ID).Files["main.py"] == want })
		}
		// The question: refused whole, with the file edit made with it.
		forge(t, cand, s.ID, crdt.Edit{Op: "splice", Target: "question", Pos: 0, Del: 8, Text: "Whatever"},
			crdt.Edit{Op: "splice", Target: "file:main.py", Pos: 0, Text: "# mine\n"})
		for _, n := range honest(tm, i1) {
			waitFor(t, 10*time.Second, "the candidate quarantined", func() bool { return quarantinedOn(t, n, s.ID, cand, "question") })
			v := sharedView(t, n, s.ID)
			if v.Question != "Reverse a list." || v.Files["main.py"] != want {
				t.Fatalf("on %s: %+v", n.ID().ShortString(), v)
			}
			sv, _ := n.Session(ctx, s.ID)
			if !hasRefusal(sv, "Sam", "question") {
				t.Fatalf("refusals on %s: %+v", n.ID().ShortString(), sv.Refusals)
			}
		}
		// The candidate's own node is told who refuses its edits, and why.
		waitFor(t, 10*time.Second, "the candidate's node knows", func() bool {
			sv, _ := cand.Session(ctx, s.ID)
			return len(sv.RefusedBy) == 2 && strings.Contains(sv.RefusedBy[0].Reason, "question")
		})
		// An interviewer lifts it: the exchange starts afresh, the
		// candidate's node sends its change again, and it is refused again.
		if _, err := i1.LiftQuarantine(ctx, s.ID, cand.ID().String()); err != nil {
			t.Fatal(err)
		}
		if sv, _ := i1.Session(ctx, s.ID); len(sv.Quarantined) != 0 {
			t.Fatalf("still quarantined after the lift: %+v", sv.Quarantined)
		}
		waitFor(t, 10*time.Second, "quarantined again for the same change", func() bool { return quarantinedOn(t, i1, s.ID, cand, "question") })
		if _, err := cand.LiftQuarantine(ctx, s.ID, i1.ID().String()); err == nil {
			t.Fatal("the candidate lifted a quarantine")
		}
	})

	t.Run("file list", func(t *testing.T) {
		tm, i1, cand, s := interview(t, "Ana", "Sam")
		if err := i1.Edit(ctx, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.py", Text: "x = 1\n"}, crdt.Edit{Op: "add", Name: "test.py", Text: "assert x\n"}); err != nil {
			t.Fatal(err)
		}
		if _, err := i1.StartSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the candidate has the code", func() bool { return len(sharedView(t, cand, s.ID).Files) == 2 })
		forge(t, cand, s.ID, crdt.Edit{Op: "delete", Name: "test.py"})
		for _, n := range honest(tm, i1) {
			waitFor(t, 10*time.Second, "the candidate quarantined", func() bool { return quarantinedOn(t, n, s.ID, cand, "file list") })
			if v := sharedView(t, n, s.ID); len(v.Files) != 2 {
				t.Fatalf("files on %s: %v", n.ID().ShortString(), v.Files)
			}
		}
	})

	t.Run("after the end", func(t *testing.T) {
		tm, i1, cand, s := interview(t, "Ana", "Sam")
		if err := i1.Edit(ctx, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.py", Text: "x = 1\n"}); err != nil {
			t.Fatal(err)
		}
		if _, err := i1.StartSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the candidate has the code", func() bool { return sharedView(t, cand, s.ID).Files["main.py"] != "" })
		if _, err := i1.EndSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, s.ID, StatusEnded, tm.company, cand)
		// The candidate's node goes on typing, as a modified node would,
		// straight to the company node's archive.
		if _, err := cand.lookupLive(s.ID); err != nil {
			t.Fatal(err)
		}
		forge(t, cand, s.ID, crdt.Edit{Op: "splice", Target: "file:main.py", Pos: 0, Text: "# after the end\n"})
		lc, err := tm.company.lookupLive(s.ID)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the company node left the late edit out", func() bool { return lc.skipped.Load() > 0 })
		if v := sharedView(t, tm.company, s.ID); v.Files["main.py"] != "x = 1\n" {
			t.Fatalf("the archive took an edit after the end: %q", v.Files["main.py"])
		}
	})
}

// The same rules hold for the other ways document data reaches a node: a
// whole document in a snapshot frame, and a handover to the company node's
// archive after the end.
func TestDocumentRulesOtherPaths(t *testing.T) {
	ctx := context.Background()
	t.Run("snapshot", func(t *testing.T) {
		tm, i1, cand, s := interview(t, "Ana", "Sam")
		edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "question", Text: "Reverse a list."}, crdt.Edit{Op: "add", Name: "main.py", Text: "x = 1\n"})
		if _, err := i1.StartSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		waitFile(t, s.ID, "main.py", "x = 1\n", cand)
		// The candidate's modified node edits the question in its own copy
		// and sends the whole document as a snapshot.
		l := liveOf(cand, s.ID)
		d, err := l.doc(crdt.Shared)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cand.editDoc(d, []crdt.Edit{{Op: "splice", Target: "question", Pos: 0, Del: 7, Text: "Ignore"}}, func([]byte) {}); err != nil {
			t.Fatal(err)
		}
		snap, err := cand.saveDoc(d)
		if err != nil {
			t.Fatal(err)
		}
		sendFrames(t, cand, tm.company, s.ID, docFrame{typ: frameSnapshot, kind: crdt.Shared, data: snap})
		waitFor(t, 10*time.Second, "the company node quarantines the candidate", func() bool { return quarantinedOn(t, tm.company, s.ID, cand, "question") })
		if q := sharedView(t, tm.company, s.ID).Question; q != "Reverse a list." {
			t.Fatalf("the archive's question: %q", q)
		}
	})

	t.Run("handover after the end", func(t *testing.T) {
		tm, i1, cand, s := interview(t, "Ana", "Sam")
		edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.py", Text: "x = 1\n"})
		if _, err := i1.StartSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		waitFile(t, s.ID, "main.py", "x = 1\n", cand, tm.company)
		if _, err := i1.EndSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, s.ID, StatusEnded, tm.company)
		// After the end, Ana's node has an edit of its own (made around the
		// moment of the end, say) and hands over its documents: the company
		// node takes only what the end's heads reach.
		li := liveOf(i1, s.ID)
		if li == nil {
			t.Skip("Ana's node left the session already")
		}
		d, err := li.doc(crdt.Shared)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := i1.editDoc(d, []crdt.Edit{{Op: "splice", Target: "file:main.py", Pos: 0, Text: "# late\n"}}, func([]byte) {}); err != nil {
			t.Fatal(err)
		}
		saved, err := i1.saveDoc(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := tm.company.archiveDoc(s.ID, crdt.Shared, i1.ID(), saved); err != nil {
			t.Fatal(err)
		}
		if f := sharedView(t, tm.company, s.ID).Files["main.py"]; f != "x = 1\n" {
			t.Fatalf("the archive took an edit after the end: %q", f)
		}
	})
}

func hasRefusal(s Session, name, what string) bool {
	for _, r := range s.Refusals {
		if r.Name == name && strings.Contains(r.What, what) {
			return true
		}
	}
	return false
}
