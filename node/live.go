package node

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/invite"
	"parley/node/store"
)

// Roles in a session.
const (
	RoleInterviewer = "interviewer"
	RoleCandidate   = "candidate"
	// RoleCompany is the company node: a silent member that archives the
	// session and is never listed among the participants.
	RoleCompany = "company"
)

// live is a session this node takes part in: its topic, the peers it
// admitted and the control state they share.
type live struct {
	n     *Node
	inv   *invite.Invite
	keys  invite.SessionKeys
	tag   string
	role  string
	name  string
	since time.Time
	cred  string // this node's credential token, for an interviewer
	log   *slog.Logger

	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	events *pubsub.TopicEventHandler
	replay replayGuard
	seq    atomic.Uint64

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopMu   sync.Mutex
	stopping bool // set by stop: enter refuses new work

	mu sync.Mutex
	// Who is in, and what the session's signed records say.
	peers      map[peer.ID]*participant // admitted, present
	candidates map[peer.ID]bool         // every node admitted as the candidate
	pending    map[peer.ID]bool         // handshakes in flight
	backoff    map[peer.ID]time.Time    // no new handshake before
	state      controlState
	stateVer   int           // counts changes of state and revocations, for the document streams
	refused    error         // why this node is out of the session
	admitted   bool          // some peer admitted this node
	seated     bool          // this candidate node held the seat
	gateOpen   bool          // the start reached this node
	changed    chan struct{} // closed and replaced on every change
	notifies   int           // counts the changes: of the documents (docVersions) and of the rest
	emptySince time.Time     // when the last participant left
	// Authorization (authz.go): the revocations judged with, and what was
	// refused.
	revocations   *invite.Revocations
	revToken      string          // revocations, signed, to pass on
	revokedEmails map[string]bool // members dropped for a revocation
	refusals      []Refusal
	refusalCount  int
	// The documents (docs.go, docsync.go, rules.go).
	docs          map[crdt.Kind]*sessionDoc
	links         map[peer.ID]*link           // document exchange, by peer
	quar          map[peer.ID]Quarantine      // participants whose document data is refused (quarantine.go)
	refusers      map[peer.ID]RefusedBy       // nodes that refuse this node's document data
	crashedBefore map[peer.ID]bool            // participants whose data crashed the worker once
	poison        map[string]map[peer.ID]bool // changes (by hash) whose data crashed the worker, author unknown: the peers it is refused from
	docVersions   map[crdt.Kind]int           // counts each document's changes, for followers
	waitSnap      map[crdt.Kind]time.Time     // snapshots asked for, since
	gotContent    bool                        // shared content came from a peer
	arriving      map[crdt.Kind]*docArrival   // documents being loaded, for the page (arriving.go)
	feeds         map[string]*pageFeed        // changes on their way to followers that take them, by follower (pagefeed.go)
	// Arbitration (leftout.go): what the company node left out.
	arbiterRefused map[crdt.Kind][]string // changes it refused, dropped here
	leftPending    map[crdt.Kind][]string // on the company node: changes left out, to tell the peers
	rebuilds       rebuild                // the documents rebuilt so, for pages
	// Presence and the call (media.go).
	cursors     map[peer.ID]Cursor     // where the participants' carets are
	call        *call                  // audio and video, once started
	mediaStates map[peer.ID]MediaState // microphones and cameras, on or off
	// Running code (run.go, runboard.go): runs, runners, what this node runs.
	runs *runBoard
	// Counters.
	dropped   atomic.Int64 // envelopes dropped: strangers, bad seals, replays
	sentBytes atomic.Int64 // document bytes sent to peers (frames, about)
	skipped   atomic.Int64 // changes left out without blame (after the end; relayed by a candidate)
}

// participant is an admitted peer.
type participant struct {
	id     peer.ID
	role   string
	name   string
	since  time.Time
	credID invite.CredentialID
	email  string    // an interviewer's, from their credential
	heard  time.Time // the last envelope from it, or its admission
}

// Participant is someone present in a session.
type Participant struct {
	Name  string    `json:"name"`
	Role  string    `json:"role"`
	Peer  string    `json:"peer"`
	Since time.Time `json:"since"`
}

