package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/crdt"
	"parley/node"
)

// badRequest is a request to a guest route with bad input, and what the
// gateway must answer.
type badRequest struct {
	name   string
	path   string
	body   string
	header map[string]string
	status int
	code   string
}

// badRequests are the table of TestGuestRoutesBadInput and the seeds of
// FuzzGuestJoin. In bodies, TOKEN is a valid link's token, TAMPERED the
// same with a changed byte, ENDED an ended session's, OTHER another
// company's, and HUGE 20 KiB of letters.
func badRequests() []badRequest {
	var out []badRequest
	for _, path := range []string{"/guest/inspect", "/guest/join"} {
		out = append(out,
			badRequest{"empty body", path, ``, nil, 400, "bad_request"},
			badRequest{"not JSON", path, `token=abc`, nil, 400, "bad_request"},
			badRequest{"a number for the token", path, `{"token": 1}`, nil, 400, "bad_request"},
			badRequest{"unknown field", path, `{"token": "TOKEN", "admin": true}`, nil, 400, "bad_request"},
			badRequest{"trailing data", path, `{"token": "TOKEN"} {}`, nil, 400, "bad_request"},
			badRequest{"oversized body", path, `{"token": "HUGE"}`, nil, 413, "too_large"},
			badRequest{"no token", path, `{}`, nil, 400, "malformed"},
			badRequest{"garbage token", path, `{"token": "AUkKx"}`, nil, 400, "malformed"},
			badRequest{"another site's link", path, `{"token": "https://evil.example/login"}`, nil, 400, "malformed"},
			badRequest{"tampered link", path, `{"token": "TAMPERED"}`, nil, 400, "bad_signature"},
			badRequest{"another company's link", path, `{"token": "OTHER"}`, nil, 403, "wrong_company"},
			badRequest{"text, not JSON", path, `{"token": "TOKEN"}`, map[string]string{"Content-Type": "text/plain"}, 415, "bad_request"},
			badRequest{"from another site", path, `{"token": "TOKEN"}`, map[string]string{"Origin": "https://evil.example"}, 403, "forbidden_origin"},
			badRequest{"cross-site fetch", path, `{"token": "TOKEN"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "forbidden_origin"},
		)
	}
	return append(out,
		badRequest{"join an ended interview", "/guest/join", `{"token": "ENDED"}`, nil, 409, "ended"},
		badRequest{"a name with a control character", "/guest/join", `{"token": "TOKEN", "name": "Zo\u0007ë"}`, nil, 400, "bad_request"},
		badRequest{"a name too long", "/guest/join", `{"token": "TOKEN", "name": "` + strings.Repeat("é", 60) + `"}`, nil, 400, "bad_request"},
		badRequest{"a name of two lines", "/guest/join", `{"token": "TOKEN", "name": "Zoë\nAdmin"}`, nil, 400, "bad_request"},
	)
}

// badTokens are the tokens a bad request's body names.
type badTokens struct{ token, tampered, ended, other string }

func (e *env) badTokens() badTokens {
	e.t.Helper()
	ctx := context.Background()
	ended, _ := e.newSession("Gone")
	if _, err := e.company.CancelSession(ctx, ended); err != nil {
		e.t.Fatal(err)
	}
	s, _ := e.company.Session(ctx, ended)
	// Another company's link.
	dir := e.t.TempDir() + "/other"
	if _, err := node.Init(dir, node.InitOptions{Org: "Other Corp"}); err != nil {
		e.t.Fatal(err)
	}
	other, err := node.New(node.Config{Dir: dir})
	if err != nil {
		e.t.Fatal(err)
	}
	defer other.Close()
	ss, err := other.CreateSessions(ctx, node.NewSessions{Candidate: "Sam", Title: "Loop"})
	if err != nil {
		e.t.Fatal(err)
	}
	tok := func(link string) string { return link[strings.LastIndexAny(link, "/#")+1:] }
	t := []byte(e.token)
	// Another letter of base64url in the signature: still a well-formed
	// link, now with a bad signature.
	if t[len(t)-10] == 'A' {
		t[len(t)-10] = 'B'
	} else {
		t[len(t)-10] = 'A'
	}
	return badTokens{token: e.token, tampered: string(t), ended: tok(s.Link), other: tok(ss[0].Link)}
}

func (b badTokens) body(s string) string {
	return strings.NewReplacer("TAMPERED", b.tampered, "TOKEN", b.token, "ENDED", b.ended, "OTHER", b.other,
		"HUGE", strings.Repeat("A", 20<<10)).Replace(s)
}

// Every guest route, given bad input, answers with a clear error and stays
// up; nothing of it starts a participant.
func TestGuestRoutesBadInput(t *testing.T) {
	e := startEnv(t, envOptions{cfg: Config{Limits: Limits{PageBurst: 1000, PageEvery: 1, JoinBurst: 1000, JoinEvery: 1, Clients: 10}}})
	toks := e.badTokens()
	c := e.browser()
	for _, tt := range badRequests() {
		req, _ := http.NewRequest("POST", e.url+tt.path, strings.NewReader(toks.body(tt.body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", e.url)
		for k, v := range tt.header {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got errorBody
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if err := json.Unmarshal(b, &got); err != nil || got.Error == "" {
			t.Errorf("%s %s: not a JSON error: %s", tt.path, tt.name, b)
		}
		// Inspecting an ended link says so, as a link that cannot be used.
		if tt.path == "/guest/inspect" && tt.code == "ended" {
			continue
		}
		if res.StatusCode != tt.status || got.Code != tt.code {
			t.Errorf("%s %s: %d %s (%s), want %d %s", tt.path, tt.name, res.StatusCode, got.Code, got.Error, tt.status, tt.code)
		}
		if strings.Contains(got.Error, "HUGE") || len(got.Error) > 400 {
			t.Errorf("%s %s: an error of %d bytes", tt.path, tt.name, len(got.Error))
		}
	}
	_, v := e.post(c, "/guest/inspect", joinRequest{Token: toks.ended})
	if v["valid"] != false || v["code"] != "ended" || !strings.Contains(fmt.Sprint(v["error"]), "canceled") {
		t.Errorf("inspecting a cancelled interview: %v", v)
	}
	// The room's page and socket with bad session IDs: not found, or (a
	// path to clean) sent to the same host.
	for _, p := range []string{"/guest/s/ABC", "/guest/s/" + strings.Repeat("a", 17), "/guest/s/..", "/guest/s/x%00y", "/guest/s/ABC/live"} {
		res, err := c.Get(e.url + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc := res.Header.Get("Location")
		if res.StatusCode != 404 && !(res.StatusCode/100 == 3 && strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//")) {
			t.Errorf("GET %s: %d %q, want 404", p, res.StatusCode, loc)
		}
	}
	if e.gw.Guests() != 0 {
		t.Fatalf("%d participants started for bad requests", e.gw.Guests())
	}
	if res, err := c.Get(e.url + "/join"); err != nil || res.StatusCode != 200 {
		t.Fatalf("the gateway after bad input: %v %v", res, err)
	}
}

// Whatever the body of an inspect or a join, the gateway answers with JSON
// and a status it means, and never panics. The table of
// TestGuestRoutesBadInput is the seed corpus.
func FuzzGuestJoin(f *testing.F) {
	e := startEnv(f, envOptions{cfg: Config{
		Limits: Limits{PageBurst: 1 << 30, PageEvery: 1, JoinBurst: 1 << 30, JoinEvery: 1, Clients: 10},
		Node:   node.Config{JoinWait: 100 * time.Millisecond},
	}})
	toks := e.badTokens()
	for _, tt := range badRequests() {
		f.Add(tt.path == "/guest/join", toks.body(tt.body))
	}
	h := e.gw.Handler()
	f.Fuzz(func(t *testing.T, join bool, body string) {
		path := "/guest/inspect"
		if join {
			path = "/guest/join"
		}
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 403, 409, 413, 503:
		default:
			t.Fatalf("%s %q: status %d", path, body, rec.Code)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s %q: not JSON: %s", path, body, rec.Body)
		}
		if rec.Code != 200 && v["error"] == "" {
			t.Fatalf("%s %q: an error without a message", path, body)
		}
	})
}

// joinAs joins a browser to a link's interview, or fails the test.
func (e *env) joinAs(c *http.Client, token, name string) {
	e.t.Helper()
	res, v := e.post(c, "/guest/join", joinRequest{Token: token, Name: name})
	if res.StatusCode != 200 {
		e.t.Fatalf("joining as %s: %d %v", name, res.StatusCode, v)
	}
}

// socketRefused opens a room's socket with a Cookie header of its own and
// returns the close code the gateway refused it with.
func (e *env) socketRefused(session, cookie string) websocket.StatusCode {
	e.t.Helper()
	h := http.Header{}
	h.Set("Origin", e.url)
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(e.url, "https://", "wss://", 1)+"/guest/s/"+session+"/live", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.cert.pool}}}, HTTPHeader: h,
	})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// cookieOf returns the value of a browser's guest cookie for a session.
func (e *env) cookieOf(c *http.Client, session string) string {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/guest/s/"+session, nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == cookieName(session) {
			return ck.Value
		}
	}
	e.t.Fatalf("no guest cookie for %s", session)
	return ""
}

// Guests' sockets with missing, forged or borrowed cookies are refused; a
// guest's flood of messages, an oversized message and too many sockets
// close only that guest's socket, while another guest's interview goes
// on; past --max-guests, a join is refused with a clear message.
func TestGuestSocketsHardened(t *testing.T) {
	e := startEnv(t, envOptions{relayed: true, cfg: Config{MaxGuests: 2, Limits: Limits{PageBurst: 1000, PageEvery: 1, JoinBurst: 1000, JoinEvery: 1, Clients: 10}}})
	ctx := context.Background()
	s2, link2 := e.newSession("Bo")
	s3, link3 := e.newSession("Cy")
	for _, l := range []string{e.link, link2} {
		if _, err := e.ana.Join(ctx, l, "Ana"); err != nil {
			t.Fatal(err)
		}
	}
	tok := func(link string) string { return link[strings.LastIndex(link, "/")+1:] }
	zoe, bo := e.browser(), e.browser()
	e.joinAs(zoe, e.token, "Zoë")
	e.joinAs(bo, tok(link2), "Bo")

	// Past --max-guests.
	res, v := e.post(e.browser(), "/guest/join", joinRequest{Token: tok(link3)})
	if res.StatusCode != 503 || v["code"] != "full" || !strings.Contains(v["error"].(string), "gateway is full (2 interviews at once)") {
		t.Fatalf("a third guest: %d %v", res.StatusCode, v)
	}
	_ = s3

	// Cookies: none, forged, another session's, garbage.
	zc := e.cookieOf(zoe, e.session)
	bc := e.cookieOf(bo, s2)
	forged := zc[:len(zc)-4] + "AAAA"
	for _, tt := range []struct{ name, cookie string }{
		{"no cookie", ""},
		{"a forged cookie", cookieName(e.session) + "=" + forged},
		{"another guest's cookie", cookieName(e.session) + "=" + bc},
		{"another session's cookie under its own name", cookieName(s2) + "=" + zc},
		{"garbage", cookieName(e.session) + "=v1..."},
		{"a huge cookie", cookieName(e.session) + "=" + strings.Repeat("A", 4000)},
	} {
		if code := e.socketRefused(e.session, tt.cookie); code != closeNoGuest {
			t.Errorf("%s: closed with %d, want %d", tt.name, code, closeNoGuest)
		}
	}

	// Bo's interview, which must go on whatever Zoë's page does.
	if _, err := e.ana.StartSession(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if err := e.ana.Edit(ctx, s2, crdt.Shared, crdt.Edit{Op: "add", Name: "bo.py", Text: "x = 1\n"}); err != nil {
		t.Fatal(err)
	}
	boPage := e.openGuestPage(bo, s2)
	waitFor(t, 15*time.Second, "Bo's page has the file", func() bool { return boPage.file("bo.py") == "x = 1\n" })
	boWorks := func(mark string) {
		t.Helper()
		if err := e.ana.Edit(ctx, s2, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:bo.py", Pos: 0, Text: mark}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "Bo's page follows ("+mark+")", func() bool { return strings.HasPrefix(boPage.file("bo.py"), mark) })
	}

	// A flood of junk from Zoë's page: errors come back, then the socket is
	// closed for its rate.
	page := e.openGuestPage(zoe, e.session)
	waitFor(t, 10*time.Second, "hello", func() bool { _, ok := page.last("hello", nil); return ok })
	// The limit is a rate (messageRate a second past a burst): a writer
	// slowed by a busy machine must keep going until it is over it, so the
	// flood lasts until the socket closes, or a minute.
	flood := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(flood); i++ {
		if err := page.c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"type":"junk-%d"}`, i))); err != nil {
			break
		}
		if _, _, closed := page.closed(); closed {
			break
		}
	}
	waitFor(t, 15*time.Second, "the flood closes the socket", func() bool {
		code, _, closed := page.closed()
		return closed && code == websocket.StatusPolicyViolation
	})
	if _, ok := page.last("error", func(m pageMsg) bool { return strings.Contains(m.Error, "unknown message type") }); !ok {
		t.Error("no error came back for the junk")
	}
	boWorks("# 1\n")

	// An oversized message: that socket only.
	page = e.openGuestPage(zoe, e.session)
	waitFor(t, 10*time.Second, "hello again", func() bool { _, ok := page.last("hello", nil); return ok })
	page.c.Write(ctx, websocket.MessageBinary, append([]byte{0}, bytes.Repeat([]byte{0x42}, 5<<20)...))
	waitFor(t, 15*time.Second, "the oversized message closes the socket", func() bool {
		code, _, closed := page.closed()
		return closed && code == websocket.StatusMessageTooBig
	})
	boWorks("# 2\n")

	// Too many sockets for one guest, once the gateway let go of those it
	// closed.
	waitFor(t, 15*time.Second, "Zoë's closed sockets are let go", func() bool {
		e.gw.mu.Lock()
		defer e.gw.mu.Unlock()
		for _, gu := range e.gw.guests {
			if gu.rec.Session == e.session && len(gu.sockets) > 0 {
				return false
			}
		}
		return true
	})
	var pages []*guestPage
	for range maxSockets {
		p := e.openGuestPage(zoe, e.session)
		waitFor(t, 10*time.Second, "a tab", func() bool { _, ok := p.last("hello", nil); return ok })
		pages = append(pages, p)
	}
	if code := e.socketRefused(e.session, cookieName(e.session)+"="+zc); code != closeTooMany {
		t.Errorf("one socket too many: closed with %d, want %d", code, closeTooMany)
	}
	for _, p := range pages {
		p.close()
	}
	boWorks("# 3\n")
	if res, err := e.browser().Get(e.url + "/join"); err != nil || res.StatusCode != 200 {
		t.Fatalf("the gateway after all that: %v %v", res, err)
	}
}

