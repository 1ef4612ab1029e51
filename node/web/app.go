package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// The web app is a single page (static/index.html) with its script, style
// and Automerge's WebAssembly, built from ui/ by esbuild and embedded. Every
// page path serves the same index.html; the script reads the path.

//go:embed static
var staticFS embed.FS

// pagePaths are the web app's pages: the dashboard, a new interview, the
// team, the join page (the link in the fragment); a session's room (/s/ID)
// and its replay (/r/ID).
var pagePaths = []string{"/", "/new", "/team", "/join"}

// contentPolicy lets the page run its own script and Automerge's
// WebAssembly, and talk only to this node.
const contentPolicy = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
	"connect-src 'self'; img-src 'self' data:; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// app serves the web app's pages and files. A page opened with ?token=
// (the address `parley up`, `parley open` and `parley demo` print) trades
// it for a session cookie and is answered with a redirect to itself without
// the token (303), so that the token stays out of the address bar, the
// history and any Referer. A wrong or old token is dropped the same way,
// without a cookie: a browser that already has one (a bookmark made before
// a restart) gets in, any other sees the page's "no access" view.
func (s *Server) app(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "bad_request", "the web app only serves GET")
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", contentPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	p := r.URL.Path
	if isPage(p) {
		q := r.URL.Query()
		if q.Has("token") {
			if s.isToken(q.Get("token")) {
				s.setCookie(w, r)
			}
			q.Del("token")
			if len(q) > 0 {
				p += "?" + q.Encode()
			}
			http.Redirect(w, r, p, http.StatusSeeOther)
			return
		}
		// Renew the cookie of a browser that keeps coming back.
		if issued, ok := s.cookie(r); ok && s.now().Sub(issued) > cookieRenewAfter {
			s.setCookie(w, r)
		}
		http.ServeFileFS(w, r, staticFS, "static/index.html")
		return
	}
	// On loopback: not compressed.
	if !ServeAsset(w, r, strings.TrimPrefix(p, "/"), false) {
		http.NotFound(w, r)
	}
}

// Static returns the web app's files: index.html, app.js, app.css and
// automerge.wasm. The company's public gateway serves them to its guests.
func Static() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // "static" is a valid path, embedded at build time
	}
	return sub
}

func isPage(p string) bool {
	for _, pp := range pagePaths {
		if p == pp {
			return true
		}
	}
	for _, prefix := range []string{"/s/", "/r/"} {
		if id, ok := strings.CutPrefix(p, prefix); ok && id != "" && !strings.Contains(id, "/") {
			return true
		}
	}
	return false
}
