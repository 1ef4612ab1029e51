package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/node/store"
)

// Documents travel between two nodes of a session over /parley/sync/1: each
// node opens one stream to each peer it may send documents to, and sends on
// it, after a hello naming the session, frames of
//
//	type (1) | document (1: 0 shared, 1 private) | length (uvarint) | bytes
//
// A change frame carries a change this node committed (Automerge's
// incremental format): the live path, sent at once to every peer. A sync
// frame carries an Automerge sync message: catch-up on connect, repair
// after a gap, and a round every syncEvery while changes flow. A node whose
// document is empty sends a need frame (no bytes but one), and the peer
// answers with a snapshot frame: the whole document saved, which loads far
// faster than a long history replayed change by change; a view frame (the
// document as it reads, JSON) goes just before it, for the joiner's page to
// show while its node loads the snapshot (arriving.go). The sender
// checks the lobby gate before every frame: the shared document goes to
// interviewers and the company node, and to the seated candidate once the
// interview started; the private document only ever to interviewers and the
// company node. The receiver hands the bytes to its worker and to nothing
// else.

// SyncProtocol is the libp2p protocol ID of document sync.
const SyncProtocol = "/parley/sync/1"

const (
	frameChange   byte = 1
	frameSync     byte = 2
	frameSnapshot byte = 3
	frameNeed     byte = 4
	// frameRecords carries the sender's control records and revocation
	// list (JSON admitState), ahead of the document frames they justify: a
	// candidate's first change after the start arrives after the start
	// record on the same stream, and a change after the end after the end.
	frameRecords byte = 5
	frameView    byte = 6
	// frameLeftOut, from the company node, names changes of the sender's
	// that it left out for good (leftout.go).
	frameLeftOut byte = 7
	// frameResend asks the peer to start its sync with the sender afresh:
	// the sender was given changes it cannot place, whose dependencies
	// the peer's sync state holds as sent already (sent while this node
	// refused its data, or lost in a worker that died), and Automerge
	// sends nothing twice on one sync state.
	frameResend byte = 8
	// frameLast is the newest type this node knows: frames of newer types
	// (a newer node's) are skipped.
	frameLast = frameResend
)

// maxRecordsFrame bounds a records frame.
const maxRecordsFrame = 64 << 10

// maxDocFrame bounds a document frame: a sync message for a long history
// (260k changes) is about 30 MB.
const maxDocFrame = 64 << 20

// syncEvery is how often a link runs a sync round while changes flow: a
// safety net, since a change that cannot be placed starts a round at once.
// Rounds cost more as history grows (about 14 ms at 20k changes), and the
// worker does nothing else meanwhile.
const syncEvery = 30 * time.Second

var kindCodes = []crdt.Kind{crdt.Shared, crdt.Private}

func kindCode(k crdt.Kind) byte {
	if k == crdt.Private {
		return 1
	}
	return 0
}

type docFrame struct {
	typ  byte
	kind crdt.Kind
	data []byte
}

func writeDocFrame(w io.Writer, f docFrame) error {
	buf := make([]byte, 0, 2+binary.MaxVarintLen64+len(f.data))
	buf = append(buf, f.typ, kindCode(f.kind))
	buf = binary.AppendUvarint(buf, uint64(len(f.data)))
	buf = append(buf, f.data...)
	_, err := w.Write(buf)
	return err
}

// readDocFrame reads one frame, refusing unknown types and documents and
// oversized frames.
func readDocFrame(r *bufio.Reader) (docFrame, error) {
	var f docFrame
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return f, err
	}
	f.typ = hdr[0]
	if f.typ < frameChange {
		return f, fmt.Errorf("unknown frame type %d", f.typ)
	}
	if int(hdr[1]) >= len(kindCodes) {
		return f, fmt.Errorf("unknown document %d", hdr[1])
	}
	f.kind = kindCodes[hdr[1]]
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return f, fmt.Errorf("bad frame length: %w", err)
	}
	if n == 0 || n > maxDocFrame || (f.typ == frameRecords || f.typ == frameLeftOut) && n > maxRecordsFrame {
		return f, fmt.Errorf("frame of %d bytes is out of bounds (1 to %d)", n, maxDocFrame)
	}
	if f.typ > frameLast {
		// A newer node's: skipped whole, so that a newer node can add
		// frames an older one can ignore.
		_, err := r.Discard(int(n))
		f.data = nil
		return f, err
	}
	f.data = make([]byte, n)
	if _, err := io.ReadFull(r, f.data); err != nil {
		return f, err
	}
	return f, nil
}

