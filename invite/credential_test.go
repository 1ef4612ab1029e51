package invite

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func testCredential(key ed25519.PrivateKey) *Credential {
	return &Credential{
		ID:         CredentialID{9, 9, 9, 9, 1, 2, 3, 4},
		CompanyKey: key.Public().(ed25519.PublicKey),
		Org:        "Acme Inc",
		Peer:       testPeer(nil, 7),
		Name:       "Ana Lí",
		Email:      "ana@acme.test",
		Role:       RoleInterviewer,
		Issued:     t0,
		Expires:    t0.Add(90 * 24 * time.Hour),
	}
}

func TestCredentialRoundTrip(t *testing.T) {
	key := testKey(1)
	c := testCredential(key)
	tok, err := c.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCredential("\n" + tok + "  ")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Org != c.Org || got.Peer != c.Peer || got.Name != c.Name || got.Email != c.Email ||
		got.Role != c.Role || !got.Issued.Equal(c.Issued) || !got.Expires.Equal(c.Expires) || !got.CompanyKey.Equal(c.CompanyKey) {
		t.Fatalf("round trip changed the credential:\n got %+v\nwant %+v", got, c)
	}
}

func TestCredentialCheck(t *testing.T) {
	key := testKey(1)
	c := testCredential(key)
	company := key.Public().(ed25519.PublicKey)
	revoked := func(id CredentialID) bool { return id == c.ID }
	tests := []struct {
		name  string
		check CredentialCheck
		want  error
	}{
		{"ok", CredentialCheck{Company: company, Peer: c.Peer, Now: t0.Add(time.Hour)}, nil},
		{"any issuer, any peer", CredentialCheck{Now: t0.Add(time.Hour)}, nil},
		{"other company", CredentialCheck{Company: testKey(2).Public().(ed25519.PublicKey), Now: t0}, ErrWrongIssuer},
		{"other peer", CredentialCheck{Peer: testPeer(t, 8), Now: t0}, ErrWrongPeer},
		{"before issue", CredentialCheck{Now: t0.Add(-time.Hour)}, ErrNotYetValid},
		{"expired", CredentialCheck{Now: c.Expires}, ErrExpired},
		{"revoked", CredentialCheck{Now: t0, Revoked: revoked}, ErrRevoked},
	}
	for _, tt := range tests {
		err := c.Check(tt.check)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
	err := c.Check(CredentialCheck{Peer: testPeer(t, 8), Now: t0})
	if !strings.Contains(err.Error(), "parley id") {
		t.Errorf("wrong-peer message %q does not say what to do", err)
	}
}

func badCredentials(t testing.TB) []struct {
	name, token string
	want        error
} {
	key := testKey(1)
	tok, err := testCredential(key).Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	inv, _ := testInvite(key).Sign(key)
	flip := []byte(tok)
	if flip[40] == 'A' {
		flip[40] = 'B'
	} else {
		flip[40] = 'A'
	}
	return []struct {
		name, token string
		want        error
	}{
		{"empty", "", ErrMalformed},
		{"garbage", "hello world", ErrMalformed},
		{"oversized", strings.Repeat("A", MaxCredentialLen+1), ErrMalformed},
		{"invite as credential", inv, ErrMalformed},
		{"truncated", tok[:len(tok)-10], ErrMalformed},
		{"flipped", string(flip), ErrBadSignature},
		{"valid", tok, nil},
	}
}

func TestParseCredentialBad(t *testing.T) {
	for _, tt := range badCredentials(t) {
		_, err := ParseCredential(tt.token)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: ParseCredential = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestRevocations(t *testing.T) {
	key := testKey(1)
	r := &Revocations{
		CompanyKey: key.Public().(ed25519.PublicKey),
		Seq:        4,
		Issued:     t0,
		Entries:    []Revoked{{ID: CredentialID{1}, Expires: t0.Add(time.Hour)}, {ID: CredentialID{2}, Expires: t0}},
	}
	tok, err := r.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRevocations(tok, r.CompanyKey)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 4 || len(got.Entries) != 2 || !got.Contains(CredentialID{2}) || got.Contains(CredentialID{3}) || !got.Entries[0].Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("round trip changed the list: %+v", got)
	}
	if _, err := ParseRevocations(tok, testKey(2).Public().(ed25519.PublicKey)); !errors.Is(err, ErrWrongIssuer) {
		t.Fatalf("list from another company: %v, want ErrWrongIssuer", err)
	}
}

func FuzzParseCredential(f *testing.F) {
	for _, tt := range badCredentials(f) {
		f.Add(tt.token)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := ParseCredential(token)
		if err != nil {
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CheckError", err)
			}
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("parsed an invalid credential: %v", err)
		}
	})
}

func FuzzParseRevocations(f *testing.F) {
	key := testKey(1)
	r := &Revocations{CompanyKey: key.Public().(ed25519.PublicKey), Seq: 1, Issued: t0, Entries: []Revoked{{ID: CredentialID{1}, Expires: t0}}}
	tok, _ := r.Sign(key)
	f.Add(tok)
	f.Add("")
	f.Add(tok[:20])
	f.Fuzz(func(t *testing.T, token string) {
		r, err := ParseRevocations(token, key.Public().(ed25519.PublicKey))
		if err == nil && !r.CompanyKey.Equal(key.Public().(ed25519.PublicKey)) {
			t.Fatal("accepted a list from another key")
		}
	})
}

// The public form of a credential verifies as the whole one does and holds
// nothing of the email; a disclosure that does not match the signed
// commitment is refused.
func TestPublicCredential(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	id := testPeer(nil, 3)
	now := time.Now().UTC().Truncate(time.Second)
	c := &Credential{ID: NewCredentialID(), CompanyKey: key.Public().(ed25519.PublicKey), Org: "Acme", Peer: id,
		Name: "Ana Li", Email: "ana.secret@acme.test", Role: RoleInterviewer, Issued: now, Expires: now.Add(time.Hour)}
	tok, err := c.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	full, err := ParseCredential(tok)
	if err != nil || full.Email != "ana.secret@acme.test" || full.Public() {
		t.Fatalf("whole token: %+v, %v", full, err)
	}
	pub := PublicCredential(tok)
	raw, _ := base64.RawURLEncoding.DecodeString(pub)
	if strings.Contains(pub, ".") || bytes.Contains(raw, []byte("ana.secret")) {
		t.Fatalf("the public form shows the email")
	}
	p, err := ParseCredential(pub)
	if err != nil || !p.Public() || p.Name != "Ana Li" || p.ID != c.ID {
		t.Fatalf("public form: %+v, %v", p, err)
	}
	if err := p.Check(CredentialCheck{Company: c.CompanyKey, Peer: id, Now: now}); err != nil {
		t.Fatal(err)
	}
	// Another email disclosed with the same salt, or another salt.
	_, disc, _ := strings.Cut(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(disc)
	for i, mutate := range []func([]byte) []byte{
		func(b []byte) []byte { return bytes.Replace(b, []byte("ana.secret"), []byte("bob.secret"), 1) },
		func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		func(b []byte) []byte { return b[:len(b)-3] },
	} {
		bad := pub + "." + base64.RawURLEncoding.EncodeToString(mutate(slices.Clone(b)))
		if _, err := ParseCredential(bad); err == nil {
			t.Errorf("mutation %d of the disclosure accepted", i)
		}
	}
}
