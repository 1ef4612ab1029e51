package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/invite"
)

// clock is a settable time source for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)} }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openNode initializes a data dir with opts and opens it.
func openNode(t *testing.T, clk *clock, opts InitOptions) *Node {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	opts.Now = clk.Now
	if _, err := Init(dir, opts); err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Dir: dir, Logger: discard(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestInitKeepsKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r1, err := Init(dir, InitOptions{Org: "Acme Inc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Created) != 2 || r1.Fingerprint == "" || r1.Peer == "" {
		t.Fatalf("first init: %+v", r1)
	}
	key1, _ := os.ReadFile(filepath.Join(dir, companyKeyFile))
	r2, err := Init(dir, InitOptions{Org: "Acme Corp", PublicURL: "https://interviews.acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	key2, _ := os.ReadFile(filepath.Join(dir, companyKeyFile))
	if len(r2.Created) != 0 || r2.Peer != r1.Peer || r2.Fingerprint != r1.Fingerprint || string(key1) != string(key2) {
		t.Fatalf("second init replaced something: %+v vs %+v", r2, r1)
	}
	if r2.Org != "Acme Corp" {
		t.Fatalf("org not updated: %q", r2.Org)
	}
	for name, want := range map[string]os.FileMode{"": 0o700, nodeKeyFile: 0o600, companyKeyFile: 0o600, settingsFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", filepath.Join(dir, name), fi.Mode().Perm(), want)
		}
	}
}

func TestPermissionsChecked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := Init(dir, InitOptions{Org: "Acme"}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	if _, err := New(Config{Dir: dir, Logger: discard()}); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("open of a 0755 data dir: %v", err)
	}
	if _, err := Init(dir, InitOptions{}); err == nil {
		t.Fatal("init accepted a 0755 data dir")
	}
	os.Chmod(dir, 0o700)
	os.Chmod(filepath.Join(dir, companyKeyFile), 0o644)
	if _, err := New(Config{Dir: dir, Logger: discard()}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("open with a 0644 company key: %v", err)
	}
}

func TestNotInitialized(t *testing.T) {
	_, err := New(Config{Dir: filepath.Join(t.TempDir(), "none"), Logger: discard()})
	if !errors.Is(err, ErrNotInitialized) || !strings.Contains(err.Error(), "parley init") {
		t.Fatalf("New on a missing dir: %v", err)
	}
}

func TestTeam(t *testing.T) {
	clk := newClock()
	company := openNode(t, clk, InitOptions{Org: "Acme Inc"})
	ana := openNode(t, clk, InitOptions{})
	other := openNode(t, clk, InitOptions{})

	res, err := company.AddMember(context.Background(), NewMember{Name: "Ana Li", Email: "ana@acme.test", Peer: ana.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	tok := res.Member.Token
	if _, err := other.AcceptCredential(context.Background(), tok); !errors.Is(err, invite.ErrWrongPeer) {
		t.Fatalf("credential accepted by another node: %v", err)
	}
	if _, err := company.AcceptCredential(context.Background(), tok); err == nil {
		t.Fatal("company node accepted a credential")
	}
	if _, err := ana.AcceptCredential(context.Background(), tok[:len(tok)-3]+"AAA"); !errors.Is(err, invite.ErrBadSignature) && !errors.Is(err, invite.ErrMalformed) {
		t.Fatalf("tampered credential: %v", err)
	}
	m, err := ana.AcceptCredential(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if m.Org != "Acme Inc" || m.Role != "interviewer" || !m.Expires.Equal(clk.Now().Add(DefaultCredentialLifetime)) {
		t.Fatalf("accepted %+v", m)
	}
	held, _ := ana.Team(context.Background())
	if len(held) != 1 || held[0].Email != "ana@acme.test" {
		t.Fatalf("ana's node holds %+v", held)
	}

	// An expired credential is refused.
	short, err := company.AddMember(context.Background(), NewMember{Name: "Bo", Email: "bo@acme.test", Peer: other.ID().String(), Lifetime: time.Hour, Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	if _, err := other.AcceptCredential(context.Background(), short.Member.Token); !errors.Is(err, invite.ErrExpired) {
		t.Fatalf("expired credential: %v", err)
	}

	fresh := openNode(t, clk, InitOptions{}).ID().String()
	for _, bad := range []struct {
		m    NewMember
		want string
	}{
		{NewMember{Name: "", Email: "x@acme.test", Peer: fresh}, "needs a name"},
		{NewMember{Name: "X", Email: "not an email", Peer: fresh}, "not an email address"},
		{NewMember{Name: "X", Email: "x@acme", Peer: fresh}, "no full domain"},
		{NewMember{Name: "X", Email: "x@acme.test", Peer: "nope"}, "not a peer ID"},
		{NewMember{Name: "X", Email: "x@acme.test", Peer: fresh, Role: "owner"}, "unknown role"},
		// A node holds one credential per company.
		{NewMember{Name: "X", Email: "x@acme.test", Peer: ana.ID().String()}, "already on the team as Ana Li <ana@acme.test>"},
	} {
		if _, err := company.AddMember(context.Background(), bad.m); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("AddMember(%+v) = %v, want an error with %q", bad.m, err, bad.want)
		}
	}
	if _, err := ana.AddMember(context.Background(), NewMember{Name: "X", Email: "x@acme.test", Peer: ana.ID().String()}); !errors.Is(err, ErrNotCompany) {
		t.Errorf("participant node added a member: %v", err)
	}
}

func TestRemoveRevokes(t *testing.T) {
	clk := newClock()
	company := openNode(t, clk, InitOptions{Org: "Acme Inc"})
	ana := openNode(t, clk, InitOptions{})
	res, err := company.AddMember(context.Background(), NewMember{Name: "Ana Li", Email: "ana@acme.test", Peer: ana.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := invite.ParseCredential(res.Member.Token)
	if err != nil {
		t.Fatal(err)
	}
	before := createOne(t, company, NewSessions{Candidate: "Sam", Title: "Loop"})

	if _, err := company.RemoveMember(context.Background(), "ana@acme.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := company.RemoveMember(context.Background(), "ana@acme.test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	team, _ := company.Team(context.Background())
	if len(team) != 0 {
		t.Fatalf("team after remove: %+v", team)
	}

	// A link made after the removal carries the revocation on its own.
	after := createOne(t, company, NewSessions{Candidate: "Sam", Title: "Loop"})
	if before.IsRevoked(cred.ID) || !after.IsRevoked(cred.ID) {
		t.Fatalf("revoked in link before: %v, after: %v", before.IsRevoked(cred.ID), after.IsRevoked(cred.ID))
	}
	// For links made before, the signed revocation list does.
	list, tok, err := company.Revocations()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := invite.ParseRevocations(tok, before.CompanyKey)
	if err != nil {
		t.Fatal(err)
	}
	if list.Seq != 1 || !parsed.Contains(cred.ID) {
		t.Fatalf("revocation list %+v does not revoke %s", parsed, cred.ID)
	}
	check := invite.CredentialCheck{Company: before.CompanyKey, Peer: ana.ID(), Now: clk.Now(), Revoked: parsed.Contains}
	if err := cred.Check(check); !errors.Is(err, invite.ErrRevoked) {
		t.Fatalf("removed member's credential: %v", err)
	}

	// Re-adding revokes nothing new until replaced; replacing revokes the old.
	r1, _ := company.AddMember(context.Background(), NewMember{Name: "Ana Li", Email: "ana@acme.test", Peer: ana.ID().String()})
	r2, err := company.AddMember(context.Background(), NewMember{Name: "Ana Li", Email: "ana@acme.test", Peer: ana.ID().String()})
	if err != nil || r2.Replaced == nil || r2.Replaced.Credential != r1.Member.Credential {
		t.Fatalf("replace: %+v, %v", r2, err)
	}
	list, _, _ = company.Revocations()
	id1, _ := invite.ParseCredentialID(r1.Member.Credential)
	if list.Seq != 2 || !list.Contains(id1) {
		t.Fatalf("replaced credential not revoked: %+v", list)
	}
	// Entries go once the credential would have expired anyway.
	clk.Advance(DefaultCredentialLifetime + time.Hour)
	list, _, _ = company.Revocations()
	if len(list.Entries) != 0 {
		t.Fatalf("expired entries kept: %+v", list.Entries)
	}
}

// createOne creates a one-block session and returns its parsed link.
func createOne(t *testing.T, n *Node, req NewSessions) *invite.Invite {
	t.Helper()
	ss, err := n.CreateSessions(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := invite.Parse(ss[0].Link)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// The web secret is made once (0600), kept across opens of the node, and
// refused when others may read it or it is not one.
func TestWebSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := Init(dir, InitOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := func() ([]byte, error) {
		t.Helper()
		n, err := New(Config{Dir: dir, Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		return n.WebSecret()
	}
	first, err := secret()
	if err != nil || len(first) != 32 {
		t.Fatalf("%x, %v", first, err)
	}
	path := filepath.Join(dir, webSecretFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v", path, fi.Mode(), err)
	}
	if again, err := secret(); err != nil || !bytes.Equal(again, first) {
		t.Fatalf("the secret changed: %x, %v", again, err)
	}
	os.Chmod(path, 0o644)
	if _, err := secret(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a 0644 secret: %v", err)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("not hex\n"), 0o600)
	if _, err := secret(); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Fatalf("a malformed secret: %v", err)
	}
}
