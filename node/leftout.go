package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/node/store"
)

// The company node is the session's arbiter of document data. Each node
// judges what it takes alone (rules.go), and an attacker can make honest
// nodes hold data the others refuse: a modified interviewer's node sends
// a valid change to the candidate's node alone (the others never take
// another's change from a candidate), or two versions of one change to two
// nodes, or bytes that crash some workers and not others. Every edit made
// on top of such data depends on it, and so would reach nobody who
// refused it, for the rest of the session.
//
// So the company node tells its peers which changes it left out for good
// (a left-out frame: after leftOutGrace, those it still lacks: another's
// change a candidate passed on may come from its author meanwhile), the
// sender and the others alike (a node it quarantined, whose frames it does
// not read, may hold them too), and a node that holds them, if honest,
// drops them and all that depends on them, then types
// its texts again as one change of its own (crdt evict.go): its people's
// words survive, and its copy converges on the company node's. It leaves
// the dropped changes out from then on, unless the company node itself
// sends them (it took them after all, from their author). A left-out frame
// from any other peer is ignored: no one else can make a node drop data.

// leftOutGrace is how long the company node waits before it tells a sender
// that changes it left out are out for good. Meanwhile it asks its staff
// peers for everything it lacks: another's change a candidate passed on
// normally comes from its author within milliseconds.
const leftOutGrace = 5 * time.Second

// maxLeftOut bounds the hashes of one left-out frame (and so its size, well
// under maxRecordsFrame), and the changes a session keeps refused.
const maxLeftOut = 512

// leftOutNote is a left-out frame's body.
type leftOutNote struct {
	Hashes []string `json:"hashes"`
}

// leftOut notes that changes a peer sent were left out for a reason that
// lasts (it may be called with the node's document lock held); on the
// company node, its peers are told those it still lacks after
// leftOutGrace.
func (l *live) leftOut(from peer.ID, kind crdt.Kind, hashes []string) {
	if l.role != RoleCompany || len(hashes) == 0 || from == l.n.id {
		return
	}
	l.mu.Lock()
	if l.state.end != nil {
		// The end's heads say what the documents hold (Guard.End).
		l.mu.Unlock()
		return
	}
	if l.leftPending == nil {
		l.leftPending = map[crdt.Kind][]string{}
	}
	pending, waiting := l.leftPending[kind]
	for _, h := range hashes {
		if len(pending) < maxLeftOut && !slices.Contains(pending, h) {
			pending = append(pending, h)
		}
	}
	l.leftPending[kind] = pending
	var staff []peer.ID
	for id, p := range l.peers {
		if id != from && (p.role == RoleInterviewer || p.role == RoleCompany) {
			staff = append(staff, id)
		}
	}
	l.mu.Unlock()
	if waiting {
		return
	}
	// Whatever a staff node holds of it comes now. (Not here: the caller
	// may hold the node's document lock.)
	if !l.enter() {
		return
	}
	go func() {
		defer l.wg.Done()
		if d, err := l.doc(kind); err == nil {
			for _, id := range staff {
				l.n.syncReset(d, id)
				l.pokeLink(id)
			}
		}
		select {
		case <-time.After(leftOutGrace):
			l.tellLeftOut(kind)
		case <-l.ctx.Done():
		}
	}()
}

// tellLeftOut sends the peers a left-out frame for the changes of kind
// this node left out and still lacks.
func (l *live) tellLeftOut(kind crdt.Kind) {
	l.mu.Lock()
	hashes := l.leftPending[kind]
	delete(l.leftPending, kind)
	peers := make([]peer.ID, 0, len(l.links))
	for id := range l.links {
		peers = append(peers, id)
	}
	l.mu.Unlock()
	d, err := l.doc(kind)
	if err != nil {
		return
	}
	n := l.n
	n.docMu.Lock()
	var lacking []string
	if err = n.ensureLoaded(d); err == nil {
		lacking, err = n.worker.Lacking(d.id, hashes)
	}
	n.docMu.Unlock()
	if err != nil || len(lacking) == 0 {
		return
	}
	b, _ := json.Marshal(leftOutNote{Hashes: lacking})
	l.log.Info("told the peers which changes this node left out for good", "doc", kind, "changes", len(lacking))
	for _, id := range peers {
		l.sendTo(id, docFrame{typ: frameLeftOut, kind: kind, data: b})
	}
}