// link is this node's sending side of document exchange with one peer: the
// only writer of its stream.
type link struct {
	l    *live
	peer peer.ID
	out  chan docFrame
	kick chan struct{}
	stop chan struct{}

	mu       sync.Mutex
	needs    map[crdt.Kind]bool      // snapshots the peer asked for and has not had
	answered map[crdt.Kind]time.Time // when a snapshot last went out to the peer
	resends  map[[2]byte]time.Time   // the last resend asked of the peer (0) or by it (1), by document

	retrying atomic.Bool // a retry round is scheduled
	gapping  atomic.Bool // a look at a gap is scheduled (gapLater)
}

// mayHave is the gate: whether a document may go to the peer now.
func (k *link) mayHave(kind crdt.Kind) bool {
	if kind == crdt.Private {
		return k.l.role != RoleCandidate && k.l.isStaff(k.peer)
	}
	return k.l.mayReceiveContent(k.peer)
}

// isStaff reports whether an admitted peer is an interviewer or the company
// node.
func (l *live) isStaff(id peer.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.peers[id]
	return ok && (p.role == RoleInterviewer || p.role == RoleCompany)
}

// openLink starts document exchange with an admitted peer.
func (l *live) openLink(id peer.ID) {
	l.mu.Lock()
	if l.links[id] != nil || l.ctx.Err() != nil {
		l.mu.Unlock()
		return
	}
	k := &link{l: l, peer: id, out: make(chan docFrame, 1024), kick: make(chan struct{}, 1), stop: make(chan struct{}),
		needs: map[crdt.Kind]bool{}, answered: map[crdt.Kind]time.Time{}}
	l.links[id] = k
	l.mu.Unlock()
	l.wg.Go(k.run)
	k.poke()
}

// closeLink stops document exchange with a peer that left.
func (l *live) closeLink(id peer.ID) {
	l.mu.Lock()
	k := l.links[id]
	delete(l.links, id)
	l.mu.Unlock()
	if k != nil {
		close(k.stop)
	}
}

// poke asks for a sync round.
func (k *link) poke() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// retrySoon asks for a sync round in a second: after a failed send, as
// the peer may be unreachable for a while.
func (k *link) retrySoon() {
	if k.retrying.CompareAndSwap(false, true) {
		time.AfterFunc(time.Second, func() {
			k.retrying.Store(false)
			k.poke()
		})
	}
}

// gapWait is how long a node waits, after a change frame it could not
// place, for what the change depends on to come by another link before it
// asks the sender for a sync round. While two people type, a change often
// arrives just before the one it follows, which the other typist's node
// sent at the same moment; a round for each (BenchmarkTwoTypists: 197 for
// 4,000 changes) carries a Bloom filter of every change since the copies
// last agreed, and those stop agreeing while both type.
const gapWait = 250 * time.Millisecond

// gapLater asks the peer for a sync round in gapWait, if by then the
// document still holds back a change for want of what it depends on. A
// change frame that changed nothing because it was had already asks for
// nothing.
func (k *link) gapLater(d *sessionDoc) {
	if k.gapping.CompareAndSwap(false, true) {
		time.AfterFunc(gapWait, func() {
			k.gapping.Store(false)
			if k.l.n.holdsBack(d) {
				k.l.log.Debug("a change waits for what it depends on; a sync round", "peer", k.peer, "doc", d.kind)
				k.poke()
			}
		})
	}
}

// kickSync asks every link for a sync round: after a worker restart, or
// when the lobby gate opens.
func (l *live) kickSync() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.links {
		k.poke()
	}
}

// pushChange sends a committed change to every peer that may have it.
func (l *live) pushChange(kind crdt.Kind, change []byte) {
	l.mu.Lock()
	links := make([]*link, 0, len(l.links))
	for _, k := range l.links {
		links = append(links, k)
	}
	l.mu.Unlock()
	for _, k := range links {
		if !k.mayHave(kind) {
			continue
		}
		select {
		case k.out <- docFrame{typ: frameChange, kind: kind, data: change}:
		default:
			// The peer is far behind: a sync round catches it up.
			k.poke()
		}
	}
}

