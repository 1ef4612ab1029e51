package node

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/node/store"
)

// A session's documents live in the node's Automerge worker (see package
// crdt); the node keeps them in its store as a snapshot plus increments, and
// never decodes Automerge bytes itself. All work with the worker happens
// under n.docMu: the worker serves one request at a time anyway, and a
// recovery after its death must not interleave with anything.

// snapshotEvery is how many increments a document gathers before the node
// saves a checked snapshot in their place.
const snapshotEvery = 4096

// sessionDoc is one of a session's documents on this node.
type sessionDoc struct {
	l       *live // nil for a copy loaded for one read (see withDoc)
	session string
	kind    crdt.Kind
	id      string // in the worker
	gen     int    // the worker generation it was loaded into
	upto    uint64 // the last stored increment the worker's copy includes
	pending int    // increments since the last snapshot
	actor   string // this node's actor in it since an eviction (leftout.go), if one happened
}

func (d *sessionDoc) actorOr(def string) string { return cmp.Or(d.actor, def) }

// docKinds returns the documents a role keeps: everyone the shared one,
// interviewers and the company node the private one too.
func docKinds(role string) []crdt.Kind {
	if role == RoleCandidate {
		return []crdt.Kind{crdt.Shared}
	}
	return []crdt.Kind{crdt.Shared, crdt.Private}
}

// actor is this node's Automerge actor: the first 8 bytes of a digest of
// its peer ID (its actor key: history names who typed what by it; a peer
// ID itself, 38 bytes, would ride in every change) and 8 random bytes of
// this run's. A run never reuses an earlier run's sequence numbers, which
// peers may hold even where this node's copy lost them (an eviction,
// evict.go, drops changes of its own; so may a store repaired after a
// crash).
func (n *Node) actor() string { return n.actorID }

// newActor returns an actor under id's key with random bytes of its own.
func newActor(id peer.ID) string {
	var b [8]byte
	rand.Read(b[:])
	return actorKey(actorOf(id)) + hex.EncodeToString(b[:])
}

func actorOf(id peer.ID) string {
	sum := sha256.Sum256([]byte("parley/1 actor\x00" + string(id)))
	return hex.EncodeToString(sum[:16])
}

// actorKey is the part of an actor that names its participant: the first 8
// bytes, which a node's own actor and its pages' actors share. Like
// Automerge actors themselves, it is not authenticated: history says who
// typed what as the participants' nodes labelled it.
func actorKey(actor string) string {
	if len(actor) < 16 {
		return actor
	}
	return actor[:16]
}

// openDocs loads a session's documents into the worker.
func (n *Node) openDocs(l *live) error {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	for _, k := range docKinds(l.role) {
		d := &sessionDoc{l: l, session: l.inv.SessionID, kind: k, id: crdt.DocID(l.inv.SessionID, k)}
		n.docs[d.id] = d
		l.mu.Lock() // admissions may already read l.docs
		l.docs[k] = d
		l.mu.Unlock()
		if err := n.loadDocLocked(d); err != nil {
			if errors.Is(err, crdt.ErrWorkerDied) {
				n.recoverLocked()
				continue
			}
			return err
		}
	}
	return nil
}

// closeDocs drops a session's documents from the worker.
func (n *Node) closeDocs(l *live) {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	for _, d := range l.docs {
		delete(n.docs, d.id)
		if d.gen == n.worker.Generation() {
			n.worker.CloseDoc(d.id)
		}
	}
}

// poisoned is an increment that killed the worker.
type poisoned struct{ inc store.Increment }

func (p *poisoned) Error() string {
	return fmt.Sprintf("increment %d from %s killed the worker", p.inc.Seq, p.inc.From)
}

// errPoisonedSnapshot says that a document's stored snapshot, alone, kills
// the worker: a snapshot passes its check (a save, a load and a read), and
// some poison shows only in a sync message generated later. Its increments
// are kept: the document is rebuilt from them, and the poison is then
// found in the increment that brought it, rather than blamed, in turn, on
// each honest increment stored after the snapshot.
var errPoisonedSnapshot = errors.New("the stored snapshot killed the worker")

