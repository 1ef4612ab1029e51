package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"parley/node/web"
)

// `parley open` prints the running node's web app address with its token:
// the address opens the app (a cookie, the token gone from the address),
// and with a session, its room.
func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "co")
	ok(t, dir, "init", "--org", "Acme Inc")
	fails(t, dir, 1, "start it with `parley up`", "open")

	var created []sessionJSON
	if err := json.Unmarshal([]byte(ok(t, dir, "session", "create", "--candidate", "Sam Doe", "--title", "Loop", "--json").stdout), &created); err != nil {
		t.Fatal(err)
	}
	id := created[0].ID
	up(t, dir)
	api, err := web.ReadAPIFile(dir)
	if err != nil {
		t.Fatal(err)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		args     []string
		wantPath string
	}{
		{nil, "/"},
		{[]string{id}, "/s/" + id},
		{[]string{id[:6]}, "/s/" + id}, // a prefix
	}
	for _, tt := range tests {
		addr := ok(t, dir, append([]string{"open"}, tt.args...)...).lastLine()
		u, err := url.Parse(addr)
		if err != nil || u.Scheme+"://"+u.Host != api.URL || u.Path != tt.wantPath || u.Query().Get("token") != api.Token {
			t.Fatalf("open %v: %q, want %s%s?token=...", tt.args, addr, api.URL, tt.wantPath)
		}
		resp, err := noRedirect.Get(addr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.wantPath || len(resp.Cookies()) != 1 {
			t.Fatalf("opening %s: %d to %q, cookies %v", addr, resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
		}
		if v := resp.Cookies()[0].Value; strings.Contains(v, api.Token) {
			t.Fatalf("the cookie holds the token: %s", v)
		}
		req, _ := http.NewRequest("GET", api.URL+"/api/v1/info", nil)
		req.AddCookie(resp.Cookies()[0])
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("the API with the cookie: %d", resp.StatusCode)
		}
	}
	fails(t, dir, 1, "no session", "open", "ffffffffff")
	fails(t, dir, 2, "at most one SESSION", "open", id, id)
}
