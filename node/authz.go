package node

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/invite"
)

// Who may do what in a session is decided by every honest node for what it
// receives, never by the sender alone (a candidate controls their own
// machine). This file holds the parts that follow a peer through the
// session: its role, which a credential proves and a revocation withdraws;
// and the refusals, which are logged, counted and shown to the interviewers.
//
// Revocations: the company node judges with its own list (from its store);
// every other node with the newest signed list it has seen, which travels in
// admission handshakes, in every presence heartbeat, on the document streams
// and, when the company node revokes someone, at once on the topic of every
// live session. A node that adopts a newer list re-judges the peers it
// admitted: a member whose credential it revokes is dropped at once (no
// private document, no control, no recorder claim) and refused from then on.

// revoked reports whether a credential is revoked, by the link or by the
// company's latest list. Call with l.mu held.
func (l *live) revokedLocked(id invite.CredentialID) bool {
	if l.inv.IsRevoked(id) {
		return true
	}
	return l.revocations != nil && l.revocations.Contains(id)
}

// revoked is revokedLocked, taking the lock.
func (l *live) revoked(id invite.CredentialID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.revokedLocked(id)
}

// roleOf decides a peer's role from its intro: a valid company signature
// makes the company node, a valid credential an interviewer, no credential a
// candidate. A credential that does not hold (expired, revoked, another
// company's, another peer's) is an error: such a peer is refused, not let in
// as the candidate, where it would take the real candidate's seat.
func (l *live) roleOf(id peer.ID, in intro, transcript []byte) (string, *invite.Credential, error) {
	if in.CompanySig != nil {
		if !verifyCompany(l.inv.CompanyKey, transcript, id, in.CompanySig) {
			return "", nil, fmt.Errorf("bad company signature")
		}
		return RoleCompany, nil, nil
	}
	if in.Credential == "" {
		return RoleCandidate, nil, nil
	}
	c, err := invite.ParseCredential(in.Credential)
	if err == nil {
		l.mu.Lock()
		err = c.Check(invite.CredentialCheck{Company: l.inv.CompanyKey, Peer: id, Now: l.n.now(), Revoked: l.revokedLocked})
		l.mu.Unlock()
	}
	if err != nil {
		return "", nil, fmt.Errorf("team credential not accepted: %w", err)
	}
	if !l.inv.Names(c.ID) {
		return "", nil, fmt.Errorf("%s is on the team, but this interview names its interviewers and not them: %w", c.Name, ErrNotNamed)
	}
	return RoleInterviewer, c, nil
}

// ErrNotNamed is returned for a team member a session does not name, when it
// names its interviewers.
var ErrNotNamed = errors.New("not one of the interviewers named")

// mergeRevocations adopts the company's revocation list if it is newer than
// the one this node judges with, and re-judges the peers it admitted.
func (l *live) mergeRevocations(tok string) {
	if tok == "" || l.role == RoleCompany {
		return // the company node judges with its own list
	}
	r, err := invite.ParseRevocations(tok, l.inv.CompanyKey)
	if err != nil {
		l.log.Info("dropped a revocation list", "err", err)
		return
	}
	l.adoptRevocations(r, tok)
}

// adoptRevocations judges with r from now on, if it is newer.
func (l *live) adoptRevocations(r *invite.Revocations, tok string) {
	l.mu.Lock()
	if l.revocations != nil && r.Seq <= l.revocations.Seq {
		l.mu.Unlock()
		return
	}
	l.revocations, l.revToken = r, tok
	l.stateVer++
	l.notify()
	l.mu.Unlock()
	l.rejudge()
}