// loadDocLocked loads a document from its snapshot and increments. With
// check set, every increment is followed by an incremental save and a read,
// which some poisoned input needs to show itself. Call with n.docMu held.
func (n *Node) loadDocLocked(d *sessionDoc) error {
	return n.loadDoc(d, false)
}

func (n *Node) loadDoc(d *sessionDoc, check bool) error {
	return n.loadDocSkipping(d, check, nil)
}

// loadDocSkipping loads a document without the increments in skip, from its
// snapshot, or from its genesis when the snapshot includes one of them.
func (n *Node) loadDocSkipping(d *sessionDoc, check bool, skip map[uint64]bool) error {
	session, kind := d.session, string(d.kind)
	n.worker.CloseDoc(d.id) // a stale copy in a live worker
	fromSnap, err := n.startDoc(d, skip)
	if err != nil {
		return err
	}
	d.gen = n.worker.Generation()
	if check && fromSnap {
		if err := n.touch(d); errors.Is(err, crdt.ErrWorkerDied) {
			return errPoisonedSnapshot
		}
	}
	incs, err := n.db.Increments(session, kind, d.upto)
	if err != nil {
		return err
	}
	for _, inc := range incs {
		if skip[inc.Seq] {
			continue
		}
		_, err := n.worker.Apply(d.id, inc.Bytes, nil)
		if errors.Is(err, crdt.ErrQueued) {
			err = nil // what it depends on went with a poisoned increment
		}
		if err == nil && check {
			err = n.touch(d)
		}
		if errors.Is(err, crdt.ErrWorkerDied) {
			return &poisoned{inc}
		}
		if err != nil {
			// Refused now though accepted before: drop it, it is poison.
			n.log.Warn("a stored increment no longer applies; removing it", "doc", d.id, "seq", inc.Seq, "from", inc.From, "err", err)
			n.db.DeleteIncrement(session, kind, inc.Seq)
			continue
		}
		d.upto = inc.Seq
		d.pending++
	}
	return nil
}

// touch makes the worker do with a document what kills it when some
// poisoned input was accepted: the next incremental save, and a lookup of
// every object and value a read makes (crdt.Worker.Touch).
func (n *Node) touch(d *sessionDoc) error {
	return n.worker.Touch(d.id)
}

