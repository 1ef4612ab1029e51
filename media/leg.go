package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Handler receives what a leg's other side sends.
type Handler struct {
	// Packet is an RTP packet of the other side's audio or video. The
	// packet is the handler's until it returns.
	Packet func(kind Kind, p *rtp.Packet)
	// KeyframeRequest is the other side asking for a keyframe of the video
	// this leg sends in a slot.
	KeyframeRequest func(slot int)
	// State follows the peer connection.
	State func(webrtc.PeerConnectionState)
}

// Leg is one peer connection. It sends slots pairs of tracks (audio and
// video: one for a leg to another node, one per other participant for the
// leg to this node's browser) and receives one pair.
type Leg struct {
	pc  *webrtc.PeerConnection
	h   Handler
	out [][2]*outTrack // slot, kind

	mu        sync.Mutex
	videoSSRC uint32 // of the video received, for keyframe requests

	lastIn atomic.Int64 // when the other side's last RTP or RTCP arrived, Unix nanoseconds
}

// outTrack is what a leg sends of one kind in one slot.
type outTrack struct {
	track *webrtc.TrackLocalStaticRTP

	mu sync.Mutex
	rw rewriter
}

// NewLeg makes a leg that sends slots pairs of tracks; its tracks and
// transceivers exist before any offer, so no renegotiation is needed.
func (a *API) NewLeg(slots int, h Handler) (*Leg, error) {
	if slots < 1 {
		return nil, fmt.Errorf("media: a leg sends at least one pair of tracks")
	}
	pc, err := a.api.NewPeerConnection(a.configuration())
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	l := &Leg{pc: pc, h: h}
	for slot := range slots {
		var pair [2]*outTrack
		for _, k := range []Kind{Audio, Video} {
			codec := opusCodec
			if k == Video {
				codec = vp8Codec
			}
			tr, err := webrtc.NewTrackLocalStaticRTP(codec, fmt.Sprintf("%s-%d", k, slot), fmt.Sprintf("parley-%d", slot))
			if err != nil {
				pc.Close()
				return nil, fmt.Errorf("media: %w", err)
			}
			tx, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
			if err != nil {
				pc.Close()
				return nil, fmt.Errorf("media: %w", err)
			}
			pair[k] = &outTrack{track: tr, rw: rewriter{clock: codec.ClockRate, vp8: k == Video}}
			go l.readRTCP(tx.Sender(), slot)
		}
		l.out = append(l.out, pair)
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { go l.readTrack(t) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if h.State != nil {
			h.State(s)
		}
	})
	return l, nil
}

// readRTCP reads a sender's RTCP, which also lets the interceptors work,
// and passes keyframe requests on.
func (l *Leg) readRTCP(s *webrtc.RTPSender, slot int) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		l.lastIn.Store(time.Now().UnixNano())
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if l.h.KeyframeRequest != nil {
					l.h.KeyframeRequest(slot)
				}
			}
		}
	}
}

// readTrack reads what the other side sends on a track.
func (l *Leg) readTrack(t *webrtc.TrackRemote) {
	kind := Audio
	if t.Kind() == webrtc.RTPCodecTypeVideo {
		kind = Video
		l.mu.Lock()
		l.videoSSRC = uint32(t.SSRC())
		l.mu.Unlock()
		// A keyframe at once: whoever watches starts from one.
		l.RequestKeyframe()
	}
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		l.lastIn.Store(time.Now().UnixNano())
		if l.h.Packet != nil {
			l.h.Packet(kind, p)
		}
	}
}

// RequestKeyframe asks the other side for a keyframe of its video.
func (l *Leg) RequestKeyframe() {
	l.mu.Lock()
	ssrc := l.videoSSRC
	l.mu.Unlock()
	if ssrc != 0 {
		l.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

// WriteRTP sends a packet of a kind in a slot: header extensions stripped,
// padding-only packets dropped and the sequence closed over them, and the
// sequence numbers, timestamps and VP8 picture IDs kept continuous when the
// packets start coming from another source (see rewriter). p is not
// modified.
func (l *Leg) WriteRTP(slot int, kind Kind, p *rtp.Packet) error {
	if slot < 0 || slot >= len(l.out) {
		return fmt.Errorf("media: no slot %d", slot)
	}
	o := l.out[slot][kind]
	o.mu.Lock()
	defer o.mu.Unlock()
	h, payload, ok := o.rw.rewrite(p, time.Now())
	if !ok {
		return nil
	}
	err := o.track.WriteRTP(&rtp.Packet{Header: h, Payload: payload})
	if errors.Is(err, io.ErrClosedPipe) {
		return nil // nobody bound yet
	}
	return err
}

// Offer makes this side's offer, with every ICE candidate gathered.
func (l *Leg) Offer(ctx context.Context) (string, error) {
	offer, err := l.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("media: offer: %w", err)
	}
	return l.setLocal(ctx, offer)
}

// Answer takes the other side's offer and makes the answer.
func (l *Leg) Answer(ctx context.Context, offer string) (string, error) {
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("media: the offer: %w", err)
	}
	answer, err := l.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("media: answer: %w", err)
	}
	return l.setLocal(ctx, answer)
}

// Accept takes the other side's answer to this side's offer.
func (l *Leg) Accept(answer string) error {
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("media: the answer: %w", err)
	}
	return nil
}

func (l *Leg) setLocal(ctx context.Context, d webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(l.pc)
	if err := l.pc.SetLocalDescription(d); err != nil {
		return "", fmt.Errorf("media: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("media: gathering ICE candidates: %w", ctx.Err())
	}
	return l.pc.LocalDescription().SDP, nil
}

// Connected reports whether the peer connection is up: ICE and DTLS done,
// whether or not the other side sends anything.
func (l *Leg) Connected() bool {
	return l.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
}

// Negotiated reports whether the offer and answer are both applied: the
// other side has the leg too.
func (l *Leg) Negotiated() bool {
	return l.pc.CurrentRemoteDescription() != nil
}

// LastReceived is when the other side's last packet (RTP or RTCP)
// arrived, or the zero time.
func (l *Leg) LastReceived() time.Time {
	if n := l.lastIn.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Close ends the leg.
func (l *Leg) Close() error { return l.pc.Close() }
