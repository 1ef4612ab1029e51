package invite

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// testKey returns a deterministic company key, so that tokens in the fuzz
// corpus stay valid across runs.
func testKey(seed byte) ed25519.PrivateKey {
	var s [ed25519.SeedSize]byte
	for i := range s {
		s[i] = seed
	}
	return ed25519.NewKeyFromSeed(s[:])
}

var t0 = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

func testInvite(key ed25519.PrivateKey) *Invite {
	inv := &Invite{
		Org:             "Acme Inc",
		CompanyKey:      key.Public().(ed25519.PublicKey),
		SessionID:       "abcdefghijklmnop",
		Secret:          [32]byte{1, 2, 3},
		Title:           "Backend loop",
		Candidate:       "Sam Doe ñ 🙂",
		Block:           2,
		Blocks:          3,
		Starts:          t0,
		Duration:        time.Hour,
		ValidFrom:       t0.Add(-24 * time.Hour),
		ValidUntil:      t0.Add(7 * 24 * time.Hour),
		Bootstrap:       []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf")},
		TURN:            "turn:relay.acme.test:3478",
		Conference:      "https://meet.acme.test/room",
		MaxInterviewers: 3,
		Recorder:        "ana@acme.test",
		Revoked:         []CredentialID{{1, 2, 3, 4, 5, 6, 7, 8}},
		Language:        "cpp",
	}
	inv.TURNUser, inv.TURNCredential = TURNCredential([]byte("relay secret"), inv.SessionID, inv.ValidUntil)
	return inv
}