// startDoc opens the snapshot of a document, or its genesis when it has
// none or the snapshot includes an increment of skip.
// It reports whether it opened the snapshot.
func (n *Node) startDoc(d *sessionDoc, skip map[uint64]bool) (bool, error) {
	snap, err := n.db.Snapshot(d.session, string(d.kind))
	includes := false
	for seq := range skip {
		includes = includes || seq <= snap.Upto
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && includes {
		// From the base, if an eviction left one (leftout.go).
		if base, err := n.db.Base(d.session, string(d.kind)); err == nil {
			d.upto = base.Upto
			return false, n.worker.Load(d.id, crdt.DocID(d.session, d.kind), d.kind, d.actorOr(n.actor()), base.Bytes)
		}
		d.upto = 0
		// A copy loaded for a read (see withDoc) has an ID of its own, and
		// the document's genesis all the same.
		return false, n.worker.NewCopy(d.id, crdt.DocID(d.session, d.kind), d.kind, d.actorOr(n.actor()))
	}
	if err != nil {
		return false, err
	}
	d.upto = snap.Upto
	return true, n.worker.Load(d.id, crdt.DocID(d.session, d.kind), d.kind, d.actorOr(n.actor()), snap.Bytes)
}

// recoverLocked brings the documents back after the worker died: every open
// document is loaded again, checking each stored increment on its own (an
// incremental save and a read after each); increments that kill the worker
// are removed and their senders quarantined in their session. Then each
// document must survive a full save, load and read; one that does not is
// searched, increment by increment, for the one that broke it. It reports
// whether it found any poison. Call with n.docMu held.
func (n *Node) recoverLocked() (found bool) {
	for attempt := 0; attempt < 64; attempt++ {
		var hit *poisoned
		var at *sessionDoc
		var badSnap *sessionDoc
		for _, d := range n.docs {
			err := n.loadDoc(d, true)
			if errors.As(err, &hit) {
				at = d
				break
			}
			if errors.Is(err, errPoisonedSnapshot) {
				badSnap = d
				break
			}
			if err != nil {
				n.log.Error("reloading a document", "doc", d.id, "err", err)
			}
		}
		if hit == nil && badSnap == nil {
			for _, d := range n.docs {
				if _, err := n.worker.Check(d.id); err != nil {
					inc, ok, err := n.locatePoison(d)
					switch {
					case errors.Is(err, errPoisonedSnapshot):
						badSnap = d
					case ok:
						hit, at = &poisoned{inc}, d
					default:
						n.log.Error("a document fails its check, and no stored increment explains it", "doc", d.id)
						if err := n.loadDoc(d, false); err != nil { // as stored: what it holds stays
							n.log.Error("reloading a document", "doc", d.id, "err", err)
						}
					}
					break
				}
			}
		}
		if badSnap != nil {
			n.log.Warn("the stored snapshot kills the worker; rebuilding the document from its increments", "doc", badSnap.id)
			n.db.DeleteSnapshot(badSnap.session, string(badSnap.kind))
			found = true
			continue
		}
		if hit == nil {
			break
		}
		found = true
		n.removeIncrementLocked(at, hit.inc)
		if from, err := peer.Decode(hit.inc.From); err == nil && at.l != nil {
			if author := at.l.blameOf(hit.inc); author != "" && author != n.id {
				at.l.quarantine(author, from, "sent document data that crashed this node's Automerge worker", true)
			}
		}
	}
	// What survived the checks is good: snapshot it.
	for _, d := range n.docs {
		n.snapshotLocked(d)
	}
	for _, d := range n.docs {
		d.l.kickSync()
	}
	return found
}

// removeIncrementLocked removes a poisoned increment, and the snapshot too
// if it includes it: the document is then rebuilt from its genesis and the
// increments that remain. Call with n.docMu held.
func (n *Node) removeIncrementLocked(d *sessionDoc, inc store.Increment) {
	n.log.Warn("removed a poisoned increment", "doc", d.id, "seq", inc.Seq, "from", inc.From)
	session, kind := d.session, string(d.kind)
	n.db.DeleteIncrement(session, kind, inc.Seq)
	if snap, err := n.db.Snapshot(session, kind); err == nil && inc.Seq <= snap.Upto {
		n.db.DeleteSnapshot(session, kind)
	}
}

// locatePoison finds the stored increment without which a document
// survives a full save, load and read again: the first after which that
// check fails, provided the document rebuilt without it passes. A check
// that fails for another cause (poison earlier that shows only later, two
// poisoned increments, a worker that died on the way) removes nothing: an
// honest increment is never removed on a guess. The worker may die on the
// way; the caller reloads everything anyway. Call with n.docMu held.
// The snapshot is checked first: when it fails alone, it is the poison
// (errPoisonedSnapshot), not the increments after it.
func (n *Node) locatePoison(d *sessionDoc) (store.Increment, bool, error) {
	inc, ok, err := n.firstFailing(d, nil)
	if err != nil || !ok {
		return inc, false, err
	}
	if _, still, err := n.firstFailing(d, map[uint64]bool{inc.Seq: true}); err != nil || still {
		n.log.Warn("a document fails its check, and not for want of the increment after which it first fails; none removed", "doc", d.id, "seq", inc.Seq, "from", inc.From)
		return inc, false, nil
	}
	return inc, true, nil
}

// firstFailing rebuilds a document without the increments in skip, checking
// it after each increment, and returns the first after which the check
// fails. It reports false when every check passed.
func (n *Node) firstFailing(d *sessionDoc, skip map[uint64]bool) (store.Increment, bool, error) {
	n.worker.CloseDoc(d.id)
	fromSnap, err := n.startDoc(d, skip)
	if err != nil {
		return store.Increment{}, false, nil
	}
	if fromSnap {
		if _, err := n.worker.Check(d.id); err != nil {
			return store.Increment{}, false, errPoisonedSnapshot
		}
	}
	incs, err := n.db.Increments(d.session, string(d.kind), d.upto)
	if err != nil {
		return store.Increment{}, false, nil
	}
	for _, inc := range incs {
		if skip[inc.Seq] {
			continue
		}
		_, err := n.worker.Apply(d.id, inc.Bytes, nil)
		if errors.Is(err, crdt.ErrQueued) {
			err = nil
		}
		if err == nil {
			_, err = n.worker.Check(d.id)
		}
		if err != nil {
			return inc, true, nil
		}
	}
	return store.Increment{}, false, nil
}

// snapshotLocked saves a checked snapshot of a document in place of its
// increments. Call with n.docMu held.
func (n *Node) snapshotLocked(d *sessionDoc) {
	saved, err := n.worker.Check(d.id)
	if err != nil {
		// Not again at every increment stored: after snapshotEvery more.
		d.pending = 0
		n.log.Error("checking a document for a snapshot", "doc", d.id, "err", err)
		return
	}
	if err := n.db.PutSnapshot(d.session, string(d.kind), store.Snapshot{Bytes: saved, Upto: d.upto, Good: true}); err != nil {
		n.log.Error("saving a snapshot", "doc", d.id, "err", err)
		return
	}
	d.pending = 0
}

// storeLocked stores an increment the worker accepted. Call with n.docMu
// held.
func (n *Node) storeLocked(d *sessionDoc, b []byte, from peer.ID) error {
	return n.storeFromLocked(d, b, from, "")
}

// storeFromLocked stores what a document gained, and feeds it to the pages
// that take changes, but the one it came from (origin, a follower's ID).
func (n *Node) storeFromLocked(d *sessionDoc, b []byte, from peer.ID, origin string) error {
	seq, err := n.db.AppendIncrement(d.session, string(d.kind), store.Increment{Bytes: b, From: from.String(), At: n.now().UTC()})
	if err != nil {
		return err
	}
	d.upto = seq
	if d.l != nil {
		d.l.feedIncrement(d.kind, b, origin)
	}
	d.pending++
	if d.pending >= snapshotEvery {
		n.snapshotLocked(d)
	}
	return nil
}

// workerFailed handles an error of the worker: its death triggers recovery,
// which reloads what was stored, checking each increment on its own and
// blaming those that kill it. It returns err. Call with n.docMu held.
func (n *Node) workerFailed(err error) error {
	if errors.Is(err, crdt.ErrWorkerDied) {
		n.log.Warn("the Automerge worker died", "err", err)
		n.recoverLocked()
	}
	return err
}

// fromPeer runs op on document d, handing it a peer's bytes. If the worker
// dies, the bytes may be poison; or they may be innocent and have tripped
// over poison already in the document (a stored change that kills nobody
// alone, but the next honest edit near it). So:
//   - after recovery, op runs again on the fresh worker; if it lives, the
//     bytes were innocent;
//   - if not, op runs on a bare document (the session's genesis): bytes that
//     kill even that are poison on their own, and the peer is quarantined;
//   - else the document is rebuilt without each of its recent stored
//     increments in turn, newest first: if op lives without one, that one
//     goes and its sender is quarantined; if none, the peer is.
//
// Call with n.docMu held.
func (n *Node) fromPeer(d *sessionDoc, from peer.ID, data []byte, op func(id string) error) error {
	err := op(d.id)
	if !errors.Is(err, crdt.ErrWorkerDied) {
		return err
	}
	n.workerFailed(err)
	if err = op(d.id); !errors.Is(err, crdt.ErrWorkerDied) {
		return err
	}
	n.workerFailed(err)
	const reason = "sent document data that crashed this node's Automerge worker"
	blame := func() error {
		n.ensureLoaded(d)
		if d.l != nil {
			if author := d.l.blameData(from, data); author != "" && author != n.id {
				d.l.quarantine(author, from, reason, true)
			}
		}
		return fmt.Errorf("%w: the data crashed the worker twice", crdt.ErrWorkerDied)
	}
	probe := d.id + "/probe"
	if err := n.worker.New(probe, d.kind, n.actor()); err == nil {
		err = op(probe)
		n.worker.CloseDoc(probe)
		if errors.Is(err, crdt.ErrWorkerDied) {
			n.workerFailed(err)
			return blame()
		}
	}
	// Whose stored data, left out, lets op live? First by sender (few),
	// then that sender's increments one by one, newest first.
	incs, _ := n.db.Increments(d.session, string(d.kind), 0)
	lives := func(skip map[uint64]bool) bool {
		if lerr := n.loadDocSkipping(d, false, skip); lerr != nil {
			n.workerFailed(lerr)
			return false
		}
		if err = op(d.id); errors.Is(err, crdt.ErrWorkerDied) {
			n.workerFailed(err)
			return false
		}
		return true
	}
	var senders []string
	for i := len(incs) - 1; i >= 0; i-- {
		if f := incs[i].From; f != from.String() && f != n.id.String() && !slices.Contains(senders, f) {
			senders = append(senders, f)
		}
	}
	for _, sender := range senders {
		all := map[uint64]bool{}
		for _, inc := range incs {
			if inc.From == sender {
				all[inc.Seq] = true
			}
		}
		if !lives(all) {
			continue
		}
		for i := len(incs) - 1; i >= 0; i-- {
			inc := incs[i]
			if inc.From != sender || !lives(map[uint64]bool{inc.Seq: true}) {
				continue
			}
			// Without inc, the peer's bytes are fine: inc was the poison.
			n.removeIncrementLocked(d, inc)
			if carrier, perr := peer.Decode(inc.From); perr == nil {
				if author := d.l.blameOf(inc); author != "" && author != n.id {
					d.l.quarantine(author, carrier, reason, true)
				}
			}
			n.recoverLocked()
			return err
		}
	}
	n.log.Warn("data crashed the worker twice, and no stored increment explains it", "doc", d.id, "from", from)
	n.recoverLocked()
	return blame()
}

// ensureLoaded reloads a document a dead worker lost. Call with n.docMu held.
func (n *Node) ensureLoaded(d *sessionDoc) error {
	if d.gen == n.worker.Generation() {
		return nil
	}
	n.recoverLocked()
	if d.gen != n.worker.Generation() {
		return fmt.Errorf("document %s could not be loaded", d.id)
	}
	return nil
}

// applyRemote merges changes a peer sent, judged by the session's rules
// (rules.go). What the worker refuses is dropped, never stored or passed
// on; what kills it gets the sender quarantined.
func (n *Node) applyRemote(d *sessionDoc, from peer.ID, b []byte) (changed bool, err error) {
	var g *crdt.Guard
	if d.l != nil {
		g = d.l.guardFor(from, d.kind)
	}
	return n.applyGuarded(d, from, b, g)
}

// applyGuarded merges a peer's changes under g.
func (n *Node) applyGuarded(d *sessionDoc, from peer.ID, b []byte, g *crdt.Guard) (changed bool, err error) {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	if err := n.ensureLoaded(d); err != nil {
		return false, err
	}
	var res crdt.Result
	queued := false
	err = n.fromPeer(d, from, b, func(id string) error {
		var err error
		// What the document gained is stored as the sender's.
		res, err = n.worker.Apply(id, b, g)
		if errors.Is(err, crdt.ErrQueued) {
			queued, err = true, nil
		}
		return err
	})
	if err != nil {
		return false, err
	}
	if queued && d.l != nil {
		d.l.kickSync()
		d.l.askResend(from, d.kind)
	}
	if res.Skipped > 0 && d.l != nil {
		d.l.skipped.Add(int64(res.Skipped))
		d.l.leftOut(from, d.kind, res.LeftOut)
	}
	if res.Skipped > 0 {
		n.log.Info("left out changes a peer sent: after the end, or passed on by a candidate", "doc", d.id, "from", from, "changes", res.Skipped)
	}
	if len(res.Gained) > 0 {
		if err := n.storeLocked(d, res.Gained, from); err != nil {
			return false, err
		}
	}
	if res.Settled {
		n.settledLocked(d)
	}
	return res.Changed, nil
}

// ErrNoDoc is returned for a document this node does not keep.
var ErrNoDoc = errors.New("no such document here")

// docHeads returns the heads of the session's documents, by kind.
func (l *live) docHeads() map[string][]string {
	l.mu.Lock()
	docs := maps.Clone(l.docs)
	l.mu.Unlock()
	out := map[string][]string{}
	n := l.n
	n.docMu.Lock()
	defer n.docMu.Unlock()
	for kind, d := range docs {
		if n.ensureLoaded(d) != nil {
			continue
		}
		hs, err := n.worker.Heads(d.id)
		if err != nil {
			n.workerFailed(err)
			continue
		}
		out[string(kind)] = hs
	}
	return out
}

// doc returns a session's document of a kind.
func (l *live) doc(kind crdt.Kind) (*sessionDoc, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.docs[kind]
	if d == nil {
		return nil, fmt.Errorf("this node does not keep the %s document: %w", kind, ErrNoDoc)
	}
	return d, nil
}

// Edit makes edits to a session's document as this node, and sends the
// change to the peers that may have it.
func (n *Node) Edit(ctx context.Context, id string, kind crdt.Kind, edits ...crdt.Edit) error {
	l, err := n.lookupLive(id)
	if err != nil {
		return err
	}
	if err := l.mayEdit(kind, edits); err != nil {
		return err
	}
	d, err := l.doc(kind)
	if err != nil {
		return err
	}
	change, err := n.editDoc(d, edits, func(change []byte) { l.pushChange(kind, change) })
	if err != nil || change == nil {
		return err
	}
	l.docChanged(kind, n.id)
	return nil
}

// editDoc commits edits in the worker, hands the change to push (to send it
// on its way at once), and stores it.
func (n *Node) editDoc(d *sessionDoc, edits []crdt.Edit, push func([]byte)) ([]byte, error) {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	if err := n.ensureLoaded(d); err != nil {
		return nil, err
	}
	change, err := n.worker.Edit(d.id, edits, n.now().UTC())
	if errors.Is(err, crdt.ErrWorkerDied) {
		// Not this node's edit's fault: recover, and make it on the fresh
		// worker.
		n.workerFailed(err)
		change, err = n.worker.Edit(d.id, edits, n.now().UTC())
	}
	if err != nil {
		return nil, n.workerFailed(err)
	}
	if change == nil {
		return nil, nil
	}
	push(change)
	return change, n.storeLocked(d, change, n.id)
}

// mayEdit says whether this node may make these edits: the candidate edits
// the code once the interview started, and neither the question nor the
// file list.
func (l *live) mayEdit(kind crdt.Kind, edits []crdt.Edit) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.end != nil {
		return fmt.Errorf("%s: %w", endedMessage(l.state.end.record), ErrSessionEnded)
	}
	if l.role != RoleCandidate {
		return nil
	}
	if !l.openedLocked() {
		return fmt.Errorf("the interview has not started: the code opens when an interviewer starts it")
	}
	for _, e := range edits {
		if kind != crdt.Shared || e.Op != "splice" || !strings.HasPrefix(e.Target, "file:") {
			return fmt.Errorf("the candidate edits the code; files and the question are the interviewers': %w", ErrNotInterviewer)
		}
	}
	return nil
}

