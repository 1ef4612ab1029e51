package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"time"

	"parley/invite"
	"parley/node"
	"parley/node/web"
)

// maxBody bounds a request body: a link is at most a few KiB.
const maxBody = 16 << 10

// sessionPattern is what a session ID looks like (invite.NewSessionID).
var sessionPattern = regexp.MustCompile(`^[a-z2-7]{16}$`)

// Handler returns the gateway's routes behind its checks: security
// headers, per-client rate limits, and the checks each route makes.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /join", g.page)
	mux.HandleFunc("GET /guest/s/{id}", g.page)
	for _, a := range web.Assets {
		mux.HandleFunc("GET /"+a, g.asset)
	}
	mux.HandleFunc("POST /guest/inspect", g.inspect)
	mux.HandleFunc("POST /guest/join", g.join)
	mux.HandleFunc("GET /guest/s/{id}/live", g.live)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "nothing here: open the interview link you were sent")
	})
	return g.headers(g.limit(mux))
}

// headers sets the security headers of every response.
func (g *Gateway) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentPolicy(r.Host))
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=(), payment=()")
		if g.secure(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// hostPattern is a Host header fit to name in the policy.
var hostPattern = regexp.MustCompile(`^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)

// contentPolicy is the web app's Content-Security-Policy (DESIGN.md, "Local
// web app"), with the guest's WebSocket to this host: wss: is not 'self' in
// every browser.
func contentPolicy(host string) string {
	connect := "'self'"
	if hostPattern.MatchString(host) {
		connect += " wss://" + host
	}
	return "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
		"connect-src " + connect + "; img-src 'self' data:; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
}

// secure reports whether the client reached the gateway over https: TLS
// here, or a trusted proxy that says so.
func (g *Gateway) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return g.fromProxy(r) && strings.EqualFold(lastValue(r.Header.Get("X-Forwarded-Proto")), "https")
}

// limit refuses clients over their request rate.
func (g *Gateway) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		class := classPage
		if r.Method == http.MethodPost || strings.HasSuffix(r.URL.Path, "/live") {
			class = classJoin
		}
		if wait, ok := g.limits.allow(g.clientIP(r), class); !ok {
			w.Header().Set("Retry-After", fmt.Sprint(int(wait/time.Second)+1))
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests from your address: wait a few seconds and try again")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// page serves the web app's page in guest mode: the join page, or the room.
func (g *Gateway) page(w http.ResponseWriter, r *http.Request) {
	if id := r.PathValue("id"); id != "" && !sessionPattern.MatchString(id) {
		writeError(w, http.StatusNotFound, "not_found", "no such interview: open the interview link you were sent")
		return
	}
	if r.URL.RawQuery != "" {
		// Nothing reads a query; one with a link in it (pasted wrongly)
		// would reach the history: drop it.
		http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(guestIndex)
}

// guestIndex is the web app's index.html with the guest flag (the app talks
// to the gateway's guest routes, not a node's local API), and Automerge's
// WebAssembly fetched at once, not once the script asks for it: a guest's
// room opens that much sooner.
var guestIndex = func() []byte {
	b, err := fs.ReadFile(web.Static(), "index.html")
	if err != nil {
		panic(err) // embedded at build time
	}
	return bytes.Replace(b, []byte(`<meta charset="utf-8">`), []byte(`<meta charset="utf-8">`+"\n"+
		`<meta name="parley-mode" content="guest">`+"\n"+
		`<link rel="preload" href="/automerge.wasm" as="fetch" type="application/wasm" crossorigin>`), 1)
}()

// asset serves one of the web app's files.
func (g *Gateway) asset(w http.ResponseWriter, r *http.Request) {
	if !web.ServeAsset(w, r, strings.TrimPrefix(r.URL.Path, "/"), true) {
		http.NotFound(w, r)
	}
}

// sameOrigin refuses a request a page of another site made: its Origin, if
// any, must be this host, and Sec-Fetch-Site, if any, same-origin.
func (g *Gateway) sameOrigin(w http.ResponseWriter, r *http.Request) bool {
	if origin := r.Header.Get("Origin"); origin != "" {
		scheme := "http://"
		if g.secure(r) {
			scheme = "https://"
		}
		if origin != scheme+r.Host {
			writeError(w, http.StatusForbidden, "forbidden_origin", "requests from other sites are not allowed")
			return false
		}
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		writeError(w, http.StatusForbidden, "forbidden_origin", "requests from other sites are not allowed")
		return false
	}
	return true
}

// decode reads a bounded, strictly parsed JSON body into v.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "bad_request", "send JSON (Content-Type: application/json)")
		return false
	}
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(10 * time.Second))
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over the limit of %d bytes", maxBody))
			return false
		}
		writeError(w, http.StatusBadRequest, "bad_request", "bad request body: send {\"token\": ..., \"name\": ...}")
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "bad request body: trailing data")
		return false
	}
	return true
}

// errorBody is the JSON of every error response, as the local API's.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

// errorCodes map errors to HTTP statuses and codes; the guest's page shows
// the message, which says what was wrong and what to do.
var errorCodes = []struct {
	err    error
	status int
	code   string
}{
	{errFull, http.StatusServiceUnavailable, "full"},
	{errSeatTaken, http.StatusConflict, "refused_seat_taken"},
	{errNoGuest, http.StatusUnauthorized, "no_guest"},
	{errWrongCompany, http.StatusForbidden, "wrong_company"},
	{errClosed, http.StatusServiceUnavailable, "closed"},
	{errTooMany, http.StatusTooManyRequests, "too_many_sockets"},
	{node.ErrSessionEnded, http.StatusConflict, "ended"},
	{node.ErrNotRunning, http.StatusServiceUnavailable, "not_running"},
	{invite.ErrExpired, http.StatusBadRequest, "expired"},
	{invite.ErrNotYetValid, http.StatusBadRequest, "not_yet_valid"},
	{invite.ErrBadSignature, http.StatusBadRequest, "bad_signature"},
	{invite.ErrMalformed, http.StatusBadRequest, "malformed"},
	{invite.ErrUnsupportedVersion, http.StatusBadRequest, "unsupported_version"},
	{invite.ErrRevoked, http.StatusBadRequest, "revoked"},
}

// errorCode returns the HTTP status and code of an error.
func errorCode(err error) (int, string) {
	var refused *node.RefusedError
	if errors.As(err, &refused) {
		return http.StatusConflict, "refused_" + refused.Code
	}
	var inv *invalidLink
	if errors.As(err, &inv) {
		if inv.code == "ended" {
			return http.StatusConflict, inv.code
		}
		return http.StatusBadRequest, inv.code
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.status, e.code
		}
	}
	return http.StatusBadRequest, "bad_request"
}

func fail(w http.ResponseWriter, err error) {
	status, code := errorCode(err)
	writeError(w, status, code, err.Error())
}
