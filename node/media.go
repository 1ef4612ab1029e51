package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	l     *live
	api   *media.API // legs to peers: the link's STUN and TURN servers
	local *media.API // the leg to this node's page, on loopback

	mu      sync.Mutex
	legs    map[peer.ID]*media.Leg
	asked   map[peer.ID]time.Time // when this side last asked a peer for an offer
	asking  map[peer.ID]bool      // while it asks
	recv    map[peer.ID]*packetCount
	gen     *media.Generator // the test signal, while one runs
	browser *media.Leg       // to this node's own page, while one is open
	slots   map[peer.ID]int  // which of the browser leg's track pairs carries whom
	closed  bool
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
	local, err := media.NewAPI(l.pageMedia())
	if err != nil {
		return nil, err
	}
	l.call = &call{l: l, api: api, local: local, legs: map[peer.ID]*media.Leg{}, asked: map[peer.ID]time.Time{}, asking: map[peer.ID]bool{}, recv: map[peer.ID]*packetCount{}, slots: map[peer.ID]int{}}
	return l.call, nil
}

// iceServers are the STUN and TURN servers of the session's link, with
// the link's time-limited TURN credentials.
func iceServers(l *live) []media.ICEServer {
	var out []media.ICEServer
	for _, s := range l.inv.ICEServers() {
		for _, u := range s.URLs {
			out = append(out, media.ICEServer{URL: u, Username: s.Username, Credential: s.Credential})
		}
	}
	return out
}

// started reports whether the interview started. It reads the control
// state, which a restarted node has from its store before any peer speaks
// to it again (the lobby gate opens only when a record arrives).
func (l *live) started() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state.start != nil
}

