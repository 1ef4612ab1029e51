package node

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"
)

// Every payload published on a session's topic is an envelope sealed with
// the session's envelope key (XChaCha20-Poly1305):
//
//	version (1) | nonce (24) | ciphertext of: type (1) | seq (uvarint) | body
//
// The additional data binds the envelope to its topic and its sender, so an
// envelope cannot be replayed on another session or passed off as another
// peer's. seq increases with every envelope a node sends in a session; a
// receiver keeps a window per sender and drops what it has seen or what is
// too old: replays.

const envelopeVersion = 1

// maxEnvelope bounds a sealed envelope.
const maxEnvelope = 1 << 20

// msgType says what an envelope's body holds.
type msgType byte

const (
	msgPresence    msgType = 1 + iota // presence: JSON presence
	msgRecord                         // a signed control record: JSON signedRecord
	msgRevocations                    // the company's revocation list: JSON revocationsMsg
)

func (t msgType) valid() bool { return t >= msgPresence && t <= msgRevocations }

// envelope is an opened envelope.
type envelope struct {
	typ  msgType
	seq  uint64
	body []byte
}

var errEnvelope = errors.New("bad envelope")

func envelopeAD(topic string, from peer.ID) []byte {
	ad := make([]byte, 0, 64+len(topic)+len(from))
	ad = append(ad, "parley/1 envelope\x00"...)
	ad = append(ad, topic...)
	ad = append(ad, 0)
	return append(ad, from...)
}

// sealEnvelope seals e for the topic as sent by from.
func sealEnvelope(key *[32]byte, topic string, from peer.ID, e envelope) []byte {
	aead, _ := chacha20poly1305.NewX(key[:])
	plain := make([]byte, 0, 1+binary.MaxVarintLen64+len(e.body))
	plain = append(plain, byte(e.typ))
	plain = binary.AppendUvarint(plain, e.seq)
	plain = append(plain, e.body...)
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = envelopeVersion
	rand.Read(out[1:])
	return aead.Seal(out, out[1:1+aead.NonceSize()], plain, envelopeAD(topic, from))
}

// openEnvelope checks and opens an envelope sent on topic by from.
func openEnvelope(key *[32]byte, topic string, from peer.ID, data []byte) (envelope, error) {
	aead, _ := chacha20poly1305.NewX(key[:])
	switch {
	case len(data) > maxEnvelope:
		return envelope{}, fmt.Errorf("%w: %d bytes, over the limit of %d", errEnvelope, len(data), maxEnvelope)
	case len(data) < 1+aead.NonceSize()+aead.Overhead()+2:
		return envelope{}, fmt.Errorf("%w: too short (%d bytes)", errEnvelope, len(data))
	case data[0] != envelopeVersion:
		return envelope{}, fmt.Errorf("%w: version %d", errEnvelope, data[0])
	}
	nonce, sealed := data[1:1+aead.NonceSize()], data[1+aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, envelopeAD(topic, from))
	if err != nil {
		return envelope{}, fmt.Errorf("%w: does not open with the session key", errEnvelope)
	}
	e := envelope{typ: msgType(plain[0])}
	if !e.typ.valid() {
		return envelope{}, fmt.Errorf("%w: unknown type %d", errEnvelope, plain[0])
	}
	seq, n := binary.Uvarint(plain[1:])
	if n <= 0 {
		return envelope{}, fmt.Errorf("%w: bad sequence number", errEnvelope)
	}
	e.seq, e.body = seq, plain[1+n:]
	return e, nil
}

// replayWindow remembers the sequence numbers seen from one sender: the
// highest, and which of the windowSize before it.
type replayWindow struct {
	max  uint64
	seen [windowSize / 64]uint64
}

const windowSize = 1024

// fresh reports whether seq is new, and records it.
func (w *replayWindow) fresh(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq > w.max {
		shift := seq - w.max
		if shift >= windowSize {
			w.seen = [windowSize / 64]uint64{}
		} else {
			for i := uint64(0); i < shift; i++ {
				w.clear((w.max + 1 + i) % windowSize)
			}
		}
		w.max = seq
		w.set(seq % windowSize)
		return true
	}
	if w.max-seq >= windowSize {
		return false
	}
	if w.has(seq % windowSize) {
		return false
	}
	w.set(seq % windowSize)
	return true
}

func (w *replayWindow) set(i uint64)      { w.seen[i/64] |= 1 << (i % 64) }
func (w *replayWindow) clear(i uint64)    { w.seen[i/64] &^= 1 << (i % 64) }
func (w *replayWindow) has(i uint64) bool { return w.seen[i/64]&(1<<(i%64)) != 0 }

// replayGuard holds a window per sender.
type replayGuard struct {
	mu      sync.Mutex
	senders map[peer.ID]*replayWindow
}

func (g *replayGuard) fresh(from peer.ID, seq uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.senders == nil {
		g.senders = make(map[peer.ID]*replayWindow)
	}
	w := g.senders[from]
	if w == nil {
		w = &replayWindow{}
		g.senders[from] = w
	}
	return w.fresh(seq)
}
