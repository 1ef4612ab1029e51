package node

import (
	"sync"

	"parley/crdt"
)

// A page feed carries what a document gains to a follower (the session page)
// as the changes themselves, in the order this node stored them, so that a
// keystroke reaches the page without a round of the sync protocol. A sync
// message costs both ends a walk of the whole history (Automerge 0.5
// computes the changes since the peers' shared heads by visiting every
// ancestor), and while two people type at once the shared heads stop
// advancing, so each message also carries a Bloom filter of hundreds of
// changes: the page's hop cost grew with the history, per keystroke. The
// sync protocol stays for what a feed cannot say: the first exchange, and
// a gap.

// feedLimit bounds what waits for a follower that does not read: past it,
// the feed is dropped and the follower catches up by the sync protocol.
const feedLimit = 8 << 20

// pageFeed is one follower's queue of changes, by document.
type pageFeed struct {
	mu       sync.Mutex
	changes  map[crdt.Kind][][]byte
	size     int
	stored   map[crdt.Kind]bool // an increment was stored since the last take, fed or not
	overflow map[crdt.Kind]bool
}

// feedIncrement queues what a document gained for every follower that takes
// changes, but the one whose own change it is (origin; "" for none).
func (l *live) feedIncrement(kind crdt.Kind, b []byte, origin string) {
	l.mu.Lock()
	feeds := make(map[string]*pageFeed, len(l.feeds))
	for id, f := range l.feeds {
		feeds[id] = f
	}
	l.mu.Unlock()
	for id, f := range feeds {
		f.mu.Lock()
		f.stored[kind] = true
		switch {
		case id == origin || f.overflow[kind]:
		case f.size+len(b) > feedLimit:
			f.overflow[kind] = true
			f.size -= sizeOf(f.changes[kind])
			delete(f.changes, kind)
		default:
			f.changes[kind] = append(f.changes[kind], b)
			f.size += len(b)
		}
		f.mu.Unlock()
	}
}

func sizeOf(bs [][]byte) int {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
}

// FeedChanges makes this follower take what the documents gain as changes
// (Take), from now on.
func (f *Follower) FeedChanges() {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	if f.l.feeds == nil {
		f.l.feeds = map[string]*pageFeed{}
	}
	f.l.feeds[f.id] = &pageFeed{changes: map[crdt.Kind][][]byte{}, stored: map[crdt.Kind]bool{}, overflow: map[crdt.Kind]bool{}}
}

// Take returns the changes a document gained since the last Take, in
// incremental format, and whether the follower's copy needs a sync round
// instead: the feed overflowed, or the document changed without gaining an
// increment (a snapshot taken whole, a document cut back at the end, a
// reload after a worker died). Either way, fed reports whether anything
// was stored since the last Take (the follower's own changes count).
func (f *Follower) Take(kind crdt.Kind) (changes []byte, resync, fed bool) {
	f.l.mu.Lock()
	feed := f.l.feeds[f.id]
	f.l.mu.Unlock()
	if feed == nil {
		return nil, true, false
	}
	feed.mu.Lock()
	defer feed.mu.Unlock()
	chs := feed.changes[kind]
	resync, fed = feed.overflow[kind], feed.stored[kind]
	delete(feed.changes, kind)
	delete(feed.overflow, kind)
	delete(feed.stored, kind)
	feed.size -= sizeOf(chs)
	if resync {
		return nil, true, fed
	}
	out := make([]byte, 0, sizeOf(chs))
	for _, c := range chs {
		out = append(out, c...)
	}
	if len(out) > 0 {
		// A step of the keystroke path (see Receive).
		f.l.log.Debug("changes for the page", "doc", kind, "bytes", len(out))
	}
	return out, false, fed
}

func (f *Follower) unfeed() {
	f.l.mu.Lock()
	delete(f.l.feeds, f.id)
	f.l.mu.Unlock()
}
