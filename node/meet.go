package node

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/invite"
	"parley/node/store"
)

// Defaults of the live session.
const (
	DefaultIdleEnd  = 60 * time.Minute
	DefaultJoinWait = 10 * time.Second
	// endGrace is how long a participant's node stays on an ended session's
	// topic, so that the end reaches everyone, before it leaves.
	endGrace = 10 * time.Second
)

// ErrNotRunning is returned for what needs the node's network when the node
// is not running.
var ErrNotRunning = errors.New("the node is not running")

// ErrNotInterviewer is returned when a candidate asks for what only an
// interviewer may do.
var ErrNotInterviewer = errors.New("not an interviewer")

// ErrNotJoined is returned for a session this node is not taking part in.
var ErrNotJoined = errors.New("not in this session")

// Start brings the node onto the network: the libp2p host, the DHT and
// pubsub; then it rejoins the sessions it was in, and on the company node
// every session it created whose link is still valid. It returns once the
// host listens; Close stops everything.
func (n *Node) Start(ctx context.Context) error {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	if n.runCtx != nil {
		return fmt.Errorf("node: already started")
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p, err := n.startP2P(runCtx, n.peerFilter)
	if err != nil {
		cancel()
		return err
	}
	n.mu.Lock()
	n.p2p, n.runCtx, n.runCancel = p, runCtx, cancel
	n.mu.Unlock()
	p.host.SetStreamHandler(AdmitProtocol, n.handleAdmit)
	p.host.SetStreamHandler(SyncProtocol, n.handleSync)
	p.host.SetStreamHandler(MediaProtocol, n.handleMedia)
	p.host.SetStreamHandler(ArchiveProtocol, n.handleArchive)
	p.host.SetStreamHandler(RunProtocol, n.handleRun)
	sub, err := p.host.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		return err
	}
	n.wg.Go(func() {
		defer sub.Close()
		for {
			select {
			case <-n.runCtx.Done():
				return
			case <-sub.Out():
				n.addrsChanged.Store(time.Now().UnixNano())
			}
		}
	})
	if n.company != nil {
		n.wg.Go(n.idleLoop)
		n.wg.Go(n.announceCompany)
	}
	n.wg.Go(n.outboxLoop)
	if rn := n.cfg.Runner; rn != nil {
		n.wg.Go(func() {
			if err := rn.Warm(n.runCtx); err != nil && n.runCtx.Err() == nil {
				n.log.Warn("runner: Go runs will compile the standard library each time", "err", err)
			}
		})
	}
	n.wg.Go(n.rejoin)
	n.log.Info("node started", "peer", n.id, "addrs", p.host.Addrs())
	return nil
}

// Addrs returns the node's libp2p addresses, each ending in /p2p/ID.
func (n *Node) Addrs() []string {
	n.mu.Lock()
	p := n.p2p
	n.mu.Unlock()
	if p == nil {
		return nil
	}
	var out []string
	for _, a := range p.host.Addrs() {
		out = append(out, fmt.Sprintf("%s/p2p/%s", a, n.id))
	}
	return out
}

func (n *Node) addrsChangedSince(t time.Time) bool {
	return time.Unix(0, n.addrsChanged.Load()).After(t)
}

// useRelay keeps a reservation on a relay, once per relay.
func (n *Node) useRelay(ai peer.AddrInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.relaysUsed[ai.ID] || n.runCtx.Err() != nil {
		return
	}
	n.relaysUsed[ai.ID] = true
	n.wg.Go(func() { n.p2p.keepReservation(n.runCtx, ai, n.log) })
}

// peerFilter lets into a topic's mesh only the peers admitted to its session.
func (n *Node) peerFilter(id peer.ID, topic string) bool {
	n.mu.Lock()
	l := n.byTopic[topic]
	n.mu.Unlock()
	return l != nil && l.isAdmitted(id)
}

// handleAdmit answers an admission handshake.
func (n *Node) handleAdmit(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(s)
	hello, err := readHello(r)
	if err != nil {
		n.log.Debug("bad admission hello", "peer", s.Conn().RemotePeer(), "err", err)
		s.Reset()
		return
	}
	n.mu.Lock()
	l := n.byTag[hello.Tag]
	n.mu.Unlock()
	if l == nil {
		s.Reset()
		return
	}
	l.respond(s, r, hello)
}