// decodeLeftOut reads a left-out frame's body.
func decodeLeftOut(b []byte) ([]string, error) {
	var note leftOutNote
	if err := decodeStrict(b, &note); err != nil {
		return nil, err
	}
	if len(note.Hashes) == 0 || len(note.Hashes) > maxLeftOut {
		return nil, fmt.Errorf("%d changes named, want 1 to %d", len(note.Hashes), maxLeftOut)
	}
	for _, h := range note.Hashes {
		if _, err := crdt.ParseChangeHash(h); err != nil {
			return nil, fmt.Errorf("change hash %q: %v", h, err)
		}
	}
	return note.Hashes, nil
}

// isArbiter reports whether a peer is the session's company node.
func (l *live) isArbiter(id peer.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.peers[id]
	return ok && p.role == RoleCompany
}

// evict drops the changes the company node left out, and what this node
// made on them, and types the texts again (see above).
func (l *live) evict(from peer.ID, d *sessionDoc, hashes []string) {
	l.mu.Lock()
	if l.state.end != nil {
		l.mu.Unlock()
		return // the end's heads say what the documents hold
	}
	if l.arbiterRefused == nil {
		l.arbiterRefused = map[crdt.Kind][]string{}
	}
	for _, h := range hashes {
		if refused := l.arbiterRefused[d.kind]; !slices.Contains(refused, h) && len(refused) < maxLeftOut {
			l.arbiterRefused[d.kind] = append(refused, h)
		}
	}
	l.mu.Unlock()
	n := l.n
	n.docMu.Lock()
	if err := n.ensureLoaded(d); err != nil {
		n.docMu.Unlock()
		return
	}
	actor, before := newActor(n.id), d.actor
	dropped, err := n.worker.Evict(d.id, hashes, actor, l.role == RoleCandidate, n.now())
	if err == nil && dropped > 0 {
		d.actor = actor
		// Stored as the document's base: it is never rebuilt from the
		// increments that held what was dropped (a recovery after a
		// worker death would bring it all back, and lose the texts typed
		// again).
		var saved []byte
		if saved, err = n.worker.Check(d.id); err == nil {
			err = n.db.PutBase(d.session, string(d.kind), store.Snapshot{Bytes: saved, Upto: d.upto, Good: true})
			d.pending = 0
		}
	}
	if err != nil {
		if dropped > 0 {
			// Dropped in the worker but not stored: back to what is
			// stored, so that the two agree (the next word of the company
			// node tries again). A dead worker's recovery reloads it.
			d.actor = before
			if !errors.Is(err, crdt.ErrWorkerDied) {
				if lerr := n.loadDocLocked(d); lerr != nil {
					n.log.Error("reloading a document", "doc", d.id, "err", lerr)
				}
			}
		}
		n.workerFailed(err)
		n.docMu.Unlock()
		l.log.Error("dropping the changes the company node left out", "doc", d.kind, "err", err)
		return
	}
	n.docMu.Unlock()
	if dropped == 0 {
		return
	}
	l.log.Warn("dropped changes the company node left out, and the edits made on them; their texts were typed again",
		"doc", d.kind, "by", from, "named", len(hashes), "dropped", dropped)
	l.mu.Lock()
	l.rebuilds.n++
	l.rebuilds.kind = d.kind
	peers := make([]peer.ID, 0, len(l.links))
	for id := range l.links {
		peers = append(peers, id)
	}
	l.mu.Unlock()
	// The peers' sync states think this node holds what it dropped.
	for _, id := range peers {
		n.syncReset(d, id)
	}
	l.kickSync()
	l.docChanged(d.kind, from)
}

// rebuild counts the evictions of a session's documents, for its pages:
// a page's copy holds what was dropped, so it starts again from the
// node's.
type rebuild struct {
	n    int
	kind crdt.Kind
}

// Rebuilt counts the times this node rebuilt a document of the session
// from what the company node holds, and names the last one's document: a
// page that saw the count grow reloads it.
func (f *Follower) Rebuilt() (int, crdt.Kind) {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	return f.l.rebuilds.n, f.l.rebuilds.kind
}