// rejudge drops the admitted interviewers whose credentials are revoked now,
// and leaves the session if this node's own credential is.
func (l *live) rejudge() {
	l.mu.Lock()
	var gone []*participant
	for id, p := range l.peers {
		if p.role == RoleInterviewer && l.revokedLocked(p.credID) {
			delete(l.peers, id)
			l.revokedEmails[strings.ToLower(p.email)] = true
			gone = append(gone, p)
		}
	}
	self := false
	if l.role == RoleInterviewer && l.refused == nil {
		if c, err := invite.ParseCredential(l.cred); err == nil && l.revokedLocked(c.ID) {
			l.refused = &RefusedError{Code: refuseRevoked, Reason: "the company revoked your team credential: you are no longer one of its interviewers"}
			self = true
		}
	}
	if len(gone) > 0 || self {
		l.notify()
	}
	l.mu.Unlock()
	for _, p := range gone {
		l.refuse(p.id, p.name, "their team credential was revoked; they were dropped from the session")
		l.closeLink(p.id)
		l.dropPeerMedia(p.id)
		l.n.p2p.host.ConnManager().Unprotect(p.id, l.tag)
		l.recordAttendance(p, false)
	}
	if self {
		l.n.turnedAway(l)
	}
}

// learnEmail takes an interviewer's whole credential, sent on its document
// stream, for its email: the same credential it was admitted with.
func (l *live) learnEmail(from peer.ID, token string) {
	c, err := invite.ParseCredential(token)
	if err != nil || c.Public() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.peers[from]; p != nil && p.role == RoleInterviewer && p.credID == c.ID && c.Peer == from && l.role != RoleCandidate {
		p.email = c.Email
	}
}

// revokedEmail reports whether a member this session dropped for a
// revocation had the email: their recorder claim no longer counts.
func (l *live) revokedEmail(email string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.revokedEmails[strings.ToLower(email)]
}

// spreadRevocations, on the company node, hands its current revocation list
// to every live session: judged with at once, and sent to every participant
// on the topic.
func (n *Node) spreadRevocations() {
	if n.company == nil {
		return
	}
	r, tok, err := n.Revocations()
	if err != nil {
		n.log.Error("signing the revocation list", "err", err)
		return
	}
	n.mu.Lock()
	var lives []*live
	for _, l := range n.lives {
		lives = append(lives, l)
	}
	n.mu.Unlock()
	for _, l := range lives {
		if !l.inv.CompanyKey.Equal(n.companyPublic()) {
			continue
		}
		l.adoptRevocations(r, tok)
		if err := l.publish(msgRevocations, revocationsMsg{Token: tok}); err != nil && l.ctx.Err() == nil {
			l.log.Debug("revocation list not sent", "err", err)
		}
		l.kickSync() // the document streams carry it too
	}
}

// revocationsMsg is the body of a revocations envelope.
type revocationsMsg struct {
	Token string `json:"token"`
}

// Refusal is something this node refused from a participant: a record, a
// change to a document, a claim, the peer itself. Interviewers see them in
// the room.
type Refusal struct {
	Peer  string    `json:"peer"`
	Name  string    `json:"name"`
	What  string    `json:"what"` // what was refused and why, in words
	At    time.Time `json:"at"`   // the last time
	Count int       `json:"count"`
}

// maxRefusals bounds the refusals a session keeps (the oldest go).
const maxRefusals = 32

// refuse records a refusal: logged, counted, shown to the interviewers.
// name may be empty: the peer's name as this node knows it is used.
func (l *live) refuse(id peer.ID, name, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == "" {
		name = id.ShortString()
		if p, ok := l.peers[id]; ok {
			name = p.name
		}
	}
	now := l.n.now().UTC()
	l.refusalCount++
	if i := slices.IndexFunc(l.refusals, func(r Refusal) bool { return r.Peer == id.String() && r.What == what }); i >= 0 {
		l.refusals[i].Count++
		l.refusals[i].At = now
	} else {
		if len(l.refusals) >= maxRefusals {
			l.refusals = slices.Delete(l.refusals, 0, 1)
		}
		l.refusals = append(l.refusals, Refusal{Peer: id.String(), Name: name, What: what, At: now, Count: 1})
	}
	l.log.Warn("refused", "peer", id, "name", name, "what", what)
	l.notify()
}

// refusalsList returns the refusals, newest last, and how many in all.
func (l *live) refusalsList() ([]Refusal, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.refusals), l.refusalCount
}
