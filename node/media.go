package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/media"
)

// Built-in audio and video (DESIGN.md "Audio/video"): once the interview
// starts, every participant's node (not the company node, a silent
// archive) holds a Pion peer connection to every other's, set up over
// /parley/media/1: the node with the smaller peer ID opens a stream, says
// which session (as the document streams do) and sends its offer; the other
// answers. Each node sends its own participant's audio and video (from its
// browser, or a generated test signal) and receives everyone else's,
// directly: a full mesh, fit for an interview's three to five people.

// MediaProtocol is the libp2p protocol ID of media signaling.
const MediaProtocol = "/parley/media/1"

// call is a node's media in one session.
type call struct {
	l   *live
	api *media.API

	mu     sync.Mutex
	legs   map[peer.ID]*media.Leg
	recv   map[peer.ID]*packetCount
	gen    *media.Generator // the test signal, while one runs
	closed bool
}

type packetCount struct{ audio, video atomic.Int64 }

// mediaOff says why a session has no built-in media here, or "".
func (l *live) mediaOff() string {
	switch {
	case l.inv.Conference != "":
		return "this interview uses external conferencing: " + l.inv.Conference
	case l.role == RoleCompany:
		return "the company node takes no part in the call"
	}
	return ""
}

// ensureCall returns the session's call, making it.
func (l *live) ensureCall() (*call, error) {
	if why := l.mediaOff(); why != "" {
		return nil, errors.New(why)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.call != nil {
		return l.call, nil
	}
	if l.ctx.Err() != nil {
		return nil, fmt.Errorf("this node left the session")
	}
	api, err := media.NewAPI(media.Config{ICEServers: iceServers(l), Loopback: true, RelayOnly: l.n.cfg.MediaRelayOnly})
	if err != nil {
		return nil, err
	}
	l.call = &call{l: l, api: api, legs: map[peer.ID]*media.Leg{}, recv: map[peer.ID]*packetCount{}}
	return l.call, nil
}

// iceServers are the STUN and TURN servers of the session's link.
func iceServers(l *live) []media.ICEServer {
	if l.inv.TURN == "" {
		return nil
	}
	return []media.ICEServer{{URL: l.inv.TURN}}
}

// startMedia connects the call to every participant present: when the
// interview starts, and when a participant is admitted after the start.
func (l *live) startMedia() {
	if l.mediaOff() != "" {
		return
	}
	l.mu.Lock()
	started := l.gateOpen
	var ids []peer.ID
	for id, p := range l.peers {
		if p.role != RoleCompany {
			ids = append(ids, id)
		}
	}
	l.mu.Unlock()
	if !started {
		return
	}
	c, err := l.ensureCall()
	if err != nil {
		return
	}
	for _, id := range ids {
		c.dial(id)
	}
}

// dial offers a leg to a peer, if this side offers (the smaller peer ID)
// and none is up.
func (c *call) dial(id peer.ID) {
	l := c.l
	if l.n.id >= id {
		return // the peer offers
	}
	c.mu.Lock()
	if c.closed || c.legs[id] != nil {
		c.mu.Unlock()
		return
	}
	leg, err := c.newLeg(id)
	if err != nil {
		c.mu.Unlock()
		l.log.Warn("media", "peer", id, "err", err)
		return
	}
	c.legs[id] = leg
	c.mu.Unlock()
	l.wg.Go(func() {
		if err := c.offer(id, leg); err != nil {
			l.log.Info("media: no call with a peer", "peer", id, "err", err)
			c.drop(id, leg)
			c.redialLater(id)
		}
	})
}

// redialLater tries a peer again in a second, while it is present.
func (c *call) redialLater(id peer.ID) {
	time.AfterFunc(time.Second, func() {
		if c.l.ctx.Err() == nil && c.l.isAdmitted(id) {
			c.dial(id)
		}
	})
}

func (c *call) offer(id peer.ID, leg *media.Leg) error {
	l := c.l
	ctx, cancel := context.WithTimeout(l.ctx, 20*time.Second)
	defer cancel()
	sdp, err := leg.Offer(ctx)
	if err != nil {
		return err
	}
	s, err := l.n.p2p.host.NewStream(network.WithAllowLimitedConn(ctx, "media"), id, MediaProtocol)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(20 * time.Second))
	if err := writeFrame(s, syncHello{Tag: l.tag}); err != nil {
		s.Reset()
		return err
	}
	if err := media.WriteSignal(s, media.Signal{Type: "offer", SDP: sdp}); err != nil {
		s.Reset()
		return err
	}
	ans, err := media.ReadSignal(bufio.NewReader(s))
	if err != nil {
		s.Reset()
		return err
	}
	if ans.Type != "answer" {
		return fmt.Errorf("the peer sent a %s, not an answer", ans.Type)
	}
	return leg.Accept(ans.SDP)
}

// handleMedia answers a peer's offer.
func (n *Node) handleMedia(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	r := bufio.NewReader(s)
	s.SetDeadline(time.Now().Add(20 * time.Second))
	var hello syncHello
	if err := readFrame(r, 1024, &hello); err != nil {
		s.Reset()
		return
	}
	n.mu.Lock()
	l := n.byTag[hello.Tag]
	n.mu.Unlock()
	if l == nil || !l.waitAdmitted(from, 5*time.Second) || l.roleOfPeer(from) == RoleCompany || from > n.id {
		s.Reset()
		return
	}
	c, err := l.ensureCall()
	if err != nil {
		s.Reset()
		return
	}
	offer, err := media.ReadSignal(r)
	if err != nil || offer.Type != "offer" {
		l.log.Info("media: bad offer", "peer", from, "err", err)
		s.Reset()
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		s.Reset()
		return
	}
	old := c.legs[from]
	leg, err := c.newLeg(from)
	if err != nil {
		c.mu.Unlock()
		s.Reset()
		return
	}
	c.legs[from] = leg // a new offer replaces the leg: the peer restarted, or its leg failed
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	ctx, cancel := context.WithTimeout(l.ctx, 20*time.Second)
	defer cancel()
	sdp, err := leg.Answer(ctx, offer.SDP)
	if err != nil {
		l.log.Info("media: could not answer", "peer", from, "err", err)
		c.drop(from, leg)
		s.Reset()
		return
	}
	if err := media.WriteSignal(s, media.Signal{Type: "answer", SDP: sdp}); err != nil {
		c.drop(from, leg)
		s.Reset()
	}
}

