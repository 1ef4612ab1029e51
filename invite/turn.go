package invite

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// TURN credentials follow the TURN REST API scheme (coturn's use-auth-secret):
// the relay operator and the company share a secret; the company gives each
// link a username "EXPIRY:TAG" (EXPIRY in Unix seconds, TAG a short hash of
// the session ID) and the credential base64(HMAC-SHA1(secret, username)). The
// TURN server recomputes the credential from the username alone, so it keeps
// no list of users, and refuses usernames whose expiry has passed. The secret
// is used as the bytes given: a coturn server with static-auth-secret set to
// the text of the relay's turn.secret accepts the same credentials.

// Limits and allowances of TURN credentials.
const (
	// TURNClockSkew is how long after its expiry a TURN username is still
	// accepted, for clocks that differ between the company and the relay.
	TURNClockSkew = 5 * time.Minute

	maxTURNUser       = 128
	maxTURNTag        = 64
	turnTagBytes      = 8 // hex digits in a tag: twice this
	turnCredentialLen = 28
)

// TURNTag returns the tag a session's TURN username carries: 16 hex digits
// of a hash of the session ID, so the relay can tell sessions apart without
// learning their IDs.
func TURNTag(sessionID string) string {
	sum := sha256.Sum256([]byte("parley/1 turn\x00" + sessionID))
	return hex.EncodeToString(sum[:turnTagBytes])
}

// TURNCredential returns the TURN username and credential of a session,
// valid until expiry, made with the secret the relay shares with the company.
func TURNCredential(secret []byte, sessionID string, expiry time.Time) (user, pass string) {
	user = strconv.FormatInt(expiry.Unix(), 10) + ":" + TURNTag(sessionID)
	return user, turnPassword(secret, user)
}

func turnPassword(secret []byte, user string) string {
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(user))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ParseTURNUser splits a TURN username made by TURNCredential into its
// expiry and tag. It refuses anything else.
func ParseTURNUser(user string) (expiry time.Time, tag string, err error) {
	if len(user) > maxTURNUser {
		return time.Time{}, "", checkErr(ErrMalformed, "TURN username is %d bytes, over the limit of %d", len(user), maxTURNUser)
	}
	sec, tag, ok := strings.Cut(user, ":")
	if !ok || sec == "" || len(sec) > 12 || strings.TrimLeft(sec, "0123456789") != "" {
		return time.Time{}, "", checkErr(ErrMalformed, "TURN username %q is not EXPIRY:TAG", truncate(user, 40))
	}
	if tag == "" || len(tag) > maxTURNTag || strings.TrimLeft(tag, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		return time.Time{}, "", checkErr(ErrMalformed, "TURN username %q has a bad tag", truncate(user, 40))
	}
	n, _ := strconv.ParseInt(sec, 10, 64)
	if expiry, err = unixTime(n); err != nil {
		return time.Time{}, "", checkErr(ErrMalformed, "TURN username %q: %v", truncate(user, 40), err)
	}
	return expiry, tag, nil
}

// TURNPassword returns the credential that must come with the TURN username
// user: what a TURN server needs to check a request. It refuses a malformed
// username (ErrMalformed) and one expired at now, allowing TURNClockSkew
// (ErrExpired).
func TURNPassword(secret []byte, user string, now time.Time) (string, error) {
	expiry, _, err := ParseTURNUser(user)
	if err != nil {
		return "", err
	}
	if now.After(expiry.Add(TURNClockSkew)) {
		return "", checkErr(ErrExpired, "TURN username %q expired on %s", user, FormatTime(expiry))
	}
	return turnPassword(secret, user), nil
}

// VerifyTURNCredential reports whether pass is the credential of user under
// secret and user has not expired at now (allowing TURNClockSkew). A wrong
// credential, from another secret or for an altered username, is
// ErrBadSignature.
func VerifyTURNCredential(secret []byte, user, pass string, now time.Time) error {
	want, err := TURNPassword(secret, user, now)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(pass)) != 1 {
		return checkErr(ErrBadSignature, "TURN credential does not match username %q", user)
	}
	return nil
}

// TURNURL is a parsed TURN server URL (RFC 7065):
// turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT][?transport=tcp].
type TURNURL struct {
	Secure    bool   // turns: (TLS)
	Host      string // a name or an IP address, without brackets
	Port      int    // 3478, or 5349 for turns:, unless given
	Transport string // "udp", "tcp" or empty
}

