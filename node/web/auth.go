package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Who may use the API: the command line with the per-start token in an
// Authorization header (it reads it from DATA/api.json), and the web app
// with a session cookie.
//
// The web app's first visit carries the token (?token=, the address `parley
// up` and `parley open` print) and trades it for the cookie. The cookie is
// not the token: browsers send a host's cookies to all its ports, so every
// other server on 127.0.0.1 the browser visits receives it. Its value,
// v1.ISSUED.MAC, is an HMAC keyed by the node's web secret (DATA/web.secret,
// kept across restarts) over this server's port and the time it was issued:
// it outlives restarts of this node on this port, is refused by any other
// node or port, and cannot be made without the secret. Its name carries the
// port too, so that several nodes on one machine (`parley demo`) keep their
// cookies apart.

// Session cookie lifetimes.
const (
	// cookieMaxAge is how long a session cookie is good for.
	cookieMaxAge = 30 * 24 * time.Hour
	// cookieRenewAfter is the age after which a page load renews it.
	cookieRenewAfter = 24 * time.Hour
	// cookieSkew is how far in the future a cookie may have been issued
	// (the clock stepped back since).
	cookieSkew = 5 * time.Minute
)

// authorized reports whether r may use the API: the token in the
// Authorization header, a valid session cookie, or, for the WebSocket of
// clients that cannot set its headers, the token in the token query
// parameter.
func (s *Server) authorized(r *http.Request) bool {
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s.isToken(got)
	}
	if _, ok := s.cookie(r); ok {
		return true
	}
	if strings.HasSuffix(r.URL.Path, "/live") {
		return s.isToken(r.URL.Query().Get("token"))
	}
	return false
}

func (s *Server) isToken(got string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

// cookieName names this server's session cookie: parley_PORT.
func (s *Server) cookieName() string { return "parley_" + s.port }

// cookie reports whether r carries a valid session cookie of this server,
// and when it was issued.
func (s *Server) cookie(r *http.Request) (time.Time, bool) {
	// A jar may hold two cookies of one name (set with other paths); any
	// valid one will do.
	for _, c := range r.CookiesNamed(s.cookieName()) {
		if issued, ok := s.checkCookie(c.Value); ok {
			return issued, true
		}
	}
	return time.Time{}, false
}

// checkCookie checks a session cookie's value: made with this node's
// secret for this port, neither expired nor from the future.
func (s *Server) checkCookie(v string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(v, "v1.")
	if !ok {
		return time.Time{}, false
	}
	sec, mac, ok := strings.Cut(rest, ".")
	if !ok {
		return time.Time{}, false
	}
	unix, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || strconv.FormatInt(unix, 10) != sec {
		return time.Time{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !hmac.Equal(got, s.cookieMAC(unix)) {
		return time.Time{}, false
	}
	issued := time.Unix(unix, 0)
	if age := s.now().Sub(issued); age >= cookieMaxAge || age < -cookieSkew {
		return time.Time{}, false
	}
	return issued, true
}

// cookieMAC is the MAC of a session cookie issued at unix seconds.
func (s *Server) cookieMAC(unix int64) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("parley web session v1\x00" + s.port + "\x00" + strconv.FormatInt(unix, 10)))
	return m.Sum(nil)
}

// setCookie gives the browser a fresh session cookie.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request) {
	unix := s.now().Unix()
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(),
		Value:    "v1." + strconv.FormatInt(unix, 10) + "." + base64.RawURLEncoding.EncodeToString(s.cookieMAC(unix)),
		Path:     "/",
		MaxAge:   int(cookieMaxAge / time.Second),
		Secure:   r.TLS != nil,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}