// openLive joins a session's topic as role and starts its loops.
func (n *Node) openLive(inv *invite.Invite, role, name, cred string, since time.Time, records []json.RawMessage) (*live, error) {
	// One open or close at a time; n.mu is held only around the maps, never
	// while calling into pubsub, whose event loop calls n.peerFilter.
	n.openMu.Lock()
	defer n.openMu.Unlock()
	n.mu.Lock()
	p, l := n.p2p, n.lives[inv.SessionID]
	n.mu.Unlock()
	if p == nil {
		return nil, ErrNotRunning
	}
	if l != nil {
		return l, nil
	}
	keys := inv.Keys()
	l = &live{
		n: n, inv: inv, keys: keys, tag: shortHash(keys.Topic), role: role, name: name, since: since, cred: cred,
		log:           n.log.With("session", inv.SessionID),
		peers:         make(map[peer.ID]*participant),
		candidates:    make(map[peer.ID]bool),
		pending:       make(map[peer.ID]bool),
		backoff:       make(map[peer.ID]time.Time),
		changed:       make(chan struct{}),
		docs:          make(map[crdt.Kind]*sessionDoc),
		links:         make(map[peer.ID]*link),
		quar:          make(map[peer.ID]Quarantine),
		refusers:      make(map[peer.ID]RefusedBy),
		crashedBefore: make(map[peer.ID]bool),
		poison:        make(map[string]map[peer.ID]bool),
		runs:          newRunBoard(),

		revokedEmails: make(map[string]bool),
	}
	if role == RoleCompany {
		// The company node judges with its own list, kept current by
		// spreadRevocations.
		if r, tok, err := n.Revocations(); err == nil {
			l.revocations, l.revToken = r, tok
		} else {
			n.log.Error("signing the revocation list", "err", err)
		}
	}
	l.emptySince = n.now()
	l.seq.Store(uint64(time.Now().UnixMicro()))
	l.ctx, l.cancel = context.WithCancel(n.runCtx)
	for _, raw := range records {
		var sr signedRecord
		if err := decodeStrict(raw, &sr); err != nil {
			continue
		}
		if r, err := verifyStoredRecord(sr, inv, n.now()); err == nil {
			l.state.merge(&verifiedRecord{record: r, signed: sr})
		}
	}
	n.mu.Lock()
	n.byTopic[keys.Topic] = l
	n.byTag[l.tag] = l
	n.mu.Unlock()
	fail := func(err error) (*live, error) {
		n.mu.Lock()
		delete(n.byTopic, keys.Topic)
		delete(n.byTag, l.tag)
		n.mu.Unlock()
		p.ps.UnregisterTopicValidator(keys.Topic)
		if l.topic != nil {
			l.topic.Close()
		}
		l.cancel()
		return nil, fmt.Errorf("node: topic: %w", err)
	}
	var err error
	if err = p.ps.RegisterTopicValidator(keys.Topic, l.validate); err != nil {
		return fail(err)
	}
	if l.topic, err = p.ps.Join(keys.Topic); err != nil {
		return fail(err)
	}
	if l.events, err = l.topic.EventHandler(); err != nil {
		return fail(err)
	}
	if l.sub, err = l.topic.Subscribe(); err != nil {
		l.events.Cancel()
		return fail(err)
	}
	if err := n.openDocs(l); err != nil {
		l.events.Cancel()
		l.sub.Cancel()
		return fail(err)
	}
	n.mu.Lock()
	n.lives[inv.SessionID] = l
	n.mu.Unlock()
	l.run()
	l.log.Info("joined", "role", role, "name", name)
	return l, nil
}

// closeLive leaves a session's topic, saying goodbye first when leaving.
func (n *Node) closeLive(l *live, goodbye bool) {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	n.mu.Lock()
	if n.lives[l.inv.SessionID] != l {
		n.mu.Unlock()
		return
	}
	delete(n.lives, l.inv.SessionID)
	delete(n.byTopic, l.keys.Topic)
	delete(n.byTag, l.tag)
	n.mu.Unlock()
	if goodbye {
		if err := l.publish(msgPresence, presence{State: "left"}); err != nil {
			l.log.Debug("goodbye not sent", "err", err)
		}
	}
	l.stop()
	l.closeMedia()
	n.closeDocs(l)
	l.mu.Lock()
	peers := slices.Collect(maps.Values(l.peers))
	l.mu.Unlock()
	for _, p := range peers {
		n.p2p.host.ConnManager().Unprotect(p.id, l.tag)
	}
}

// lookupLive returns the session this node takes part in.
func (n *Node) lookupLive(id string) (*live, error) {
	r, err := n.lookupSession(id)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p2p == nil {
		return nil, fmt.Errorf("no node is running in %s: start it with `parley up`: %w", n.dir, ErrNotRunning)
	}
	l := n.lives[r.ID]
	if l == nil {
		if r.State == store.StateEnded {
			return nil, fmt.Errorf("session %s has ended: %w", r.ID, ErrSessionEnded)
		}
		return nil, fmt.Errorf("this node is not in session %s: join it with `parley join LINK`: %w", r.ID, ErrNotJoined)
	}
	return l, nil
}

// JoinResult is the outcome of Join.
type JoinResult struct {
	Session Session `json:"session"`
	Role    string  `json:"role"`
	// Alone is set when no other participant answered yet; the node keeps
	// looking.
	Alone bool `json:"alone"`
}