// roleOfPeer is an admitted peer's role, or "".
func (l *live) roleOfPeer(id peer.ID) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.peers[id]; p != nil {
		return p.role
	}
	return ""
}

// newLeg makes the leg to a peer. Call with c.mu held.
func (c *call) newLeg(id peer.ID) (*media.Leg, error) {
	count := c.recv[id]
	if count == nil {
		count = &packetCount{}
		c.recv[id] = count
	}
	var leg *media.Leg
	leg, err := c.api.NewLeg(1, media.Handler{
		Packet: func(kind media.Kind, p *rtp.Packet) {
			if kind == media.Video {
				count.video.Add(1)
			} else {
				count.audio.Add(1)
			}
		},
		KeyframeRequest: func(int) { c.keyframe() },
		State: func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateFailed {
				c.drop(id, leg)
				c.redialLater(id)
			}
		},
	})
	return leg, err
}

// keyframe asks this participant's source for a keyframe.
func (c *call) keyframe() {
	c.mu.Lock()
	g := c.gen
	c.mu.Unlock()
	if g != nil {
		g.RequestKeyframe()
	}
}

// publish sends a packet of this participant's to every peer.
func (c *call) publish(kind media.Kind, p *rtp.Packet) {
	c.mu.Lock()
	legs := make([]*media.Leg, 0, len(c.legs))
	for _, leg := range c.legs {
		legs = append(legs, leg)
	}
	c.mu.Unlock()
	for _, leg := range legs {
		leg.WriteRTP(0, kind, p)
	}
}

// drop closes a peer's leg, if it is still that one.
func (c *call) drop(id peer.ID, leg *media.Leg) {
	c.mu.Lock()
	if c.legs[id] == leg {
		delete(c.legs, id)
	}
	c.mu.Unlock()
	leg.Close()
}

// dropPeer closes the leg of a peer that left.
func (l *live) dropPeerMedia(id peer.ID) {
	l.mu.Lock()
	c := l.call
	l.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	leg := c.legs[id]
	c.mu.Unlock()
	if leg != nil {
		c.drop(id, leg)
	}
}

// closeMedia ends the call.
func (l *live) closeMedia() {
	l.mu.Lock()
	c := l.call
	l.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	legs := c.legs
	c.legs = map[peer.ID]*media.Leg{}
	c.mu.Unlock()
	for _, leg := range legs {
		leg.Close()
	}
}

// MediaCount is what a media check received from one participant.
type MediaCount struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Peer  string `json:"peer"`
	Audio int64  `json:"audio"`
	Video int64  `json:"video"`
}

// MediaCheck sends a generated audio and video test signal into a session's
// call for d, and counts the packets that arrive from each other
// participant meanwhile. The interview must have started (it waits up to d
// for that).
func (n *Node) MediaCheck(ctx context.Context, id string, d time.Duration) ([]MediaCount, error) {
	l, err := n.lookupLive(id)
	if err != nil {
		return nil, err
	}
	if why := l.mediaOff(); why != "" {
		return nil, fmt.Errorf("no built-in audio and video: %s", why)
	}
	if d < time.Second || d > 90*time.Second {
		return nil, fmt.Errorf("a media check lasts from 1 to 90 seconds, not %s", d)
	}
	deadline := time.Now().Add(d)
	for {
		changed := l.waitChange()
		l.mu.Lock()
		started := l.gateOpen
		l.mu.Unlock()
		if started {
			break
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
			return nil, fmt.Errorf("the interview has not started: audio and video flow once an interviewer starts it")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.ctx.Done():
			return nil, fmt.Errorf("this node left the session")
		}
	}
	c, err := l.ensureCall()
	if err != nil {
		return nil, err
	}
	l.startMedia()
	g := &media.Generator{}
	c.mu.Lock()
	if c.gen != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("a media check already runs in this session")
	}
	c.gen = g
	before := map[peer.ID][2]int64{}
	for p, k := range c.recv {
		before[p] = [2]int64{k.audio.Load(), k.video.Load()}
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.gen = nil
		c.mu.Unlock()
	}()
	gctx, cancel := context.WithDeadline(ctx, time.Now().Add(d))
	defer cancel()
	g.Run(gctx, c.publish)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var out []MediaCount
	l.mu.Lock()
	present := map[peer.ID]*participant{}
	for pid, p := range l.peers {
		if p.role != RoleCompany {
			present[pid] = p
		}
	}
	l.mu.Unlock()
	c.mu.Lock()
	for pid, p := range present {
		mc := MediaCount{Name: p.name, Role: p.role, Peer: pid.String()}
		if k := c.recv[pid]; k != nil {
			mc.Audio, mc.Video = k.audio.Load()-before[pid][0], k.video.Load()-before[pid][1]
		}
		out = append(out, mc)
	}
	c.mu.Unlock()
	return out, nil
}
