package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"parley/media"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
)

// Follower lets a local client, the session page in the browser, keep its
// own Automerge copies of a session's documents in step with this node's,
// over the sync protocol, and see and share presence. The node hands the
// client's sync messages to its worker like any peer's (a death blames no
// one: the client is this node's own user), commits what they bring as this
// node's changes, and passes those on to the session's peers.
type Follower struct {
	n  *Node
	l  *live
	id string // the worker's name for this follower's sync states

	mu      sync.Mutex
	last    time.Time   // when a caret was last published
	pending *Cursor     // the newest caret, not yet published
	timer   *time.Timer // publishes pending
	closed  bool
	leg     *media.Leg // the call's leg to the page, once asked for
	runs    runCursor  // how far the page has followed the session's runs
}

var followers atomic.Int64

// Follow starts following a session this node takes part in.
func (n *Node) Follow(ctx context.Context, id string) (*Follower, error) {
	l, err := n.lookupLive(id)
	if err != nil {
		return nil, err
	}
	// An interviewer's page may be the first to open the shared document:
	// it starts with its starter file, not an empty room (see addStarter).
	if err := n.addStarter(l); err != nil {
		l.log.Warn("adding the starter file", "err", err)
	}
	// Its name is new to the worker: its sync states start afresh without
	// a reset, which would wait for a worker busy loading a late joiner's
	// document (seconds), and the page with it, which has a preview to
	// show and a document to load meanwhile (arriving.go).
	return &Follower{n: n, l: l, id: fmt.Sprintf("local-client-%d", followers.Add(1))}, nil
}

// Kinds lists the documents the follower may have: the shared one (empty in
// the lobby, for a candidate), and for interviewers the private one.
func (f *Follower) Kinds() []crdt.Kind { return docKinds(f.l.role) }

// ActorPrefix is what the page's Automerge actor starts with: the first
// half of this node's own actor, so that history names the page's edits
// after this node's participant (see actorKey). The page adds random bytes
// of its own: two writers never share an actor.
func (f *Follower) ActorPrefix() string { return actorKey(f.l.n.actor()) }

// Changed returns a channel closed at the next change of the session: its
// documents, presence, cursors, state.
func (f *Follower) Changed() <-chan struct{} { return f.l.waitChange() }

// Versions counts the changes Changed signals: of each document, and of
// everything else the session's state shows (who is in, the records,
// carets, the call, quarantines, runners). A follower that saw a count
// before need not read again what it counts.
func (f *Follower) Versions() (docs map[crdt.Kind]int, state int) {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	n := 0
	for _, v := range f.l.docVersions {
		n += v
	}
	return maps.Clone(f.l.docVersions), f.l.notifies - n
}

// Done is closed when this node leaves the session, or stops.
func (f *Follower) Done() <-chan struct{} { return f.l.ctx.Done() }

// Stopping reports whether this node is stopping (it may start again and
// resume the session: its page should try to reconnect), rather than
// having left the session.
func (f *Follower) Stopping() bool { return f.n.closing.Load() }

// Generate returns the next sync message for the follower's copy of a
// document, or nil.
func (f *Follower) Generate(kind crdt.Kind) ([]byte, error) {
	d, err := f.l.doc(kind)
	if err != nil {
		return nil, err
	}
	n := f.n
	n.docMu.Lock()
	defer n.docMu.Unlock()
	if err := n.ensureLoaded(d); err != nil {
		return nil, err
	}
	msg, err := n.worker.SyncGenerate(d.id, f.id)
	if err != nil {
		return nil, n.workerFailed(err)
	}
	if msg != nil {
		f.l.log.Debug("sync message for the page", "doc", kind, "bytes", len(msg))
	}
	return msg, nil
}

// Receive takes a sync message from the follower. What it brings is this
// node's own edit: stored, and sent to the peers that may have it.
func (f *Follower) Receive(kind crdt.Kind, msg []byte) error {
	_, err := f.take(kind, func(id string, g *crdt.Guard) (crdt.Result, error) {
		return f.n.worker.SyncReceive(id, f.id, msg, g)
	})
	return err
}

