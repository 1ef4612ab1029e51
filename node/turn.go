package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"parley/invite"
)

// TURN defaults: relay ports and per-allocation limits sized for interviews.
// A participant's node makes one allocation per peer it sends media to, so a
// session of n nodes needs at most n*(n-1); one allocation carries one peer's
// audio and video each way (about 2.5 Mbit/s at 640x480, 20 fps).
const (
	DefaultTURNMinPort = 49152
	DefaultTURNMaxPort = 65535
	// DefaultTURNMaxAllocations bounds the allocations a relay holds at once.
	DefaultTURNMaxAllocations = 4096
	// DefaultTURNMaxPerSession bounds the allocations made with one link's
	// credentials: a full session of 17 nodes needs 272.
	DefaultTURNMaxPerSession = 300
	// DefaultTURNMaxPerIP bounds the allocations of one client IP address
	// (several participants may share a company's NAT).
	DefaultTURNMaxPerIP = 128
	// DefaultTURNBitrate bounds what one allocation relays, in bits per
	// second each way; packets over it are dropped.
	DefaultTURNBitrate = 8_000_000

	turnRealm = "parley"
	// turnBurst is how many bytes an allocation may relay at once above its
	// rate: a few keyframes.
	turnBurst = 512 << 10
	// turnGrace is how long after its credentials expire an allocation may
	// still be refreshed, so that an interview running past its link's
	// expiry keeps its media. New allocations need valid credentials.
	turnGrace = 24 * time.Hour
)

// TURNConfig configures a relay's TURN server. The zero value runs none.
type TURNConfig struct {
	// Listen is the UDP HOST:PORT the TURN server listens on, HOST an IP
	// address (0.0.0.0 for every interface; port 0 picks a free one). If
	// empty, the relay runs no TURN server.
	Listen string
	// PublicIP is the IP address the relay gives out as the relayed
	// address: where peers reach it. If empty, the Listen IP, which must
	// then not be 0.0.0.0 or ::.
	PublicIP string
	// MinPort and MaxPort bound the UDP ports of relayed addresses. If zero,
	// DefaultTURNMinPort and DefaultTURNMaxPort.
	MinPort, MaxPort int
	// MaxAllocations, MaxPerSession and MaxPerIP bound allocations at once:
	// in all, under one link's credentials, from one client IP. If zero,
	// DefaultTURNMaxAllocations, DefaultTURNMaxPerSession and
	// DefaultTURNMaxPerIP.
	MaxAllocations, MaxPerSession, MaxPerIP int
	// Bitrate bounds each allocation's relayed traffic, in bits per second
	// each way. If zero, DefaultTURNBitrate.
	Bitrate int
}

// turnServer is a relay's TURN server: pion/turn with the credentials of
// invite.TURNCredential, limits, metrics and logs.
type turnServer struct {
	log      *slog.Logger
	secret   []byte
	loopback bool // listening on loopback: peers on loopback are allowed
	cfg      TURNConfig
	conn     net.PacketConn
	url      string
	server   *turn.Server
	metrics  turnMetrics

	mu        sync.Mutex
	allocs    int
	bySession map[string]int // by username
	byIP      map[string]int
	drained   chan struct{} // closed when allocs drops to 0 after close
	closing   bool
}

type turnMetrics struct {
	allocations prometheus.Counter
	refused     *prometheus.CounterVec // by reason
	bytes       *prometheus.CounterVec // by direction
	dropped     *prometheus.CounterVec // by direction
}

func newTURNMetrics() turnMetrics {
	return turnMetrics{
		allocations: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_turn_allocations_total", Help: "TURN allocations made."}),
		refused:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_turn_refused_total", Help: "TURN requests refused, by reason."}, []string{"reason"}),
		bytes:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_turn_relayed_bytes_total", Help: "Bytes relayed by TURN allocations, by direction."}, []string{"direction"}),
		dropped:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_turn_dropped_packets_total", Help: "Packets dropped for exceeding an allocation's bitrate, by direction."}, []string{"direction"}),
	}
}

