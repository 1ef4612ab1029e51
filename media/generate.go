package media

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Generator makes a test signal for headless participants (`parley media
// check`) and tests: Opus packets every 20 ms and VP8-framed video packets
// at 25 frames a second, about 1.2 Mbit/s, with a keyframe every 2 s and on
// request. The video is not a picture a browser could decode: what it
// checks is that packets flow.
type Generator struct {
	keyframe atomic.Bool
}

// RequestKeyframe makes the next video frame a keyframe.
func (g *Generator) RequestKeyframe() { g.keyframe.Store(true) }

// Run sends packets to write until ctx ends.
func (g *Generator) Run(ctx context.Context, write func(kind Kind, p *rtp.Packet)) {
	audio := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: opusPayloadType, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32())}}
	video := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: vp8PayloadType, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32())}}
	picture := uint16(rand.Uint32()) & 0x7fff
	silence := []byte{0xf8, 0xff, 0xfe} // an Opus frame of 20 ms silence
	frame := make([]byte, 6000)
	aTick := time.NewTicker(20 * time.Millisecond)
	defer aTick.Stop()
	vTick := time.NewTicker(40 * time.Millisecond)
	defer vTick.Stop()
	lastKey := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-aTick.C:
			audio.SequenceNumber++
			audio.Timestamp += 960
			audio.Payload = silence
			write(Audio, audio)
		case now := <-vTick.C:
			key := g.keyframe.Swap(false) || now.Sub(lastKey) > 2*time.Second
			if key {
				lastKey = now
			}
			video.Timestamp += 3600
			picture = (picture + 1) & 0x7fff
			// A frame in 1200-byte packets, each with a VP8 payload
			// descriptor as browsers send it (S bit on the first, a 15-bit
			// picture ID); a keyframe's first payload byte has the P bit
			// clear.
			const per = 1200
			for off := 0; off < len(frame); off += per {
				desc := []byte{0x80, 0x80, 0x80 | byte(picture>>8), byte(picture)}
				if off == 0 {
					desc[0] |= 0x10
				}
				payload := append(desc, frame[off:min(off+per, len(frame))]...)
				if off == 0 {
					if key {
						payload[len(desc)] = 0x00
					} else {
						payload[len(desc)] = 0x01
					}
				}
				video.SequenceNumber++
				video.Marker = off+per >= len(frame)
				video.Payload = payload
				write(Video, video)
			}
		}
	}
}

// IsKeyframe reports whether a VP8 RTP payload starts a keyframe.
func IsKeyframe(payload []byte) bool {
	if len(payload) < 2 || payload[0]&0x10 == 0 {
		return false
	}
	i := 1
	if payload[0]&0x80 != 0 { // extended control bits
		if len(payload) < 3 {
			return false
		}
		x := payload[1]
		i = 2
		if x&0x80 != 0 { // picture ID
			if len(payload) <= i {
				return false
			}
			if payload[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 {
			i++
		}
		if x&0x30 != 0 {
			i++
		}
	}
	return len(payload) > i && payload[i]&0x01 == 0
}