// Resync starts the follower's sync exchange of a document afresh: the
// next message the node generates for it says the node's heads whatever
// it said before.
func (f *Follower) Resync(kind crdt.Kind) {
	if d, err := f.l.doc(kind); err == nil {
		f.n.syncResetName(d, f.id)
	}
}

// ReceiveChanges takes changes the follower made (a change frame), as
// Receive does. It reports whether some wait for changes the node lacks:
// a sync round finds them.
func (f *Follower) ReceiveChanges(kind crdt.Kind, changes []byte) (queued bool, err error) {
	return f.take(kind, func(id string, g *crdt.Guard) (crdt.Result, error) {
		return f.n.worker.Apply(id, changes, g)
	})
}

// take hands the follower's data to the worker by op, judged as this
// node's own.
func (f *Follower) take(kind crdt.Kind, op func(id string, g *crdt.Guard) (crdt.Result, error)) (queued bool, err error) {
	received := time.Now()
	if err := f.l.mayEditDoc(kind); err != nil {
		return false, err
	}
	d, err := f.l.doc(kind)
	if err != nil {
		return false, err
	}
	n := f.n
	n.docMu.Lock()
	if err := n.ensureLoaded(d); err != nil {
		n.docMu.Unlock()
		return false, err
	}
	g := f.l.guardFor(n.id, kind)
	g.Own = true
	res, err := op(d.id, g)
	if errors.Is(err, crdt.ErrQueued) {
		queued, err = true, nil
	}
	if err == nil && len(res.Gained) > 0 {
		// Before anything is stored or leaves the node: some crafted data
		// is accepted and kills the worker only at the next save, read or
		// sync round, here rather than on every other node (which would
		// blame this node's honest user for it).
		err = n.touch(d)
	}
	if err != nil {
		var rule *crdt.RuleError
		switch {
		case errors.As(err, &rule):
			// Judged before anything was applied.
			n.docMu.Unlock()
			f.l.refuse(n.id, f.l.name+" (this node's page)", "page sent a change that "+rule.What+"; it was refused")
			return false, fmt.Errorf("this node refused your change: it %s: %w", rule.What, ErrRefusedChange)
		case errors.Is(err, crdt.ErrWorkerDied):
			// Recovery reloads what was stored, without it.
			n.workerFailed(err)
			n.docMu.Unlock()
			f.l.refuse(n.id, f.l.name+" (this node's page)", "page sent document data that crashed this node's Automerge worker; it was refused")
			return false, fmt.Errorf("this node refused your change: it crashes this node's Automerge worker: %w", ErrRefusedChange)
		default:
			// Automerge refused it, maybe half way through its changes:
			// what the worker took of it is not stored, and must not go
			// out in a sync round. The document is loaded again as stored
			// (its sync states start afresh).
			if lerr := n.loadDocLocked(d); lerr != nil {
				n.recoverLocked()
			}
			n.docMu.Unlock()
			f.l.kickSync()
			f.l.refuse(n.id, f.l.name+" (this node's page)", "page sent document data that this node's Automerge worker refused; it was refused")
			return false, fmt.Errorf("this node refused your change: %v: %w", err, ErrRefusedChange)
		}
	}
	inc := res.Gained
	if len(inc) > 0 {
		err = n.storeFromLocked(d, inc, n.id, f.id)
	}
	if res.Settled {
		n.settledLocked(d)
	}
	n.docMu.Unlock()
	if err != nil {
		return false, err
	}
	if len(inc) > 0 {
		// The keystroke path, step by step at debug level (this, the
		// change sent and applied, the sync message for the page):
		// BenchmarkBrowserKeystroke times each step from these.
		f.l.log.Debug("page change stored", "doc", kind, "bytes", len(inc), "received", received)
		f.l.pushChange(kind, inc)
	}
	if res.Changed {
		f.l.docChanged(kind, n.id)
	}
	return queued, nil
}

// ErrRefusedChange is returned for a page's change that breaks the
// session's rules: nothing of it left the node, and the page must drop its
// copy of the document and sync afresh.
var ErrRefusedChange = errors.New("change refused")

