package node

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"parley/crdt"
)

// A node that asked for a whole document keeps, while its worker loads it,
// what an interviewer's node sent for its page: the view, then the saved
// document, as they came (node.Follower.Arriving); a view that does not
// decode is refused with its sender, and one from a node that is not staff
// is not kept. Once the document is loaded, they are dropped, and the
// page syncs with the node. The test holds the candidate node's documents
// (docMu) so that the load waits: it would otherwise take milliseconds.
func TestArrivingDocument(t *testing.T) {
	ctx := context.Background()
	_, i1, cand, s := interview(t, "Ana", "Sam")
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.py", Text: "print('hi')\n"})
	l := liveOf(cand, s.ID)
	// In the lobby, the candidate's shared document is empty: its node
	// asked the interviewer's node and the company node for it.
	waitFor(t, 10*time.Second, "the candidate's node asks for the document", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		a := l.arriving[crdt.Shared]
		return a != nil && a.asked
	})
	f, err := cand.Follow(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	il := liveOf(i1, s.ID)
	d, err := il.doc(crdt.Shared)
	if err != nil {
		t.Fatal(err)
	}
	view, err := i1.viewDoc(d)
	if err != nil || view == nil {
		t.Fatalf("the interviewer's view: %s %v", view, err)
	}
	saved, err := i1.saveDoc(d)
	if err != nil || saved == nil {
		t.Fatalf("the interviewer's document: %v", err)
	}

	sendFrames(t, i1, cand, s.ID,
		docFrame{typ: frameView, kind: crdt.Shared, data: []byte(`{"files":{"main.py":1}}`)})
	waitFor(t, 10*time.Second, "the bad view is refused", func() bool {
		rs, _ := l.refusalsList()
		for _, r := range rs {
			if strings.Contains(r.What, "document view that does not decode") {
				return true
			}
		}
		return false
	})
	if v, _ := f.Arriving(crdt.Shared); v != nil {
		t.Fatalf("a bad view is kept: %s", v)
	}
	// Only an interviewer's or the company node's is kept: one from a
	// participant that is not staff (the candidate's own ID, the one such
	// participant of the session) is not, though well formed.
	l.receive(cand.ID(), docFrame{typ: frameView, kind: crdt.Shared, data: view})
	if v, _ := f.Arriving(crdt.Shared); v != nil {
		t.Fatalf("a view from a candidate's node is kept: %s", v)
	}
	cand.docMu.Lock()
	locked := true
	defer func() {
		if locked {
			cand.docMu.Unlock()
		}
	}()
	// The load waits for the lock: the frames are written meanwhile.
	sent := make(chan error, 1)
	go func() {
		sent <- writeFrames(i1, cand, s.ID,
			docFrame{typ: frameView, kind: crdt.Shared, data: view},
			docFrame{typ: frameSnapshot, kind: crdt.Shared, data: saved})
	}()
	waitFor(t, 10*time.Second, "the view and the document are kept for the page", func() bool {
		v, sv := f.Arriving(crdt.Shared)
		return v != nil && sv != nil
	})
	v, sv := f.Arriving(crdt.Shared)
	var got crdt.View
	if err := json.Unmarshal(v, &got); err != nil || got.Files["main.py"] != "print('hi')\n" {
		t.Fatalf("the view kept: %s (%v)", v, err)
	}
	if string(sv) != string(saved) {
		t.Fatal("the document kept is not the one sent")
	}
	if b, err := f.Saved(crdt.Shared); err != nil || string(b) != string(saved) {
		t.Fatalf("a page that comes now gets %d bytes (%v), not the document on its way", len(b), err)
	}
	// A page that opens now is followed at once: it has the view to show
	// and the document to load, and the load takes seconds.
	followed := make(chan error, 1)
	go func() {
		f2, err := cand.Follow(ctx, s.ID)
		followed <- err
		if err == nil {
			f2.Close() // (its sync states are forgotten once the load is done)
		}
	}()
	select {
	case err := <-followed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a page that opens while the node loads the document waits for the load")
	}
	cand.docMu.Unlock()
	locked = false
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the candidate's node loads the document", func() bool {
		v, sv := f.Arriving(crdt.Shared)
		return v == nil && sv == nil && sharedView(t, cand, s.ID).Files["main.py"] == "print('hi')\n"
	})
	if b, err := f.Saved(crdt.Shared); err != nil || len(b) == 0 {
		t.Fatalf("the node's own saved document: %d bytes, %v", len(b), err)
	}
}

// A late joiner asks every interviewer's node and the company node for the
// document: the second answer, which the first brought already, is not
// merged (that takes as long as the load), and one that holds more is.
func TestSecondSnapshotSkipped(t *testing.T) {
	_, i1, cand, s := interview(t, "Ana", "Sam")
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.py", Text: "print('hi')\n"})
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	d, err := liveOf(i1, s.ID).doc(crdt.Shared)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := i1.saveDoc(d)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := liveOf(cand, s.ID).doc(crdt.Shared)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the candidate's node has the file", func() bool {
		return sharedView(t, cand, s.ID).Files["main.py"] == "print('hi')\n"
	})
	if !cand.holdsAll(cd, saved) {
		t.Fatal("the candidate's copy does not hold the interviewer's document it has")
	}
	changed, err := cand.applySnapshot(cd, i1.ID(), saved)
	if changed || err != nil {
		t.Fatalf("a document held already: changed %v, %v", changed, err)
	}
	// A document with a change more (made apart, so that it reaches the
	// candidate no other way) is merged.
	w := i1.worker
	if err := w.Load("apart", d.id, crdt.Shared, i1.actor(), saved); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Edit("apart", []crdt.Edit{{Op: "splice", Target: "file:main.py", Pos: 0, Text: "# more\n"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	more, err := w.Save("apart")
	if err != nil {
		t.Fatal(err)
	}
	w.CloseDoc("apart")
	for _, b := range [][]byte{more, []byte("not a document"), nil} {
		if cand.holdsAll(cd, b) {
			t.Fatalf("the candidate's copy holds all of %.20q", b)
		}
	}
	if changed, err := cand.applySnapshot(cd, i1.ID(), more); !changed || err != nil {
		t.Fatalf("a document with one change more: changed %v, %v", changed, err)
	}
	if got := sharedView(t, cand, s.ID).Files["main.py"]; got != "# more\nprint('hi')\n" {
		t.Fatalf("the candidate's copy reads %q", got)
	}
}