// notify wakes whoever waits for a change. Call with l.mu held.
func (l *live) notify() {
	l.notifies++
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitChange returns a channel closed at the next change.
func (l *live) waitChange() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// isAdmitted reports whether id may publish on the topic.
func (l *live) isAdmitted(id peer.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.peers[id]
	return ok
}

// mayReceiveContent is the lobby gate: whether the session's content (the
// shared document of the editor) may go to a peer. Interviewers and the
// company node may always have it, so that interviewers can prepare the
// question before the start; the candidate only once the interview started,
// and only the node holding the seat. The document travels to a peer only
// over streams that ask this first, and its broadcasts are sealed with a
// content key handed out under the same rule; nothing derived from the link
// opens them.
func (l *live) mayReceiveContent(id peer.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.peers[id]
	switch {
	case !ok || l.state.end != nil && p.role == RoleCandidate:
		return false
	case p.role == RoleInterviewer || p.role == RoleCompany:
		return true
	}
	return l.state.start != nil && l.state.seatHolder() == id
}

// participants lists who is present, this node included, the company node
// never.
func (l *live) participants() []Participant {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Participant
	if l.role != RoleCompany && l.refused == nil {
		out = append(out, Participant{Name: l.name, Role: l.role, Peer: l.n.id.String(), Since: l.since})
	}
	for _, p := range l.peers {
		if p.role != RoleCompany {
			out = append(out, Participant{Name: p.name, Role: p.role, Peer: p.id.String(), Since: p.since})
		}
	}
	slices.SortFunc(out, func(a, b Participant) int { return a.Since.Compare(b.Since) })
	return out
}

// run starts the session's loops.
func (l *live) run() {
	l.wg.Go(l.readLoop)
	l.wg.Go(l.eventLoop)
	l.wg.Go(l.discoverLoop)
	l.wg.Go(l.heartbeatLoop)
}

// stop leaves the topic and waits for the loops.
func (l *live) stop() {
	l.stopMu.Lock()
	l.stopping = true
	l.stopMu.Unlock()
	l.cancel()
	l.sub.Cancel()
	l.events.Cancel()
	l.wg.Wait()
	l.topic.Close()
	l.n.p2p.ps.UnregisterTopicValidator(l.keys.Topic)
}

// enter counts work done for l on a goroutine l did not start (a stream
// handler), so that stop waits for it, and the work may start goroutines of
// l's own; it reports false once l stops. Call l.wg.Done when the work ends.
func (l *live) enter() bool {
	l.stopMu.Lock()
	defer l.stopMu.Unlock()
	if l.stopping {
		return false
	}
	l.wg.Add(1)
	return true
}

// validate is the topic validator: it drops envelopes from peers this node
// has not admitted, envelopes that do not open with the session key, and
// replays. What passes is decoded once, into ValidatorData.
func (l *live) validate(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	author := msg.GetFrom()
	l.log.Debug("validate", "from", author, "via", msg.ReceivedFrom)
	if author == l.n.id {
		return pubsub.ValidationAccept
	}
	if !l.isAdmitted(author) {
		l.dropped.Add(1)
		l.log.Debug("dropped an envelope from a peer not admitted", "from", author)
		return pubsub.ValidationIgnore
	}
	e, err := openEnvelope(&l.keys.Envelope, l.keys.Topic, author, msg.GetData())
	if err != nil {
		l.dropped.Add(1)
		l.log.Info("dropped an envelope", "from", author, "err", err)
		return pubsub.ValidationReject
	}
	if !l.replay.fresh(author, e.seq) {
		l.dropped.Add(1)
		l.log.Info("dropped a replayed envelope", "from", author, "seq", e.seq)
		return pubsub.ValidationIgnore
	}
	msg.ValidatorData = e
	return pubsub.ValidationAccept
}

// publish seals and publishes a message on the topic.
func (l *live) publish(typ msgType, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	data := sealEnvelope(&l.keys.Envelope, l.keys.Topic, l.n.id, envelope{typ: typ, seq: l.seq.Add(1), body: body})
	return l.topic.Publish(l.ctx, data)
}

// presence is the body of a presence envelope. A node sends "here" when
// admitted and then every heartbeatEvery with its control records, so that
// whoever missed a record (pubsub does not resend to peers that arrive late)
// has it within a heartbeat; "left" when it leaves.
type presence struct {
	State   string         `json:"state"` // "here", "left", "cursor", "media", "quarantine" or "lifted"
	Records []signedRecord `json:"records,omitempty"`
	// Revocations is, with "here", the company's latest revocation list
	// this node knows, signed.
	Revocations string       `json:"revocations,omitempty"`
	Runner      *runnerOffer `json:"runner,omitempty"` // here: what this node runs, if it is a runner
	Cursor      *Cursor      `json:"cursor,omitempty"`
	Media       *MediaState  `json:"media,omitempty"`
	// Quarantine is, with "quarantine" and "lifted", whose document data
	// the sender refuses now, or again takes.
	Quarantine *quarantineNotice `json:"quarantine,omitempty"`
}

// Cursor is where a participant's caret and selection are, in UTF-16 code
// units of a file's text, as the pages' editors count them (Anchor == Head:
// no selection). Nodes pass carets on as they are: converting them would
// read the file's whole text on every move.
type Cursor struct {
	File   string `json:"file"`
	Anchor int    `json:"anchor"`
	Head   int    `json:"head"`
}

// valid reports whether a cursor from a peer is sane.
func (c *Cursor) valid() bool {
	return c != nil && len(c.File) <= 256 && c.Anchor >= 0 && c.Head >= 0 && c.Anchor <= 1<<24 && c.Head <= 1<<24
}

const heartbeatEvery = 5 * time.Second

// silentFor is how long a peer this node has no connection to may send
// nothing before it counts as gone. A departure is normally seen at once,
// from the peer's "left" or from pubsub's leave event; this catches a node
// that crashed, lost its network, or whose goodbye and leave were both lost.
// A peer still connected is never dropped so: it may only be slow.
const silentFor = 3 * heartbeatEvery

// heartbeatLoop sends presence with the control records.
func (l *live) heartbeatLoop() {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case now := <-check.C:
			l.dropSilent(now)
			continue
		case <-t.C:
		}
		l.mu.Lock()
		alone := l.role == RoleCompany && l.presentLocked() == 0
		l.mu.Unlock()
		if !alone {
			l.sendHere()
		}
		l.liftExpired()
	}
}