// startTURN starts the TURN server of cfg with the secret, registering its
// metrics with reg.
func startTURN(cfg TURNConfig, secret []byte, reg prometheus.Registerer, log *slog.Logger) (*turnServer, error) {
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("TURN listen address %q is not HOST:PORT: %v", cfg.Listen, err)
	}
	listenIP := net.IPv4zero
	if host != "" {
		if listenIP = net.ParseIP(host); listenIP == nil {
			return nil, fmt.Errorf("TURN listen address %q: %q is not an IP address", cfg.Listen, host)
		}
	}
	publicIP := listenIP
	if cfg.PublicIP != "" {
		if publicIP = net.ParseIP(cfg.PublicIP); publicIP == nil {
			return nil, fmt.Errorf("TURN public IP %q is not an IP address", cfg.PublicIP)
		}
	}
	switch {
	case publicIP.IsUnspecified():
		return nil, fmt.Errorf("the TURN server listens on every interface (%s), so it needs the public IP address peers reach it at (--turn-public-ip)", cfg.Listen)
	case publicIP.IsMulticast():
		return nil, fmt.Errorf("TURN public IP %s is a multicast address", publicIP)
	case (publicIP.To4() == nil) != (listenIP.To4() == nil):
		return nil, fmt.Errorf("TURN public IP %s and listen address %s are of different IP versions", publicIP, cfg.Listen)
	}
	cfg.MinPort = cmpOrInt(cfg.MinPort, DefaultTURNMinPort)
	cfg.MaxPort = cmpOrInt(cfg.MaxPort, DefaultTURNMaxPort)
	if cfg.MinPort < 1 || cfg.MaxPort > 65535 || cfg.MinPort > cfg.MaxPort {
		return nil, fmt.Errorf("TURN relay ports %d-%d: want 1 <= MIN <= MAX <= 65535", cfg.MinPort, cfg.MaxPort)
	}
	cfg.MaxAllocations = cmpOrInt(cfg.MaxAllocations, DefaultTURNMaxAllocations)
	cfg.MaxPerSession = cmpOrInt(cfg.MaxPerSession, DefaultTURNMaxPerSession)
	cfg.MaxPerIP = cmpOrInt(cfg.MaxPerIP, DefaultTURNMaxPerIP)
	cfg.Bitrate = cmpOrInt(cfg.Bitrate, DefaultTURNBitrate)
	if cfg.MaxAllocations < 0 || cfg.MaxPerSession < 0 || cfg.MaxPerIP < 0 || cfg.Bitrate < 0 {
		return nil, fmt.Errorf("TURN limits must be positive")
	}

	network := "udp4"
	if listenIP.To4() == nil {
		network = "udp6"
	}
	conn, err := net.ListenPacket(network, cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("TURN: %w", err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	t := &turnServer{
		log: log, secret: secret, loopback: listenIP.IsLoopback(), cfg: cfg, conn: conn,
		url:       "turn:" + net.JoinHostPort(publicIP.String(), strconv.Itoa(port)),
		bySession: make(map[string]int), byIP: make(map[string]int), drained: make(chan struct{}),
	}
	t.metrics = newTURNMetrics()
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_turn_allocations", Help: "TURN allocations held now."}, func() float64 {
		t.mu.Lock()
		defer t.mu.Unlock()
		return float64(t.allocs)
	})
	for _, c := range []prometheus.Collector{t.metrics.allocations, t.metrics.refused, t.metrics.bytes, t.metrics.dropped, active} {
		if err := reg.Register(c); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TURN: metrics: %w", err)
		}
	}
	relayAddr := listenIP.String()
	gen := &limitedRelays{
		RelayAddressGeneratorPortRange: turn.RelayAddressGeneratorPortRange{
			RelayAddress: publicIP, Address: relayAddr, MinPort: uint16(cfg.MinPort), MaxPort: uint16(cfg.MaxPort),
		},
		t: t,
	}
	t.server, err = turn.NewServer(turn.ServerConfig{
		Realm:         turnRealm,
		AuthHandler:   t.auth,
		QuotaHandler:  t.quota,
		LoggerFactory: pionLogs{log},
		EventHandler: turn.EventHandler{
			OnAuth:              t.onAuth,
			OnAllocationCreated: t.onAllocationCreated,
			OnAllocationDeleted: t.onAllocationDeleted,
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: conn, RelayAddressGenerator: gen, PermissionHandler: t.permit}},
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("TURN: %w", err)
	}
	log.Info("TURN server up", "url", t.url, "listen", conn.LocalAddr().String(), "ports", fmt.Sprintf("%d-%d", cfg.MinPort, cfg.MaxPort))
	return t, nil
}

