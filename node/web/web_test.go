package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"parley/node"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// nodeLogger is a test node's logger: silent, or with PARLEY_TEST_LOG set,
// everything to stderr, each line naming the node.
func nodeLogger(name string) *slog.Logger {
	if os.Getenv("PARLEY_TEST_LOG") == "" {
		return discard()
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
}

// serve starts a server for a fresh company node on loopback.
func serve(t *testing.T) (*Server, *node.Node) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := node.Init(dir, node.InitOptions{Org: "Acme Inc"}); err != nil {
		t.Fatal(err)
	}
	n := openNode(t, dir)
	s, _ := startServer(t, n, "127.0.0.1:0", Config{Logger: discard()})
	return s, n
}

// openNode opens the node in dir, which Init made, and closes it when the
// test ends.
func openNode(t *testing.T, dir string) *node.Node {
	t.Helper()
	n, err := node.New(node.Config{Dir: dir, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// startServer serves n's web app and API on addr (a loopback address). The
// server stops when the test ends, or earlier with stop.
func startServer(t testing.TB, n *node.Node, addr string, cfg Config) (s *Server, stop func()) {
	t.Helper()
	l, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err = NewServer(n, l, cfg)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve() }()
	var once sync.Once
	stop = func() { once.Do(func() { s.Shutdown(context.Background()); <-done }) }
	t.Cleanup(stop)
	return s, stop
}

func TestGuard(t *testing.T) {
	s, _ := serve(t)
	port := strings.TrimPrefix(s.URL(), "http://127.0.0.1")
	tests := []struct {
		name         string
		host, origin string
		site         string
		token        string
		want         int
	}{
		{"ok", "", "", "", s.Token(), 200},
		{"localhost", "localhost" + port, "", "", s.Token(), 200},
		{"same origin", "", s.URL(), "same-origin", s.Token(), 200},
		{"no token", "", "", "", "", 401},
		{"wrong token", "", "", "", s.Token() + "x", 401},
		{"foreign host (DNS rebinding)", "evil.test" + port, "", "", s.Token(), 403},
		{"other port", "127.0.0.1:1", "", "", s.Token(), 403},
		{"foreign origin", "", "http://evil.test", "", s.Token(), 403},
		{"foreign origin, same host name", "", "http://127.0.0.1:1", "", s.Token(), 403},
		{"cross-site fetch", "", "", "cross-site", s.Token(), 403},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", s.URL()+"/api/v1/info", nil)
		if tt.host != "" {
			req.Host = tt.host
		}
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		if tt.site != "" {
			req.Header.Set("Sec-Fetch-Site", tt.site)
		}
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "nonsense"} {
		if l, err := Listen(addr); err == nil {
			l.Close()
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
}

func TestClient(t *testing.T) {
	s, n := serve(t)
	c := NewClient(s.URL(), s.Token())
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil || info.Org != "Acme Inc" || info.Running {
		t.Fatalf("info: %+v, %v", info, err)
	}
	ss, err := c.CreateSessions(ctx, node.NewSessions{Candidate: "Sam", Title: "Loop", Blocks: 2})
	if err != nil || len(ss) != 2 {
		t.Fatalf("create: %v, %v", ss, err)
	}
	got, err := c.Session(ctx, ss[1].ID)
	if err != nil || got.Link != ss[1].Link {
		t.Fatalf("session: %+v, %v", got, err)
	}
	local, _ := n.Session(ctx, ss[1].ID)
	if local.Link != got.Link {
		t.Fatal("the API and the node disagree")
	}
	if _, err := c.Session(ctx, "nosuchsession"); !errors.Is(err, node.ErrNotFound) || !strings.Contains(err.Error(), "no session") {
		t.Fatalf("missing session: %v", err)
	}
	if _, err := c.CancelSession(ctx, ss[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CancelSession(ctx, ss[0].ID); !errors.Is(err, node.ErrSessionEnded) {
		t.Fatalf("second cancel: %v", err)
	}
	// Network actions need the node on the network.
	if _, err := c.StartSession(ctx, ss[1].ID); !errors.Is(err, node.ErrNotRunning) {
		t.Fatalf("start without network: %v", err)
	}
	if _, err := c.AddMember(ctx, node.NewMember{Name: "A", Email: "bad", Peer: "x"}); err == nil {
		t.Fatal("bad member accepted")
	}
	e, err := c.InviteEmail(ctx, ss[1].ID, "")
	if err != nil || !strings.Contains(e.Body, ss[1].Link) {
		t.Fatalf("email: %+v, %v", e, err)
	}
	// Bodies are bounded and parsed strictly.
	req, _ := http.NewRequest("POST", s.URL()+"/api/v1/sessions", strings.NewReader(`{"candidate":"S","title":"T","colour":"red"}`))
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("unknown field: status %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", s.URL()+"/api/v1/join", strings.NewReader(`{"link":"`+strings.Repeat("A", 2<<20)+`"}`))
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("oversized body: status %d", resp.StatusCode)
	}
}
