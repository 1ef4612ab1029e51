package node

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/node/store"
)

// A quarantine is this node refusing a participant's document data for a
// while: the participant sent data that crashed this node's Automerge
// worker, or a change that breaks the session's rules (rules.go). It is
// never silent and never permanent without a way out:
//
//   - blame follows the author: a change relayed by an honest node names
//     its author by its actor, and the author is quarantined, not the
//     carrier (a candidate's node cannot pass on others' changes, so it
//     cannot put its data in someone else's name); data whose actors name
//     no one known blames nobody, and its changes are refused by hash from
//     anyone (blameData);
//   - it is logged at WARN with author, carrier and reason, counted, and
//     listed in the session for the interviewers;
//   - the quarantined participant's node is told, on the topic, and its room
//     says that the others refuse its data and why;
//   - an interviewer can lift it (LiftQuarantine); a quarantine for a crash
//     lifts itself once the node rebuilt its documents without the poison
//     (after quarantineCooldown), once: a second crash by the same
//     participant stays until an interviewer lifts it.

// quarantineCooldown is how long a crash quarantine lasts before the node
// takes the participant's data again, the poison being gone.
const quarantineCooldown = 30 * time.Second

// Quarantine is a participant whose document data this node refuses.
type Quarantine struct {
	Peer    string    `json:"peer"`
	Name    string    `json:"name"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	Carrier string    `json:"carrier,omitempty"` // the peer that passed the data on, if not its author
	// Until is when it lifts itself (a first crash); zero: until an
	// interviewer lifts it.
	Until time.Time `json:"until,omitzero"`
}

// quarantineNotice is the body of a presence envelope ("quarantine" or
// "lifted"): a node tells the session whose data it refuses, so that the
// participant's own room can say so.
type quarantineNotice struct {
	Peer   string `json:"peer"`
	Reason string `json:"reason,omitempty"`
}

// RefusedBy is a node that refuses this node's document data.
type RefusedBy struct {
	Peer   string    `json:"peer"`
	Name   string    `json:"name"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// quarantine refuses a participant's document data from now on. carrier is
// the peer that passed the data on ("" or the author itself when it sent it
// directly). crash says the data crashed the worker (the quarantine may
// lift itself) rather than broke a rule.
func (l *live) quarantine(author, carrier peer.ID, reason string, crash bool) {
	l.mu.Lock()
	if _, ok := l.quar[author]; ok || author == l.n.id {
		l.mu.Unlock()
		return
	}
	name := author.ShortString()
	if p, ok := l.peers[author]; ok {
		name = p.name
	}
	q := Quarantine{Peer: author.String(), Name: name, Reason: reason, At: l.n.now().UTC()}
	if carrier != "" && carrier != author {
		q.Carrier = carrier.String()
	}
	if crash && !l.crashedBefore[author] {
		q.Until = q.At.Add(quarantineCooldown)
	}
	if crash {
		l.crashedBefore[author] = true
	}
	l.quar[author] = q
	l.refusalCount++
	l.notify()
	l.mu.Unlock()
	l.log.Warn("quarantined a participant's document data", "author", author, "name", name, "carrier", carrier, "reason", reason, "until", q.Until)
	l.wg.Go(func() {
		if err := l.publish(msgPresence, presence{State: "quarantine", Quarantine: &quarantineNotice{Peer: author.String(), Reason: reason}}); err != nil && l.ctx.Err() == nil {
			l.log.Debug("quarantine notice not sent", "err", err)
		}
	})
}

// quarantined returns why a peer is quarantined, or "".
func (l *live) quarantined(id peer.ID) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.quar[id].Reason
}

// quarantines lists the quarantined participants.
func (l *live) quarantines() []Quarantine {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Quarantine, 0, len(l.quar))
	for _, q := range l.quar {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b Quarantine) int { return a.At.Compare(b.At) })
	return out
}

// lift takes a participant's document data again, and starts the exchange
// with it afresh (its stream is reopened, so that it sends again what this
// node refused).
func (l *live) lift(id peer.ID, why string) bool {
	l.mu.Lock()
	_, ok := l.quar[id]
	delete(l.quar, id)
	if ok {
		l.notify()
	}
	docs := make([]*sessionDoc, 0, len(l.docs))
	for _, d := range l.docs {
		docs = append(docs, d)
	}
	l.mu.Unlock()
	if !ok {
		return false
	}
	l.log.Warn("lifted a quarantine", "peer", id, "why", why)
	for _, d := range docs {
		l.n.syncReset(d, id)
	}
	l.closeLink(id)
	if l.isAdmitted(id) {
		l.openLink(id)
	}
	// What others passed on of the author's while she was refused was
	// left out: a round with everyone brings it now.
	l.kickSync()
	l.wg.Go(func() {
		l.publish(msgPresence, presence{State: "lifted", Quarantine: &quarantineNotice{Peer: id.String()}})
	})
	return true
}