// openedLocked reports whether the code is open to the candidate: the
// start record is here, or the session's content came, which the others'
// nodes send only once they saw the start (the record may come a moment
// later, on the topic).
func (l *live) openedLocked() bool {
	return l.state.start != nil || l.gotContent
}

// Code returns the text of a file of a session (the active file if file is
// empty), and its name.
func (n *Node) Code(ctx context.Context, id, file string) (string, string, error) {
	v, err := n.View(ctx, id, crdt.Shared)
	if err != nil {
		return "", "", err
	}
	return pickFile(v, id, file)
}

// View reads a session's document.
func (n *Node) View(ctx context.Context, id string, kind crdt.Kind) (crdt.View, error) {
	var v crdt.View
	err := n.withDoc(id, kind, func(d *sessionDoc, _ store.Session) error {
		var err error
		if v, err = n.worker.View(d.id); err != nil {
			return n.workerFailed(err)
		}
		return nil
	})
	return v, err
}

// withDoc runs f with a session's document loaded in the worker, under
// n.docMu: the live document, or for a session this node is not in now
// (ended, left, or the node is not running) a copy loaded from the store
// for the call, so that an ended interview can still be read and replayed.
func (n *Node) withDoc(id string, kind crdt.Kind, f func(d *sessionDoc, r store.Session) error) error {
	l, err := n.lookupLive(id)
	if err == nil {
		d, err := l.doc(kind)
		if err != nil {
			return err
		}
		r, err := n.db.Session(l.inv.SessionID)
		if err != nil {
			return err
		}
		n.docMu.Lock()
		defer n.docMu.Unlock()
		if err := n.ensureLoaded(d); err != nil {
			return err
		}
		return f(d, r)
	}
	if !errors.Is(err, ErrSessionEnded) && !errors.Is(err, ErrNotJoined) && !errors.Is(err, ErrNotRunning) {
		return err
	}
	r, rerr := n.lookupSession(id)
	if rerr != nil {
		return rerr
	}
	if r.Since.IsZero() && !r.Company {
		return err // never took part: nothing stored
	}
	if !slices.Contains(docKinds(r.Role), kind) {
		return fmt.Errorf("this node keeps no %s document of session %s: %w", kind, r.ID, ErrNoDoc)
	}
	n.docMu.Lock()
	defer n.docMu.Unlock()
	d, err := n.loadCopyLocked(r.ID, kind)
	if err != nil {
		return err
	}
	defer n.worker.CloseDoc(d.id)
	return f(d, r)
}

