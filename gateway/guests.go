package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"parley/node"
)

// Hosted participants live in DATA/guests/ID: a node's data directory (its
// key, settings and store) and guest.json, what the gateway knows of it.
const (
	guestsDir = "guests"
	guestFile = "guest.json"
)

// Mark ends the name a hosted participant presents to the session, so that
// the interviewers' room (and `parley session show`) says the candidate
// joined from a browser through the company's gateway. It is part of the
// name, not a field of its own, so that every node shows it as it is.
const Mark = " (browser, via gateway)"

// maxName is the longest name a guest may give, in bytes: a participant's
// name is at most 100, the mark included.
const maxName = 100 - len(Mark)

var (
	errFull         = errors.New("gateway full")
	errSeatTaken    = errors.New("seat taken")
	errNoGuest      = errors.New("no guest")
	errWrongCompany = errors.New("wrong company")
	errClosed       = errors.New("gateway closed")
	errTooMany      = errors.New("too many sockets")
)

// maxSockets bounds a guest's open WebSockets: a few tabs, and a reload
// whose old socket the gateway has not seen close yet.
const maxSockets = 4

// refusal is what a guest is told: a whole sentence, which does not end
// with its sentinel's name, and the sentinel for errors.Is (and the code).
type refusal struct {
	msg  string
	kind error
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.kind }

// refuse makes a refusal of kind with a message for the guest.
func refuse(kind error, format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...), kind: kind}
}

// invalidLink is a link that decodes but cannot be used (expired, ended,
// not yet valid): its code and message are the node's (node.Inspection).
type invalidLink struct{ code, msg string }

func (e *invalidLink) Error() string { return e.msg }

// guestRecord is guest.json.
type guestRecord struct {
	Session string    `json:"session"`
	Name    string    `json:"name"` // as presented, Mark included
	Peer    string    `json:"peer"`
	Created time.Time `json:"created"`
}

// guest is a hosted participant: running (n set) while its guest is here or
// was a moment ago, stopped otherwise, its directory kept so that it comes
// back as the same participant.
type guest struct {
	id  string
	dir string
	rec guestRecord

	op sync.Mutex // held while the participant starts or stops

	// Guarded by Gateway.mu.
	n       *node.Node           // while running
	sockets map[*socket]struct{} // the guest's open WebSockets
	idle    time.Time            // since when it has had no socket
	gone    bool                 // retired: forgotten, directory removed
}

// socket is one of a guest's open WebSockets.
type socket struct{ cancel context.CancelFunc }

// loadGuests registers the hosted participants of earlier runs, stopped.
func (g *Gateway) loadGuests() error {
	entries, err := os.ReadDir(g.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		dir := filepath.Join(g.dir, e.Name())
		var rec guestRecord
		b, err := os.ReadFile(filepath.Join(dir, guestFile))
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if err != nil || !e.IsDir() || len(e.Name()) != 26 || !sessionPattern.MatchString(rec.Session) {
			// Made by a start that did not finish.
			g.log.Info("removing an incomplete hosted participant", "dir", dir)
			os.RemoveAll(dir)
			continue
		}
		gu := &guest{id: e.Name(), dir: dir, rec: rec, sockets: map[*socket]struct{}{}, idle: g.now()}
		if old := g.bySession[rec.Session]; old != nil && old.rec.Created.After(rec.Created) {
			os.RemoveAll(dir)
			continue
		} else if old != nil {
			delete(g.guests, old.id)
			os.RemoveAll(old.dir)
		}
		g.guests[gu.id] = gu
		g.bySession[rec.Session] = gu
	}
	return nil
}

// check verifies a link as any node does (signature, validity, the session
// ended or cancelled), and that it is one of this company's.
func (g *Gateway) check(ctx context.Context, token string) (node.Inspection, error) {
	in, err := g.company.Inspect(ctx, token)
	if err != nil {
		return in, err
	}
	if in.Valid && in.Role != node.RoleCompany {
		return in, refuse(errWrongCompany, "this link is for an interview of %s (key %s); this is the gateway of %s, which opens its own interviews only",
			in.Org, in.CompanyKey, g.org)
	}
	if !in.Valid {
		return in, &invalidLink{code: in.Code, msg: in.Error}
	}
	return in, nil
}

