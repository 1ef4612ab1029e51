package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"
)

// A guest's browser is bound to its hosted participant by a cookie per
// session, parley_guest_SESSION, whose value is v1.GUEST.MAC: GUEST the
// random ID of the hosted participant, MAC the HMAC-SHA256 (unpadded
// base64url), keyed by the gateway's secret, of "parley guest v1", a zero
// byte, the session ID, a zero byte and GUEST. Only the gateway can make
// one, and one is good for one session's participant only. It is Secure,
// HttpOnly, SameSite=Strict and scoped to /guest: the page's script never
// sees it, no other site's page sends it, and nothing but the guest routes
// receive it.

// secretFile is the gateway's secret in the company's data directory:
// 32 random bytes as hex, 0600, made on the first start. Removing it
// unbinds every guest's browser from its participant.
const secretFile = "gateway.secret"

// cookieMaxAge bounds a guest cookie's life; the session's link usually
// ends it sooner.
const cookieMaxAge = 30 * 24 * time.Hour

// loadSecret reads the gateway's secret, making it if it does not exist.
func loadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var s [32]byte
		rand.Read(s[:])
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		_, err = f.Write([]byte(hex.EncodeToString(s[:]) + "\n"))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("secret: %w", err)
		}
		return s[:], nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret: %s is readable by others (mode %v): make it private with chmod 600", path, fi.Mode().Perm())
	}
	s, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(s) != 32 {
		return nil, fmt.Errorf("secret: %s is damaged (want 64 hex digits): remove it to make a new one (guests' browsers then join afresh)", path)
	}
	return s, nil
}

// newGuestID returns a random guest ID: 16 bytes in lowercase base32.
func newGuestID() string {
	var b [16]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func cookieName(session string) string { return "parley_guest_" + session }

func (g *Gateway) cookieMAC(session, guestID string) []byte {
	m := hmac.New(sha256.New, g.secret)
	m.Write([]byte("parley guest v1\x00" + session + "\x00" + guestID))
	return m.Sum(nil)
}

// setCookie binds the browser to a guest until maxAge.
func (g *Gateway) setCookie(w http.ResponseWriter, session, guestID string, maxAge time.Duration) {
	maxAge = min(max(maxAge, time.Hour), cookieMaxAge)
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName(session),
		Value:    "v1." + guestID + "." + base64.RawURLEncoding.EncodeToString(g.cookieMAC(session, guestID)),
		Path:     "/guest",
		MaxAge:   int(maxAge / time.Second),
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

// guestOf returns the guest ID the request's cookie binds it to in a
// session, or "".
func (g *Gateway) guestOf(r *http.Request, session string) string {
	for _, c := range r.CookiesNamed(cookieName(session)) {
		rest, ok := strings.CutPrefix(c.Value, "v1.")
		if !ok {
			continue
		}
		id, mac, ok := strings.Cut(rest, ".")
		if !ok || len(id) != 26 {
			continue
		}
		got, err := base64.RawURLEncoding.DecodeString(mac)
		if err == nil && hmac.Equal(got, g.cookieMAC(session, id)) {
			return id
		}
	}
	return ""
}
