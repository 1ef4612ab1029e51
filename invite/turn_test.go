package invite

import (
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTURNCredential(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	expiry := time.Unix(1796220000, 0)
	user, pass := TURNCredential(secret, "abcdefghijklmnop", expiry)
	if user != "1796220000:cde210ec863f7ebd" {
		t.Fatalf("username %q", user)
	}
	if strings.Contains(user, "abcdefghijklmnop") {
		t.Fatal("the username holds the session ID")
	}
	// The TURN REST API scheme, as coturn computes it: base64(HMAC-SHA1).
	if _, want := TURNCredential(secret, "x", expiry); want == pass {
		t.Fatal("two sessions share a credential")
	}
	if got, err := TURNPassword(secret, "1796220000:5c1b0ad7a2b6e9f0", expiry); err != nil || got != "KwLktsUjxlzkT59R6jRk5igQTmU=" {
		t.Fatalf("TURNPassword = %q, %v; want coturn's value", got, err)
	}
	if e, tag, err := ParseTURNUser(user); err != nil || !e.Equal(expiry) || tag != TURNTag("abcdefghijklmnop") {
		t.Fatalf("ParseTURNUser = %v, %q, %v", e, tag, err)
	}

	tampered := []byte(user)
	tampered[3]++ // a later expiry
	tests := []struct {
		name       string
		secret     []byte
		user, pass string
		now        time.Time
		want       error
	}{
		{"valid", secret, user, pass, expiry.Add(-time.Hour), nil},
		{"within the skew", secret, user, pass, expiry.Add(TURNClockSkew - time.Second), nil},
		{"expired", secret, user, pass, expiry.Add(TURNClockSkew + time.Second), ErrExpired},
		{"wrong secret", []byte("another secret"), user, pass, expiry.Add(-time.Hour), ErrBadSignature},
		{"tampered expiry", secret, string(tampered), pass, expiry.Add(-time.Hour), ErrBadSignature},
		{"tampered tag", secret, user[:len(user)-1] + "0", pass, expiry.Add(-time.Hour), ErrBadSignature},
		{"wrong credential", secret, user, strings.Repeat("A", 27) + "=", expiry.Add(-time.Hour), ErrBadSignature},
		{"empty credential", secret, user, "", expiry.Add(-time.Hour), ErrBadSignature},
		{"no tag", secret, "1796220000", pass, expiry, ErrMalformed},
		{"not a number", secret, "soon:cde210ec863f7ebd", pass, expiry, ErrMalformed},
		{"negative", secret, "-1:cde210ec863f7ebd", pass, expiry, ErrMalformed},
		{"year 10000", secret, "999999999999:cde210ec863f7ebd", pass, expiry, ErrMalformed},
		{"bad tag", secret, "1796220000:CDE/", pass, expiry, ErrMalformed},
		{"long", secret, "1:" + strings.Repeat("a", 200), pass, expiry, ErrMalformed},
	}
	for _, tt := range tests {
		err := VerifyTURNCredential(tt.secret, tt.user, tt.pass, tt.now)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: VerifyTURNCredential = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestTURNURL(t *testing.T) {
	good := map[string]TURNURL{
		"turn:relay.acme.test":                      {Host: "relay.acme.test", Port: 3478},
		"turn:203.0.113.5:3478":                     {Host: "203.0.113.5", Port: 3478},
		"turn:[2001:db8::1]:3479":                   {Host: "2001:db8::1", Port: 3479},
		"turn:[2001:db8::1]":                        {Host: "2001:db8::1", Port: 3478},
		"turns:relay.acme.test":                     {Secure: true, Host: "relay.acme.test", Port: 5349},
		"turn:relay.acme.test:80?transport=tcp":     {Host: "relay.acme.test", Port: 80, Transport: "tcp"},
		"turns:relay.acme.test?transport=tcp":       {Secure: true, Host: "relay.acme.test", Port: 5349, Transport: "tcp"},
		"turn:relay-1.acme.test:3478?transport=udp": {Host: "relay-1.acme.test", Port: 3478, Transport: "udp"},
	}
	for s, want := range good {
		got, err := ParseTURNURL(s)
		if err != nil || got != want {
			t.Errorf("ParseTURNURL(%q) = %+v, %v; want %+v", s, got, err, want)
		}
		if again, err := ParseTURNURL(got.String()); err != nil || again != got {
			t.Errorf("%q does not parse back: %+v, %v", got.String(), again, err)
		}
	}
	for _, s := range []string{
		"", "turn:", "stun:relay.acme.test", "https://relay.acme.test", "turn://relay.acme.test:3478",
		"turn:relay.acme.test:", "turn:relay.acme.test:0", "turn:relay.acme.test:65536", "turn:relay.acme.test:34x8",
		"turn:2001:db8::1", "turn:[203.0.113.5]", "turn:[2001:db8::1]x", "turn:user@relay.acme.test",
		"turn:relay.acme.test?transport=sctp", "turns:relay.acme.test?transport=udp", "turn:relay.acme.test?x=1",
		"turn:-relay.acme.test", "turn:relay..acme.test", "turn:relay acme", "TURN:relay.acme.test",
	} {
		if _, err := ParseTURNURL(s); err == nil {
			t.Errorf("ParseTURNURL(%q) succeeded", s)
		}
	}
}

func TestICEServers(t *testing.T) {
	inv := testInvite(testKey(1))
	got := inv.ICEServers()
	if len(got) != 2 || !slices.Equal(got[0].URLs, []string{"stun:relay.acme.test:3478"}) || got[0].Username != "" ||
		!slices.Equal(got[1].URLs, []string{inv.TURN}) || got[1].Username != inv.TURNUser || got[1].Credential != inv.TURNCredential {
		t.Fatalf("ICEServers = %+v", got)
	}
	if !inv.TURNExpiry().Equal(inv.ValidUntil) {
		t.Fatalf("TURNExpiry = %v, want %v", inv.TURNExpiry(), inv.ValidUntil)
	}
	inv.TURN = "turns:relay.acme.test"
	if got := inv.ICEServers(); len(got) != 1 || got[0].URLs[0] != inv.TURN {
		t.Fatalf("turns: ICEServers = %+v", got)
	}
	inv.TURN, inv.TURNUser, inv.TURNCredential = "", "", ""
	if got := inv.ICEServers(); got != nil || !inv.TURNExpiry().IsZero() {
		t.Fatalf("no TURN: ICEServers = %+v", got)
	}
}

// Links whose TURN fields break the rules are refused when signed, and
// when parsed, signature and all.
func TestBadTURNFields(t *testing.T) {
	key := testKey(1)
	for name, mod := range map[string]func(*Invite){
		"user alone":     func(i *Invite) { i.TURNCredential = "" },
		"no url":         func(i *Invite) { i.TURN = "" },
		"stun url":       func(i *Invite) { i.TURN = "stun:relay.acme.test" },
		"bad credential": func(i *Invite) { i.TURNCredential = "not base64 but 28 characters" },
		"short":          func(i *Invite) { i.TURNCredential = "c2VjcmV0" },
		"bad user":       func(i *Invite) { i.TURNUser = "alice" },
	} {
		inv := testInvite(key)
		mod(inv)
		if _, err := inv.Sign(key); err == nil {
			t.Errorf("%s: Sign succeeded", name)
		}
		body := inv.encode()
		tok := encodeToken(body, ed25519.Sign(key, signedMessage(kindInvite, body)))
		if _, err := Parse(tok); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse = %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzTURNUser(f *testing.F) {
	secret := []byte("relay secret")
	user, pass := TURNCredential(secret, "abcdefghijklmnop", t0)
	for _, s := range []string{user, "", ":", "1:a", "99999999999999:x", "1796220000:" + strings.Repeat("z", 64)} {
		f.Add(s, pass)
	}
	f.Fuzz(func(t *testing.T, user, pass string) {
		expiry, tag, err := ParseTURNUser(user)
		if err != nil {
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CheckError", err)
			}
			return
		}
		if tag == "" || strings.Contains(tag, ":") {
			t.Fatalf("ParseTURNUser(%q) = %v, %q", user, expiry, tag)
		}
		want, err := TURNPassword(secret, user, expiry)
		if err != nil {
			t.Fatalf("TURNPassword at the expiry: %v", err)
		}
		if err := VerifyTURNCredential(secret, user, pass, expiry); (err == nil) != (pass == want) {
			t.Fatalf("VerifyTURNCredential(%q, %q) = %v", user, pass, err)
		}
	})
}
