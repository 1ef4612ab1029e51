package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

var testTopic = "/parley/1/00112233445566778899aabbccddeeff"

func testPeerID(t testing.TB) peer.ID {
	id, err := peer.Decode("12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestEnvelope(t *testing.T) {
	var key, other [32]byte
	rand.Read(key[:])
	rand.Read(other[:])
	from := testPeerID(t)
	e := envelope{typ: msgRecord, seq: 42, body: []byte(`{"x":1}`)}
	sealed := sealEnvelope(&key, testTopic, from, e)
	got, err := openEnvelope(&key, testTopic, from, sealed)
	if err != nil || got.typ != e.typ || got.seq != e.seq || !bytes.Equal(got.body, e.body) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if bytes.Contains(sealed, e.body) {
		t.Fatal("body readable in the sealed envelope")
	}
	flipped := append([]byte(nil), sealed...)
	flipped[len(flipped)-1] ^= 1
	for name, tt := range map[string]struct {
		key   *[32]byte
		topic string
		from  peer.ID
		data  []byte
	}{
		"other key":   {&other, testTopic, from, sealed},
		"other topic": {&key, testTopic + "0", from, sealed},
		"other peer":  {&key, testTopic, peer.ID("someone else"), sealed},
		"tampered":    {&key, testTopic, from, flipped},
		"truncated":   {&key, testTopic, from, sealed[:20]},
		"empty":       {&key, testTopic, from, nil},
		"version":     {&key, testTopic, from, append([]byte{2}, sealed[1:]...)},
		"oversized":   {&key, testTopic, from, make([]byte, maxEnvelope+1)},
	} {
		if _, err := openEnvelope(tt.key, tt.topic, tt.from, tt.data); !errors.Is(err, errEnvelope) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A sealed envelope of an unknown type is refused after opening.
	bad := sealEnvelope(&key, testTopic, from, envelope{typ: 99, seq: 1})
	if _, err := openEnvelope(&key, testTopic, from, bad); !errors.Is(err, errEnvelope) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestReplayWindow(t *testing.T) {
	var w replayWindow
	steps := []struct {
		seq   uint64
		fresh bool
	}{
		{0, false}, {5, true}, {5, false}, {3, true}, {3, false}, {4, true},
		{2000, true}, {5, false}, {900, false}, {1000, true}, {1500, true}, {1999, true}, {1999, false},
		{976, false}, {977, true}, {1 << 40, true}, {1999, false},
	}
	for _, s := range steps {
		if got := w.fresh(s.seq); got != s.fresh {
			t.Fatalf("fresh(%d) = %v, want %v", s.seq, got, s.fresh)
		}
	}
}

func FuzzOpenEnvelope(f *testing.F) {
	var key [32]byte
	from := testPeerID(f)
	f.Add(sealEnvelope(&key, testTopic, from, envelope{typ: msgPresence, seq: 1, body: []byte(`{"state":"here"}`)}))
	f.Add(sealEnvelope(&key, testTopic, from, envelope{typ: msgRecord, seq: 1 << 60}))
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := openEnvelope(&key, testTopic, from, data)
		if err != nil {
			if !errors.Is(err, errEnvelope) {
				t.Fatalf("error %v does not wrap errEnvelope", err)
			}
			return
		}
		if !e.typ.valid() {
			t.Fatalf("opened an envelope of type %d", e.typ)
		}
		// What opens is handled as the read loop would.
		var p presence
		decodeStrict(e.body, &p)
		var sr signedRecord
		decodeStrict(e.body, &sr)
	})
}

// The topic validator drops replays of an admitted peer's envelopes.
func TestValidatorDropsReplays(t *testing.T) {
	var key [32]byte
	rand.Read(key[:])
	me, _ := newPeer(t)
	author, _ := newPeer(t)
	l := &live{n: &Node{id: me}, log: discard(), peers: map[peer.ID]*participant{author: {id: author}}}
	l.keys.Envelope, l.keys.Topic = key, testTopic
	msg := func(seq uint64) *pubsub.Message {
		data := sealEnvelope(&key, testTopic, author, envelope{typ: msgPresence, seq: seq, body: []byte(`{"state":"here"}`)})
		return &pubsub.Message{Message: &pb.Message{From: []byte(author), Data: data}}
	}
	steps := []struct {
		seq  uint64
		want pubsub.ValidationResult
	}{{10, pubsub.ValidationAccept}, {10, pubsub.ValidationIgnore}, {9, pubsub.ValidationAccept}, {11, pubsub.ValidationAccept}, {9, pubsub.ValidationIgnore}}
	for _, s := range steps {
		if got := l.validate(context.Background(), author, msg(s.seq)); got != s.want {
			t.Fatalf("seq %d: %v, want %v", s.seq, got, s.want)
		}
	}
	stranger, _ := newPeer(t)
	m := msg(12)
	m.From = []byte(stranger)
	if got := l.validate(context.Background(), stranger, m); got != pubsub.ValidationIgnore {
		t.Fatalf("stranger's envelope: %v", got)
	}
	if l.dropped.Load() != 3 {
		t.Fatalf("dropped %d", l.dropped.Load())
	}
}