// introName is the name a guest's participant presents: the name the guest
// gave (else the link's candidate), with Mark.
func introName(name, fallback string) (string, error) {
	name = strings.TrimSuffix(strings.TrimSpace(name), Mark)
	if name == "" {
		name = strings.TrimSpace(fallback)
		for len(name) > maxName {
			_, size := utf8.DecodeLastRuneInString(name)
			name = name[:len(name)-size]
		}
	}
	switch {
	case name == "":
		return "", fmt.Errorf("give your name, as the others will see it")
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return "", fmt.Errorf("your name holds characters that cannot be shown: type it again")
	case len(name) > maxName:
		return "", fmt.Errorf("your name is %d bytes long; keep it under %d", len(name), maxName)
	}
	return name + Mark, nil
}

// joinGuest admits a guest to the session of a link: the participant the
// browser's cookie names (guestID) if it has one in that session, else a
// new one, which takes the candidate seat.
func (g *Gateway) joinGuest(ctx context.Context, token, name, guestID string) (*guest, node.Inspection, error) {
	in, err := g.check(ctx, token)
	if err != nil {
		return nil, in, err
	}
	intro, err := introName(name, in.Candidate)
	if err != nil {
		return nil, in, err
	}
	session := in.Session
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, in, refuse(errClosed, "the gateway is stopping: try again in a minute")
	}
	old := g.bySession[session]
	g.mu.Unlock()
	if old != nil && old.id == guestID {
		return old, in, nil // the same browser: the socket resumes it
	}
	if old != nil {
		if err := g.takeSeatFrom(old); err != nil {
			return nil, in, err
		}
	}
	gu := &guest{
		id: newGuestID(), rec: guestRecord{Session: session, Name: intro, Created: g.now().UTC()},
		sockets: map[*socket]struct{}{}, idle: g.now(),
	}
	gu.dir = filepath.Join(g.dir, gu.id)
	gu.op.Lock() // starting: others see it, and wait
	defer gu.op.Unlock()
	g.mu.Lock()
	switch {
	case g.closed:
		g.mu.Unlock()
		return nil, in, refuse(errClosed, "the gateway is stopping: try again in a minute")
	case g.bySession[session] != nil:
		g.mu.Unlock()
		return nil, in, seatTaken()
	case g.running >= g.cfg.MaxGuests:
		g.mu.Unlock()
		return nil, in, g.full()
	}
	g.guests[gu.id] = gu
	g.bySession[session] = gu
	g.running++
	g.mu.Unlock()
	if err := g.create(gu); err == nil {
		err = g.startLocked(ctx, gu)
	}
	if err != nil {
		g.mu.Lock()
		g.running--
		g.mu.Unlock()
		g.forget(gu)
		return nil, in, err
	}
	g.log.Info("guest joined", "guest", gu.id, "session", session, "peer", gu.rec.Peer)
	return gu, in, nil
}

func seatTaken() error {
	return refuse(errSeatTaken, "this interview's candidate seat is taken by another browser. If that was you, go back to that browser (it resumes your seat); "+
		"else ask an interviewer to release the seat")
}

func (g *Gateway) full() error {
	return refuse(errFull, "the company's gateway is full (%d interviews at once): try again in a few minutes, or tell the company", g.cfg.MaxGuests)
}

// takeSeatFrom decides whether a new browser may take a session's seat from
// the participant hosted for another: only when that one no longer holds it
// (an interviewer released it) and is not in the session now. It is then
// retired.
func (g *Gateway) takeSeatFrom(old *guest) error {
	if !old.op.TryLock() {
		return seatTaken() // starting or stopping: its browser is here
	}
	defer old.op.Unlock()
	g.mu.Lock()
	n := old.n
	g.mu.Unlock()
	if n != nil && n.InSession(old.rec.Session) {
		return seatTaken()
	}
	if holder, err := g.company.SeatHolder(old.rec.Session); err != nil || holder == old.rec.Peer {
		return seatTaken() // when in doubt, the first guest keeps its participant
	}
	g.retireLocked(old)
	return nil
}