// heardFrom notes that an envelope came from a peer.
func (l *live) heardFrom(id peer.ID) {
	l.mu.Lock()
	if p := l.peers[id]; p != nil {
		p.heard = time.Now()
	}
	l.mu.Unlock()
}

// dropSilent removes the peers that sent nothing for silentFor and to which
// this node has no connection.
func (l *live) dropSilent(now time.Time) {
	var gone []peer.ID
	l.mu.Lock()
	for id, p := range l.peers {
		if now.Sub(p.heard) > silentFor {
			gone = append(gone, id)
		}
	}
	l.mu.Unlock()
	for _, id := range gone {
		if c := l.n.p2p.host.Network().Connectedness(id); c == network.Connected || c == network.Limited {
			continue
		}
		l.log.Info("no word from a peer, and no connection to it: it counts as gone", "peer", id)
		l.removePeer(id)
	}
}

// sendHere publishes this node's presence and records.
func (l *live) sendHere() {
	l.mu.Lock()
	p := presence{State: "here", Records: l.state.records(), Revocations: l.revToken, Runner: l.offer()}
	l.mu.Unlock()
	if err := l.publish(msgPresence, p); err != nil && l.ctx.Err() == nil {
		l.log.Debug("presence not sent", "err", err)
	}
}

func (l *live) readLoop() {
	for {
		msg, err := l.sub.Next(l.ctx)
		if err != nil {
			return
		}
		e, ok := msg.ValidatorData.(envelope)
		if !ok || msg.ReceivedFrom == l.n.id && msg.Local {
			continue
		}
		author := msg.GetFrom()
		l.log.Debug("envelope", "from", author, "type", e.typ)
		l.heardFrom(author)
		switch e.typ {
		case msgPresence:
			var p presence
			if err := decodeStrict(e.body, &p); err != nil {
				l.log.Info("bad presence", "from", author, "err", err)
				continue
			}
			switch p.State {
			case "left":
				l.removePeer(author)
			case "here":
				l.mergeRevocations(p.Revocations)
				l.mergeRecords(p.Records, author)
				l.noteOffer(author, p.Runner)
			case "cursor":
				if p.Cursor.valid() {
					l.setCursor(author, *p.Cursor)
				}
			case "media":
				if p.Media != nil {
					l.setMediaState(author, *p.Media)
				}
			case "quarantine", "lifted":
				l.noticeQuarantine(author, p.State, p.Quarantine)
			}
		case msgRecord:
			var sr signedRecord
			if err := decodeStrict(e.body, &sr); err != nil {
				l.log.Info("bad record", "from", author, "err", err)
				continue
			}
			l.mergeRecords([]signedRecord{sr}, author)
		case msgRevocations:
			var m revocationsMsg
			if err := decodeStrict(e.body, &m); err != nil {
				l.log.Info("bad revocation list", "from", author, "err", err)
				continue
			}
			l.mergeRevocations(m.Token)
		}
	}
}