func sign(t testing.TB, inv *Invite, key ed25519.PrivateKey) string {
	t.Helper()
	tok, err := inv.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestInviteRoundTrip(t *testing.T) {
	key := testKey(1)
	inv := testInvite(key)
	tok := sign(t, inv, key)
	for _, link := range []string{tok, AppLinkPrefix + tok, "https://interviews.acme.test/join#" + tok, "  <" + AppLinkPrefix + tok + ">\n", Link("https://x.test/", tok), Link("", tok)} {
		got, err := Parse(link)
		if err != nil {
			t.Fatalf("Parse(%.40q): %v", link, err)
		}
		if got.Org != inv.Org || !got.CompanyKey.Equal(inv.CompanyKey) || got.SessionID != inv.SessionID ||
			got.Secret != inv.Secret || got.Title != inv.Title || got.Candidate != inv.Candidate ||
			got.Block != inv.Block || got.Blocks != inv.Blocks || !got.Starts.Equal(inv.Starts) ||
			got.Duration != inv.Duration || !got.ValidFrom.Equal(inv.ValidFrom) || !got.ValidUntil.Equal(inv.ValidUntil) ||
			len(got.Bootstrap) != 1 || !got.Bootstrap[0].Equal(inv.Bootstrap[0]) || got.TURN != inv.TURN ||
			got.Conference != inv.Conference || got.MaxInterviewers != inv.MaxInterviewers ||
			got.Recorder != inv.Recorder || len(got.Revoked) != 1 || got.Revoked[0] != inv.Revoked[0] ||
			got.TURNUser != inv.TURNUser || got.TURNCredential != inv.TURNCredential || got.Language != inv.Language {
			t.Fatalf("round trip changed the invite:\n got %+v\nwant %+v", got, inv)
		}
	}
	if l := len(AppLinkPrefix + tok); l > 600 {
		t.Errorf("link is %d characters; a link this full should stay under 600", l)
	}
}

func TestCheckLanguage(t *testing.T) {
	for _, ok := range []string{"python", "cpp", "c#", "objective-c", "f90"} {
		if err := CheckLanguage(ok); err != nil {
			t.Errorf("CheckLanguage(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Python", "c sharp", strings.Repeat("x", MaxLanguageLen+1), "py\n"} {
		if err := CheckLanguage(bad); err == nil {
			t.Errorf("CheckLanguage(%q) = nil, want an error", bad)
		}
	}
	// A link naming no language (made before the field) still parses.
	key := testKey(1)
	inv := testInvite(key)
	inv.Language = ""
	if got, err := Parse(sign(t, inv, key)); err != nil || got.Language != "" {
		t.Fatalf("a link without a language: %v, %q", err, got.Language)
	}
	inv.Language = "Not A Language"
	if _, err := inv.Sign(key); err == nil {
		t.Fatal("a link with a bad language was signed")
	}
}

func TestInviteCheck(t *testing.T) {
	key := testKey(1)
	inv := testInvite(key)
	tests := []struct {
		now  time.Time
		want error
	}{
		{inv.ValidFrom.Add(-time.Hour), ErrNotYetValid},
		{inv.ValidFrom.Add(-ClockSkew / 2), nil},
		{inv.Starts, nil},
		{inv.ValidUntil.Add(-time.Second), nil},
		{inv.ValidUntil, ErrExpired},
		{inv.ValidUntil.Add(time.Hour), ErrExpired},
	}
	for _, tt := range tests {
		err := inv.Check(tt.now)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("Check(%v) = %v, want %v", tt.now, err, tt.want)
		}
	}
	err := inv.Check(inv.ValidUntil.Add(time.Hour))
	if !strings.Contains(err.Error(), "expired on 2026-12-02 14:00 UTC") || !strings.Contains(err.Error(), "ask the company for a new one") {
		t.Errorf("expired message %q does not say when and what to do", err)
	}
	if err := inv.CheckIssuer(key.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("CheckIssuer(own key) = %v", err)
	}
	if err := inv.CheckIssuer(testKey(2).Public().(ed25519.PublicKey)); !errors.Is(err, ErrWrongIssuer) {
		t.Errorf("CheckIssuer(other key) = %v, want ErrWrongIssuer", err)
	}
}

// badLinks are links that must fail with the given check. The table seeds
// FuzzParse too.
func badLinks(t testing.TB) []struct {
	name, link string
	want       error
} {
	key := testKey(1)
	tok := sign(t, testInvite(key), key)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	mutate := func(f func(b []byte) []byte) string {
		b := f(append([]byte(nil), raw...))
		return base64.RawURLEncoding.EncodeToString(b)
	}
	c := testCredential(key)
	credTok, err := c.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	// A token validly signed by a key other than the one it names.
	forged := testInvite(key)
	forgedRaw := mustSignWith(t, forged, testKey(2))
	return []struct {
		name, link string
		want       error
	}{
		{"empty", "", ErrMalformed},
		{"not base64", "!!!!", ErrMalformed},
		{"other scheme", "ftp://join/" + tok, ErrMalformed},
		{"web link without fragment", "https://acme.test/join", ErrMalformed},
		{"web link wrong path", "https://acme.test/other#" + tok, ErrMalformed},
		{"short", "AQ", ErrMalformed},
		{"oversized", strings.Repeat("A", MaxLinkLen+1), ErrMalformed},
		{"oversized link", AppLinkPrefix + strings.Repeat("A", MaxLinkLen+300), ErrMalformed},
		{"version 2", mutate(func(b []byte) []byte { b[0] = 2; return b }), ErrUnsupportedVersion},
		{"credential as link", credTok, ErrMalformed},
		{"truncated", tok[:len(tok)/2], ErrMalformed},
		{"title changed", mutate(func(b []byte) []byte {
			i := strings.Index(string(b), "Backend")
			b[i] = 'X'
			return b
		}), ErrBadSignature},
		{"signature flipped", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrBadSignature},
		{"trailing garbage", mutate(func(b []byte) []byte {
			return append(b[:len(b)-64:len(b)-64], append([]byte{0xff}, b[len(b)-64:]...)...)
		}), ErrMalformed},
		{"signed by another key", forgedRaw, ErrBadSignature},
	}
}

// mustSignWith signs inv with key even though inv names another company key.
func mustSignWith(t testing.TB, inv *Invite, key ed25519.PrivateKey) string {
	named := inv.CompanyKey
	inv.CompanyKey = key.Public().(ed25519.PublicKey)
	tok := sign(t, inv, key)
	inv.CompanyKey = named
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	i := strings.Index(string(raw), string(key.Public().(ed25519.PublicKey)))
	copy(raw[i:], named)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestParseBad(t *testing.T) {
	for _, tt := range badLinks(t) {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse(tt.link)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %v, %v; want %v", inv, err, tt.want)
			}
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Error() == "" {
				t.Fatalf("error %v is not a *CheckError with a message", err)
			}
		})
	}
}

