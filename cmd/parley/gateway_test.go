package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The gateway's flags: one way to TLS, and settings only with a listener.
func TestGatewayFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "co")
	ok(t, dir, "init", "--org", "Acme Inc")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--public-listen", "127.0.0.1:0"}, "needs exactly one of"},
		{[]string{"--public-listen", "127.0.0.1:0", "--behind-proxy", "--acme-domain", "a.example", "--acme-email", "x@a.example"}, "needs exactly one of"},
		{[]string{"--public-listen", "127.0.0.1:0", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--public-listen", "127.0.0.1:0", "--acme-domain", "a.example"}, "--acme-domain and --acme-email go together"},
		{[]string{"--public-listen", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--proxy-from", "10.0.0.1"}, "--proxy-from names the reverse proxy"},
		{[]string{"--public-listen", "127.0.0.1:0", "--behind-proxy", "--proxy-from", "nope"}, `--proxy-from "nope"`},
		{[]string{"--public-listen", "127.0.0.1:0", "--behind-proxy", "--public-ip", "nope"}, `--public-ip "nope"`},
		{[]string{"--public-listen", "127.0.0.1:0", "--behind-proxy", "--max-guests", "0"}, "--max-guests must be at least 1"},
		{[]string{"--public-listen", "nope", "--behind-proxy"}, "is not HOST:PORT"},
		{[]string{"--behind-proxy"}, "give --public-listen ADDRESS too"},
		{[]string{"--max-guests", "3"}, "give --public-listen ADDRESS too"},
		{[]string{"--public-listen", "127.0.0.1:0", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, "TLS certificate /nonexistent/c.pem"},
	} {
		args := append([]string{"up", "--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0"}, tt.args...)
		r := parley(t, dir, args...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("parley %s: exit %d, want an error with %q\nstderr: %s", strings.Join(tt.args, " "), r.code, tt.want, r.stderr)
		}
	}
	// Only the company node serves a gateway.
	sam := filepath.Join(t.TempDir(), "sam")
	ok(t, sam, "init")
	fails(t, sam, 1, "only the company node serves a public gateway", "up", "--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--public-listen", "127.0.0.1:0", "--behind-proxy")
}

// `parley up --public-listen` on the company node serves the guests' pages
// and nothing of the local API, and warns that links are not https ones
// while the company has no public URL.
func TestGatewayUp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "co")
	ok(t, dir, "init", "--org", "Acme Inc")
	out := background(t, dir, "up", "--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--public-listen", "127.0.0.1:0", "--behind-proxy")
	waitOutput(t, out, "Public gateway for browser guests: ")
	addr := regexp.MustCompile(`Public gateway for browser guests: (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	if addr == nil {
		t.Fatalf("up printed:\n%s", out)
	}
	get := func(path string) (int, string) {
		c := &http.Client{Timeout: 10 * time.Second}
		res, err := c.Get(addr[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/join"); code != 200 || !strings.Contains(body, `<meta name="parley-mode" content="guest">`) {
		t.Fatalf("GET /join: %d %s", code, body)
	}
	for _, p := range []string{"/api/v1/info", "/api/v1/sessions", "/", "/team"} {
		if code, _ := get(p); code != 404 {
			t.Errorf("GET %s on the gateway: %d, want 404", p, code)
		}
	}
}