// eventLoop follows who is subscribed to the topic: a newcomer is admitted,
// a peer that left is no longer present.
func (l *live) eventLoop() {
	for {
		ev, err := l.events.NextPeerEvent(l.ctx)
		if err != nil {
			return
		}
		switch ev.Type {
		case pubsub.PeerJoin:
			l.maybeAdmit(ev.Peer)
		case pubsub.PeerLeave:
			l.removePeer(ev.Peer)
		}
	}
}

// discoverLoop announces this node under the session's rendezvous key and
// looks up the others, often at first and then every few seconds.
func (l *live) discoverLoop() {
	key := rendezvousCID(l.keys.Rendezvous)
	for _, ai := range l.bootstrap() {
		l.n.useRelay(ai)
	}
	var provided time.Time
	start := time.Now()
	for {
		if l.n.p2p.dht.RoutingTable().Size() == 0 {
			for _, ai := range l.bootstrap() {
				ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
				if err := l.n.p2p.host.Connect(ctx, ai); err != nil {
					l.log.Debug("bootstrap peer unreachable", "peer", ai.ID, "err", err)
				}
				cancel()
			}
		}
		if l.n.p2p.dht.RoutingTable().Size() > 0 {
			if time.Since(provided) > 5*time.Minute || l.n.addrsChangedSince(provided) {
				ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
				if err := l.n.p2p.dht.Provide(ctx, key, true); err != nil {
					l.log.Debug("announce failed", "err", err)
				} else {
					provided = time.Now()
				}
				cancel()
			}
			ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
			for ai := range l.n.p2p.dht.FindProvidersAsync(ctx, key, 0) {
				if ai.ID == l.n.id || l.isAdmitted(ai.ID) {
					continue
				}
				if !connected(l.n.p2p.host, ai.ID) {
					l.n.p2p.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, 10*time.Minute)
					// A session peer is worth a dial now, whatever failed
					// before (a network that dropped and came back).
					clearDialBackoff(l.n.p2p.host, ai.ID)
					l.wg.Go(func() {
						cctx, ccancel := context.WithTimeout(l.ctx, 10*time.Second)
						defer ccancel()
						if err := l.n.p2p.host.Connect(cctx, ai); err != nil {
							l.log.Debug("peer unreachable", "peer", ai.ID, "err", err)
							return
						}
						l.maybeAdmit(ai.ID)
					})
					continue
				}
				l.maybeAdmit(ai.ID)
			}
			cancel()
		}
		// Look often while the session is new to this node, rarely later:
		// whoever arrives later finds this node through its own lookups.
		var wait time.Duration
		switch since := time.Since(start); {
		case since < 3*time.Second:
			wait = 100 * time.Millisecond
		case since < 30*time.Second:
			wait = 500 * time.Millisecond
		default:
			wait = 5 * time.Second
		}
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (l *live) bootstrap() []peer.AddrInfo {
	infos, err := peer.AddrInfosFromP2pAddrs(l.inv.Bootstrap...)
	if err != nil {
		l.log.Warn("bad bootstrap address in link", "err", err)
	}
	return infos
}

// maybeAdmit starts a handshake with id unless one runs, it is admitted, or
// it failed a moment ago.
func (l *live) maybeAdmit(id peer.ID) {
	if id == l.n.id {
		return
	}
	l.mu.Lock()
	_, in := l.peers[id]
	if in || l.pending[id] || time.Now().Before(l.backoff[id]) || l.refused != nil || l.ctx.Err() != nil {
		l.mu.Unlock()
		return
	}
	l.pending[id] = true
	l.mu.Unlock()
	l.wg.Go(func() {
		err := l.initiate(id)
		l.mu.Lock()
		delete(l.pending, id)
		if err != nil {
			l.backoff[id] = time.Now().Add(3 * time.Second)
		}
		l.mu.Unlock()
		if err != nil {
			l.log.Debug("admission failed", "peer", id, "err", err)
		}
	})
}

// handshake returns this node's side of an admission with remote.
func (l *live) handshake(remote peer.ID) *handshake {
	return &handshake{
		key: l.keys.Admission, tag: l.tag, local: l.n.id, remote: remote,
		introduce: l.introduce,
		state:     l.admitState,
		judge: func(theirs intro, st admitState, tr []byte) decision {
			return l.judge(remote, theirs, st, tr)
		},
	}
}

// initiate runs an admission with id as the initiator.
func (l *live) initiate(id peer.ID) error {
	ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
	defer cancel()
	s, err := l.n.p2p.host.NewStream(network.WithAllowLimitedConn(ctx, "admission"), id, AdmitProtocol)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	res, err := l.handshake(id).initiate(s)
	return l.finish(id, res, err)
}

// respond runs an admission with the peer of s as the responder.
func (l *live) respond(s network.Stream, r *bufio.Reader, hello admitHello) {
	id := s.Conn().RemotePeer()
	res, err := l.handshake(id).respond(s, r, hello)
	if err := l.finish(id, res, err); err != nil {
		l.log.Debug("admission of a peer failed", "peer", id, "err", err)
	}
}

// finish records the outcome of a handshake.
func (l *live) finish(id peer.ID, res admitResult, err error) error {
	var refused *RefusedError
	if errors.As(err, &refused) {
		if refused.By != l.n.id {
			l.refusedBy(refused)
		}
		return err
	}
	if err != nil {
		return err
	}
	p := &participant{id: id, name: res.intro.Name, since: res.intro.Since}
	var cred *invite.Credential
	p.role, cred, _ = l.roleOf(id, res.intro, res.transcript)
	if cred != nil {
		p.credID, p.email = cred.ID, cred.Email
	}
	// checkLocked refuses a peer this node may no longer admit.
	checkLocked := func() error {
		if l.refused != nil {
			return l.refused
		}
		if p.role == RoleCandidate && l.state.seat != nil && l.state.seatHolder() != id {
			// The seat changed hands while the handshake ran.
			return fmt.Errorf("candidate %s no longer holds the seat", id)
		}
		return nil
	}
	l.mu.Lock()
	if err := checkLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	// Document sync with the peer starts afresh after every handshake (a
	// new connection, maybe a restarted peer), before its frames are taken.
	docs := maps.Clone(l.docs)
	l.mu.Unlock()
	for kind, d := range docs {
		l.n.syncReset(d, id)
		l.await(kind)
	}
	l.mu.Lock()
	if err := checkLocked(); err != nil { // again: the lock was let go
		l.mu.Unlock()
		return err
	}
	if c := l.n.p2p.host.Network().Connectedness(id); c != network.Connected && c != network.Limited {
		// It left (and said so) while the handshake finished.
		l.mu.Unlock()
		return fmt.Errorf("peer %s is gone", id)
	}
	old, known := l.peers[id] // both sides' handshakes may finish at once
	if known && old.credID == p.credID && p.email == "" {
		p.email = old.email // learnt from its document stream
	}
	p.heard = time.Now()
	l.peers[id] = p
	if p.role == RoleCandidate {
		l.candidates[id] = true
	}
	l.admitted = true
	l.emptySince = time.Time{}
	l.notify()
	l.mu.Unlock()
	l.n.p2p.host.ConnManager().Protect(id, l.tag)
	l.noteOffer(id, res.intro.Runner)
	l.openLink(id)
	l.pokeLink(id)
	l.startMedia()
	if p.role == RoleCompany {
		l.n.wakeOutbox() // feedback waiting for the company node
	}
	if !known {
		l.log.Info("admitted", "peer", id, "name", p.name, "role", p.role)
		l.recordAttendance(p, true)
		l.sendHere()
	}
	return nil
}

// refusedBy handles a refusal of this node by another.
func (l *live) refusedBy(r *RefusedError) {
	switch r.Code {
	case refuseCandidateUnneeded, refuseBadIntro, "":
		return // not about this node's place in the session
	}
	l.mu.Lock()
	if l.refused == nil {
		l.refused = r
		l.notify()
	}
	l.mu.Unlock()
	l.log.Warn("refused", "by", r.By, "reason", r.Reason)
}

// introduce returns this node's intro for a handshake transcript.
func (l *live) introduce(transcript []byte) intro {
	in := intro{Name: l.name, Since: l.since, Runner: l.offer()}
	switch l.role {
	case RoleCompany:
		in.CompanySig = signCompany(l.n.company, transcript, l.n.id)
	case RoleInterviewer:
		// The public form: the candidate learns the name, not the email
		// (the other interviewers get the whole credential on the
		// document stream).
		in.Credential = invite.PublicCredential(l.cred)
	}
	return in
}

// admitState returns what this node tells a peer of the session.
func (l *live) admitState() admitState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return admitState{Records: l.state.records(), Revocations: l.revToken}
}

