// Package gateway is the company's public gateway: it lets a candidate who
// runs no Parley node take part in an interview from any browser.
//
// The company node serves it on a public address (`parley up
// --public-listen`), over TLS (certificate files or ACME) or as plain HTTP
// behind a reverse proxy that terminates TLS. It serves only the guest's
// side, never the node's local API:
//
//	GET  /join                 the web app's join page, in guest mode; the link
//	                           is /join#TOKEN, and the fragment never reaches
//	                           a server
//	GET  /app.js, /app.css,    the web app's files
//	     /automerge.wasm,
//	     /favicon.svg
//	POST /guest/inspect        {token}: what the link holds, as `parley invite
//	                           inspect` shows it
//	POST /guest/join           {token, name}: join; sets the guest's cookie
//	GET  /guest/s/{id}         the interview room, in guest mode
//	GET  /guest/s/{id}/live    the room's WebSocket: the page protocol of
//	                           PROTOCOL.md, to the guest's hosted participant
//
// For each guest it admits, the gateway runs a hosted participant: a
// node.Node of its own, with its own libp2p identity, Automerge worker and
// store under DATA/guests/ID, which joins the session as its candidate. The
// guest's browser is bound to it by a cookie, so that a reload or a dropped
// connection resumes the same participant and seat. The guest's page speaks
// the ordinary page protocol to it through the gateway, the call included.
// A participant whose guest is gone for a grace period leaves and stops;
// the guest's cookie brings it back (same identity, same seat) while the
// session lasts.
//
// Every response carries a Content-Security-Policy, X-Frame-Options,
// nosniff and no-referrer, and HSTS over https. Bodies, request rates per
// client address, hosted participants per session (one: the candidate
// seat) and in all (Config.MaxGuests) are bounded; logs never hold a link.
package gateway

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"parley/node"
	"parley/node/web"
)

// Defaults of Config.
const (
	DefaultMaxGuests = 8
	DefaultGrace     = 2 * time.Minute
)

// Config configures a Gateway. Only Company is required.
type Config struct {
	// Company is the company node: the gateway serves its interviews only,
	// and keeps its hosted participants under its data directory.
	Company *node.Node
	// Logger receives the gateway's log. If nil, slog.Default() is used.
	Logger *slog.Logger
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
	// TLS, if set, makes Serve speak TLS (see TLSFromFiles and ACME). If
	// nil, Serve speaks plain HTTP: for a reverse proxy that terminates
	// TLS (TrustedProxies), or tests.
	TLS *tls.Config
	// TrustedProxies are the addresses of the reverse proxy in front of the
	// gateway. Only from them are X-Forwarded-For (the client's address,
	// for the rate limits) and X-Forwarded-Proto (https: HSTS) believed:
	// anyone else can write those headers. If empty, none are.
	TrustedProxies []netip.Prefix
	// MaxGuests is the most hosted participants running at once. If zero,
	// DefaultMaxGuests.
	MaxGuests int
	// Grace is how long a hosted participant stays in its session after
	// its guest's last socket closed. If zero, DefaultGrace.
	Grace time.Duration
	// PublicIPs, if set, are announced in the ICE candidates of the
	// guests' calls besides the machine's own addresses: a gateway behind
	// 1:1 NAT gives its public address.
	PublicIPs []string
	// Node is the template of each hosted participant's node.Config; the
	// gateway sets Dir, Logger and PageMedia. Its zero value works (tests
	// set the worker, the listen addresses and the join wait).
	Node node.Config
	// PingInterval is how often the gateway pings a guest's WebSocket
	// (see web.Live). If zero, 30 s.
	PingInterval time.Duration
	// Limits bounds what one client may ask. The zero value gives
	// DefaultLimits.
	Limits Limits
	// ReadHeaderTimeout bounds how long a client takes to send a request's
	// headers (the TLS handshake included): a half-open or stalled
	// connection is dropped. If zero, 10 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request. If zero, 60 s.
	IdleTimeout time.Duration
}

