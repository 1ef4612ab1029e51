package web

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The web app: pages and files are served behind the Host and Origin
// checks. (auth_test.go tests the token's exchange for a cookie.)
func TestApp(t *testing.T) {
	s, _ := serve(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, edit func(*http.Request)) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL()+path, nil)
		if edit != nil {
			edit(req)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	body := func(r *http.Response) string {
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}

	for _, p := range []string{"/", "/new", "/team", "/join", "/s/abc123"} {
		r := get(p, nil)
		if r.StatusCode != 200 || !strings.Contains(body(r), `<script type="module" src="/app.js">`) {
			t.Fatalf("%s: %d", p, r.StatusCode)
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("%s: CSP %q", p, csp)
		}
	}
	for path, ctype := range map[string]string{"/app.js": "javascript", "/automerge.wasm": "application/wasm", "/app.css": "text/css"} {
		r := get(path, nil)
		if r.StatusCode != 200 || !strings.Contains(r.Header.Get("Content-Type"), ctype) {
			t.Fatalf("%s: %d %s", path, r.StatusCode, r.Header.Get("Content-Type"))
		}
		// A browser coming back revalidates: its copy, and what it
		// compiled of it, serve again.
		etag := r.Header.Get("ETag")
		if r := get(path, func(r *http.Request) { r.Header.Set("If-None-Match", etag) }); etag == "" || r.StatusCode != http.StatusNotModified {
			t.Fatalf("%s revalidated with ETag %q: %d", path, etag, r.StatusCode)
		}
	}
	for _, p := range []string{"/nope", "/index.html", "/static/app.js", "/s/a/b", "/../web.go"} {
		if r := get(p, nil); r.StatusCode != 404 {
			t.Fatalf("%s: %d, want 404", p, r.StatusCode)
		}
	}
	if r := get("/", func(r *http.Request) { r.Host = "evil.test" }); r.StatusCode != 403 {
		t.Fatalf("foreign host: %d", r.StatusCode)
	}
	if r := get("/", func(r *http.Request) { r.Header.Set("Origin", "http://evil.test") }); r.StatusCode != 403 {
		t.Fatalf("foreign origin: %d", r.StatusCode)
	}
}