// Join takes part in the session of an interview link: it checks the link,
// joins the session's topic, finds the others through the link's bootstrap
// peers, and is admitted by them. It returns once another node admitted
// this one, refused it, or the wait (Config.JoinWait) ran out with nobody
// found yet.
func (n *Node) Join(ctx context.Context, link, name string) (JoinResult, error) {
	inv, err := invite.Parse(link)
	if err != nil {
		return JoinResult{}, err
	}
	n.mu.Lock()
	running := n.p2p != nil
	n.mu.Unlock()
	if !running {
		return JoinResult{}, fmt.Errorf("joining needs the node on the network: %w", ErrNotRunning)
	}
	now := n.now()
	rec, err := n.db.Session(inv.SessionID)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return JoinResult{}, err
	}
	if known && rec.State == store.StateEnded {
		return JoinResult{}, fmt.Errorf("this interview has ended (%s at %s): %w", cmp.Or(rec.EndReason, "ended"), invite.FormatTime(rec.EndedAt), ErrSessionEnded)
	}
	if err := inv.Check(now); err != nil {
		return JoinResult{}, err
	}
	role, cred, defName, err := n.roleFor(inv)
	if err != nil {
		return JoinResult{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || role == RoleCompany {
		name = defName
	}
	if len(name) > 100 {
		return JoinResult{}, fmt.Errorf("name is %d bytes; keep it under 100", len(name))
	}
	since := now.UTC()
	if known && !rec.Since.IsZero() {
		since = rec.Since
	}
	if !known {
		rec = sessionFromInvite(inv, link)
	}
	rec.Role, rec.Name, rec.Joined, rec.Since = role, name, true, since
	if err := n.db.PutSession(rec); err != nil {
		return JoinResult{}, err
	}
	l, err := n.openLive(inv, role, name, cred, since, rec.Records)
	if err != nil {
		return JoinResult{}, err
	}
	wait := cmp.Or(n.cfg.JoinWait, DefaultJoinWait)
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	alone := false
	for {
		changed := l.waitChange()
		l.mu.Lock()
		refused, admitted := l.refused, l.admitted
		l.mu.Unlock()
		if refused != nil {
			n.closeLive(l, false)
			n.db.UpdateSession(inv.SessionID, func(s *store.Session) error { s.Joined = false; return nil })
			return JoinResult{}, refused
		}
		if admitted || role == RoleCompany {
			break
		}
		select {
		case <-changed:
			continue
		case <-timeout.C:
			alone = true
		case <-ctx.Done():
			return JoinResult{}, ctx.Err()
		}
		break
	}
	s, err := n.Session(ctx, inv.SessionID)
	return JoinResult{Session: s, Role: role, Alone: alone}, err
}

// roleFor decides this node's role in a session from what it holds: the
// company key that signed the link, or a team credential of that company.
func (n *Node) roleFor(inv *invite.Invite) (role, cred, name string, err error) {
	if n.company != nil && n.companyPublic().Equal(inv.CompanyKey) {
		return RoleCompany, "", n.settings.Org, nil
	}
	sc, err := n.db.Credential(inv.CompanyKey)
	if errors.Is(err, store.ErrNotFound) {
		return RoleCandidate, "", inv.Candidate, nil
	}
	if err != nil {
		return "", "", "", err
	}
	c, err := invite.ParseCredential(sc.Token)
	if err != nil {
		return "", "", "", err
	}
	if err := c.Check(invite.CredentialCheck{Company: inv.CompanyKey, Peer: n.id, Now: n.now(), Revoked: inv.IsRevoked}); err != nil {
		return "", "", "", fmt.Errorf("your %s team credential cannot be used: %w", c.Org, err)
	}
	if !inv.Names(c.ID) {
		return "", "", "", fmt.Errorf("you are on the %s team, but this interview names its interviewers and you are not one of them; ask the admin to add you (parley session create --interviewer %s): %w", c.Org, c.Email, ErrNotNamed)
	}
	return RoleInterviewer, sc.Token, c.Name, nil
}

// sessionFromInvite makes the stored record of a session joined by link.
func sessionFromInvite(inv *invite.Invite, link string) store.Session {
	tok, _ := invite.TokenFromLink(link)
	return store.Session{
		ID: inv.SessionID, Token: tok, Title: inv.Title, Candidate: inv.Candidate, Block: inv.Block, Blocks: inv.Blocks,
		Starts: inv.Starts, Duration: inv.Duration, Expires: inv.ValidUntil, MaxInterviewers: inv.MaxInterviewers,
		Conference: inv.Conference, Recorder: inv.Recorder, Criteria: inv.Criteria, Language: inv.Language,
		Created: inv.ValidFrom, State: store.StatePending,
	}
}

// rejoin takes part again in the sessions this node was in when it stopped;
// the company node joins every session it created whose link is valid.
func (n *Node) rejoin() {
	all, err := n.db.Sessions()
	if err != nil {
		n.log.Error("listing sessions to rejoin", "err", err)
		return
	}
	now := n.now()
	for _, r := range all {
		if !now.Before(r.Expires) && r.State != store.StateLive {
			continue
		}
		inv, err := invite.Parse(r.Token)
		if err != nil {
			n.log.Error("stored link does not parse", "session", r.ID, "err", err)
			continue
		}
		switch {
		case r.Company:
			_, err = n.openLive(inv, RoleCompany, n.settings.Org, "", r.Created, r.Records)
		case r.Joined && r.State != store.StateEnded:
			var role, cred string
			role, cred, _, err = n.roleFor(inv)
			if err == nil {
				_, err = n.openLive(inv, role, r.Name, cred, r.Since, r.Records)
			}
		default:
			continue
		}
		if err != nil {
			n.log.Warn("rejoining a session", "session", r.ID, "err", err)
		}
	}
}

// idleLoop, on the company node, ends live sessions nobody attended for
// Config.IdleEnd.
func (n *Node) idleLoop() {
	idle := cmp.Or(n.cfg.IdleEnd, DefaultIdleEnd)
	tick := min(max(idle/10, 50*time.Millisecond), time.Minute)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-n.runCtx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		lives := slices.Collect(maps.Values(n.lives))
		n.mu.Unlock()
		for _, l := range lives {
			l.mu.Lock()
			due := l.state.start != nil && l.state.end == nil && l.presentLocked() == 0 &&
				!l.emptySince.IsZero() && n.now().Sub(l.emptySince) >= idle
			l.mu.Unlock()
			if due {
				reason := fmt.Sprintf("idle for %s", FormatDuration(idle))
				if err := l.act(record{Kind: recordEnd, Session: l.inv.SessionID, Reason: reason}); err != nil {
					l.log.Warn("ending an idle session", "err", err)
				}
			}
		}
	}
}