func (k *link) run() {
	l := k.l
	var s network.Stream
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	reopened := false // a stream was open before
	sentVer := -1     // the state version the peer was last sent
	// sendState writes a records frame if the peer has not had this
	// node's current records and revocations on this stream.
	sendState := func() error {
		ver, st := l.stateFor(sentVer, k.peer)
		if st == nil {
			return nil
		}
		if err := writeDocFrame(s, docFrame{typ: frameRecords, kind: crdt.Shared, data: st}); err != nil {
			return err
		}
		sentVer = ver
		return nil
	}
	open := func() error {
		ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
		defer cancel()
		var err error
		s, err = l.n.p2p.host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), k.peer, SyncProtocol)
		if err != nil {
			return err
		}
		if err := writeFrame(s, syncHello{Tag: l.tag}); err != nil {
			s.Reset()
			s = nil
			return err
		}
		// The records first thing: they say what may follow.
		sentVer = -1
		if err := sendState(); err != nil {
			s.Reset()
			s = nil
			return err
		}
		// An empty document asks for a snapshot. (The sync states were
		// reset when the peer was admitted; a stream opened again after a
		// break resets ours, so that we send again what may be lost.)
		for _, kind := range docKinds(l.role) {
			d, err := l.doc(kind)
			if err != nil {
				continue
			}
			if reopened {
				l.n.syncReset(d, k.peer)
			}
			// Snapshots are asked of interviewers and the company node: a
			// candidate's whole document would have to be judged change by
			// change (the sync rounds bring it that way if nobody else has
			// it).
			if l.n.docEmpty(d) && l.isStaff(k.peer) {
				l.asked(kind)
				writeDocFrame(s, docFrame{typ: frameNeed, kind: kind, data: []byte{0}})
			}
		}
		reopened = true
		return nil
	}
	send := func(f docFrame) bool {
		if s == nil {
			if err := open(); err != nil {
				l.log.Debug("document stream", "peer", k.peer, "err", err)
				return false
			}
		}
		s.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if err := sendState(); err != nil {
			l.log.Debug("document stream broke", "peer", k.peer, "err", err)
			s.Reset()
			s = nil
			return false
		}
		l.sentBytes.Add(int64(3 + len(f.data)))
		if err := writeDocFrame(s, f); err != nil {
			l.log.Debug("document stream broke", "peer", k.peer, "err", err)
			s.Reset()
			s = nil
			return false
		}
		if f.typ == frameChange {
			l.log.Debug("change sent", "peer", k.peer, "doc", f.kind, "bytes", len(f.data))
		}
		return true
	}
	// Open at once: an empty document's need goes out first thing.
	if err := open(); err != nil {
		l.log.Debug("document stream", "peer", k.peer, "err", err)
	}
	round := time.NewTicker(syncEvery)
	defer round.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-k.stop:
			return
		case f := <-k.out:
			if !send(f) {
				k.retrySoon()
			}
			continue
		case <-k.kick:
		case <-round.C:
			// A round now and then even when quiet: cheap when in step,
			// and what repairs a sync that went quiet too early.
		}
		for _, kind := range kindCodes {
			if !k.mayHave(kind) {
				continue
			}
			d, err := l.doc(kind)
			if err != nil {
				continue
			}
			if k.takeNeed(kind) {
				// The view first: the joiner's page shows it while its
				// node loads the snapshot.
				if v, err := l.n.viewDoc(d); err == nil && v != nil {
					send(docFrame{typ: frameView, kind: kind, data: v})
					l.log.Debug("view sent", "peer", k.peer, "doc", kind, "bytes", len(v))
				}
				if snap, err := l.n.saveDoc(d); err == nil && snap != nil {
					l.log.Debug("snapshot made", "peer", k.peer, "doc", kind, "bytes", len(snap))
					if !send(docFrame{typ: frameSnapshot, kind: kind, data: snap}) {
						k.unanswered(kind, true) // again, on the next round
						k.retrySoon()
					}
					// The peer answers with a sync round once it loaded
					// the snapshot; a sync message now would carry the
					// whole history again.
					continue
				}
				k.unanswered(kind, false)
			}
			if l.awaiting(kind) {
				// A sync round now would bring the history change by
				// change; the snapshot asked for is on its way.
				continue
			}
			msg, err := l.n.syncGenerate(d, k.peer)
			if err != nil || msg == nil {
				continue
			}
			if !send(docFrame{typ: frameSync, kind: kind, data: msg}) {
				// Lost, and Automerge thinks it in flight: the next
				// stream starts the exchange afresh, in a moment.
				k.retrySoon()
			}
		}
	}
}

