// Package media carries a session's audio and video with Pion WebRTC: a
// Leg is one peer connection (to another participant's node, or to this
// node's own browser) that sends one audio and one video track and
// receives the other side's; packets pass through unchanged in payload
// (no transcoding), with what must change per leg rewritten: the SSRC and
// payload type (by Pion's tracks), the header extensions (stripped: their
// IDs differ per leg) and the sequence numbers (renumbered when empty
// padding packets are dropped, or the next hop asks for retransmissions
// forever). What a leg sends on a track stays one continuous stream when
// its source changes (a page reloads, a leg is replaced): sequence
// numbers, timestamps and VP8 picture IDs go on from the last packet sent
// (see rewriter).
//
// Every leg offers only VP8 and Opus, with no RTX, RED or FEC, and keeps
// Pion's default interceptors (NACK, RTCP reports, congestion feedback).
package media

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Kind is audio or video.
type Kind int

const (
	Audio Kind = iota
	Video
)

func (k Kind) String() string {
	if k == Video {
		return "video"
	}
	return "audio"
}

// Payload types of the two codecs, the same on every leg.
const (
	vp8PayloadType  = 96
	opusPayloadType = 111
)

var (
	vp8Codec  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}}
	opusCodec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
)

// ICEServer is a STUN or TURN server for the legs' ICE.
type ICEServer struct {
	URL        string
	Username   string
	Credential string
}

// Config configures the legs of one node.
type Config struct {
	// ICEServers are STUN and TURN servers, from the session's link.
	ICEServers []ICEServer
	// RelayOnly makes ICE use TURN relays only (tests; strict networks).
	RelayOnly bool
	// Loopback includes loopback candidates: a browser talks to its own
	// node on 127.0.0.1, and tests run on one machine.
	Loopback bool
	// Local is for the leg to this node's own page, on this machine: ICE
	// takes the first path that works. The page answers with its first host
	// candidate only, and the others it checks from are peer-reflexive to
	// this side, which would otherwise wait a second before using one.
	Local bool
	// PublicIPs, if set, are announced as host candidates besides the
	// interfaces' own addresses: the public addresses of a host behind 1:1
	// NAT (a company's gateway on a cloud VM with a private address).
	PublicIPs []string
}

// API is a configured Pion API, shared by a node's legs.
type API struct {
	api *webrtc.API
	cfg Config
}

// NewAPI makes an API that offers VP8 and Opus only.
func NewAPI(cfg Config) (*API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: vp8Codec, PayloadType: vp8PayloadType}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCodec, PayloadType: opusPayloadType}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	// A TURN-only path would otherwise wait 2 s before it connects.
	se.SetRelayAcceptanceMinWait(0)
	if cfg.Local {
		se.SetPrflxAcceptanceMinWait(0)
	}
	se.SetICETimeouts(5*time.Second, 15*time.Second, 2*time.Second)
	for _, ip := range cfg.PublicIPs {
		if net.ParseIP(ip) == nil {
			return nil, fmt.Errorf("media: public IP %q is not an IP address", ip)
		}
	}
	if len(cfg.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteAppend,
		})
		if err != nil {
			return nil, fmt.Errorf("media: public IPs %v: %w", cfg.PublicIPs, err)
		}
	}
	return &API{api: webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), cfg: cfg}, nil
}

func (a *API) configuration() webrtc.Configuration {
	var c webrtc.Configuration
	for _, s := range a.cfg.ICEServers {
		c.ICEServers = append(c.ICEServers, webrtc.ICEServer{URLs: []string{s.URL}, Username: s.Username, Credential: s.Credential})
	}
	if a.cfg.RelayOnly {
		c.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return c
}