// StartSession starts the interview: the candidate leaves the lobby.
func (n *Node) StartSession(ctx context.Context, id string) (Session, error) {
	return n.act(ctx, id, record{Kind: recordStart})
}

// EndSession ends the interview for everyone; its link is refused from then
// on.
func (n *Node) EndSession(ctx context.Context, id string) (Session, error) {
	return n.act(ctx, id, record{Kind: recordEnd, Reason: "ended"})
}

// ReleaseSeat frees the candidate seat, so that another candidate node (the
// candidate on a new machine, say) can take it.
func (n *Node) ReleaseSeat(ctx context.Context, id string) (Session, error) {
	return n.act(ctx, id, record{Kind: recordSeat})
}

func (n *Node) act(ctx context.Context, id string, r record) (Session, error) {
	l, err := n.lookupLive(id)
	if err != nil {
		return Session{}, err
	}
	if l.role == RoleCompany && r.Kind != recordEnd {
		return Session{}, fmt.Errorf("the company node takes part silently; an interviewer does this from their node: %w", ErrNotInterviewer)
	}
	r.Session = l.inv.SessionID
	if err := l.act(r); err != nil {
		return Session{}, err
	}
	return n.Session(ctx, l.inv.SessionID)
}

// LeaveSession leaves a session without ending it.
func (n *Node) LeaveSession(ctx context.Context, id string) (Session, error) {
	l, err := n.lookupLive(id)
	if err != nil {
		return Session{}, err
	}
	if l.role == RoleCompany {
		return Session{}, fmt.Errorf("the company node stays in its sessions, to archive them and refuse ended links")
	}
	n.closeLive(l, true)
	if _, err := n.db.UpdateSession(l.inv.SessionID, func(s *store.Session) error { s.Joined = false; return nil }); err != nil {
		return Session{}, err
	}
	return n.Session(ctx, l.inv.SessionID)
}

// turnedAway leaves a session that no longer admits this node.
func (n *Node) turnedAway(l *live) {
	l.log.Warn("turned away", "reason", l.refused)
	n.wg.Go(func() {
		n.closeLive(l, false)
		n.db.UpdateSession(l.inv.SessionID, func(s *store.Session) error { s.Joined = false; return nil })
	})
}

// ended closes a participant's session some time after it ended, once the
// end has had time to reach everyone.
func (n *Node) ended(l *live) {
	if l.role == RoleCompany {
		return
	}
	if l.role == RoleInterviewer {
		n.queueHandover(l.inv.SessionID)
	}
	n.wg.Go(func() {
		select {
		case <-n.runCtx.Done():
			return
		case <-time.After(endGrace):
		}
		n.closeLive(l, false)
		n.db.UpdateSession(l.inv.SessionID, func(s *store.Session) error { s.Joined = false; return nil })
	})
}