// snapshotWait is how long a node with an empty document waits for the
// snapshot it asked for before it syncs change by change instead.
const snapshotWait = 10 * time.Second

// await notes that a snapshot of kind may be on its way, if the document
// is empty: a peer was just admitted (our need goes out when our stream
// opens, its sync round may come first), or the lobby gate opened.
func (l *live) await(kind crdt.Kind) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.awaitLocked(kind)
}

func (l *live) awaitLocked(kind crdt.Kind) {
	if l.waitSnap == nil {
		l.waitSnap = map[crdt.Kind]time.Time{}
	}
	l.waitSnap[kind] = time.Now()
}

// awaited notes that a snapshot of kind arrived.
func (l *live) awaited(kind crdt.Kind) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.waitSnap, kind)
}

// awaiting reports whether a snapshot of kind is still awaited: asked for
// less than snapshotWait ago, by a document that is still empty (one that
// took changes meanwhile syncs as usual).
func (l *live) awaiting(kind crdt.Kind) bool {
	l.mu.Lock()
	at, ok := l.waitSnap[kind]
	l.mu.Unlock()
	if !ok {
		return false
	}
	if time.Since(at) < snapshotWait {
		if d, err := l.doc(kind); err == nil && l.n.docEmpty(d) {
			return true
		}
	}
	l.awaited(kind)
	return false
}

// need records that the peer asked for a snapshot of kind. A node asks
// when its stream opens with the document empty; the snapshot it was sent
// less than snapshotWait ago answers it (a node whose snapshot did not
// come syncs change by change after snapshotWait), so that a modified
// node's flood of needs costs at most one snapshot, a whole document saved
// and sent, per document every snapshotWait.
func (k *link) need(kind crdt.Kind) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if at, ok := k.answered[kind]; ok && time.Since(at) < snapshotWait {
		return
	}
	k.needs[kind] = true
}

// takeNeed reports whether the peer asked for a snapshot of kind, and
// forgets the ask: the snapshot sent now answers it, and every ask until
// snapshotWait has passed.
func (k *link) takeNeed(kind crdt.Kind) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	need := k.needs[kind]
	delete(k.needs, kind)
	if need {
		k.answered[kind] = time.Now()
	}
	return need
}

// unanswered undoes what takeNeed did when no snapshot went out after all:
// the document held nothing to send, or the send failed (again: the peer
// still needs it, on the next round).
func (k *link) unanswered(kind crdt.Kind, again bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.answered, kind)
	if again {
		k.needs[kind] = true
	}
}

// syncHello opens a document stream.
type syncHello struct {
	Tag string `json:"tag"`
}

// handleSync reads a peer's document stream.
func (n *Node) handleSync(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	r := bufio.NewReaderSize(s, 64<<10)
	var hello syncHello
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := readFrame(r, 1024, &hello); err != nil {
		s.Reset()
		return
	}
	s.SetReadDeadline(time.Time{})
	n.mu.Lock()
	l := n.byTag[hello.Tag]
	n.mu.Unlock()
	if l == nil || !l.waitAdmitted(from, 5*time.Second) {
		s.Reset()
		return
	}
	for {
		f, err := readDocFrame(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && l.ctx.Err() == nil {
				l.log.Info("document stream from a peer ended", "peer", from, "err", err)
			}
			return
		}
		if l.ctx.Err() != nil || !l.isAdmitted(from) {
			s.Reset()
			return
		}
		l.receive(from, f)
	}
}

// waitAdmitted waits a little for a peer to be admitted: the side that
// finishes a handshake first may open its document stream before the other
// has recorded the admission.
func (l *live) waitAdmitted(id peer.ID, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		changed := l.waitChange()
		if l.isAdmitted(id) {
			return true
		}
		select {
		case <-changed:
		case <-deadline:
			return false
		case <-l.ctx.Done():
			return false
		}
	}
}

