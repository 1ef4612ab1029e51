package node

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"parley/crdt"
)

// Modified nodes ask for snapshots over and over: floods of need frames for
// both documents, from the candidate's node (which may not have the private
// document) and from an interviewer's, before and after the targets
// answered. Nothing of the private document reaches the candidate's node;
// a target sends a peer at most one snapshot of a document every
// snapshotWait, however many needs come; the interviewer's needs are answered (the frames do reach
// the targets); and nobody is quarantined for asking.
func TestCrashersNeed(t *testing.T) {
	cs := startCrashSession(t)
	askers := []*Node{cs.cand, cs.mallory}
	targets := []*Node{cs.ana, cs.company}
	byID := map[string]*Node{}
	for _, n := range cs.nodes() {
		byID[n.ID().String()] = n
	}
	type key struct {
		asker, target *Node
		kind          crdt.Kind
	}
	var mu sync.Mutex
	snapshots := map[key]int{}
	var leaks []string // private-document frames that reached the candidate's node
	for _, asker := range askers {
		hook := func(from string, f docFrame) {
			mu.Lock()
			defer mu.Unlock()
			target := byID[from]
			if asker == cs.cand && f.kind == crdt.Private {
				leaks = append(leaks, cs.name(target))
			}
			if f.typ == frameSnapshot {
				snapshots[key{asker, target, f.kind}]++
			}
		}
		asker.frameHook.Store(&hook)
	}
	count := func(k key) int {
		mu.Lock()
		defer mu.Unlock()
		return snapshots[k]
	}

	const rounds, needs = 10, 100
	var flood []docFrame
	for range needs {
		for _, kind := range []crdt.Kind{crdt.Shared, crdt.Private} {
			flood = append(flood, docFrame{typ: frameNeed, kind: kind, data: []byte{0}})
		}
	}
	ask := func() {
		start := time.Now()
		for range rounds {
			for _, asker := range askers {
				for _, target := range targets {
					sendFrames(t, asker, target, cs.id, flood...)
				}
			}
		}
		t.Logf("%d needs sent in %v", rounds*len(askers)*len(targets)*len(flood), time.Since(start).Round(time.Millisecond))
	}
	// settle makes sure the targets' links have done what the needs asked
	// for: once no link has a need left to answer, an edit of Ana's, which
	// each link sends after the snapshot it may be sending, reaches the
	// askers.
	marks := 0
	settle := func() {
		t.Helper()
		waitFor(t, 10*time.Second, "the targets took the needs", func() bool {
			for _, target := range targets {
				for _, asker := range askers {
					if needsPending(target, asker, cs.id) {
						return false
					}
				}
			}
			return true
		})
		marks++
		mark := fmt.Sprintf("mark%d.txt", marks)
		edit(t, cs.ana, cs.id, crdt.Shared, crdt.Edit{Op: "add", Name: mark, Text: "!"})
		waitFile(t, cs.id, mark, "!", askers...)
	}

	start := time.Now()
	ask()
	// The interviewer's needs were answered: the frames reach the targets.
	for _, target := range targets {
		for _, kind := range []crdt.Kind{crdt.Shared, crdt.Private} {
			k := key{cs.mallory, target, kind}
			waitFor(t, 10*time.Second, "Mallory has a "+string(kind)+" snapshot from "+cs.name(target), func() bool { return count(k) > 0 })
		}
	}
	settle()
	ask() // after the answers
	settle()

	mu.Lock()
	defer mu.Unlock()
	if len(leaks) > 0 {
		t.Fatalf("private-document frames reached the candidate's node from %v", leaks)
	}
	for k, n := range snapshots {
		t.Logf("%s sent %s %d %s snapshots", cs.name(k.target), cs.name(k.asker), n, k.kind)
	}
	// One snapshot of a document per snapshotWait, however many needs.
	bound := 1 + int(time.Since(start)/snapshotWait)
	for k, n := range snapshots {
		if k.asker == cs.cand && k.kind == crdt.Private {
			t.Errorf("%s sent the candidate's node %d private snapshots", cs.name(k.target), n)
		}
		if n > bound {
			t.Errorf("%s answered %d needs of %s for the %s document with %d snapshots in %v", cs.name(k.target), 2*rounds*needs, cs.name(k.asker), k.kind, n, time.Since(start).Round(time.Millisecond))
		}
	}
	cs.onlyBlamed(t, nil, "the needs")
	if v := view(t, cs.cand, cs.id, crdt.Shared); v.Notes != "" {
		t.Fatalf("the candidate's node has notes: %q", v.Notes)
	}
	if storeHolds(t, cs.cand, []byte("good start")) {
		t.Fatal("the candidate's store holds the private notes")
	}
}

// needsPending reports whether a node's link to a peer has a need to
// answer with a snapshot it may send.
func needsPending(n, to *Node, id string) bool {
	l := liveOf(n, id)
	l.mu.Lock()
	k := l.links[to.ID()]
	l.mu.Unlock()
	if k == nil {
		return false
	}
	k.mu.Lock()
	var kinds []crdt.Kind
	for kind, need := range k.needs {
		if need {
			kinds = append(kinds, kind)
		}
	}
	k.mu.Unlock()
	for _, kind := range kinds {
		if k.mayHave(kind) {
			return true
		}
	}
	return false
}
