package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultRelayListenAddrs are where a relay listens unless told otherwise.
var DefaultRelayListenAddrs = []string{
	"/ip4/0.0.0.0/tcp/4001",
	"/ip4/0.0.0.0/udp/4001/quic-v1",
	"/ip6/::/tcp/4001",
	"/ip6/::/udp/4001/quic-v1",
}

// RelayConfig configures a relay. The zero value works.
type RelayConfig struct {
	// Dir holds the relay's key (relay.key), made on first start, so that
	// its address stays the same. If empty, $PARLEY_HOME or ~/.parley.
	Dir string
	// ListenAddrs are the libp2p multiaddrs to listen on. If empty,
	// DefaultRelayListenAddrs.
	ListenAddrs []string
	// Metrics, if set, is a HOST:PORT where Prometheus metrics are served.
	Metrics string
	// MaxReservations is how many peers may hold a reservation at once.
	// If zero, 4096.
	MaxReservations int
	// MaxReservationsPerIP bounds reservations from one IP address. If zero,
	// 64 (several participants may share a company's NAT).
	MaxReservationsPerIP int
	// TURN configures the TURN server for media. The zero value runs none.
	// Its secret is DATA/turn.secret, made on first start.
	TURN TURNConfig
	// Logger receives the relay's log. If nil, slog.Default() is used.
	Logger *slog.Logger
}

// Relay is the admin's relay and bootstrap node: a circuit relay v2 service
// with limits for hour-long interviews, a server of Parley's DHT, on which
// session members find each other, and optionally a TURN server for media.
// It sees only encrypted traffic.
type Relay struct {
	host       host.Host
	dht        *dht.IpfsDHT
	turn       *turnServer // nil without TURN
	turnSecret string      // its secret's file
	metrics    *http.Server
	mlis       net.Listener
	wg         sync.WaitGroup
	once       sync.Once
}

// relayKeyFile is the relay's own key in the data directory, apart from the
// node key, so that a relay and a node can share a machine and a directory.
const relayKeyFile = "relay.key"

// NewRelay starts a relay.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	dir, err := resolveDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if err := checkPrivate(dir, fi); err != nil {
		return nil, err
	}
	key, _, err := loadOrCreate(filepath.Join(dir, relayKeyFile), newNodeKey, parseNodeKey)
	if err != nil {
		return nil, err
	}
	listen := cfg.ListenAddrs
	if len(listen) == 0 {
		listen = DefaultRelayListenAddrs
	}
	res := relay.DefaultResources()
	// Circuit relay v2's default limits (2 minutes, 128 KiB per relayed
	// connection) are made for hole punching and would cut an interview
	// off; a limited connection is also ignored by gossipsub. Interviews
	// need the relay for as long as they last, so relayed connections are
	// unlimited and the relay bounds how many it carries instead.
	res.Limit = nil
	res.MaxReservations = cmpOrInt(cfg.MaxReservations, 4096)
	res.MaxReservationsPerIP = cmpOrInt(cfg.MaxReservationsPerIP, 64)
	res.MaxReservationsPerASN = res.MaxReservations
	res.MaxCircuits = 64
	res.ReservationTTL = time.Hour

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	scaled := limits.AutoScale()
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(relayLimits(scaled)))
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	opts := append(hostOptions(listen),
		libp2p.Identity(key),
		libp2p.ResourceManager(rm),
		libp2p.EnableRelayService(relay.WithResources(res), relay.WithMetricsTracer(relay.NewMetricsTracer(relay.WithRegisterer(reg)))),
		libp2p.EnableNATService(),
		libp2p.PrometheusRegisterer(reg),
		libp2p.ForceReachabilityPublic(),
	)
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("relay: libp2p: %w", err)
	}
	r := &Relay{host: h}
	r.dht, err = dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(DHTPrefix))
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("relay: dht: %w", err)
	}
	if cfg.TURN.Listen != "" {
		r.turnSecret = filepath.Join(dir, turnSecretFile)
		secret, _, err := loadOrCreate(r.turnSecret, newTURNSecret, parseTURNSecret)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("relay: %w", err)
		}
		if r.turn, err = startTURN(cfg.TURN, secret, reg, log); err != nil {
			r.Close()
			return nil, fmt.Errorf("relay: %w", err)
		}
	}
	if cfg.Metrics != "" {
		r.mlis, err = net.Listen("tcp", cfg.Metrics)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("relay: metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		r.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		r.wg.Go(func() {
			if err := r.metrics.Serve(r.mlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		})
	}
	return r, nil
}

// relayLimits raises the resource manager's connection and stream limits to
// what a relay for many interviews needs: each relayed participant holds a
// reservation and a few circuits.
func relayLimits(c rcmgr.ConcreteLimitConfig) rcmgr.ConcreteLimitConfig {
	p := c.ToPartialLimitConfig()
	p.System.Conns, p.System.ConnsInbound = 16384, 16384
	p.System.Streams, p.System.StreamsInbound = 65536, 65536
	p.Transient.Conns, p.Transient.ConnsInbound = 4096, 4096
	p.Transient.Streams, p.Transient.StreamsInbound = 8192, 8192
	p.ProtocolDefault.Streams, p.ProtocolDefault.StreamsInbound = 32768, 32768
	p.ServiceDefault.Streams, p.ServiceDefault.StreamsInbound = 32768, 32768
	p.PeerDefault.Streams, p.PeerDefault.StreamsInbound = 1024, 1024
	return p.Build(c)
}

func cmpOrInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// ID returns the relay's peer ID.
func (r *Relay) ID() string { return r.host.ID().String() }

// Addrs returns the relay's multiaddrs, each ending in /p2p/ID: what links
// need as bootstrap addresses.
func (r *Relay) Addrs() []string {
	var out []string
	for _, a := range r.host.Addrs() {
		out = append(out, fmt.Sprintf("%s/p2p/%s", a, r.host.ID()))
	}
	return out
}

// TURNURL returns the TURN server's URL, turn:PUBLICIP:PORT, for the
// company node's links; empty without TURN.
func (r *Relay) TURNURL() string {
	if r.turn == nil {
		return ""
	}
	return r.turn.url
}

// TURNSecretFile returns the file holding the secret the TURN server shares
// with the company node; empty without TURN.
func (r *Relay) TURNSecretFile() string { return r.turnSecret }

// MetricsAddr returns where metrics are served, if anywhere.
func (r *Relay) MetricsAddr() string {
	if r.mlis == nil {
		return ""
	}
	return r.mlis.Addr().String()
}

// Close stops the relay. Closing twice returns an error wrapping
// net.ErrClosed.
func (r *Relay) Close() error {
	err := fmt.Errorf("relay: close: %w", net.ErrClosed)
	r.once.Do(func() {
		err = nil
		if r.metrics != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r.metrics.Shutdown(ctx)
			cancel()
		}
		r.wg.Wait()
		if r.turn != nil {
			r.turn.close()
		}
		if r.dht != nil {
			r.dht.Close()
		}
		err = r.host.Close()
	})
	return err
}
