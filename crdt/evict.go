package crdt

import (
	"fmt"
	"time"

	"github.com/automerge/automerge-go"
)

// Eviction: a node that holds changes the session's arbiter (the company
// node) refused, and edits of its own made on top of them, could never
// share those edits: every node that follows the arbiter leaves them out,
// for they depend on what it refused. The node drops the refused changes
// and all that depends on them, then types again, as one change of its
// own, what its texts said: its people's words survive, under an actor
// nobody has used, and the copies converge on what the arbiter holds.

// evict drops hashes (those the document holds) and every change that
// depends on them, and makes the texts read as before in one new change by
// actor (a fresh one: the dropped changes' sequence numbers may be known
// to peers). Only the texts of targets pass over: when files is set, the
// files that survive (a candidate may edit nothing else); else the
// question and notes too. It returns how many changes it dropped.
func (s *server) evict(id string, d *doc, hashes []string, actor string, filesOnly bool, at time.Time) (int, error) {
	all, err := d.am.Changes()
	if err != nil {
		return 0, err
	}
	dependents := map[automerge.ChangeHash][]automerge.ChangeHash{}
	present := make(map[automerge.ChangeHash]bool, len(all))
	for _, c := range all {
		present[c.Hash()] = true
		for _, dep := range c.Dependencies() {
			dependents[dep] = append(dependents[dep], c.Hash())
		}
	}
	drop := map[automerge.ChangeHash]bool{}
	var stack []automerge.ChangeHash
	for _, h := range hashes {
		ch, err := automerge.NewChangeHash(h)
		if err != nil {
			return 0, fmt.Errorf("change hash %q: %w", h, err)
		}
		if present[ch] && !drop[ch] {
			drop[ch] = true
			stack = append(stack, ch)
		}
	}
	if len(drop) == 0 {
		return 0, nil
	}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range dependents[h] {
			if !drop[c] {
				drop[c] = true
				stack = append(stack, c)
			}
		}
	}
	// The heads of what stays: kept changes no kept change depends on.
	var keep []automerge.ChangeHash
	for _, c := range all {
		h := c.Hash()
		if drop[h] {
			continue
		}
		head := true
		for _, x := range dependents[h] {
			if !drop[x] {
				head = false
				break
			}
		}
		if head {
			keep = append(keep, h)
		}
	}
	before, err := d.view()
	if err != nil {
		return 0, err
	}
	f, err := d.am.Fork(keep...)
	if err != nil {
		return 0, err
	}
	if err := f.SetActorID(actor); err != nil {
		return 0, err
	}
	nd := &doc{kind: d.kind, am: f, genesis: d.genesis}
	after, err := nd.view()
	if err != nil {
		return 0, err
	}
	var edits []Edit
	retype := func(target, was, is string) {
		if e, ok := spliceBetween(target, is, was); ok {
			edits = append(edits, e)
		}
	}
	for name, text := range after.Files {
		if was, ok := before.Files[name]; ok {
			retype("file:"+name, was, text)
		}
	}
	if !filesOnly {
		switch d.kind {
		case Shared:
			retype("question", before.Question, after.Question)
		case Private:
			retype("notes", before.Notes, after.Notes)
		}
	}
	if len(edits) > 0 {
		if _, err := nd.apply(edits, at); err != nil {
			return 0, fmt.Errorf("typing the texts again: %w", err)
		}
	}
	s.docs[id] = nd
	s.dropSyncs(id)
	return len(drop), nil
}

// spliceBetween returns the splice that makes text from read as to: what
// lies between their common start and end, in code points.
func spliceBetween(target, from, to string) (Edit, bool) {
	if from == to {
		return Edit{}, false
	}
	a, b := []rune(from), []rune(to)
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	return Edit{Op: "splice", Target: target, Pos: pre, Del: len(a) - pre - suf, Text: string(b[pre : len(b)-suf])}, true
}