// judge decides on a peer during admission. A company-signed revocation
// list counts from anyone (it only withdraws rights); the peer's records are
// merged only once it is known who it is, so that a peer refused for its
// credential brings nothing in.
func (l *live) judge(remote peer.ID, in intro, st admitState, transcript []byte) decision {
	l.mergeRevocations(st.Revocations)
	if in.Name == "" && in.Since.IsZero() && in.Credential == "" && in.CompanySig == nil {
		// The other side refused this node: its records say why (an end,
		// the seat).
		l.mergeRecords(st.Records, remote)
		return decision{}
	}
	if len(in.Name) > 100 || in.Name == "" {
		return decision{code: refuseBadIntro, reason: "a participant's name must be 1 to 100 bytes"}
	}
	role, _, err := l.roleOf(remote, in, transcript)
	if err != nil {
		code := refuseBadIntro
		switch {
		case errors.Is(err, invite.ErrRevoked):
			code = refuseRevoked
		case errors.Is(err, ErrNotNamed):
			code = refuseNotNamed
		case in.Credential != "":
			code = refuseBadCredential
		}
		l.refuse(remote, in.Name, "was refused admission: "+err.Error())
		return decision{code: code, reason: err.Error()}
	}
	l.mergeRecords(st.Records, remote)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.end != nil {
		return decision{code: refuseEnded, reason: endedMessage(l.state.end.record)}
	}
	switch role {
	case RoleInterviewer:
		if !l.withinInterviewerLimit(remote, in.Since) {
			return decision{code: refuseInterviewersFull, reason: fmt.Sprintf("this interview already has its maximum of %d interviewers", l.inv.MaxInterviewers)}
		}
	case RoleCandidate:
		if l.role == RoleCandidate {
			return decision{code: refuseCandidateUnneeded, reason: "candidates do not admit each other"}
		}
		switch holder := l.state.seatHolder(); holder {
		case remote:
		case "":
			if l.state.seat != nil && l.state.seat.Released == remote.String() {
				return decision{code: refuseSeatTaken, reason: "an interviewer released this node's candidate seat for another device; ask them to release the seat again to come back"}
			}
			if err := l.assignSeatLocked(remote); err != nil {
				return decision{code: refuseBadIntro, reason: "could not assign the seat: " + err.Error()}
			}
		default:
			return decision{code: refuseSeatTaken, reason: "this interview already has a candidate; ask an interviewer to release the seat"}
		}
	}
	return decision{admit: true}
}

