package media

import (
	"bufio"
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

type counts struct {
	audio, video, keyframes atomic.Int64
}

func (c *counts) packet(kind Kind, p *rtp.Packet) {
	if kind == Audio {
		c.audio.Add(1)
		return
	}
	c.video.Add(1)
	if IsKeyframe(p.Payload) {
		c.keyframes.Add(1)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("%s: not within %s", what, d)
		case <-poll.C:
		}
	}
}

// connect makes two legs and runs the offer/answer between them through
// the signal codec.
func connect(t *testing.T, a, b *Leg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offer, err := a.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	WriteSignal(&buf, Signal{Type: "offer", SDP: offer})
	s, err := ReadSignal(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	answer, err := b.Answer(ctx, s.SDP)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Accept(answer); err != nil {
		t.Fatal(err)
	}
}

// Two legs over real loopback UDP: Opus and VP8 flow both ways, unchanged
// in payload; a keyframe request travels back to the sender.
func TestLegs(t *testing.T) {
	api, err := NewAPI(Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	var ca, cb counts
	var gA, gB Generator
	var reqA atomic.Int64
	a, err := api.NewLeg(1, Handler{Packet: ca.packet, KeyframeRequest: func(int) { reqA.Add(1); gA.RequestKeyframe() }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := api.NewLeg(1, Handler{Packet: cb.packet, KeyframeRequest: func(int) { gB.RequestKeyframe() }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	connect(t, a, b)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { gA.Run(ctx, func(k Kind, p *rtp.Packet) { a.WriteRTP(0, k, p) }) })
	wg.Go(func() { gB.Run(ctx, func(k Kind, p *rtp.Packet) { b.WriteRTP(0, k, p) }) })
	defer func() { cancel(); wg.Wait() }()

	waitFor(t, 10*time.Second, "packets both ways", func() bool {
		return ca.audio.Load() > 50 && ca.video.Load() > 50 && cb.audio.Load() > 50 && cb.video.Load() > 50
	})
	// b asks a for a keyframe when its video starts; ask again and see it
	// reach a's generator.
	before := reqA.Load()
	b.RequestKeyframe()
	waitFor(t, 5*time.Second, "the keyframe request reaches the sender", func() bool { return reqA.Load() > before })
	if cb.keyframes.Load() == 0 {
		t.Fatal("no keyframe arrived")
	}
}

// Padding-only packets are dropped and the sequence closed over them.
func TestWriteRenumbers(t *testing.T) {
	api, _ := NewAPI(Config{Loopback: true})
	var got []uint16
	var mu sync.Mutex
	a, _ := api.NewLeg(1, Handler{})
	defer a.Close()
	b, _ := api.NewLeg(1, Handler{Packet: func(k Kind, p *rtp.Packet) {
		if k == Audio {
			mu.Lock()
			got = append(got, p.SequenceNumber)
			mu.Unlock()
		}
	}})
	defer b.Close()
	connect(t, a, b)
	seq := uint16(100)
	send := func(payload []byte) {
		seq++
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: payload}
		p.Header.SetExtension(3, []byte{1}) // the sender's own extension ID
		a.WriteRTP(0, Audio, p)
	}
	// Until the connection carries packets, send (a packet a poll); then a
	// known run.
	waitFor(t, 10*time.Second, "audio flows", func() bool {
		send([]byte{0xf8, 0xff, 0xfe})
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	mu.Lock()
	got = nil
	mu.Unlock()
	pace := time.NewTicker(5 * time.Millisecond) // as a sender would, not in one burst
	defer pace.Stop()
	for i := range 30 {
		<-pace.C
		if i%3 == 1 {
			send(nil) // padding only
		} else {
			send([]byte{0xf8, 0xff, 0xfe})
		}
	}
	waitFor(t, 5*time.Second, "the run arrives", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 20
	})
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("sequence has a gap: %v", got)
		}
	}
}

func TestReadSignal(t *testing.T) {
	for _, bad := range []string{"", "\x00", "\x05{}", "\x0d{\"type\":\"x\"}", "\xff\xff\xff\xff\x0f", "\x1e{\"type\":\"request\",\"sdp\":\"v=0\"}", "\x10{\"type\":\"offer\"}"} {
		if _, err := ReadSignal(bufio.NewReader(bytes.NewBufferString(bad))); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	var buf bytes.Buffer
	WriteSignal(&buf, Signal{Type: "answer", SDP: "v=0\r\n"})
	if s, err := ReadSignal(bufio.NewReader(&buf)); err != nil || s.Type != "answer" {
		t.Fatalf("%+v, %v", s, err)
	}
	WriteSignal(&buf, Signal{Type: "request"})
	if s, err := ReadSignal(bufio.NewReader(&buf)); err != nil || s.Type != "request" {
		t.Fatalf("%+v, %v", s, err)
	}
}

func FuzzReadSignal(f *testing.F) {
	var buf bytes.Buffer
	WriteSignal(&buf, Signal{Type: "offer", SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"})
	f.Add(buf.Bytes())
	f.Add([]byte("\x05{}"))
	buf.Reset()
	WriteSignal(&buf, Signal{Type: "request"})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ReadSignal(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && (s.Type != "offer" && s.Type != "answer" && s.Type != "request" || s.Type == "request" && s.SDP != "") {
			t.Fatalf("accepted %+v", s)
		}
	})
}

func TestIsKeyframe(t *testing.T) {
	if !IsKeyframe([]byte{0x10, 0x00}) || IsKeyframe([]byte{0x10, 0x01}) || IsKeyframe([]byte{0x00, 0x00}) {
		t.Fatal("simple descriptors")
	}
	// X bit, picture ID of 15 bits.
	if !IsKeyframe([]byte{0x90, 0x80, 0x81, 0x02, 0x00}) {
		t.Fatal("extended descriptor")
	}
}