// receive takes a document frame from an admitted peer.
func (l *live) receive(from peer.ID, f docFrame) {
	received := time.Now()
	if h := l.n.frameHook.Load(); h != nil {
		(*h)(from.String(), f)
	}
	if reason := l.quarantined(from); reason != "" {
		return
	}
	if f.kind == crdt.Private && !l.isStaff(from) {
		l.log.Info("dropped private document data from a peer that may not have it", "peer", from)
		return
	}
	d, err := l.doc(f.kind)
	if err != nil {
		return // e.g. a candidate's node is sent no private document
	}
	var changed bool
	switch f.typ {
	case frameRecords:
		var st admitState
		if err := decodeStrict(f.data, &st); err != nil {
			l.refuse(from, "", "sent control records that do not decode: "+err.Error())
			return
		}
		l.mergeRevocations(st.Revocations)
		l.mergeRecords(st.Records, from)
		if st.Credential != "" {
			l.learnEmail(from, st.Credential)
		}
		return
	case frameNeed:
		l.mu.Lock()
		k := l.links[from]
		l.mu.Unlock()
		if k != nil {
			k.need(f.kind)
			k.poke()
		}
		return
	case frameResend:
		l.mu.Lock()
		k := l.links[from]
		l.mu.Unlock()
		if k != nil && k.resendDue(f.kind, 1) {
			l.n.syncReset(d, from)
			k.poke()
		}
		return
	case frameLeftOut:
		hashes, err := decodeLeftOut(f.data)
		switch {
		case !l.isArbiter(from):
			l.log.Info("ignored a left-out frame from a peer that is not the company node", "peer", from)
		case err != nil:
			l.log.Info("ignored a left-out frame that does not decode", "peer", from, "err", err)
		default:
			l.evict(from, d, hashes)
		}
		return
	case frameView:
		l.log.Debug("view arrived", "peer", from, "doc", f.kind, "bytes", len(f.data))
		if err := l.arrivingView(from, d, f.data); err != nil {
			l.refuse(from, "", "sent "+err.Error())
		}
		return
	case frameSnapshot:
		l.log.Debug("snapshot arrived", "peer", from, "doc", f.kind, "bytes", len(f.data))
		l.arrivingSaved(from, d, f.data)
		changed, err = l.n.applySnapshot(d, from, f.data)
		l.log.Debug("snapshot loaded", "peer", from, "doc", f.kind, "changed", changed, "err", err)
		l.arrived(f.kind)
		if err == nil {
			l.awaited(f.kind)
			l.kickSync()
		}
	case frameChange:
		changed, err = l.n.applyRemote(d, from, f.data)
		if hook := l.n.changeHook; hook != nil && f.typ == frameChange {
			hook(l.inv.SessionID, from)
		}
		if err == nil && !changed {
			// A change we could not place (a gap) or had.
			l.mu.Lock()
			k := l.links[from]
			l.mu.Unlock()
			if k != nil {
				k.gapLater(d)
			}
		}
	case frameSync:
		if l.awaiting(f.kind) {
			return // answered after the snapshot, with a round of our own
		}
		var reply []byte
		changed, reply, err = l.n.syncExchange(d, from, f.data)
		if reply != nil {
			l.sendTo(from, docFrame{typ: frameSync, kind: f.kind, data: reply})
		}
	}
	if err != nil {
		var rule *crdt.RuleError
		if errors.As(err, &rule) && rule.Hash != "" {
			l.leftOut(from, f.kind, []string{rule.Hash})
		}
		l.broke(from, err)
		l.log.Info("refused document data", "peer", from, "err", err)
		return
	}
	if changed {
		if f.kind == crdt.Shared {
			l.mu.Lock()
			l.gotContent = true
			l.mu.Unlock()
		}
		if f.typ == frameChange {
			l.log.Debug("change applied", "peer", from, "doc", f.kind, "bytes", len(f.data), "received", received)
		}
		l.docChanged(f.kind, from)
	}
}

// stateFor returns this node's records and revocation list encoded for a
// records frame, and their version, unless the peer has version sent.
func (l *live) stateFor(sent int, to peer.ID) (int, []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stateVer == sent {
		return sent, nil
	}
	st := admitState{Records: l.state.records(), Revocations: l.revToken}
	if p := l.peers[to]; p != nil && p.role != RoleCandidate && l.role == RoleInterviewer {
		st.Credential = l.cred
	}
	b, err := json.Marshal(st)
	if err != nil {
		return sent, nil
	}
	return l.stateVer, b
}

// sendTo queues a frame for a peer, if the gate lets it through.
func (l *live) sendTo(id peer.ID, f docFrame) {
	l.mu.Lock()
	k := l.links[id]
	l.mu.Unlock()
	if k == nil || !k.mayHave(f.kind) {
		return
	}
	select {
	case k.out <- f:
	default:
		k.poke()
	}
}