// mayEditDoc says whether this node's user may send a document through the
// page at all: never the private one from the candidate's node (it has
// none). What the page's sync messages may change is the guard's to judge
// (rules.go): a change-free message is always fine, so that a candidate's
// page in the lobby syncs without an error.
func (l *live) mayEditDoc(kind crdt.Kind) error {
	if l.role == RoleCandidate && kind != crdt.Shared {
		return fmt.Errorf("the candidate's node keeps no %s document: %w", kind, ErrNotInterviewer)
	}
	return nil
}

// SetCursor shares where this node's user has the caret: with the others
// through the topic, at most every 50 ms; a caret set sooner waits for the
// rest of the 50 ms, and the newest one then goes.
func (f *Follower) SetCursor(c Cursor) error {
	if !c.valid() {
		return fmt.Errorf("bad cursor")
	}
	f.l.setCursor(f.n.id, c)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	if wait := cursorEvery - time.Since(f.last); wait > 0 {
		f.pending = &c
		if f.timer == nil {
			f.timer = time.AfterFunc(wait, f.flushCursor)
		}
		return nil
	}
	f.last = time.Now()
	return f.l.publish(msgPresence, presence{State: "cursor", Cursor: &c})
}

// cursorEvery is the least time between two carets published.
const cursorEvery = 50 * time.Millisecond

func (f *Follower) flushCursor() {
	f.mu.Lock()
	c := f.pending
	f.pending, f.timer = nil, nil
	if c == nil || f.closed {
		f.mu.Unlock()
		return
	}
	f.last = time.Now()
	f.mu.Unlock()
	f.l.publish(msgPresence, presence{State: "cursor", Cursor: c})
}

// FollowState is what the page shows besides the documents.
type FollowState struct {
	Session Session            `json:"session"`
	Cursors map[peer.ID]Cursor `json:"-"`
	Names   map[peer.ID]string `json:"-"`
	Media   []MediaSlot        `json:"-"`
}

// State returns the session, the carets of those present, and who is in
// the call.
func (f *Follower) State(ctx context.Context) (FollowState, error) {
	s, err := f.n.Session(ctx, f.l.inv.SessionID)
	r, _ := f.n.db.Session(f.l.inv.SessionID)
	return FollowState{Session: s, Cursors: f.l.cursorsOf(), Names: f.n.namesIn(r, f.l), Media: f.l.mediaSlots()}, err
}

// MediaOffer opens the call's leg to the page (replacing an earlier one)
// and returns the node's offer; the interview must have started.
func (f *Follower) MediaOffer(ctx context.Context) (string, error) {
	if !f.l.started() {
		return "", fmt.Errorf("the call starts when an interviewer starts the interview")
	}
	c, err := f.l.ensureCall()
	if err != nil {
		return "", err
	}
	f.l.startMedia()
	leg, sdp, err := c.openBrowser(ctx)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	old := f.leg
	f.leg = leg
	f.mu.Unlock()
	if old != nil {
		c.closeBrowser(old)
	}
	return sdp, nil
}

// MediaAnswer takes the page's answer to MediaOffer.
func (f *Follower) MediaAnswer(sdp string) error {
	f.mu.Lock()
	leg := f.leg
	f.mu.Unlock()
	if leg == nil {
		return fmt.Errorf("no media offer is waiting for an answer")
	}
	return leg.Accept(sdp)
}

// SetMediaState shares whether this node's user has the microphone and
// camera on.
func (f *Follower) SetMediaState(m MediaState) error {
	f.l.setMediaState(f.n.id, m)
	return f.l.publish(msgPresence, presence{State: "media", Media: &m})
}

// Close ends following: the worker forgets the follower's sync states.
func (f *Follower) Close() {
	f.mu.Lock()
	f.closed = true
	if f.timer != nil {
		f.timer.Stop()
	}
	leg := f.leg
	f.mu.Unlock()
	f.unfeed()
	if leg != nil {
		f.l.mu.Lock()
		c := f.l.call
		f.l.mu.Unlock()
		c.closeBrowser(leg) // a leg is only ever made by the call
	}
	for _, k := range docKinds(f.l.role) {
		if d, err := f.l.doc(k); err == nil {
			f.n.syncResetName(d, f.id)
		}
	}
}