// Gateway is the company's public gateway. Make one with New, serve it with
// Serve, and Close it.
type Gateway struct {
	cfg     Config
	company *node.Node
	org     string
	log     *slog.Logger
	now     func() time.Time
	secret  []byte // keys guests' cookies
	dir     string // DATA/guests
	limits  *limiter
	srv     *http.Server

	mu        sync.Mutex // guards what follows
	guests    map[string]*guest
	bySession map[string]*guest
	running   int // hosted participants started or starting
	closed    bool

	stop      chan struct{} // closed by Close: the background loop ends
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New makes the gateway of a company node: it reads the gateway's secret
// (DATA/gateway.secret, made on the first start) and the hosted
// participants of earlier runs, which wait, stopped, for their guests.
func New(cfg Config) (*Gateway, error) {
	if cfg.Company == nil {
		return nil, fmt.Errorf("gateway: no company node")
	}
	info, err := cfg.Company.Info(context.Background())
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if info.Org == "" {
		return nil, fmt.Errorf("gateway: %s is not a company node: only the company node, made with `parley init --org NAME`, serves a public gateway for its interviews", cfg.Company.Dir())
	}
	g := &Gateway{
		cfg: cfg, company: cfg.Company, org: info.Org, log: cfg.Logger, now: cfg.Now,
		dir:    filepath.Join(cfg.Company.Dir(), guestsDir),
		guests: make(map[string]*guest), bySession: make(map[string]*guest),
		stop: make(chan struct{}),
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	g.log = g.log.With("component", "gateway")
	if g.now == nil {
		g.now = time.Now
	}
	g.cfg.MaxGuests = cmp.Or(cfg.MaxGuests, DefaultMaxGuests)
	g.cfg.Grace = cmp.Or(cfg.Grace, DefaultGrace)
	g.limits = newLimiter(cfg.Limits.orDefault(), g.now)
	if g.secret, err = loadSecret(filepath.Join(cfg.Company.Dir(), secretFile)); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if err := os.MkdirAll(g.dir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if err := g.loadGuests(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.srv = &http.Server{
		Handler:           g.Handler(),
		TLSConfig:         cfg.TLS,
		ReadHeaderTimeout: cmp.Or(cfg.ReadHeaderTimeout, 10*time.Second),
		IdleTimeout:       cmp.Or(cfg.IdleTimeout, 60*time.Second),
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	g.wg.Go(g.loop)
	g.wg.Go(web.WarmAssets) // compressed before the first guest asks
	return g, nil
}

// Serve serves the gateway on l until Shutdown or Close: over TLS when
// Config.TLS is set.
func (g *Gateway) Serve(l net.Listener) error {
	var err error
	if g.cfg.TLS != nil {
		err = g.srv.ServeTLS(l, "", "")
	} else {
		err = g.srv.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops serving, waiting for requests in flight (a guest's
// WebSocket is not waited for: Close ends it). Hosted participants stay.
func (g *Gateway) Shutdown(ctx context.Context) error {
	return g.srv.Shutdown(ctx)
}

// Close stops serving and stops every hosted participant, which its guest's
// cookie brings back when the gateway runs again. Closing twice returns an
// error wrapping net.ErrClosed.
func (g *Gateway) Close() error {
	err := fmt.Errorf("gateway: close: %w", net.ErrClosed)
	g.closeOnce.Do(func() {
		close(g.stop)
		g.srv.Close() // hijacked sockets end when their participant stops
		g.mu.Lock()
		g.closed = true
		var all []*guest
		for _, gu := range g.guests {
			all = append(all, gu)
		}
		g.mu.Unlock()
		var errs []error
		for _, gu := range all {
			errs = append(errs, g.stopGuest(gu, false))
		}
		g.wg.Wait()
		err = errors.Join(errs...)
	})
	return err
}

// Guests returns how many hosted participants run now.
func (g *Gateway) Guests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}
