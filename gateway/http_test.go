package gateway

import (
	"bufio"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
)

// localRoutes reads the local API's routes from API.md, so that a route
// added there is checked here too, with the web app's pages.
func localRoutes(t *testing.T, session string) [][2]string {
	t.Helper()
	f, err := os.Open("../API.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `(GET|POST|PUT|DELETE) (/api/v1/[^` ]*)`")
	repl := strings.NewReplacer("{id}", session, "{email}", "ana@acme.test", "{peer}", "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf",
		"{name}", "main.go", `{shared\|private}`, "shared", "{kind}", "shared")
	var routes [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		path, _, _ := strings.Cut(repl.Replace(m[2]), "?")
		routes = append(routes, [2]string{m[1], path}, [2]string{m[1], path + "?token=x"})
	}
	if len(routes) < 40 {
		t.Fatalf("found only %d local API routes in API.md", len(routes))
	}
	for _, p := range []string{"/", "/new", "/team", "/s/" + session, "/r/" + session, "/index.html", "/api/v1/", "/api/"} {
		routes = append(routes, [2]string{"GET", p})
	}
	return routes
}

// The public listener serves the guest routes and nothing of the node's
// local API or its web app's other pages.
func TestLocalAPINotServed(t *testing.T) {
	e := startEnv(t, envOptions{cfg: Config{Limits: Limits{PageBurst: 1000, PageEvery: 1, JoinBurst: 1000, JoinEvery: 1, Clients: 10}}})
	c := e.browser()
	for _, rt := range localRoutes(t, e.session) {
		req, _ := http.NewRequest(rt[0], e.url+rt[1], strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer x")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", rt[0], rt[1], res.StatusCode)
		}
	}
}

// wantHeaders checks the security headers every response carries.
func wantHeaders(t *testing.T, what string, h http.Header, hsts bool) {
	t.Helper()
	for k, v := range map[string]string{
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s is %q, want %q", what, k, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "frame-ancestors 'none'", "connect-src 'self' wss://"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
		}
	}
	if got := h.Get("Strict-Transport-Security") != ""; got != hsts {
		t.Errorf("%s: HSTS sent: %v, want %v", what, got, hsts)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := startEnv(t, envOptions{})
	c := e.browser()
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/join", ""},
		{"GET", "/guest/s/" + e.session, ""},
		{"GET", "/app.js", ""},
		{"GET", "/automerge.wasm", ""},
		{"GET", "/nothing", ""},
		{"GET", "/guest/s/" + e.session + "/live", ""},
		{"POST", "/guest/join", "not json"},
		{"POST", "/guest/inspect", `{"token":"AUkKx"}`},
	} {
		req, _ := http.NewRequest(rt.method, e.url+rt.path, strings.NewReader(rt.body))
		req.Header.Set("Content-Type", "application/json")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		wantHeaders(t, rt.method+" "+rt.path, res.Header, true)
	}

	// Plain HTTP, as behind a proxy: HSTS only when a trusted proxy says
	// the client came over https.
	g := e.gw
	g.cfg.TrustedProxies = []netip.Prefix{mustPrefix("10.0.0.1/32")}
	for _, tt := range []struct {
		name   string
		remote string
		proto  string
		tls    bool
		hsts   bool
	}{
		{"direct over TLS", "192.0.2.7:5000", "", true, true},
		{"plain, no proxy", "192.0.2.7:5000", "", false, false},
		{"plain, a stranger says https", "192.0.2.7:5000", "https", false, false},
		{"the proxy says https", "10.0.0.1:5000", "https", false, true},
		{"the proxy says http", "10.0.0.1:5000", "http", false, false},
	} {
		req := httptest.NewRequest("GET", "/join", nil)
		req.RemoteAddr = tt.remote
		if tt.proto != "" {
			req.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if tt.tls {
			req.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		g.Handler().ServeHTTP(rec, req)
		wantHeaders(t, tt.name, rec.Header(), tt.hsts)
	}
}

// No path sends a browser to another site, and nothing lists a directory.
func TestNoRedirectNoListing(t *testing.T) {
	e := startEnv(t, envOptions{})
	c := e.browser()
	for _, p := range []string{
		"//evil.example/", "//evil.example/join", "/\\evil.example", "/join?next=https://evil.example",
		"/guest/s/" + e.session + "?to=//evil.example", "/guest/../join", "/./join", "/guest/", "/guest/s/",
		"/static/", "/ui/", "/app.js/", "/.git/config", "/join/", "/%2f%2fevil.example",
	} {
		res, err := c.Get(e.url + p)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, 512)
		n, _ := res.Body.Read(body)
		res.Body.Close()
		if loc := res.Header.Get("Location"); loc != "" && (!strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\")) {
			t.Errorf("GET %s redirects to %q", p, loc)
		}
		if strings.Contains(string(body[:n]), "<pre>") || strings.Contains(string(body[:n]), "href=\"app.js\"") {
			t.Errorf("GET %s lists a directory: %s", p, body[:n])
		}
	}
}

// The client's address for the rate limits: a trusted proxy's
// X-Forwarded-For, and nobody else's.
func TestClientIP(t *testing.T) {
	g := &Gateway{cfg: Config{TrustedProxies: []netip.Prefix{mustPrefix("127.0.0.1/32"), mustPrefix("10.0.0.0/8")}}}
	for _, tt := range []struct {
		remote, xff, want string
	}{
		{"192.0.2.7:1", "", "192.0.2.7"},
		{"192.0.2.7:1", "198.51.100.1", "192.0.2.7"}, // not from the proxy: ignored
		{"127.0.0.1:1", "198.51.100.1", "198.51.100.1"},
		{"127.0.0.1:1", "6.6.6.6, 198.51.100.1", "198.51.100.1"},  // the client wrote the first
		{"127.0.0.1:1", "198.51.100.1, 10.1.2.3", "198.51.100.1"}, // two proxies
		{"127.0.0.1:1", "garbage", "127.0.0.1"},
		{"127.0.0.1:1", "", "127.0.0.1"},
		{"[::ffff:192.0.2.9]:1", "", "192.0.2.9"},
	} {
		req := httptest.NewRequest("GET", "/join", nil)
		req.RemoteAddr = tt.remote
		if tt.xff != "" {
			req.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := g.clientIP(req).String(); got != tt.want {
			t.Errorf("%s with X-Forwarded-For %q: %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}