// withinInterviewerLimit reports whether an interviewer who joined at since
// is among the first MaxInterviewers present. Every node orders interviewers
// the same way, by join time then peer ID, so all agree on who is over.
// Call with l.mu held.
func (l *live) withinInterviewerLimit(id peer.ID, since time.Time) bool {
	type entry struct {
		id    peer.ID
		since time.Time
	}
	all := []entry{{id, since}}
	if l.role == RoleInterviewer {
		all = append(all, entry{l.n.id, l.since})
	}
	for _, p := range l.peers {
		if p.role == RoleInterviewer && p.id != id {
			all = append(all, entry{p.id, p.since})
		}
	}
	slices.SortFunc(all, func(a, b entry) int {
		if c := a.since.Compare(b.since); c != 0 {
			return c
		}
		return cmpString(string(a.id), string(b.id))
	})
	for i, e := range all {
		if e.id == id {
			return i < l.inv.MaxInterviewers
		}
	}
	return false
}

// verifyCompany checks a company node's signature of a handshake transcript.
func verifyCompany(key ed25519.PublicKey, transcript []byte, signer peer.ID, sig []byte) bool {
	return ed25519.Verify(key, companyMessage(transcript, signer), sig)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// assignSeatLocked gives the empty seat to a candidate. Only interviewers and
// the company node assign seats. Call with l.mu held.
func (l *live) assignSeatLocked(candidate peer.ID) error {
	if l.role == RoleCandidate {
		return fmt.Errorf("a candidate cannot assign the seat")
	}
	r := record{Kind: recordSeat, Session: l.inv.SessionID, Seq: l.state.seatSeq() + 1, Peer: candidate.String()}
	v, err := l.signLocked(r)
	if err != nil {
		return err
	}
	l.state.merge(v)
	l.stateVer++
	l.notify()
	l.wg.Go(func() {
		l.persist()
		l.publish(msgRecord, v.signed)
	})
	return nil
}

// signLocked signs a record as this node. Call with l.mu held.
func (l *live) signLocked(r record) (*verifiedRecord, error) {
	r.By, r.ByName, r.At = l.n.id.String(), l.name, l.n.now().UTC()
	var sr signedRecord
	var err error
	if l.role == RoleCompany {
		sr, err = signRecord(r, l.n.company, nil, "")
	} else {
		sr, err = signRecord(r, nil, l.n.key, invite.PublicCredential(l.cred))
	}
	if err != nil {
		return nil, err
	}
	return &verifiedRecord{record: r, signed: sr}, nil
}

// act signs a record as this node, applies it and tells everyone.
func (l *live) act(r record) error {
	if l.role == RoleCandidate {
		return fmt.Errorf("only an interviewer can do that, and this is the candidate's node: %w", ErrNotInterviewer)
	}
	if r.Kind == recordEnd {
		// The final documents are what this node has now, on every node.
		r.Heads = l.docHeads()
	}
	l.mu.Lock()
	if l.state.end != nil {
		l.mu.Unlock()
		return fmt.Errorf("%s: %w", endedMessage(l.state.end.record), ErrSessionEnded)
	}
	if r.Kind == recordSeat {
		r.Seq = l.state.seatSeq() + 1
		if r.Peer == "" {
			r.Released = l.state.seatHolder().String()
		}
	}
	v, err := l.signLocked(r)
	if err != nil {
		l.mu.Unlock()
		return err
	}
	l.state.merge(v)
	l.stateVer++
	l.notify()
	l.mu.Unlock()
	l.applyState()
	l.persist()
	return l.publish(msgRecord, v.signed)
}

// mergeRecords verifies records brought by a peer and folds them into the
// state. A record that does not verify is refused, and the interviewers see
// it.
func (l *live) mergeRecords(srs []signedRecord, from peer.ID) {
	changed := false
	for _, sr := range srs {
		l.mu.Lock()
		if l.state.holds(sr) {
			// Judged when it came (its author may have been revoked since:
			// what it did then stands).
			l.mu.Unlock()
			continue
		}
		r, err := verifyRecord(sr, l.inv, l.revokedLocked, l.n.now())
		if err != nil {
			l.mu.Unlock()
			if from != "" {
				what := "sent a control record that was refused: " + err.Error()
				if r.By != "" && r.By != from.String() {
					what = fmt.Sprintf("passed on a control record by %q that was refused: %v", r.ByName, err)
				}
				l.refuse(from, "", what)
			}
			continue
		}
		if l.state.merge(&verifiedRecord{record: r, signed: sr}) {
			changed = true
			l.stateVer++
			l.notify()
		}
		l.mu.Unlock()
	}
	if changed {
		l.applyState()
		l.wg.Go(l.persist)
	}
}

// applyState acts on the control state: a candidate who lost the seat goes,
// an ended session stops, a start opens the lobby gate, and running code
// switched off stops the runs this node executes.
func (l *live) applyState() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.run != nil && l.state.run.Off || l.state.end != nil {
		l.runs.stopAll()
	}
	if l.state.start != nil && !l.gateOpen {
		l.gateOpen = true
		l.wg.Go(l.startMedia)
		if l.role == RoleCandidate {
			l.awaitLocked(crdt.Shared) // the snapshot comes now
		}
		for _, k := range l.links {
			k.poke()
		}
	}
	holder := l.state.seatHolder()
	for id, p := range l.peers {
		if p.role == RoleCandidate && id != holder && l.state.seat != nil {
			delete(l.peers, id)
			l.notify()
		}
	}
	if l.state.end != nil && l.refused == nil {
		l.refused = &RefusedError{Code: refuseEnded, Reason: endedMessage(l.state.end.record)}
		l.notify()
		l.wg.Go(l.settleDocs)
		l.n.ended(l)
	}
	if l.role == RoleCandidate && l.refused == nil {
		switch {
		case holder == l.n.id:
			l.seated = true
		case holder != "":
			l.refused = &RefusedError{Code: refuseSeatTaken, Reason: "this interview already has a candidate; ask an interviewer to release the seat"}
			l.notify()
			l.n.turnedAway(l)
		case l.seated:
			// Released while this node held it: another device takes it.
			l.refused = &RefusedError{Code: refuseSeatTaken, Reason: "an interviewer released your candidate seat for another device"}
			l.notify()
			l.n.turnedAway(l)
		}
	}
}