// auth answers pion's question "what key goes with this username": the
// long-term key made from the credential invite.TURNPassword derives, for a
// username that has not expired. A request on an existing allocation
// (refresh, permission, channel) may use credentials up to turnGrace past
// their expiry.
func (t *turnServer) auth(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	now := time.Now()
	if ra.Method != stun.MethodAllocate {
		now = now.Add(-turnGrace)
	}
	pass, err := invite.TURNPassword(t.secret, ra.Username, now)
	if err != nil {
		reason := "malformed"
		if errors.Is(err, invite.ErrExpired) {
			reason = "expired"
		}
		t.metrics.refused.WithLabelValues(reason).Inc()
		t.log.Debug("TURN request refused", "client", ra.SrcAddr.String(), "method", ra.Method.String(), "err", err)
		return "", nil, false
	}
	return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, pass), true
}

func (t *turnServer) onAuth(src, _ net.Addr, _, user, _ string, method string, ok bool) {
	if !ok {
		t.metrics.refused.WithLabelValues("bad_credential").Inc()
		t.log.Debug("TURN request refused: wrong credential", "client", src.String(), "method", method, "session", turnTag(user))
	}
}

// quota admits a new allocation while the relay, the session and the
// client's IP address are under their limits.
func (t *turnServer) quota(user, _ string, src net.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ok := t.allocs < t.cfg.MaxAllocations && t.bySession[user] < t.cfg.MaxPerSession && t.byIP[ipOf(src)] < t.cfg.MaxPerIP
	if !ok {
		t.metrics.refused.WithLabelValues("quota").Inc()
		t.log.Debug("TURN allocation refused: over quota", "client", src.String(), "session", turnTag(user),
			"allocations", t.allocs, "of_session", t.bySession[user], "of_ip", t.byIP[ipOf(src)])
	}
	return ok
}

func (t *turnServer) onAllocationCreated(src, _ net.Addr, _, user, _ string, relayAddr net.Addr, _ int) {
	t.mu.Lock()
	t.allocs++
	t.bySession[user]++
	t.byIP[ipOf(src)]++
	t.mu.Unlock()
	t.metrics.allocations.Inc()
	t.log.Debug("TURN allocation", "client", src.String(), "relayed", relayAddr.String(), "session", turnTag(user))
}

func (t *turnServer) onAllocationDeleted(src, _ net.Addr, _, user, _ string) {
	t.mu.Lock()
	t.allocs--
	if t.bySession[user]--; t.bySession[user] <= 0 {
		delete(t.bySession, user)
	}
	ip := ipOf(src)
	if t.byIP[ip]--; t.byIP[ip] <= 0 {
		delete(t.byIP, ip)
	}
	if t.closing && t.allocs == 0 {
		close(t.drained)
		t.closing = false
	}
	t.mu.Unlock()
	t.log.Debug("TURN allocation ended", "client", src.String(), "session", turnTag(user))
}

