// Package web serves a Parley node's local API and web app on loopback, and
// is the client the command line uses to reach a running node.
//
// Every request needs a Host header naming the loopback address the server
// listens on, so that a web page elsewhere cannot reach it through DNS
// rebinding, and a request with an Origin header must come from that same
// address. API requests also need to be authorized: the per-start access
// token in an Authorization: Bearer header (the command line), or the web
// app's session cookie, which its first visit (with ?token=) got in
// exchange for the token (see auth.go). API.md documents the routes.
package web

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"parley/node"
)

// Config configures a Server. The zero value works.
type Config struct {
	// Token is the access token. If empty, a random one is made.
	Token string
	// Logger receives the server's log. If nil, slog.Default() is used.
	Logger *slog.Logger
	// Now returns the current time, for session cookies. If nil, time.Now
	// is used.
	Now func() time.Time
	// PingInterval is how often the node pings the session page's
	// WebSocket; a socket from which nothing at all (no message, no pong)
	// was read for a whole interval after a ping is closed. If zero, 30 s.
	PingInterval time.Duration
}

// Server is a node's local HTTP server.
type Server struct {
	node   *node.Node
	token  string
	secret []byte // the node's web secret: keys session cookies
	now    func() time.Time
	log    *slog.Logger
	ping   time.Duration // Config.PingInterval
	srv    *http.Server
	hosts  map[string]bool // Host headers accepted
	url    string
	port   string
	lis    net.Listener
}

// NewToken returns a fresh random access token.
func NewToken() string {
	var b [24]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewServer returns a server for n that will serve on l (see Listen). It
// reads the node's web secret, making it on the first start (see
// node.Node.WebSecret).
func NewServer(n *node.Node, l net.Listener, cfg Config) (*Server, error) {
	secret, err := n.WebSecret()
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s := &Server{node: n, token: cfg.Token, secret: secret, now: cfg.Now, log: cfg.Logger, ping: cmp.Or(cfg.PingInterval, 30*time.Second), lis: l}
	if s.token == "" {
		s.token = NewToken()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	s.hosts = map[string]bool{
		"127.0.0.1:" + s.port: true,
		"localhost:" + s.port: true,
		"[::1]:" + s.port:     true,
	}
	s.url = "http://" + l.Addr().String()
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return s, nil
}

// Token returns the access token.
func (s *Server) Token() string { return s.token }

// URL returns the server's base URL.
func (s *Server) URL() string { return s.url }

// PageURL returns the address of a web app page (path like "/" or
// "/s/SESSION") with the access token, to open in a browser: the first
// visit trades the token for a session cookie and drops it from the address.
func (s *Server) PageURL(path string) string {
	return PageURL(s.url, path, s.token)
}

// PageURL returns the address of a web app page of the server at base (its
// URL) with its access token.
func PageURL(base, path, token string) string {
	return base + path + "?token=" + url.QueryEscape(token)
}

// Listen opens a listener on addr, which must be a loopback address.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("web: %q is not HOST:PORT", addr)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("web: %s is not a loopback address: the local API and web app never listen on the network", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("web: %w (another program uses the port? try --listen 127.0.0.1:0)", err)
	}
	return l, nil
}

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.lis)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server, waiting for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

// Handler returns the server's routes behind its checks.
func (s *Server) Handler() http.Handler {
	return s.guard(s.routes())
}

// guard refuses requests with a foreign Host or Origin, or without the
// token.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hosts[r.Host] {
			writeError(w, http.StatusForbidden, "forbidden_host", fmt.Sprintf("host %q is not this node's local address", r.Host))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !s.hosts[strings.TrimPrefix(origin, "http://")] {
			writeError(w, http.StatusForbidden, "forbidden_origin", fmt.Sprintf("requests from %q are not allowed", origin))
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			writeError(w, http.StatusForbidden, "forbidden_origin", "cross-site requests are not allowed")
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			s.app(w, r) // the pages hold no secret; their API calls need the token
			return
		}
		if !s.authorized(r) {
			writeError(w, http.StatusUnauthorized, "unauthorized", "no access: a browser gets in through the address `parley open` prints; "+
				"API clients send the token of DATA/api.json in an Authorization: Bearer header")
			return
		}
		next.ServeHTTP(w, r)
	})
}
