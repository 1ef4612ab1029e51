package web

import (
	"encoding/base64"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/node"
)

// visitor is a browser stand-in: it follows no redirect, and fails the test
// if a response ever sets a cookie that holds one of the tokens.
type visitor struct {
	t      *testing.T
	tokens []string
	client *http.Client
}

func newVisitor(t *testing.T, tokens ...string) *visitor {
	return &visitor{t: t, tokens: tokens, client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// get fetches url with cookies and edit applied to the request; the body is
// read and closed.
func (v *visitor) get(url string, edit func(*http.Request), cookies ...*http.Cookie) *http.Response {
	v.t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, sc := range resp.Header.Values("Set-Cookie") {
		for _, tok := range v.tokens {
			if strings.Contains(sc, tok) {
				v.t.Fatalf("GET %s: Set-Cookie %q holds an access token", url, sc)
			}
		}
	}
	return resp
}

// login opens the address `parley up` prints for s and returns the session
// cookie it got.
func (v *visitor) login(s *Server) *http.Cookie {
	v.t.Helper()
	r := v.get(s.PageURL("/"), nil)
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 {
		v.t.Fatalf("login: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	return r.Cookies()[0]
}

// status returns the status of an API call to s with cookies.
func (v *visitor) status(s *Server, edit func(*http.Request), cookies ...*http.Cookie) int {
	v.t.Helper()
	return v.get(s.URL()+"/api/v1/info", edit, cookies...).StatusCode
}

// mint makes a session cookie of s as if issued at t.
func mint(s *Server, t time.Time) *http.Cookie {
	unix := t.Unix()
	return &http.Cookie{Name: s.cookieName(), Value: cookieValue(unix, s.cookieMAC(unix))}
}

// cookieValue is a session cookie's value: v1.ISSUED.MAC.
func cookieValue(unix int64, mac []byte) string {
	return "v1." + strconv.FormatInt(unix, 10) + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// The first visit with ?token= answers 303 to the same address without the
// token (the token stays out of the history and any Referer) and, if the
// token is right, sets a session cookie that is not the token.
func TestTokenForCookie(t *testing.T) {
	s, _ := serve(t)
	tok := s.Token()
	v := newVisitor(t, tok)
	tests := []struct {
		name, path string
		wantTo     string
		cookie     bool
	}{
		{"dashboard", "/?token=" + tok, "/", true},
		{"room", "/s/abc123?token=" + tok, "/s/abc123", true},
		{"replay", "/r/abc123?token=" + tok, "/r/abc123", true},
		{"join", "/join?token=" + tok, "/join", true},
		{"other parameters kept", "/?tab=ended&token=" + tok, "/?tab=ended", true},
		{"wrong token", "/s/abc123?token=" + tok + "x", "/s/abc123", false},
		{"empty token", "/?token=", "/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v.t = t
			r := v.get(s.URL()+tt.path, nil)
			if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != tt.wantTo {
				t.Fatalf("%d to %q, want 303 to %q", r.StatusCode, r.Header.Get("Location"), tt.wantTo)
			}
			cs := r.Cookies()
			if !tt.cookie {
				if len(cs) != 0 {
					t.Fatalf("cookies %v for a wrong token", cs)
				}
				return
			}
			if len(cs) != 1 {
				t.Fatalf("cookies %v", cs)
			}
			c := cs[0]
			if c.Name != "parley_"+s.port || c.Path != "/" || !c.HttpOnly || c.Secure ||
				c.SameSite != http.SameSiteStrictMode || c.MaxAge != 30*24*3600 {
				t.Fatalf("cookie %s", c)
			}
			if got := v.status(s, nil, c); got != 200 {
				t.Fatalf("API with the cookie: %d", got)
			}
		})
	}
}

// Over https the cookie is Secure.
func TestCookieSecure(t *testing.T) {
	s, _ := serve(t)
	req := httptest.NewRequest("GET", "https://127.0.0.1:"+s.port+"/?token="+s.Token(), nil)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	cs := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure {
		t.Fatalf("%d, cookies %v", w.Code, cs)
	}
}

// Only this server's own cookies pass: not one made for another port of
// the same node, nor by another node, nor a tampered, expired or malformed
// one, nor the token itself; and a good cookie does not get around the Host
// and Origin checks.
func TestCookieRefused(t *testing.T) {
	s, n := serve(t)
	other, _ := startServer(t, n, "127.0.0.1:0", Config{Logger: discard()}) // same node, same secret, another port
	third, _ := serve(t)                                                    // another node
	v := newVisitor(t, s.Token(), other.Token(), third.Token())
	good := v.login(s)
	as := func(c *http.Cookie) *http.Cookie { return &http.Cookie{Name: s.cookieName(), Value: c.Value} }
	now := time.Now()
	issued, _ := s.cookie(&http.Request{Header: http.Header{"Cookie": {good.String()}}})
	mac := s.cookieMAC(issued.Unix())
	mac[0] ^= 1

	tests := []struct {
		name   string
		cookie *http.Cookie
		edit   func(*http.Request)
		want   int
	}{
		{"this server's", good, nil, 200},
		{"another port's name", &http.Cookie{Name: "parley_1", Value: good.Value}, nil, 401},
		{"another port of the same node", as(v.login(other)), nil, 401},
		{"another node's", as(v.login(third)), nil, 401},
		{"the token", &http.Cookie{Name: s.cookieName(), Value: s.Token()}, nil, 401},
		{"tampered MAC", &http.Cookie{Name: s.cookieName(), Value: cookieValue(issued.Unix(), mac)}, nil, 401},
		{"tampered time", &http.Cookie{Name: s.cookieName(), Value: cookieValue(issued.Unix()+86400, s.cookieMAC(issued.Unix()))}, nil, 401},
		{"29 days old", mint(s, now.Add(-29*24*time.Hour)), nil, 200},
		{"expired", mint(s, now.Add(-30*24*time.Hour-time.Minute)), nil, 401},
		{"a minute ahead (clock stepped back)", mint(s, now.Add(time.Minute)), nil, 200},
		{"from the future", mint(s, now.Add(time.Hour)), nil, 401},
		{"empty", &http.Cookie{Name: s.cookieName(), Value: ""}, nil, 401},
		{"no MAC", &http.Cookie{Name: s.cookieName(), Value: "v1." + strconv.FormatInt(issued.Unix(), 10)}, nil, 401},
		{"other version", &http.Cookie{Name: s.cookieName(), Value: "v2" + strings.TrimPrefix(good.Value, "v1")}, nil, 401},
		{"time not canonical", &http.Cookie{Name: s.cookieName(), Value: "v1.0" + strings.TrimPrefix(good.Value, "v1.")}, nil, 401},
		{"foreign origin", good, func(r *http.Request) { r.Header.Set("Origin", "http://evil.test") }, 403},
		{"cross-site fetch", good, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, 403},
		{"foreign host", good, func(r *http.Request) { r.Host = "evil.test:" + s.port }, 403},
	}
	for _, tt := range tests {
		if got := v.status(s, tt.edit, tt.cookie); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	// A wrong cookie beside a good one does no harm.
	if got := v.status(s, nil, tests[4].cookie, good); got != 200 {
		t.Errorf("a wrong and a good cookie: %d", got)
	}
}

// A browser keeps its access across restarts of the node on the same data
// directory and port (the token changes at each start), until the web
// secret is removed.
func TestCookieSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := node.Init(dir, node.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	// restart stops the running node and server, if any, and starts them
	// again on addr.
	var stop func()
	var n *node.Node
	restart := func(addr string) *Server {
		t.Helper()
		if stop != nil {
			stop()
			n.Close()
		}
		n = openNode(t, dir)
		var s *Server
		// The port is the one the first start picked; a restart takes it
		// again, as `parley up --listen 127.0.0.1:7420` does.
		s, stop = startServer(t, n, addr, Config{Logger: discard()})
		return s
	}
	s := restart("127.0.0.1:0")
	addr := strings.TrimPrefix(s.URL(), "http://")
	v := newVisitor(t, s.Token())
	cookie := v.login(s)
	secret := filepath.Join(dir, "web.secret")
	checkMode(t, secret)

	first := s.Token()
	s = restart(addr)
	v.tokens = append(v.tokens, s.Token())
	if got := v.status(s, nil, cookie); got != 200 {
		t.Fatalf("the cookie after a restart: %d", got)
	}
	if got := v.status(s, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+first) }); got != 401 {
		t.Fatalf("the previous start's token: %d", got)
	}
	// A bookmark made with the previous start's token still opens the page,
	// on the cookie, and drops the old token from the address.
	r := v.get(s.URL()+"/s/abc?token="+first, nil, cookie)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/s/abc" || len(r.Cookies()) != 0 {
		t.Fatalf("old bookmark: %d to %q, cookies %v", r.StatusCode, r.Header.Get("Location"), r.Cookies())
	}

	// A new secret ends every browser's access.
	stop()
	if err := os.Remove(secret); err != nil {
		t.Fatal(err)
	}
	s = restart(addr)
	v.tokens = append(v.tokens, s.Token())
	if got := v.status(s, nil, cookie); got != 401 {
		t.Fatalf("a cookie of the old secret: %d", got)
	}
	checkMode(t, secret)
	if got := v.status(s, nil, v.login(s)); got != 200 {
		t.Fatalf("a new cookie: %d", got)
	}
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != fs.FileMode(0o600) {
		t.Fatalf("%s: mode %04o, want 0600", path, fi.Mode().Perm())
	}
}

// A page load renews a cookie more than a day old; API calls and a fresh
// cookie's page loads do not.
func TestCookieRenewed(t *testing.T) {
	s, _ := serve(t)
	v := newVisitor(t, s.Token())
	old := mint(s, time.Now().Add(-2*24*time.Hour))
	if r := v.get(s.URL()+"/api/v1/info", nil, old); r.StatusCode != 200 || len(r.Cookies()) != 0 {
		t.Fatalf("API call: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	r := v.get(s.URL()+"/", nil, old)
	if r.StatusCode != 200 || len(r.Cookies()) != 1 {
		t.Fatalf("page load: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	fresh := r.Cookies()[0]
	if issued, ok := s.checkCookie(fresh.Value); !ok || time.Since(issued) > time.Minute {
		t.Fatalf("renewed cookie issued %v, valid %v", issued, ok)
	}
	if r := v.get(s.URL()+"/", nil, fresh); len(r.Cookies()) != 0 {
		t.Fatalf("a fresh cookie renewed: %v", r.Cookies())
	}
}