// liftExpired lifts the crash quarantines whose time is up.
func (l *live) liftExpired() {
	now := l.n.now()
	l.mu.Lock()
	var due []peer.ID
	for id, q := range l.quar {
		if !q.Until.IsZero() && !now.Before(q.Until) {
			due = append(due, id)
		}
	}
	l.mu.Unlock()
	for _, id := range due {
		l.lift(id, "the documents were rebuilt without its data; taking it again")
	}
}

// noticeQuarantine records what another node says about whose data it
// refuses: this node's own room shows it when it is about this node.
func (l *live) noticeQuarantine(from peer.ID, state string, q *quarantineNotice) {
	if q == nil || len(q.Reason) > 500 {
		return
	}
	about, err := peer.Decode(q.Peer)
	if err != nil || about != l.n.id {
		return
	}
	l.mu.Lock()
	if state == "lifted" {
		delete(l.refusers, from)
	} else {
		name := from.ShortString()
		if p, ok := l.peers[from]; ok {
			name = p.name
		}
		l.refusers[from] = RefusedBy{Peer: from.String(), Name: name, Reason: q.Reason, At: l.n.now().UTC()}
	}
	l.notify()
	docs := slices.Collect(maps.Values(l.docs))
	l.mu.Unlock()
	if state == "lifted" {
		// The lifter starts the exchange afresh; so does this node, or
		// Automerge would not send again what it sent while refused.
		for _, d := range docs {
			l.n.syncReset(d, from)
		}
		l.pokeLink(from)
	}
}

// refusedByList lists the nodes that refuse this node's document data.
func (l *live) refusedByList() []RefusedBy {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]RefusedBy, 0, len(l.refusers))
	for _, r := range l.refusers {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b RefusedBy) int { return a.At.Compare(b.At) })
	return out
}

// blameOf returns whom a stored increment that crashed the worker is blamed
// on (see blameData).
func (l *live) blameOf(inc store.Increment) peer.ID {
	from, _ := peer.Decode(inc.From)
	return l.blameData(from, inc.Bytes)
}

// blameData returns whom document data from a peer that crashed the worker
// is blamed on: the participant its changes' actors name, when they all
// name one this session knows. When they name nobody known, or several,
// the peer that sent it may only have passed it on (an honest node passes
// on what its worker took): nobody is blamed, and its changes are refused
// from that peer from now on ("" is returned). Another peer's copy is tried
// once more: an innocent change that came beside the one that crashed the
// worker, taken by the others, would otherwise split this node from them
// for good (seen with 3000 crafted inputs); a change that crashes the
// worker again is then refused from that peer too, so each peer can cost a
// node at most one crash per change.
// Data that does not decode as changes is its sender's: no honest node
// passes on such bytes.
func (l *live) blameData(from peer.ID, data []byte) peer.ID {
	var chs []*crdt.Change
	if c, err := crdt.DecodeChanges(data); err == nil {
		chs = c
	} else if m, err := crdt.DecodeSyncMessage(data); err == nil {
		chs = m.Changes
	}
	if len(chs) == 0 {
		return from
	}
	var author peer.ID
	for _, c := range chs {
		a := l.authorOf(crdt.ActorKey(c.Actor))
		if a == "" || author != "" && a != author {
			l.poisonChanges(from, chs)
			l.log.Warn("document data that crashed the worker names no one author; its changes are refused from the peer that sent it from now on, and it is not blamed (it may have passed it on)",
				"carrier", from, "changes", len(chs))
			return ""
		}
		author = a
	}
	return author
}

// maxPoison bounds the changes a session refuses by hash.
const maxPoison = 4096

// poisonChanges refuses changes from a peer, from now on.
func (l *live) poisonChanges(from peer.ID, chs []*crdt.Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range chs {
		h := c.Hash.String()
		if l.poison[h] == nil {
			if len(l.poison) >= maxPoison {
				continue
			}
			l.poison[h] = map[peer.ID]bool{}
		}
		l.poison[h][from] = true
	}
}

// LiftQuarantine takes a quarantined participant's document data again:
// interviewers only.
func (n *Node) LiftQuarantine(ctx context.Context, id, who string) (Session, error) {
	l, err := n.lookupLive(id)
	if err != nil {
		return Session{}, err
	}
	if l.role == RoleCandidate {
		return Session{}, fmt.Errorf("only an interviewer can lift a quarantine: %w", ErrNotInterviewer)
	}
	p, err := peer.Decode(who)
	if err != nil {
		return Session{}, fmt.Errorf("%q is not a peer ID: %v", who, err)
	}
	if !l.lift(p, "an interviewer lifted it") {
		return Session{}, fmt.Errorf("this node does not refuse %s's document data: %w", p.ShortString(), ErrNotFound)
	}
	return n.Session(ctx, l.inv.SessionID)
}