// removePeer forgets a peer that left.
func (l *live) removePeer(id peer.ID) {
	l.mu.Lock()
	p, ok := l.peers[id]
	if ok {
		delete(l.peers, id)
		if l.presentLocked() == 0 {
			l.emptySince = l.n.now()
		}
		l.notify()
	}
	l.mu.Unlock()
	if ok {
		l.closeLink(id)
		l.dropPeerMedia(id)
		l.n.p2p.host.ConnManager().Unprotect(id, l.tag)
		l.log.Info("left", "peer", id, "name", p.name)
		l.recordAttendance(p, false)
	}
}

// presentLocked counts the participants present, this node included.
func (l *live) presentLocked() int {
	n := 0
	if l.role != RoleCompany {
		n++
	}
	for _, p := range l.peers {
		if p.role != RoleCompany {
			n++
		}
	}
	return n
}

func endedMessage(r record) string {
	return fmt.Sprintf("this interview has ended (%s by %s at %s)", r.Reason, r.ByName, invite.FormatTime(r.At))
}

// persist saves this node's view of the session.
func (l *live) persist() {
	l.mu.Lock()
	st := l.state
	l.mu.Unlock()
	if err := l.n.saveControl(l.inv.SessionID, &st); err != nil {
		l.log.Error("saving the session", "err", err)
	}
}