// loadCopyLocked loads a copy of a stored document into the worker, beside
// the live one if there is one, for one piece of work; the caller closes it.
// Call with n.docMu held.
func (n *Node) loadCopyLocked(session string, kind crdt.Kind) (*sessionDoc, error) {
	d := &sessionDoc{session: session, kind: kind, id: crdt.DocID(session, kind) + "@copy"}
	if err := n.loadDoc(d, false); err != nil {
		if p := (*poisoned)(nil); errors.Is(err, crdt.ErrWorkerDied) || errors.As(err, &p) {
			n.recoverLocked() // the live documents come back
		}
		return nil, fmt.Errorf("reading the stored %s document of session %s: %w", kind, session, err)
	}
	return d, nil
}

// LoadFile replaces (or creates) a file's text: interviewers only.
func (n *Node) LoadFile(ctx context.Context, id, file, text string) error {
	l, err := n.lookupLive(id)
	if err != nil {
		return err
	}
	if l.role != RoleInterviewer {
		return fmt.Errorf("only an interviewer can load a file into the session: %w", ErrNotInterviewer)
	}
	v, err := n.View(ctx, id, crdt.Shared)
	if err != nil {
		return err
	}
	edits := []crdt.Edit{{Op: "add", Name: file, Text: text}}
	if old, ok := v.Files[file]; ok {
		edits = []crdt.Edit{{Op: "splice", Target: "file:" + file, Pos: 0, Del: runeCount(old), Text: text}}
	}
	if v.Active == "" {
		edits = append(edits, crdt.Edit{Op: "active", Name: file})
	}
	return n.Edit(ctx, id, crdt.Shared, edits...)
}

