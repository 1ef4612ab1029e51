package node

import (
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
)

// A node that joins a long interview late has nothing to show for seconds:
// it asks a peer for the whole document (a need frame), and its worker's
// Automerge takes about 5 s to load rustcode's 37k changes (BENCHMARKS.md).
// So the peer sends, before the snapshot, a view frame: the document as it
// reads (crdt.View, JSON), a few kilobytes made in milliseconds. While the
// worker loads, the node keeps both as they came, and its page shows the
// view at once and loads the snapshot itself (the page's newer Automerge
// loads it faster), to type before the node is done (its edits wait for
// the load, then are judged like any). Only an interviewer's or the company
// node's whole document is kept so: the node loads exactly those bytes
// (unjudged: their changes were judged when they came; see applySnapshot),
// where a candidate's, or anything after the end, is judged change by
// change and may differ.

// docArrival is what a node has of a document it is still loading.
type docArrival struct {
	asked bool   // this node asked a peer for the document: its copy was empty
	view  []byte // the sender's view, JSON
	saved []byte // the document saved whole, as the sender sent it
}

// viewDoc returns a document's view as JSON, sent before a snapshot; nil if
// the document holds nothing but its genesis.
func (n *Node) viewDoc(d *sessionDoc) ([]byte, error) {
	if n.docEmpty(d) {
		return nil, nil
	}
	n.docMu.Lock()
	defer n.docMu.Unlock()
	if err := n.ensureLoaded(d); err != nil {
		return nil, err
	}
	v, err := n.worker.View(d.id)
	if err != nil {
		return nil, n.workerFailed(err)
	}
	return json.Marshal(v)
}

// asked notes that this node asked a peer for a whole document, its copy
// being empty.
func (l *live) asked(kind crdt.Kind) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.arrivingLocked(kind).asked = true
}

// mayArrive reports whether a whole document from a peer is kept for the
// page while it loads: this node asked for it and its copy has not changed
// since, and the peer is an interviewer's or the company node, the session
// not ended. It takes no lock but l.mu: the worker may be busy loading.
func (l *live) mayArrive(from peer.ID, d *sessionDoc) bool {
	if !l.isStaff(from) || l.quarantined(from) != "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.arriving[d.kind]
	return a != nil && a.asked && l.state.end == nil
}

// arrivingView keeps a peer's view of a document this node is about to
// load. A view that does not decode is refused with its sender.
func (l *live) arrivingView(from peer.ID, d *sessionDoc, data []byte) error {
	if !l.mayArrive(from, d) {
		return nil
	}
	var v crdt.View
	if err := decodeStrict(data, &v); err != nil {
		return fmt.Errorf("a document view that does not decode: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.arrivingLocked(d.kind)
	a.view = b
	l.notify()
	return nil
}

// arrivingSaved keeps a peer's whole document while this node loads it.
func (l *live) arrivingSaved(from peer.ID, d *sessionDoc, saved []byte) {
	if !l.mayArrive(from, d) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.arrivingLocked(d.kind).saved = saved
	l.notify()
}

func (l *live) arrivingLocked(kind crdt.Kind) *docArrival {
	if l.arriving == nil {
		l.arriving = map[crdt.Kind]*docArrival{}
	}
	a := l.arriving[kind]
	if a == nil {
		a = &docArrival{}
		l.arriving[kind] = a
	}
	return a
}

// arrived drops what was kept of a document once the node loaded it (or
// failed to), or its copy changed otherwise: the page syncs with the node
// from then on.
func (l *live) arrived(kind crdt.Kind) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.arriving, kind)
}

// Arriving returns what this node has of a document it is still loading: a
// peer's view of it (JSON crdt.View) and the document saved whole, as the
// peer sent them; nil for what it does not have. A page shows the view at
// once and may load the saved document itself.
func (f *Follower) Arriving(kind crdt.Kind) (view, saved []byte) {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	if a := f.l.arriving[kind]; a != nil {
		return a.view, a.saved
	}
	return nil, nil
}

// Saved returns the follower's document saved whole, for a page whose copy
// is empty: it loads it at once, where the sync protocol would bring the
// history change by change. While this node loads a peer's document, it is
// the peer's, as it came; nil while the document is empty.
func (f *Follower) Saved(kind crdt.Kind) ([]byte, error) {
	if _, saved := f.Arriving(kind); saved != nil {
		return saved, nil
	}
	d, err := f.l.doc(kind)
	if err != nil {
		return nil, err
	}
	return f.n.saveDoc(d)
}