// A link or credential that does not decode says it is damaged and what to
// do, and keeps the decoder's words at the end for a bug report.
func TestDamagedWording(t *testing.T) {
	key := testKey(1)
	tok := sign(t, testInvite(key), key)
	credTok, err := testCredential(key).Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	raw[2] = 0x0b // field 1 with wire type 3
	wrongType := base64.RawURLEncoding.EncodeToString(raw)
	tests := []struct {
		name, token string
		parse       func(string) error
		advice      string
	}{
		{"truncated link", AppLinkPrefix + tok[:len(tok)/2], func(s string) error { _, err := Parse(s); return err }, "copy the whole link"},
		{"wrong wire type", wrongType, func(s string) error { _, err := Parse(s); return err }, "copy the whole link"},
		{"not base64", AppLinkPrefix + "%%%", func(s string) error { _, err := Parse(s); return err }, "copy the whole link"},
		{"truncated credential", credTok[:len(credTok)-100], func(s string) error { _, err := ParseCredential(s); return err }, "parley team accept TOKEN"},
	}
	for _, tt := range tests {
		err := tt.parse(tt.token)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: %v, want ErrMalformed", tt.name, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "is damaged") || !strings.Contains(msg, tt.advice) || !strings.Contains(msg, "(for a bug report: ") || !strings.HasSuffix(msg, ")") {
			t.Errorf("%s: %q", tt.name, msg)
		}
	}
}

func TestSignRefusesInvalid(t *testing.T) {
	key := testKey(1)
	for name, mod := range map[string]func(*Invite){
		"no org":        func(i *Invite) { i.Org = "" },
		"block > n":     func(i *Invite) { i.Block = 4 },
		"bad session":   func(i *Invite) { i.SessionID = "nope" },
		"bad url":       func(i *Invite) { i.Conference = "javascript:alert(1)" },
		"max 0":         func(i *Invite) { i.MaxInterviewers = 0 },
		"until<from":    func(i *Invite) { i.ValidUntil = i.ValidFrom },
		"long title":    func(i *Invite) { i.Title = strings.Repeat("x", maxString+1) },
		"other company": func(i *Invite) { i.CompanyKey = testKey(2).Public().(ed25519.PublicKey) },
		"stun url":      func(i *Invite) { i.TURN = "stun:relay.acme.test:3478" },
		"http turn url": func(i *Invite) { i.TURN = "https://relay.acme.test" },
		"user alone":    func(i *Invite) { i.TURNCredential = "" },
		"cred alone":    func(i *Invite) { i.TURNUser = "" },
		"creds, no url": func(i *Invite) { i.TURN = "" },
		"bad turn user": func(i *Invite) { i.TURNUser = "alice" },
		"bad turn cred": func(i *Invite) { i.TURNCredential = "c2VjcmV0" },
	} {
		inv := testInvite(key)
		mod(inv)
		if _, err := inv.Sign(key); err == nil {
			t.Errorf("%s: Sign succeeded", name)
		}
	}
}

func TestKeys(t *testing.T) {
	k1 := DeriveKeys("abcdefghijklmnop", [32]byte{1})
	k2 := DeriveKeys("abcdefghijklmnop", [32]byte{2})
	k3 := DeriveKeys("bbcdefghijklmnop", [32]byte{1})
	if k1 != DeriveKeys("abcdefghijklmnop", [32]byte{1}) {
		t.Fatal("derivation is not deterministic")
	}
	if k1.Topic == k2.Topic || k1.Topic == k3.Topic || k1.Envelope == k2.Envelope || k1.Admission == k3.Admission {
		t.Fatal("different sessions share keys")
	}
	if k1.Envelope == k1.Admission || !strings.HasPrefix(k1.Topic, "/parley/1/") || len(k1.Topic) != len("/parley/1/")+32 {
		t.Fatalf("keys not separated or topic malformed: %+v", k1)
	}
}

func TestFingerprint(t *testing.T) {
	fp := Fingerprint(testKey(1).Public().(ed25519.PublicKey))
	if len(fp) != 29 || strings.Count(fp, "-") != 5 {
		t.Fatalf("fingerprint %q is not six groups of four", fp)
	}
	if fp == Fingerprint(testKey(2).Public().(ed25519.PublicKey)) {
		t.Fatal("two keys share a fingerprint")
	}
}

func testPeer(t testing.TB, seed byte) peer.ID {
	priv, err := crypto.UnmarshalEd25519PrivateKey(testKey(seed))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func FuzzParse(f *testing.F) {
	key := testKey(1)
	f.Add(sign(f, testInvite(key), key))
	for _, tt := range badLinks(f) {
		f.Add(tt.link)
	}
	f.Fuzz(func(t *testing.T, link string) {
		inv, err := Parse(link)
		if err != nil {
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CheckError", err)
			}
			return
		}
		// Whatever parses must sign again and parse back the same.
		if err := inv.validate(); err != nil {
			t.Fatalf("parsed an invalid invite: %v", err)
		}
		inv.Check(t0)
		inv.Keys()
	})
}