// permit refuses to relay to addresses no interview peer has: unspecified,
// multicast, broadcast, link-local, and loopback unless the server itself
// listens on loopback (tests and demos).
func (t *turnServer) permit(client net.Addr, peer net.IP) bool {
	ok := !(peer.IsUnspecified() || peer.IsMulticast() || peer.Equal(net.IPv4bcast) ||
		peer.IsLinkLocalUnicast() || (peer.IsLoopback() && !t.loopback))
	if !ok {
		t.metrics.refused.WithLabelValues("peer_address").Inc()
		t.log.Debug("TURN permission refused", "client", client.String(), "peer", peer.String())
	}
	return ok
}

// close stops the server and waits (briefly) for its allocations to end.
func (t *turnServer) close() error {
	t.mu.Lock()
	t.closing = t.allocs > 0
	wait := t.closing
	t.mu.Unlock()
	err := t.server.Close()
	if wait {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		select {
		case <-t.drained:
		case <-ctx.Done():
		}
	}
	return err
}

func ipOf(a net.Addr) string {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP.String()
	}
	host, _, _ := net.SplitHostPort(a.String())
	return host
}

// turnTag returns the session tag of a TURN username, for logs.
func turnTag(user string) string {
	_, tag, err := invite.ParseTURNUser(user)
	if err != nil {
		return "?"
	}
	return tag
}

// limitedRelays makes UDP relayed addresses in the configured port range,
// each limited to the configured bitrate; it refuses TCP allocations
// (RFC 6062), which interviews do not need.
type limitedRelays struct {
	turn.RelayAddressGeneratorPortRange
	t *turnServer
}

func (g *limitedRelays) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorPortRange.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	bytesPerSec := rate.Limit(g.t.cfg.Bitrate / 8)
	return &limitedConn{
		PacketConn: conn, metrics: &g.t.metrics,
		in:  rate.NewLimiter(bytesPerSec, turnBurst),
		out: rate.NewLimiter(bytesPerSec, turnBurst),
	}, addr, nil
}

func (g *limitedRelays) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, fmt.Errorf("TCP allocations are not offered")
}

func (g *limitedRelays) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, fmt.Errorf("TCP allocations are not offered")
}

// limitedConn is a relayed address that drops packets over its bitrate and
// counts what it relays.
type limitedConn struct {
	net.PacketConn
	metrics *turnMetrics
	in, out *rate.Limiter
}

// ReadFrom returns the next packet from a peer (to go to the client) that
// fits the bitrate.
func (c *limitedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.in.AllowN(time.Now(), n) {
			c.metrics.bytes.WithLabelValues("to_client").Add(float64(n))
			return n, from, err
		}
		c.metrics.dropped.WithLabelValues("to_client").Inc()
	}
}

// WriteTo sends a packet from the client to a peer, or drops it if it does
// not fit the bitrate.
func (c *limitedConn) WriteTo(p []byte, to net.Addr) (int, error) {
	if !c.out.AllowN(time.Now(), len(p)) {
		c.metrics.dropped.WithLabelValues("to_peer").Inc()
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, to)
	c.metrics.bytes.WithLabelValues("to_peer").Add(float64(n))
	return n, err
}

// pionLogs sends pion's logs to slog, a level lower: pion logs per packet
// at debug and info, and at error for a client that went away.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) Trace(string)                  {}
func (l pionLogger) Tracef(string, ...any)         {}
func (l pionLogger) Debug(string)                  {}
func (l pionLogger) Debugf(string, ...any)         {}
func (l pionLogger) Info(msg string)               { l.log.Debug(msg) }
func (l pionLogger) Infof(format string, a ...any) { l.log.Debug(fmt.Sprintf(format, a...)) }
func (l pionLogger) Warn(msg string)               { l.log.Info(msg) }
func (l pionLogger) Warnf(format string, a ...any) { l.log.Info(fmt.Sprintf(format, a...)) }
func (l pionLogger) Error(msg string)              { l.log.Info(msg) }
func (l pionLogger) Errorf(format string, a ...any) {
	l.log.Info(fmt.Sprintf(format, a...))
}

var _ logging.LoggerFactory = pionLogs{}
var _ turn.RelayAddressGenerator = (*limitedRelays)(nil)