// Requests over a client's rate are refused with Retry-After; another
// client is not slowed; behind a trusted proxy, clients are told apart by
// X-Forwarded-For.
func TestRateLimits(t *testing.T) {
	e := startEnv(t, envOptions{cfg: Config{
		Limits:         Limits{PageBurst: 5, PageEvery: time.Hour, JoinBurst: 2, JoinEvery: time.Hour, Clients: 100},
		TrustedProxies: []netip.Prefix{mustPrefix("10.0.0.1/32")},
	}})
	h := e.gw.Handler()
	do := func(method, path, remote, xff string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(`{"token":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = remote
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range 2 {
		if rec := do("POST", "/guest/inspect", "192.0.2.1:1", ""); rec.Code == 429 {
			t.Fatalf("inspect %d refused", i)
		}
	}
	rec := do("POST", "/guest/inspect", "192.0.2.1:1", "")
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "too many requests") {
		t.Fatalf("over the rate: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if rec := do("GET", "/guest/s/"+e.session+"/live", "192.0.2.1:1", ""); rec.Code != 429 {
		t.Fatalf("a socket over the rate: %d", rec.Code)
	}
	if rec := do("POST", "/guest/inspect", "192.0.2.2:1", ""); rec.Code == 429 {
		t.Fatal("another client was slowed")
	}
	// Pages are limited apart from joins.
	for range 5 {
		if rec := do("GET", "/join", "192.0.2.1:1", ""); rec.Code != 200 {
			t.Fatalf("a page: %d", rec.Code)
		}
	}
	if rec := do("GET", "/join", "192.0.2.1:1", ""); rec.Code != 429 {
		t.Fatalf("pages over the rate: %d", rec.Code)
	}
	// Through the proxy: two clients, and a stranger's X-Forwarded-For is
	// not believed.
	for _, xff := range []string{"198.51.100.1", "198.51.100.2"} {
		for range 2 {
			if rec := do("POST", "/guest/inspect", "10.0.0.1:1", xff); rec.Code == 429 {
				t.Fatalf("client %s through the proxy refused early", xff)
			}
		}
	}
	if rec := do("POST", "/guest/inspect", "192.0.2.1:1", "198.51.100.9"); rec.Code != 429 {
		t.Fatalf("a forged X-Forwarded-For got a fresh bucket: %d", rec.Code)
	}
}

// Stalled, half-open and idle connections are dropped: a client that
// connects and says nothing, one that stops in the middle of its headers,
// and a kept-alive connection left idle.
func TestTimeouts(t *testing.T) {
	e := startEnv(t, envOptions{cfg: Config{ReadHeaderTimeout: time.Second, IdleTimeout: time.Second}})
	addr := strings.TrimPrefix(e.url, "https://")
	dropped := func(what string, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: still open after 5s", what)
		}
		t.Logf("%s: dropped after %v", what, time.Since(start).Round(time.Millisecond))
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	dropped("a connection with no TLS handshake", c)
	c.Close()

	tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: e.cert.pool})
	if err != nil {
		t.Fatal(err)
	}
	tc.Write([]byte("GET /join HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "))
	dropped("half a request's headers", tc)
	tc.Close()

	tc, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: e.cert.pool})
	if err != nil {
		t.Fatal(err)
	}
	tc.Write([]byte("GET /join HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	if n, err := tc.Read(buf); err != nil || !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 200")) {
		t.Fatalf("a request: %q %v", buf[:n], err)
	}
	dropped("an idle kept-alive connection", tc) // reads the rest of the page, then nothing
	tc.Close()
}

// A WebSocket whose page reads nothing, so answers no ping, is dropped.
// Its own test, with the usual header and idle timeouts: the short ones
// above also bound the TLS handshake, which a loaded machine under -race
// can overrun, and the dial then fails with EOF before any ping is sent
// (CI, 2026-12-01).
func TestSilentSocketDropped(t *testing.T) {
	e := startEnv(t, envOptions{relayed: true, cfg: Config{PingInterval: 200 * time.Millisecond}})
	if _, err := e.ana.Join(context.Background(), e.link, "Ana"); err != nil {
		t.Fatal(err)
	}
	zoe := e.browser()
	e.joinAs(zoe, e.token, "Zoë")
	h := http.Header{}
	h.Set("Origin", e.url)
	ws, _, err := websocket.Dial(context.Background(), strings.Replace(e.url, "https://", "wss://", 1)+"/guest/s/"+e.session+"/live",
		&websocket.DialOptions{HTTPClient: zoe, HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	sockets := func() int {
		e.gw.mu.Lock()
		defer e.gw.mu.Unlock()
		return len(e.gw.bySession[e.session].sockets)
	}
	waitFor(t, 5*time.Second, "the socket is open", func() bool { return sockets() == 1 })
	// Two intervals without a pong, then at most 5 s waiting for the close
	// frame the page does not send.
	waitFor(t, 10*time.Second, "the silent socket is dropped", func() bool { return sockets() == 0 })
}