// ParseTURNURL parses a TURN server URL strictly.
func ParseTURNURL(s string) (TURNURL, error) {
	bad := func(why string) (TURNURL, error) {
		return TURNURL{}, fmt.Errorf("TURN URL %q is not turn:HOST[:PORT] or turns:HOST[:PORT] (%s)", truncate(s, 80), why)
	}
	var u TURNURL
	rest, ok := strings.CutPrefix(s, "turn:")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "turns:"); !ok {
			return bad("scheme")
		}
		u.Secure = true
	}
	rest, query, hasQuery := strings.Cut(rest, "?")
	if hasQuery {
		t, ok := strings.CutPrefix(query, "transport=")
		if !ok || (t != "udp" && t != "tcp") || (u.Secure && t == "udp") {
			return bad("query")
		}
		u.Transport = t
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return bad("host")
		}
		host = rest[1:end]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return bad("host")
		}
		switch after := rest[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
		default:
			return bad("host")
		}
	} else if i := strings.LastIndex(rest, ":"); i >= 0 {
		host, port = rest[:i], rest[i+1:]
		if strings.Contains(host, ":") {
			return bad("an IPv6 address goes in brackets")
		}
	}
	if !validHost(host) {
		return bad("host")
	}
	u.Host = host
	u.Port = 3478
	if u.Secure {
		u.Port = 5349
	}
	if port != "" || strings.HasSuffix(rest, ":") {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 || strings.TrimLeft(port, "0123456789") != "" {
			return bad("port")
		}
		u.Port = p
	}
	return u, nil
}

// validHost accepts an IP address or a DNS name.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// String formats u as a URL.
func (u TURNURL) String() string {
	s := "turn:" + net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
	if u.Secure {
		s = "turns:" + net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
	}
	if u.Transport != "" {
		s += "?transport=" + u.Transport
	}
	return s
}

// CheckTURNURL reports whether s is a TURN server URL: turn:HOST[:PORT] or
// turns:HOST[:PORT], with an optional ?transport=udp|tcp.
func CheckTURNURL(s string) error {
	_, err := ParseTURNURL(s)
	return err
}

// ICEServer is a STUN or TURN server for WebRTC's ICE, in the shape of
// webrtc.ICEServer (URLs, Username, Credential as a password).
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// ICEServers returns the servers the link names for media: its TURN server
// with the link's credentials and, for a turn: URL over UDP, the same server
// as a STUN server (a TURN server answers STUN binding requests), so that
// peers learn their public addresses too. It returns nil when the link names
// no TURN server.
func (inv *Invite) ICEServers() []ICEServer {
	if inv.TURN == "" {
		return nil
	}
	u, err := ParseTURNURL(inv.TURN)
	if err != nil {
		return nil
	}
	var out []ICEServer
	if !u.Secure && u.Transport != "tcp" {
		out = append(out, ICEServer{URLs: []string{"stun:" + net.JoinHostPort(u.Host, strconv.Itoa(u.Port))}})
	}
	return append(out, ICEServer{URLs: []string{inv.TURN}, Username: inv.TURNUser, Credential: inv.TURNCredential})
}

// TURNExpiry returns when the link's TURN credentials expire; zero if it
// carries none.
func (inv *Invite) TURNExpiry() time.Time {
	t, _, err := ParseTURNUser(inv.TURNUser)
	if err != nil {
		return time.Time{}
	}
	return t
}

// validateTURN checks the TURN fields of an invite: a URL of the right form,
// and a username and credential that come together, with a URL.
func (inv *Invite) validateTURN() error {
	if inv.TURN != "" {
		if err := CheckTURNURL(inv.TURN); err != nil {
			return err
		}
	}
	if (inv.TURNUser == "") != (inv.TURNCredential == "") {
		return fmt.Errorf("TURN username and credential must come together")
	}
	if inv.TURNUser == "" {
		return nil
	}
	if inv.TURN == "" {
		return fmt.Errorf("TURN credentials without a TURN URL")
	}
	if _, _, err := ParseTURNUser(inv.TURNUser); err != nil {
		return err
	}
	if b, err := base64.StdEncoding.Strict().DecodeString(inv.TURNCredential); err != nil || len(b) != sha1.Size || len(inv.TURNCredential) != turnCredentialLen {
		return fmt.Errorf("TURN credential is not base64 of %d bytes", sha1.Size)
	}
	return nil
}
