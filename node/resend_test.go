package node

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"parley/crdt"
	"parley/node/store"
)

// A resend frame makes the peer start its sync with the sender afresh: its
// next sync message to the sender is a first one (its "have" names no last
// sync), which offers every change the sender lacks, including those sent
// before. The company node asks an interviewer's node here, in a quiet
// session where nothing else would make it send.
func TestResendStartsAfresh(t *testing.T) {
	tm, i1, _, s := interview(t, "Ana", "Sam")
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go", Text: "package main\n"})
	waitFile(t, s.ID, "main.go", "package main\n", tm.company)

	var mu sync.Mutex
	fresh := 0
	hook := func(from string, f docFrame) {
		if from != i1.ID().String() || f.typ != frameSync || f.kind != crdt.Shared {
			return
		}
		m, err := crdt.DecodeSyncMessage(f.data)
		if err != nil {
			t.Errorf("Ana's node sent a sync message that does not decode: %v", err)
			return
		}
		if len(m.Have) > 0 && len(m.Have[0].LastSync) == 0 {
			mu.Lock()
			fresh++
			mu.Unlock()
		}
	}
	tm.company.frameHook.Store(&hook)
	sendFrames(t, tm.company, i1, s.ID, docFrame{typ: frameResend, kind: crdt.Shared, data: []byte{0}})
	waitFor(t, 10*time.Second, "Ana's node starts its sync with the company node afresh", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return fresh > 0
	})
}

// A node asks a peer to resend, and resends for a peer, at most every
// resendEvery, each way and document on its own.
func TestResendDue(t *testing.T) {
	var k link
	if !k.resendDue(crdt.Shared, 0) || k.resendDue(crdt.Shared, 0) {
		t.Fatal("asking twice in a row")
	}
	if !k.resendDue(crdt.Shared, 1) || !k.resendDue(crdt.Private, 0) {
		t.Fatal("the other way, or the other document, waits")
	}
	k.resends[[2]byte{kindCode(crdt.Shared), 0}] = time.Now().Add(-resendEvery)
	if !k.resendDue(crdt.Shared, 0) {
		t.Fatal("still refused after resendEvery")
	}
}

// A change frame that cannot be placed, because the change it follows has
// not come, is repaired by a sync round with its sender once that change
// has not come by another way within gapWait: Mallory's node holds two
// changes (taken as from a third node) and sends Ana's node only the second.
func TestGapRepaired(t *testing.T) {
	cs := startCrashSession(t)
	v := validEdits(t, crdt.Shared, cs.saved[crdt.Shared], actorKey(cs.mallory.actor())+"6761702121212121", false, func(d *automerge.Doc, step func(func() error)) {
		step(func() error { return d.Path("files").Map().Set("first.txt", automerge.NewText("FIRST")) })
		step(func() error { return d.Path("files").Map().Set("second.txt", automerge.NewText("SECOND")) })
	})
	if len(v.changes) < 2 {
		t.Fatalf("%d changes", len(v.changes))
	}
	// Into Mallory's document as its worker holds it, with no frame sent.
	err := cs.mallory.withDoc(cs.id, crdt.Shared, func(d *sessionDoc, _ store.Session) error {
		_, err := cs.mallory.worker.Apply(d.id, slices.Concat(v.changes[:2]...), nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Ana types meanwhile (her change frames move no sync state): her
	// round's message then says what she has, and what she needs.
	ctx := context.Background()
	edit(t, cs.ana, cs.id, crdt.Shared, crdt.Edit{Op: "add", Name: "ana.txt", Text: "ANA"})
	sendFrames(t, cs.mallory, cs.ana, cs.id, docFrame{typ: frameChange, kind: crdt.Shared, data: v.changes[1]})
	waitFor(t, 10*time.Second, "Ana's node has both files", func() bool {
		first, _, _ := cs.ana.Code(ctx, cs.id, "first.txt")
		second, _, _ := cs.ana.Code(ctx, cs.id, "second.txt")
		return first == "FIRST" && second == "SECOND"
	})
}
