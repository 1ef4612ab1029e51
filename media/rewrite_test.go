package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// vp8Packet is a VP8 packet with a 15-bit picture ID and a TL0PICIDX.
func vp8Packet(ssrc uint32, seq uint16, ts uint32, pic uint16, tl0 uint8) *rtp.Packet {
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts},
		Payload: []byte{0x90, 0xc0, 0x80 | byte(pic>>8), byte(pic), tl0, 0x00},
	}
}

func picOf(t *testing.T, b []byte) uint16 {
	t.Helper()
	at, long, _ := vp8Fields(b)
	if at < 0 || !long {
		t.Fatalf("no 15-bit picture ID in % x", b)
	}
	return uint16(b[at]&0x7f)<<8 | uint16(b[at+1])
}

// A source replaced mid-stream (a page reloaded: a new SSRC, and sequence
// numbers, timestamps and picture IDs from elsewhere, here behind the old
// ones) goes on where the old one stopped, in every field a receiver keys
// its jitter buffer by; the packets themselves are not modified.
func TestRewriteNewSource(t *testing.T) {
	tests := []struct {
		name                 string
		seq2                 uint16
		ts2                  uint32
		pic2                 uint16
		tl02                 uint8
		gap                  time.Duration
		wantTSMin, wantTSMax uint32 // the advance of the timestamp at the change
	}{
		{"behind", 100, 1000, 3, 0, 500 * time.Millisecond, 45000, 45000},
		{"ahead", 60000, 4000000000, 32000, 250, 2 * time.Second, 180000, 180000},
		{"wrapping", 65535, 0xffffffff, 0x7fff, 255, 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rewriter{clock: 90000, vp8: true}
			now := time.Unix(1000, 0)
			var seq uint16
			var ts uint32
			var pic uint16
			var tl0 uint8
			for i := range 10 {
				p := vp8Packet(1, uint16(30000+i), uint32(500000+3000*i), uint16(20000+i), uint8(7+i))
				orig := append([]byte(nil), p.Payload...)
				h, b, ok := r.rewrite(p, now)
				if !ok || h.SequenceNumber != p.SequenceNumber || h.Timestamp != p.Timestamp || string(b) != string(orig) {
					t.Fatalf("the first source is rewritten: %v %+v % x", ok, h, b)
				}
				seq, ts, pic, tl0 = h.SequenceNumber, h.Timestamp, picOf(t, b), b[4]
			}
			now = now.Add(tt.gap)
			for i := range 10 {
				p := vp8Packet(2, tt.seq2+uint16(i), tt.ts2+uint32(3000*i), (tt.pic2+uint16(i))&0x7fff, tt.tl02+uint8(i))
				orig := append([]byte(nil), p.Payload...)
				h, b, ok := r.rewrite(p, now)
				if string(p.Payload) != string(orig) || p.SSRC != 2 {
					t.Fatal("the packet was modified")
				}
				if !ok || h.SequenceNumber != seq+1 || picOf(t, b) != (pic+1)&0x7fff || b[4] != tl0+1 {
					t.Fatalf("packet %d of the new source: seq %d after %d, picture %d after %d, tl0 %d after %d", i, h.SequenceNumber, seq, picOf(t, b), pic, b[4], tl0)
				}
				if i == 0 {
					if d := h.Timestamp - ts; d < tt.wantTSMin || d > tt.wantTSMax {
						t.Fatalf("the timestamp advanced by %d at the change, want %d to %d", d, tt.wantTSMin, tt.wantTSMax)
					}
				} else if h.Timestamp != ts+3000 {
					t.Fatalf("timestamp %d after %d", h.Timestamp, ts)
				}
				seq, ts, pic, tl0 = h.SequenceNumber, h.Timestamp, picOf(t, b), b[4]
			}
		})
	}
}

// Padding is dropped with the sequence closed over it, also across a change
// of source; a packet reordered within a source keeps its place.
func TestRewritePaddingAndReorder(t *testing.T) {
	r := rewriter{clock: 48000}
	now := time.Unix(1000, 0)
	send := func(ssrc uint32, seq uint16, payload []byte) (uint16, bool) {
		h, _, ok := r.rewrite(&rtp.Packet{Header: rtp.Header{SSRC: ssrc, SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: payload}, now)
		return h.SequenceNumber, ok
	}
	audio := []byte{0xf8, 0xff, 0xfe}
	var got []uint16
	for _, s := range []struct {
		ssrc uint32
		seq  uint16
		pad  bool
	}{{1, 10, false}, {1, 11, true}, {1, 12, false}, {1, 14, false}, {1, 13, false}, {2, 500, true}, {2, 501, false}, {2, 502, false}} {
		var payload []byte
		if !s.pad {
			payload = audio
		}
		seq, ok := send(s.ssrc, s.seq, payload)
		if ok == s.pad {
			t.Fatalf("packet %+v sent: %v", s, ok)
		}
		if ok {
			got = append(got, seq)
		}
	}
	want := []uint16{10, 11, 13, 12, 14, 15}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestVP8Fields(t *testing.T) {
	tests := []struct {
		b            []byte
		picAt, tl0At int
		picLong      bool
	}{
		{[]byte{0x10, 0x00}, -1, -1, false},
		{[]byte{0x90, 0x80, 0x81, 0x02, 0x00}, 2, -1, true},
		{[]byte{0x90, 0x80, 0x05, 0x00}, 2, -1, false},
		{[]byte{0x90, 0xc0, 0x81, 0x02, 0x09, 0x00}, 2, 4, true},
		{[]byte{0x90, 0x40, 0x09, 0x00}, -1, 2, false},
		{[]byte{0x90, 0x80, 0x81}, -1, -1, false}, // cut short
		{[]byte{0x90}, -1, -1, false},
	}
	for _, tt := range tests {
		picAt, long, tl0At := vp8Fields(tt.b)
		if picAt != tt.picAt || tl0At != tt.tl0At || (picAt >= 0 && long != tt.picLong) {
			t.Errorf("% x: picture ID at %d (long %v), TL0PICIDX at %d", tt.b, picAt, long, tl0At)
		}
	}
}

func FuzzVP8Rewrite(f *testing.F) {
	f.Add([]byte{0x90, 0xc0, 0x81, 0x02, 0x09, 0x00}, uint16(5), uint8(3))
	f.Add([]byte{0x90, 0x80, 0x05, 0x00}, uint16(0x7fff), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, picOff uint16, tl0Off uint8) {
		r := rewriter{vp8: true, havePic: true, pic: picOff, haveTL0: true, tl0: tl0Off}
		orig := append([]byte(nil), b...)
		out := r.vp8Rewrite(b)
		if string(b) != string(orig) || len(out) != len(b) {
			t.Fatalf("% x became % x, the input % x", orig, out, b)
		}
	})
}