// resendEvery bounds how often a node asks a peer to resend, and how often
// it does so when asked: each is a sync round from scratch.
const resendEvery = 5 * time.Second

// resendDue reports whether a resend of kind may be asked of the peer (way
// 0) or done for it (way 1) now, and notes it.
func (k *link) resendDue(kind crdt.Kind, way byte) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := [2]byte{kindCode(kind), way}
	if time.Since(k.resends[key]) < resendEvery {
		return false
	}
	if k.resends == nil {
		k.resends = map[[2]byte]time.Time{}
	}
	k.resends[key] = time.Now()
	return true
}

// askResend asks a peer that sent changes this node could not place to
// send again what they depend on (frameResend), at most every resendEvery.
func (l *live) askResend(id peer.ID, kind crdt.Kind) {
	l.mu.Lock()
	k := l.links[id]
	l.mu.Unlock()
	if k != nil && k.mayHave(kind) && k.resendDue(kind, 0) {
		l.log.Debug("asked a peer to send again what its changes depend on", "peer", id, "doc", kind)
		select {
		case k.out <- docFrame{typ: frameResend, kind: kind, data: []byte{0}}:
		default:
		}
	}
}

func (l *live) pokeLink(id peer.ID) {
	l.mu.Lock()
	k := l.links[id]
	l.mu.Unlock()
	if k != nil {
		k.poke()
	}
}

// docChanged tells whoever follows the document (browsers) that it moved.
func (l *live) docChanged(kind crdt.Kind, from peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.docVersions == nil {
		l.docVersions = map[crdt.Kind]int{}
	}
	l.docVersions[kind]++
	delete(l.arriving, kind) // the page syncs from now on
	l.notify()
}

// saveDoc returns a whole document, saved, to send as a snapshot; nil if it
// holds nothing but its genesis.
func (n *Node) saveDoc(d *sessionDoc) ([]byte, error) {
	if n.docEmpty(d) {
		return nil, nil
	}
	n.docMu.Lock()
	defer n.docMu.Unlock()
	// The stored snapshot serves, if nothing came since.
	if snap, err := n.db.Snapshot(d.session, string(d.kind)); err == nil && snap.Upto == d.upto {
		return snap.Bytes, nil
	}
	if err := n.ensureLoaded(d); err != nil {
		return nil, err
	}
	b, err := n.worker.Save(d.id)
	if err != nil {
		return nil, n.workerFailed(err)
	}
	return b, nil
}

// applySnapshot takes a peer's whole document: in place of an empty one, by
// loading it (stored as this document's snapshot, checked at the next
// one); else merged like changes.
func (n *Node) applySnapshot(d *sessionDoc, from peer.ID, saved []byte) (bool, error) {
	n.docMu.Lock()
	empty := n.docEmptyLocked(d)
	if empty {
		defer n.docMu.Unlock()
		if err := n.ensureLoaded(d); err != nil {
			return false, err
		}
		var g *crdt.Guard
		if d.l != nil {
			g = d.l.guardFor(from, d.kind)
			if g.SenderRole == crdt.RoleStaff && !g.Final {
				// An interviewer's or the company node's own document, whose
				// every change it judged when it came: judging the whole
				// history again would cost a late joiner seconds (a change
				// at a time; BenchmarkGuardSnapshot). A candidate's, and
				// anything after the end, is judged.
				g = nil
			}
		}
		var res crdt.Result
		err := n.fromPeer(d, from, saved, func(id string) error {
			var err error
			res, err = n.worker.Replace(id, saved, g)
			return err
		})
		if err != nil {
			return false, err
		}
		if d.l != nil {
			d.l.leftOut(from, d.kind, res.LeftOut)
		}
		if res.Skipped > 0 || res.Settled {
			// Not the peer's document as it is: store what was taken.
			n.snapshotLocked(d)
			return true, nil
		}
		return true, n.db.PutSnapshot(d.session, string(d.kind), store.Snapshot{Bytes: saved, Upto: d.upto})
	}
	n.docMu.Unlock()
	if n.holdsAll(d, saved) {
		return false, nil
	}
	return n.applyRemote(d, from, saved)
}