// saveControl stores a session's control state: its records, and the start
// and end they make.
func (n *Node) saveControl(id string, st *controlState) error {
	var raw []json.RawMessage
	for _, sr := range st.records() {
		b, _ := json.Marshal(sr)
		raw = append(raw, b)
	}
	start, end := st.start, st.end
	_, err := n.db.UpdateSession(id, func(s *store.Session) error {
		s.Records = raw
		if start != nil {
			s.StartedAt = start.At
			if s.State != store.StateEnded {
				s.State = store.StateLive
			}
		}
		if end != nil && s.State != store.StateEnded {
			s.State = store.StateEnded
			s.EndedAt, s.EndedBy, s.EndReason = end.At, end.ByName, end.Reason
		}
		return nil
	})
	return err
}

// recordAttendance notes a participant's arrival or departure.
func (l *live) recordAttendance(p *participant, joined bool) {
	if p.role == RoleCompany {
		return
	}
	now := l.n.now().UTC()
	_, err := l.n.db.UpdateSession(l.inv.SessionID, func(s *store.Session) error {
		if joined {
			s.Attendance = append(s.Attendance, store.Attendance{Peer: p.id.String(), Name: p.name, Role: p.role, Joined: now})
			return nil
		}
		for i := len(s.Attendance) - 1; i >= 0; i-- {
			if a := &s.Attendance[i]; a.Peer == p.id.String() && a.Left.IsZero() {
				a.Left = now
				break
			}
		}
		return nil
	})
	if err != nil {
		l.log.Error("saving attendance", "err", err)
	}
}

// setCursor records where a participant's caret is.
func (l *live) setCursor(id peer.ID, c Cursor) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cursors == nil {
		l.cursors = map[peer.ID]Cursor{}
	}
	if _, ok := l.peers[id]; !ok && id != l.n.id {
		return
	}
	l.cursors[id] = c
	l.notify()
}

// Cursors returns where the participants present have their carets.
func (l *live) cursorsOf() map[peer.ID]Cursor {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[peer.ID]Cursor{}
	for id, c := range l.cursors {
		if _, ok := l.peers[id]; ok || id == l.n.id {
			out[id] = c
		}
	}
	return out
}