func runeCount(s string) int { return len([]rune(s)) }

// TimelineEntry is one change of a session's code, for replay.
type TimelineEntry struct {
	Time        time.Time `json:"time"`
	Participant string    `json:"participant"`
	Peer        string    `json:"peer"`
	File        string    `json:"file"`
	Inserted    int       `json:"inserted"`
	Deleted     int       `json:"deleted"`
	// Run, if set, says this entry is a run of the code, started then by
	// Participant, of File (see run.go).
	Run *TimelineRun `json:"run,omitempty"`
}

// Timeline lists who changed which file when, oldest first.
func (n *Node) Timeline(ctx context.Context, id string) ([]TimelineEntry, error) {
	var hist []crdt.ChangeInfo
	var names map[peer.ID]string
	err := n.withDoc(id, crdt.Shared, func(d *sessionDoc, r store.Session) error {
		var err error
		hist, err = n.worker.History(d.id)
		names = n.namesIn(r, d.l)
		return err
	})
	if err != nil {
		return nil, err
	}
	actors := map[string]peer.ID{}
	for id := range names {
		actors[actorKey(actorOf(id))] = id
	}
	var out []TimelineEntry
	for _, c := range hist {
		p := actors[actorKey(c.Actor)]
		for _, e := range c.Edits {
			file, ok := strings.CutPrefix(e.Target, "file:")
			if !ok {
				file = e.Target
			}
			out = append(out, TimelineEntry{Time: c.Time, Participant: names[p], Peer: p.String(), File: file, Inserted: e.Ins, Deleted: e.Del})
		}
	}
	out = append(out, n.runEntries(ctx, id)...)
	slices.SortStableFunc(out, func(a, b TimelineEntry) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// CodeAt returns a file's text as it was at t (the file active then, if
// file is empty), and its name.
func (n *Node) CodeAt(ctx context.Context, id, file string, t time.Time) (string, string, error) {
	var v crdt.View
	err := n.withDoc(id, crdt.Shared, func(d *sessionDoc, _ store.Session) error {
		var err error
		v, err = n.worker.At(d.id, t)
		return err
	})
	if err != nil {
		return "", "", err
	}
	return pickFile(v, id, file)
}

// pickFile returns a file of a view (the active one if file is empty).
func pickFile(v crdt.View, id, file string) (string, string, error) {
	if file == "" {
		file = v.Active
	}
	text, ok := v.Files[file]
	if !ok {
		var names []string
		for f := range v.Files {
			names = append(names, f)
		}
		slices.Sort(names)
		if len(names) == 0 {
			return "", "", fmt.Errorf("session %s has no files (yet): %w", id, ErrNotFound)
		}
		return "", "", fmt.Errorf("session %s has no file %q (it has: %s): %w", id, file, strings.Join(names, ", "), ErrNotFound)
	}
	return text, file, nil
}

// namesIn maps the peers that took part in a session to their names: those
// its record saw, and those present now when l (which may be nil) is live.
func (n *Node) namesIn(r store.Session, l *live) map[peer.ID]string {
	out := map[peer.ID]string{n.id: r.Name}
	for _, a := range r.Attendance {
		if id, err := peer.Decode(a.Peer); err == nil {
			out[id] = a.Name
		}
	}
	if l == nil {
		return out
	}
	out[n.id] = l.name
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, p := range l.peers {
		out[id] = p.name
	}
	return out
}