// holdsAll reports whether d holds every head a saved document names: a
// second answer to a late joiner's need (it asks each interviewer's node
// and the company node) that the first already brought. Merging it would
// take the worker as long as loading it (seconds for a long history),
// change by change, for nothing, and the page's edits would wait. Heads
// that lie cost nothing: what the copy lacks comes by the sync protocol.
func (n *Node) holdsAll(d *sessionDoc, saved []byte) bool {
	hs, err := crdt.DocumentHeads(saved)
	if err != nil || len(hs) == 0 {
		return false
	}
	hashes := make([]string, len(hs))
	for i, h := range hs {
		hashes[i] = h.String()
	}
	n.docMu.Lock()
	defer n.docMu.Unlock()
	if err := n.ensureLoaded(d); err != nil {
		return false
	}
	lacking, err := n.worker.Lacking(d.id, hashes)
	return err == nil && len(lacking) == 0
}

// docEmpty reports whether a document holds nothing but its genesis.
func (n *Node) docEmpty(d *sessionDoc) bool {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	return n.docEmptyLocked(d)
}

func (n *Node) docEmptyLocked(d *sessionDoc) bool {
	if d.upto > 0 {
		return false
	}
	if _, err := n.db.Base(d.session, string(d.kind)); err == nil {
		return false
	}
	_, err := n.db.Snapshot(d.session, string(d.kind))
	return err != nil
}

func (n *Node) syncGenerate(d *sessionDoc, to peer.ID) ([]byte, error) {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	if err := n.ensureLoaded(d); err != nil {
		return nil, err
	}
	msg, err := n.worker.SyncGenerate(d.id, to.String())
	if err != nil {
		// Not the peer's fault: a sync message of its that poisons its sync
		// state kills the worker in the reply syncExchange generates at
		// once. This is data held back, dropped by the reload.
		return nil, n.workerFailed(err)
	}
	return msg, nil
}

// syncExchange takes a sync message from a peer and returns the reply. The
// reply is generated at once, under the same lock: some crafted messages are
// accepted and kill the worker only when it next generates for that peer,
// and they must be blamed on their sender.
func (n *Node) syncExchange(d *sessionDoc, from peer.ID, msg []byte) (bool, []byte, error) {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	if err := n.ensureLoaded(d); err != nil {
		return false, nil, err
	}
	var g *crdt.Guard
	if d.l != nil {
		g = d.l.guardFor(from, d.kind)
	}
	var res crdt.Result
	var reply []byte
	queued := false
	err := n.fromPeer(d, from, msg, func(id string) error {
		var err error
		res, err = n.worker.SyncReceive(id, from.String(), msg, g)
		if errors.Is(err, crdt.ErrQueued) {
			queued, err = true, nil
		}
		if err != nil {
			return err
		}
		if res.Reset && res.Skipped > 0 {
			// Changes were left out (a quarantined author's, or another's
			// passed on by a candidate) and the exchange starts afresh:
			// at the next round, not now, or a peer that offers them
			// again at once would make a loop of it.
			return nil
		}
		reply, err = n.worker.SyncGenerate(id, from.String())
		return err
	})
	if queued {
		d.l.log.Debug("a sync message brought changes that cannot be placed; every link syncs", "peer", from, "doc", d.kind)
		d.l.kickSync()
		d.l.askResend(from, d.kind)
	}
	if err != nil {
		return false, nil, err
	}
	if res.Skipped > 0 && d.l != nil {
		d.l.skipped.Add(int64(res.Skipped))
		d.l.leftOut(from, d.kind, res.LeftOut)
	}
	if len(res.Gained) > 0 {
		if err := n.storeLocked(d, res.Gained, from); err != nil {
			return false, nil, err
		}
	}
	if res.Settled {
		n.settledLocked(d)
	}
	return res.Changed, reply, nil
}

func (n *Node) syncReset(d *sessionDoc, to peer.ID) { n.syncResetName(d, to.String()) }

// holdsBack reports whether the document holds back changes whose
// dependencies have not come.
func (n *Node) holdsBack(d *sessionDoc) bool {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	if d.gen != n.worker.Generation() {
		return false // reloaded from the store: nothing held back
	}
	held, err := n.worker.HoldsBack(d.id)
	return held || err != nil
}

func (n *Node) syncResetName(d *sessionDoc, name string) {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	if d.gen == n.worker.Generation() {
		n.worker.SyncReset(d.id, name)
	}
}
