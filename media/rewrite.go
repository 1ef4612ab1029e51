package media

import (
	"time"

	"github.com/pion/rtp"
)

// rewriter keeps what a leg sends of one kind in one slot one continuous
// stream, whatever comes in: a receiving browser's jitter buffer takes a
// stream's sequence numbers, timestamps and VP8 picture IDs as a timeline,
// and drops what looks older than what it already played. The source of a
// track changes when a page reloads (its new peer connection starts from
// random numbers), when a node's leg to another is replaced (a restart, a
// failed connection offered again), or when a media check's test signal
// starts: without rewriting, a jump back freezes the video on the other
// side until the numbers catch up, minutes later.
//
// A packet is rewritten by offsets fixed at each change of source (its
// SSRC): the new source's first packet follows the last one sent, with a
// timestamp advanced by the wall time between the two; the VP8 picture ID
// and TL0PICIDX follow on the same way (RFC 7741; a receiver that saw
// picture IDs keys its frames by them). Padding-only packets are dropped
// and the offset takes the gap back, or the next hop asks for
// retransmissions forever.
type rewriter struct {
	clock uint32 // the codec's RTP clock rate
	vp8   bool

	started bool   // something was sent
	src     uint32 // the SSRC of the source
	seqOff  uint16
	tsOff   uint32
	picOff  uint16 // 15 bits
	tl0Off  uint8
	picSet  bool // picOff is fixed for this source
	tl0Set  bool

	// The newest sent.
	seq     uint16
	ts      uint32
	at      time.Time // when the newest was sent
	pic     uint16
	havePic bool
	tl0     uint8
	haveTL0 bool
}

// rewrite returns the header and payload to send for p, or false to drop
// it. The payload is p's own unless it had to change; p is not modified.
func (r *rewriter) rewrite(p *rtp.Packet, now time.Time) (rtp.Header, []byte, bool) {
	if r.started && p.SSRC != r.src {
		// A new source: go on from the newest packet sent.
		r.seqOff = r.seq + 1 - p.SequenceNumber
		ticks := uint32(max(now.Sub(r.at), 0).Seconds() * float64(r.clock))
		r.tsOff = r.ts + max(ticks, 1) - p.Timestamp
		r.picSet, r.tl0Set = false, false
	}
	r.src = p.SSRC
	if len(p.Payload) == 0 {
		// Padding only: not sent, and the sequence closed over it.
		r.seqOff--
		return rtp.Header{}, nil, false
	}
	h := p.Header
	h.Extension, h.Extensions, h.ExtensionProfile = false, nil, 0
	h.Padding, h.PaddingSize = false, 0
	h.SequenceNumber += r.seqOff
	h.Timestamp += r.tsOff
	payload := p.Payload
	if r.vp8 {
		payload = r.vp8Rewrite(payload)
	}
	if !r.started || int16(h.SequenceNumber-r.seq) > 0 {
		r.seq = h.SequenceNumber
	}
	if !r.started || int32(h.Timestamp-r.ts) >= 0 {
		r.ts, r.at = h.Timestamp, now
	}
	r.started = true
	return h, payload, true
}

// vp8Rewrite moves a VP8 payload's picture ID and TL0PICIDX by the
// source's offsets, fixing them at its first packet that has them.
func (r *rewriter) vp8Rewrite(b []byte) []byte {
	picAt, picLong, tl0At := vp8Fields(b)
	if picAt < 0 && tl0At < 0 {
		return b
	}
	var pic uint16
	if picAt >= 0 {
		if picLong {
			pic = uint16(b[picAt]&0x7f)<<8 | uint16(b[picAt+1])
		} else {
			pic = uint16(b[picAt] & 0x7f)
		}
		if !r.picSet {
			r.picOff = 0
			if r.havePic {
				r.picOff = (r.pic + 1 - pic) & 0x7fff
			}
			r.picSet = true
		}
		pic = (pic + r.picOff) & 0x7fff
	}
	var tl0 uint8
	if tl0At >= 0 {
		tl0 = b[tl0At]
		if !r.tl0Set {
			r.tl0Off = 0
			if r.haveTL0 {
				r.tl0Off = r.tl0 + 1 - tl0
			}
			r.tl0Set = true
		}
		tl0 += r.tl0Off
	}
	out := b
	if (picAt >= 0 && r.picOff != 0) || (tl0At >= 0 && r.tl0Off != 0) {
		out = append([]byte(nil), b...)
		if picAt >= 0 {
			if picLong {
				out[picAt], out[picAt+1] = 0x80|byte(pic>>8), byte(pic)
			} else {
				out[picAt] = byte(pic & 0x7f)
			}
		}
		if tl0At >= 0 {
			out[tl0At] = tl0
		}
	}
	if picAt >= 0 {
		// Newer, in the 15-bit (or 7-bit) circle.
		span := uint16(0x7fff)
		if !picLong {
			span = 0x7f
		}
		if d := (pic - r.pic) & span; !r.havePic || (d != 0 && d <= span/2) {
			r.pic = pic
		}
		r.havePic = true
	}
	if tl0At >= 0 {
		if !r.haveTL0 || int8(tl0-r.tl0) > 0 {
			r.tl0 = tl0
		}
		r.haveTL0 = true
	}
	return out
}

// vp8Fields finds the picture ID (its first byte's index, and whether it
// is 15 bits long) and TL0PICIDX (its index) in a VP8 payload descriptor
// (RFC 7741 section 4.2); -1 where a field is absent or the payload too
// short to hold it.
func vp8Fields(b []byte) (picAt int, picLong bool, tl0At int) {
	picAt, tl0At = -1, -1
	if len(b) < 2 || b[0]&0x80 == 0 { // no extended control bits
		return
	}
	x := b[1]
	i := 2
	if x&0x80 != 0 { // I: a picture ID
		if len(b) <= i {
			return -1, false, -1
		}
		picLong = b[i]&0x80 != 0
		n := 1
		if picLong {
			n = 2
		}
		if len(b) < i+n {
			return -1, false, -1
		}
		picAt = i
		i += n
	}
	if x&0x40 != 0 { // L: a TL0PICIDX
		if len(b) <= i {
			return -1, false, -1
		}
		tl0At = i
	}
	return picAt, picLong, tl0At
}
