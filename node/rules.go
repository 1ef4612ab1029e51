package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/node/store"
)

// Every node checks the document data it receives against the sender's role
// and the session's state before it applies, stores or passes on any of it
// (crdt.Guard; the rules themselves are crdt.CheckChange):
//
//   - the shared document: interviewers and the company node change
//     anything it is made of (files, languages, the active file, the
//     question); the candidate changes the text of files, and only once the
//     interview started; after the end nobody changes anything: a node takes
//     only the changes the end's heads reach, and cuts its copy back to them;
//   - the private document: interviewers and the company node, never the
//     candidate (whose node is never sent it).
//
// The same holds for this node's own page: a candidate's page that edits
// the question through the page WebSocket is refused by its own node first.
// A change that breaks a rule refuses the whole message; its author is
// quarantined for the session, and the interviewers see why. Changes passed
// on by a candidate's node that are not its own, or that came after the
// end, are left out without blame: their authors' own nodes send them too.

// guardFor returns the guard for document data of kind that from sends
// (this node's own ID: its page).
func (l *live) guardFor(from peer.ID, kind crdt.Kind) *crdt.Guard {
	l.mu.Lock()
	defer l.mu.Unlock()
	role := l.role
	if from != l.n.id {
		if p, ok := l.peers[from]; ok {
			role = p.role
		} else if !l.candidates[from] {
			role = RoleInterviewer // a handover: the sender's credential was checked
		} else {
			role = RoleCandidate
		}
	}
	cands := make([]peer.ID, 0, len(l.candidates)+1)
	for id := range l.candidates {
		cands = append(cands, id)
	}
	if h := l.state.seatHolder(); h != "" {
		cands = append(cands, h)
	}
	g := guardOf(&l.state, kind, from, role, cands)
	g.Self = actorKey(l.n.actor())
	g.Refused = slices.Clone(l.arbiterRefused[kind])
	if p, ok := l.peers[from]; ok && p.role == RoleCompany {
		g.Arbiter = true
	}
	for h, carriers := range l.poison {
		if carriers[from] {
			g.Poison = append(g.Poison, h)
		}
	}
	return g
}

// guardOf makes a guard from a session's control state.
func guardOf(st *controlState, kind crdt.Kind, from peer.ID, role string, candidates []peer.ID) *crdt.Guard {
	g := &crdt.Guard{Sender: actorKey(actorOf(from)), SenderRole: crdt.RoleStaff}
	if role == RoleCandidate {
		g.SenderRole = crdt.RoleCandidate
	}
	for _, id := range candidates {
		g.Candidates = append(g.Candidates, actorKey(actorOf(id)))
	}
	g.Open = st.start != nil && st.end == nil
	if st.end != nil {
		// An end that names no heads takes nothing more at all.
		g.Final, g.End = true, st.end.Heads[string(kind)]
	}
	return g
}

// guardStored makes the guard for a stored session's document (a handover
// to a company node that is not in the session now).
func guardStored(r store.Session, st *controlState, kind crdt.Kind, from peer.ID) *crdt.Guard {
	var cands []peer.ID
	for _, a := range r.Attendance {
		if id, err := peer.Decode(a.Peer); err == nil && a.Role == RoleCandidate {
			cands = append(cands, id)
		}
	}
	if h := st.seatHolder(); h != "" {
		cands = append(cands, h)
	}
	return guardOf(st, kind, from, RoleInterviewer, cands)
}

// authorOf returns the participant an actor key names, among those this
// session knows; "" if none.
func (l *live) authorOf(key string) peer.ID {
	if key == "" {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.peers {
		if actorKey(actorOf(id)) == key {
			return id
		}
	}
	for id := range l.candidates {
		if actorKey(actorOf(id)) == key {
			return id
		}
	}
	if h := l.state.seatHolder(); h != "" && actorKey(actorOf(h)) == key {
		return h
	}
	return ""
}

// broke handles document data that broke a rule: its author (the sender,
// unless the change names another participant's node) is quarantined for
// the session, and the interviewers see why. It returns err.
func (l *live) broke(from peer.ID, err error) error {
	var rule *crdt.RuleError
	if !errors.As(err, &rule) {
		return err
	}
	culprit := from
	if a := l.authorOf(crdt.ActorKey(rule.Actor)); a != "" {
		culprit = a
	}
	if culprit == l.n.id {
		return err // this node's own page: told, nothing left the node
	}
	what := rule.What
	if culprit != from {
		what = fmt.Sprintf("%s (passed on by %s)", what, l.nameOf(from))
	}
	l.refuse(culprit, "", "sent a change that "+what+"; it was refused")
	l.quarantine(culprit, from, "sent a change that "+rule.What, false)
	return err
}

// nameOf returns a peer's name as this session knows it.
func (l *live) nameOf(id peer.ID) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.peers[id]; ok {
		return p.name
	}
	return id.ShortString()
}

// settleDocs cuts the session's documents back to the end's heads, once
// the end is known (and again whenever data comes after it).
func (l *live) settleDocs() {
	l.mu.Lock()
	docs := make([]*sessionDoc, 0, len(l.docs))
	for _, d := range l.docs {
		docs = append(docs, d)
	}
	l.mu.Unlock()
	for _, d := range docs {
		g := l.guardFor(l.n.id, d.kind)
		if !g.Final {
			return
		}
		l.n.settle(d, g)
	}
}

// settle cuts a document back to g's end heads, and stores it whole.
func (n *Node) settle(d *sessionDoc, g *crdt.Guard) {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	if n.ensureLoaded(d) != nil {
		return
	}
	settled, err := n.worker.Settle(d.id, g)
	if err != nil {
		n.workerFailed(err)
		return
	}
	if settled {
		n.settledLocked(d)
	}
}

// settledLocked stores a document the worker cut back to the end's heads:
// whole, as its snapshot, in place of its increments. Call with n.docMu
// held.
func (n *Node) settledLocked(d *sessionDoc) {
	n.log.Info("the document was cut back to the end's heads", "doc", d.id)
	n.snapshotLocked(d)
}
