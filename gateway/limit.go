package gateway

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits bound what one client address may ask of the gateway. Each class
// of request is a token bucket: Burst at once, then one every Every.
type Limits struct {
	// Page: the pages and the app's files.
	PageBurst int
	PageEvery time.Duration
	// Join: inspecting and joining, and opening the room's WebSocket (a
	// page reconnects with a backoff of its own).
	JoinBurst int
	JoinEvery time.Duration
	// Clients is the most client addresses tracked at once; past it, new
	// addresses share one bucket per class, so that a flood from many
	// addresses slows itself down, not the gateway's memory.
	Clients int
}

// DefaultLimits: a guest's page loads four files, and joins or reconnects a
// few times a minute; a dozen guests behind one company NAT stay well
// inside.
var DefaultLimits = Limits{
	PageBurst: 120, PageEvery: 50 * time.Millisecond,
	JoinBurst: 20, JoinEvery: 2 * time.Second,
	Clients: 10000,
}

func (l Limits) orDefault() Limits {
	if l == (Limits{}) {
		return DefaultLimits
	}
	return l
}

type class int

const (
	classPage class = iota
	classJoin
	classes
)

// limiter keeps a token bucket per client address and class.
type limiter struct {
	cfg Limits
	now func() time.Time

	mu      sync.Mutex
	clients map[netip.Addr]*client
	crowd   *client // the shared buckets past cfg.Clients
}

type client struct {
	buckets [classes]*rate.Limiter
	seen    time.Time
}

func newLimiter(cfg Limits, now func() time.Time) *limiter {
	l := &limiter{cfg: cfg, now: now, clients: make(map[netip.Addr]*client)}
	l.crowd = l.newClient()
	return l
}

func (l *limiter) newClient() *client {
	return &client{buckets: [classes]*rate.Limiter{
		classPage: rate.NewLimiter(rate.Every(l.cfg.PageEvery), l.cfg.PageBurst),
		classJoin: rate.NewLimiter(rate.Every(l.cfg.JoinEvery), l.cfg.JoinBurst),
	}}
}

// allow takes a token for a request of class from addr, or says how long
// to wait for one.
func (l *limiter) allow(addr netip.Addr, c class) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	cl := l.clients[addr]
	if cl == nil {
		if len(l.clients) >= l.cfg.Clients {
			cl = l.crowd
		} else {
			cl = l.newClient()
			l.clients[addr] = cl
		}
	}
	cl.seen = now
	l.mu.Unlock()
	r := cl.buckets[c].ReserveN(now, 1)
	if !r.OK() {
		return time.Second, false
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return wait, false
	}
	return 0, true
}

// sweep forgets clients quiet for a while: their buckets are full again.
func (l *limiter) sweep() {
	full := max(time.Duration(l.cfg.PageBurst)*l.cfg.PageEvery, time.Duration(l.cfg.JoinBurst)*l.cfg.JoinEvery)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for a, c := range l.clients {
		if now.Sub(c.seen) > full {
			delete(l.clients, a)
		}
	}
}

// clientIP is the address of the client: the peer's, or, from a trusted
// proxy, the last address in X-Forwarded-For that is not a trusted proxy
// (what the proxy saw; the addresses before it are the client's to write).
func (g *Gateway) clientIP(r *http.Request) netip.Addr {
	peer := remoteAddr(r)
	if !g.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !g.trusted(a) {
			return a
		}
	}
	return peer
}

// fromProxy reports whether the request came from a trusted proxy.
func (g *Gateway) fromProxy(r *http.Request) bool {
	return g.trusted(remoteAddr(r))
}

func (g *Gateway) trusted(a netip.Addr) bool {
	for _, p := range g.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// lastValue is the last of a header's comma-separated values: the one the
// nearest proxy wrote.
func lastValue(v string) string {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}