// create makes a new participant's data directory.
func (g *Gateway) create(gu *guest) error {
	// Encrypted at rest as the company's store is, with its key.
	t0 := time.Now()
	defer func() { g.log.Debug("participant made", "guest", gu.id, "in", time.Since(t0)) }()
	res, err := node.Init(gu.dir, node.InitOptions{Logger: g.log.With("guest", gu.id), StoreKeyFile: g.company.StoreKeyFile()})
	if err != nil {
		return fmt.Errorf("making the participant: %w", err)
	}
	gu.rec.Peer = res.Peer.String()
	b, _ := json.MarshalIndent(gu.rec, "", "  ")
	if err := os.WriteFile(filepath.Join(gu.dir, guestFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("making the participant: %w", err)
	}
	return nil
}

// startLocked starts a guest's participant and joins it to its session.
// Call with gu.op held, and a place counted in g.running.
func (g *Gateway) startLocked(ctx context.Context, gu *guest) error {
	s, err := g.company.Session(ctx, gu.rec.Session)
	if err != nil {
		return err
	}
	if s.Status == node.StatusEnded {
		return refuse(node.ErrSessionEnded, "this interview has ended")
	}
	cfg := g.cfg.Node
	cfg.Dir = gu.dir
	cfg.Logger = g.log.With("guest", gu.id)
	cfg.PageMedia = node.PageMedia{Remote: true, PublicIPs: g.cfg.PublicIPs}
	t0 := time.Now()
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	t1 := time.Now()
	if err = n.Start(ctx); err == nil {
		t2 := time.Now()
		_, err = n.JoinVia(ctx, s.Link, gu.rec.Name, g.company.AddrInfo())
		g.log.Debug("participant up", "guest", gu.id, "open", t1.Sub(t0), "start", t2.Sub(t1), "join", time.Since(t2))
	}
	if err != nil {
		n.Close()
		return err
	}
	g.mu.Lock()
	gu.n = n
	gu.idle = g.now()
	g.mu.Unlock()
	return nil
}

// acquire returns a guest's running participant for one of its sockets,
// starting it if it stopped, and the function that gives the socket back.
func (g *Gateway) acquire(ctx context.Context, guestID, session string, cancel context.CancelFunc) (*node.Node, func(), error) {
	g.mu.Lock()
	gu := g.guests[guestID]
	g.mu.Unlock()
	if gu == nil || gu.rec.Session != session {
		return nil, nil, g.noGuest(ctx, session)
	}
	gu.op.Lock()
	defer gu.op.Unlock()
	g.mu.Lock()
	switch {
	case gu.gone:
		g.mu.Unlock()
		return nil, nil, g.noGuest(ctx, session)
	case g.closed:
		g.mu.Unlock()
		return nil, nil, refuse(errClosed, "the gateway is stopping: try again in a minute")
	case len(gu.sockets) >= maxSockets:
		g.mu.Unlock()
		return nil, nil, refuse(errTooMany, "this interview is open in %d tabs of this browser already: close the others", maxSockets)
	case gu.n == nil && g.running >= g.cfg.MaxGuests:
		g.mu.Unlock()
		return nil, nil, g.full()
	case gu.n == nil:
		g.running++
		g.mu.Unlock()
		if err := g.startLocked(ctx, gu); err != nil {
			g.mu.Lock()
			g.running--
			g.mu.Unlock()
			var refused *node.RefusedError
			if errors.As(err, &refused) || errors.Is(err, node.ErrSessionEnded) {
				g.retireLocked(gu)
			}
			return nil, nil, err
		}
		g.log.Info("guest back", "guest", gu.id, "session", session)
		g.mu.Lock()
	}
	s := &socket{cancel: cancel}
	gu.sockets[s] = struct{}{}
	n := gu.n
	g.mu.Unlock()
	release := func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		delete(gu.sockets, s)
		if len(gu.sockets) == 0 {
			gu.idle = g.now()
		}
	}
	return n, release, nil
}

// noGuest says why a browser has no participant in a session.
func (g *Gateway) noGuest(ctx context.Context, session string) error {
	if s, err := g.company.Session(ctx, session); err == nil && s.Status == node.StatusEnded {
		return refuse(node.ErrSessionEnded, "this interview has ended")
	}
	return refuse(errNoGuest, "this browser has not joined this interview: open your interview link again")
}

// stopLocked stops a guest's participant, keeping its directory: its
// guest's cookie starts it again. Call with gu.op held.
func (g *Gateway) stopLocked(gu *guest) error {
	g.mu.Lock()
	n := gu.n
	gu.n = nil
	socks := make([]*socket, 0, len(gu.sockets))
	for s := range gu.sockets {
		socks = append(socks, s)
	}
	if n != nil {
		g.running--
	}
	g.mu.Unlock()
	// Drop the sockets first, without a close frame: the pages reconnect
	// (to a gateway that comes back), where a node leaving the session
	// would tell them it is over.
	for _, s := range socks {
		s.cancel()
	}
	if n == nil {
		return nil
	}
	return n.Close()
}

// stopGuest stops a guest's participant; with remove, it is also retired.
func (g *Gateway) stopGuest(gu *guest, remove bool) error {
	gu.op.Lock()
	defer gu.op.Unlock()
	if remove {
		g.retireLocked(gu)
		return nil
	}
	return g.stopLocked(gu)
}