// startMedia connects the call to every participant present: when the
// interview starts, when a participant is admitted after the start (again,
// after it restarted), and when this node's page joins the call.
func (l *live) startMedia() {
	if l.mediaOff() != "" {
		return
	}
	started := l.started()
	l.mu.Lock()
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

// dial connects the call to a peer unless a leg is up or under way: this
// side offers if it has the smaller peer ID, and otherwise asks the peer
// for an offer.
func (c *call) dial(id peer.ID) {
	if c.l.n.id > id {
		c.requestOffer(id)
		return
	}
	c.offerLeg(id, nil)
}

// offerLeg makes a new leg to a peer and offers it, if the peer's leg is
// still old (nil: none); the new leg replaces old, keeping its slot on the
// page.
func (c *call) offerLeg(id peer.ID, old *media.Leg) {
	l := c.l
	if l.n.id >= id {
		return // the peer offers
	}
	c.mu.Lock()
	if c.closed || c.legs[id] != old {
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
	if old != nil {
		old.Close()
	}
	c.changed()
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

// requestOffer asks a peer with a smaller ID, which offers, for an offer:
// this side has no leg to it (it restarted, or its leg failed), and the
// peer may hold one that is dead without knowing it yet. At most once a
// second, and again every 3 s while no leg comes and the peer is present.
func (c *call) requestOffer(id peer.ID) {
	l := c.l
	c.mu.Lock()
	if c.closed || c.legs[id] != nil || c.asking[id] || time.Since(c.asked[id]) < time.Second {
		c.mu.Unlock()
		return
	}
	c.asking[id] = true
	c.mu.Unlock()
	l.wg.Go(func() {
		defer func() {
			c.mu.Lock()
			delete(c.asking, id)
			c.mu.Unlock()
		}()
		for {
			c.mu.Lock()
			c.asked[id] = time.Now()
			c.mu.Unlock()
			ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
			if err := c.sendRequest(ctx, id); err != nil {
				l.log.Debug("media: asking for an offer", "peer", id, "err", err)
			}
			cancel()
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(3 * time.Second):
			}
			c.mu.Lock()
			none := !c.closed && c.legs[id] == nil
			c.mu.Unlock()
			if !none || !l.isAdmitted(id) {
				return
			}
		}
	})
}

func (c *call) sendRequest(ctx context.Context, id peer.ID) error {
	l := c.l
	s, err := l.n.p2p.host.NewStream(network.WithAllowLimitedConn(ctx, "media"), id, MediaProtocol)
	if err != nil {
		return err
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeFrame(s, syncHello{Tag: l.tag}); err != nil {
		s.Reset()
		return err
	}
	if err := media.WriteSignal(s, media.Signal{Type: "request"}); err != nil {
		s.Reset()
		return err
	}
	return s.Close()
}

// offerRequested offers a peer a new leg when it asked for one, unless the
// leg this side has is under way (the offer has not been answered: the
// peer asked before it arrived) or alive (packets arrived from it in the
// last half second: the request is older than the leg).
func (c *call) offerRequested(id peer.ID) {
	c.mu.Lock()
	old := c.legs[id]
	c.mu.Unlock()
	if old != nil && (!old.Negotiated() || time.Since(old.LastReceived()) < 500*time.Millisecond) {
		return
	}
	c.offerLeg(id, old)
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
	if l == nil || !l.waitAdmitted(from, 5*time.Second) || l.roleOfPeer(from) == RoleCompany {
		s.Reset()
		return
	}
	c, err := l.ensureCall()
	if err != nil {
		s.Reset()
		return
	}
	offer, err := media.ReadSignal(r)
	if err == nil && offer.Type == "request" && from > n.id {
		// The peer answers, and has no leg to this node.
		if l.started() {
			c.offerRequested(from)
		}
		return
	}
	if err != nil || offer.Type != "offer" || from > n.id {
		l.log.Info("media: bad offer", "peer", from, "type", offer.Type, "err", err)
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
	c.changed()
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
			c.toBrowser(id, kind, p)
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

// keyframe asks this participant's source for a keyframe: the test
// signal, or the browser.
func (c *call) keyframe() {
	c.mu.Lock()
	g, b := c.gen, c.browser
	c.mu.Unlock()
	if g != nil {
		g.RequestKeyframe()
	}
	if b != nil {
		b.RequestKeyframe()
	}
}

// browserSlots is how many other participants the page can show: the
// interviewers at most, and the candidate, less this node's own.
func (c *call) browserSlots() int {
	return max(c.l.inv.MaxInterviewers, 1)
}

// slotLocked returns the browser leg's track pair that carries a peer,
// taking a free one; -1 when all are taken. Call with c.mu held.
func (c *call) slotLocked(id peer.ID) int {
	if s, ok := c.slots[id]; ok {
		return s
	}
	used := map[int]bool{}
	for _, s := range c.slots {
		used[s] = true
	}
	for s := range c.browserSlots() {
		if !used[s] {
			c.slots[id] = s
			return s
		}
	}
	return -1
}

// toBrowser passes a peer's packet on to this node's page.
func (c *call) toBrowser(id peer.ID, kind media.Kind, p *rtp.Packet) {
	c.mu.Lock()
	b := c.browser
	slot := -1
	if b != nil {
		slot = c.slotLocked(id)
	}
	c.mu.Unlock()
	if slot >= 0 {
		b.WriteRTP(slot, kind, p)
	}
}

// openBrowser makes the leg to this node's page and returns its offer. The
// page's audio and video become this participant's, sent to every peer; the
// peers' come to the page, a track pair each.
func (c *call) openBrowser(ctx context.Context) (*media.Leg, string, error) {
	var leg *media.Leg
	leg, err := c.local.NewLeg(c.browserSlots(), media.Handler{
		Packet: c.publishPage,
		KeyframeRequest: func(slot int) {
			c.mu.Lock()
			var from *media.Leg
			for id, s := range c.slots {
				if s == slot {
					from = c.legs[id]
				}
			}
			c.mu.Unlock()
			if from != nil {
				from.RequestKeyframe()
			}
		},
		State: func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				// Whoever the page shows starts from a keyframe, as soon
				// as the page can take it.
				c.mu.Lock()
				peers := slices.Collect(maps.Values(c.legs))
				c.mu.Unlock()
				for _, p := range peers {
					p.RequestKeyframe()
				}
			}
		},
	})
	if err != nil {
		return nil, "", err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		leg.Close()
		return nil, "", fmt.Errorf("the call ended")
	}
	old := c.browser
	c.browser = leg
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	sdp, err := leg.Offer(ctx)
	if err != nil {
		c.closeBrowser(leg)
		return nil, "", err
	}
	c.changed()
	return leg, sdp, nil
}

// changed tells the page that who is in the call changed. Call without
// c.mu held.
func (c *call) changed() {
	c.l.mu.Lock()
	c.l.notify()
	c.l.mu.Unlock()
}

// closeBrowser closes the leg to the page, if it is still that one.
func (c *call) closeBrowser(leg *media.Leg) {
	c.mu.Lock()
	if c.browser == leg {
		c.browser = nil
	}
	c.mu.Unlock()
	leg.Close()
}

// MediaSlot tells the page whose audio and video a track pair carries, and
// whether they muted their microphone or turned their camera off.
type MediaSlot struct {
	Peer string `json:"peer"`
	Slot int    `json:"slot"` // -1: this node's own participant, or not shown
	Mic  bool   `json:"mic"`
	Cam  bool   `json:"cam"`
}

// MediaState is a participant's microphone and camera, on or off.
type MediaState struct {
	Mic bool `json:"mic"`
	Cam bool `json:"cam"`
}

// setMediaState records a participant's microphone and camera state.
func (l *live) setMediaState(id peer.ID, m MediaState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.peers[id]; !ok && id != l.n.id {
		return
	}
	if l.mediaStates == nil {
		l.mediaStates = map[peer.ID]MediaState{}
	}
	l.mediaStates[id] = m
	l.notify()
}

// mediaSlots lists the participants in the call as the page shows them.
func (l *live) mediaSlots() []MediaSlot {
	l.mu.Lock()
	c := l.call
	var out []MediaSlot
	states := map[peer.ID]MediaState{}
	for id, m := range l.mediaStates {
		states[id] = m
	}
	var ids []peer.ID
	for id, p := range l.peers {
		if p.role != RoleCompany {
			ids = append(ids, id)
		}
	}
	l.mu.Unlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		slot := -1
		if c.browser != nil {
			slot = c.slotLocked(id)
		}
		m, ok := states[id]
		if !ok {
			m = MediaState{Mic: true, Cam: true}
		}
		out = append(out, MediaSlot{Peer: id.String(), Slot: slot, Mic: m.Mic, Cam: m.Cam})
	}
	return out
}

// publishPage sends a packet of the page's to every peer, unless a media
// check's test signal runs: one source at a time, or each leg's stream
// would switch between the two at every packet.
func (c *call) publishPage(kind media.Kind, p *rtp.Packet) {
	c.mu.Lock()
	checking := c.gen != nil
	c.mu.Unlock()
	if !checking {
		c.publish(kind, p)
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

// drop closes a peer's leg, if it is still that one, and frees its slot
// on the page.
func (c *call) drop(id peer.ID, leg *media.Leg) {
	c.mu.Lock()
	gone := c.legs[id] == leg
	if gone {
		delete(c.legs, id)
		delete(c.slots, id)
	}
	c.mu.Unlock()
	leg.Close()
	if gone {
		c.changed()
	}
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
	delete(c.asked, id)
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
	legs := slices.Collect(maps.Values(c.legs))
	if c.browser != nil {
		legs = append(legs, c.browser)
	}
	c.legs, c.browser = map[peer.ID]*media.Leg{}, nil
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
	// Connected is set when this node's media connection to the
	// participant's is up at the end of the check: with no packets, the
	// path works but nothing is sent (no page with a camera open there).
	Connected bool `json:"connected"`
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
		if l.started() {
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
		if leg := c.legs[pid]; leg != nil {
			mc.Connected = leg.Connected()
		}
		out = append(out, mc)
	}
	c.mu.Unlock()
	return out, nil
}
