package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"parley/crdt"
)

// A quarantined author's later frames are ignored, and an interviewer's
// lift lets its data in again: Mallory's modified node sends Ana's node an
// input that gets her quarantined (one that kills the worker, found among
// the committed inputs; then a change that breaks a rule), then a valid
// change, and her own node edits too. While she is quarantined her frames
// reach Ana's node and are dropped unread: none of it is taken, and her
// room says who refuses her data. Once Ana lifts the quarantine, the valid
// change is taken, her node's edit arrives, and her room clears; a rule
// broken again gets her quarantined again.
func TestCrashersQuarantineHolds(t *testing.T) {
	cs := startCrashSession(t)
	ctx := context.Background()
	victim, mallory := cs.ana, cs.mallory
	var fromMallory atomic.Int64
	hook := func(from string, f docFrame) {
		if from == mallory.ID().String() {
			fromMallory.Add(1)
		}
	}
	victim.frameHook.Store(&hook)
	quarantined := func() bool { return cs.onlyBlamed(t, mallory, "Mallory's input")[victim] }

	breaksRule := validEdits(t, crdt.Shared, cs.saved[crdt.Shared], actorNaming(mallory, "6d616c6c6f727921"), true, func(d *automerge.Doc, step func(func() error)) {
		step(func() error { return d.RootMap().Set("zz", automerge.NewMap()) })
	}).changes[0]
	var killer *attack
	for round, variant := range []string{"crashes the worker", "breaks a rule"} {
		// Quarantined.
		if variant == "crashes the worker" {
			for _, a := range committedAttacks(t) {
				forgive(victim, cs.id)
				gen := victim.worker.Generation()
				sendFrames(t, mallory, victim, cs.id, a.frame)
				if quarantined() && victim.worker.Generation() != gen {
					killer = &a
					break
				}
			}
			if killer == nil {
				t.Fatal("no committed input kills the worker and gets Mallory quarantined")
			}
			t.Logf("quarantined by %s", killer)
		} else {
			sendFrames(t, mallory, victim, cs.id, docFrame{typ: frameChange, kind: crdt.Shared, data: breaksRule})
			if !quarantined() {
				t.Fatal("a change that breaks a rule does not get Mallory quarantined")
			}
		}
		// Her later frames reach Ana's node, and are dropped unread: a
		// valid change from her modified node, and an edit of her own
		// node's.
		later := fmt.Sprintf("later%d.txt", round)
		valid := validFile(t, cs.saved[crdt.Shared], actorNaming(mallory, fmt.Sprintf("6c6174657221%04x", round)), later, "LATER")
		frames, gen := fromMallory.Load(), victim.worker.Generation()
		sendFrames(t, mallory, victim, cs.id, docFrame{typ: frameChange, kind: crdt.Shared, data: valid})
		own := fmt.Sprintf("own%d.txt", round)
		edit(t, mallory, cs.id, crdt.Shared, crdt.Edit{Op: "add", Name: own, Text: "OWN"})
		waitFor(t, 10*time.Second, "Mallory's frames reach Ana's node", func() bool { return fromMallory.Load() >= frames+2 })
		if v := view(t, victim, cs.id, crdt.Shared); v.Files[later] != "" || v.Files[own] != "" {
			t.Fatalf("%s: Ana's node took Mallory's data while she is quarantined: %v", variant, v.Files)
		}
		if victim.worker.Generation() != gen {
			t.Fatalf("%s: Mallory's data reached the worker while she is quarantined", variant)
		}
		if !quarantined() {
			t.Fatalf("%s: the quarantine went", variant)
		}
		// Never silent: her room says who refuses her data.
		waitFor(t, 10*time.Second, "Mallory's room says Ana's node refuses her data", func() bool {
			s, _ := mallory.Session(ctx, cs.id)
			return len(s.RefusedBy) == 1 && s.RefusedBy[0].Peer == victim.ID().String()
		})

		// Lifted: her data flows again.
		if _, err := victim.LiftQuarantine(ctx, cs.id, mallory.ID().String()); err != nil {
			t.Fatal(err)
		}
		cs.onlyBlamed(t, nil, "the lift")
		sendFrames(t, mallory, victim, cs.id, docFrame{typ: frameChange, kind: crdt.Shared, data: valid})
		if v := view(t, victim, cs.id, crdt.Shared); v.Files[later] != "LATER" {
			t.Fatalf("%s: after the lift, Ana's node does not take Mallory's valid change: %v", variant, v.Files)
		}
		waitFile(t, cs.id, own, "OWN", victim)
		waitFor(t, 10*time.Second, "Mallory's room clears", func() bool {
			s, _ := mallory.Session(ctx, cs.id)
			return len(s.RefusedBy) == 0
		})
		if err := cs.holdsCode(victim); err != nil {
			t.Fatal(err)
		}
	}
	// A rule broken again after the lift: quarantined again.
	sendFrames(t, mallory, victim, cs.id, docFrame{typ: frameChange, kind: crdt.Shared, data: breaksRule})
	if !quarantined() {
		t.Fatal("a rule broken again after the lift does not get Mallory quarantined")
	}
	cs.editingGoesOn(t, []*Node{victim, cs.cand}, []*Node{victim, cs.company, cs.cand})
}