// retireLocked stops a guest's participant for good: it is forgotten and
// its directory removed. Call with gu.op held.
func (g *Gateway) retireLocked(gu *guest) {
	if err := g.stopLocked(gu); err != nil {
		g.log.Warn("stopping a hosted participant", "guest", gu.id, "err", err)
	}
	g.forget(gu)
	g.log.Info("guest retired", "guest", gu.id, "session", gu.rec.Session)
}

// forget drops a guest that is not running and removes its directory.
func (g *Gateway) forget(gu *guest) {
	g.mu.Lock()
	gu.gone = true
	delete(g.guests, gu.id)
	if g.bySession[gu.rec.Session] == gu {
		delete(g.bySession, gu.rec.Session)
	}
	g.mu.Unlock()
	if err := os.RemoveAll(gu.dir); err != nil {
		g.log.Warn("removing a hosted participant", "guest", gu.id, "err", err)
	}
}

// loop stops hosted participants whose guest is gone for the grace period,
// retires those whose session is over for them (ended, expired, their seat
// released), and forgets quiet clients of the rate limits.
func (g *Gateway) loop() {
	every := min(max(g.cfg.Grace/4, 20*time.Millisecond), 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		g.tend()
		g.limits.sweep()
	}
}

// tend looks after every hosted participant once.
func (g *Gateway) tend() {
	g.mu.Lock()
	all := make([]*guest, 0, len(g.guests))
	for _, gu := range g.guests {
		all = append(all, gu)
	}
	g.mu.Unlock()
	for _, gu := range all {
		select {
		case <-g.stop:
			return
		default:
		}
		if !gu.op.TryLock() {
			continue // starting or stopping
		}
		g.tendLocked(gu)
		gu.op.Unlock()
	}
}

func (g *Gateway) tendLocked(gu *guest) {
	g.mu.Lock()
	n, idle, sockets, gone := gu.n, gu.idle, len(gu.sockets), gu.gone
	g.mu.Unlock()
	if gone {
		return
	}
	session := gu.rec.Session
	switch {
	case n != nil && !n.InSession(session):
		// Turned away (the seat released for another device), or the
		// session ended and the participant left.
		g.retireLocked(gu)
	case n != nil && sockets == 0 && g.now().Sub(idle) >= g.cfg.Grace:
		g.log.Info("guest gone: stopping its participant", "guest", gu.id, "session", session, "after", g.cfg.Grace)
		if err := g.stopLocked(gu); err != nil {
			g.log.Warn("stopping a hosted participant", "guest", gu.id, "err", err)
		}
	case n == nil:
		s, err := g.company.Session(context.Background(), session)
		if err != nil || s.Status == node.StatusEnded || s.Status == node.StatusExpired {
			g.retireLocked(gu)
		}
	}
}

// guestView is what the guest routes say of a link.
type guestView struct {
	Valid      bool      `json:"valid"`
	Error      string    `json:"error,omitempty"`
	Code       string    `json:"code,omitempty"`
	Org        string    `json:"org,omitempty"`
	Session    string    `json:"session,omitempty"`
	Title      string    `json:"title,omitempty"`
	Candidate  string    `json:"candidate,omitempty"`
	Block      int       `json:"block,omitempty"`
	Blocks     int       `json:"blocks,omitempty"`
	Starts     time.Time `json:"starts,omitzero"`
	Duration   string    `json:"duration,omitempty"`
	ValidFrom  time.Time `json:"valid_from,omitzero"`
	ValidUntil time.Time `json:"valid_until,omitzero"`
	Conference string    `json:"conference,omitempty"`
	// Joined is set when this browser already has the seat: the page
	// offers to go back to the room.
	Joined bool `json:"joined"`
	// Room is the room's address, once joined.
	Room string `json:"room,omitempty"`
}

func viewOf(in node.Inspection) guestView {
	return guestView{
		Valid: in.Valid, Error: in.Error, Code: in.Code, Org: in.Org, Session: in.Session, Title: in.Title,
		Candidate: in.Candidate, Block: in.Block, Blocks: in.Blocks, Starts: in.Starts, Duration: in.Duration,
		ValidFrom: in.ValidFrom, ValidUntil: in.ValidUntil, Conference: in.Conference,
	}
}

// hasGuest reports whether a guest ID is the participant hosted in a
// session.
func (g *Gateway) hasGuest(session, guestID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	gu := g.bySession[session]
	return gu != nil && guestID != "" && gu.id == guestID
}

// cookieAge is how long a guest's cookie should last: until the link ends.
func cookieAge(in node.Inspection, now time.Time) time.Duration {
	return cmp.Or(in.ValidUntil.Sub(now)+24*time.Hour, time.Hour)
}
