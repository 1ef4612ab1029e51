package node

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/invite"
)

func newPeer(t testing.TB) (peer.ID, crypto.PrivKey) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return id, k
}

// pair runs a handshake between two sides over a pipe.
func pair(t *testing.T, ini, res *handshake) (admitResult, error, admitResult, error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	a.SetDeadline(time.Now().Add(5 * time.Second))
	b.SetDeadline(time.Now().Add(5 * time.Second))
	type out struct {
		r   admitResult
		err error
	}
	ch := make(chan out, 1)
	go func() {
		r := bufio.NewReader(b)
		hello, err := readHello(r)
		if err != nil {
			ch <- out{err: err}
			b.Close()
			return
		}
		rr, err := res.respond(b, r, hello)
		if err != nil {
			b.Close()
		}
		ch <- out{rr, err}
	}()
	ir, ierr := ini.initiate(a)
	if ierr != nil {
		a.Close()
	}
	o := <-ch
	return ir, ierr, o.r, o.err
}

func sides(t *testing.T, keyA, keyB [32]byte, judgeB func(intro) decision) (*handshake, *handshake) {
	a, _ := newPeer(t)
	b, _ := newPeer(t)
	admit := func(intro) decision { return decision{admit: true} }
	if judgeB == nil {
		judgeB = admit
	}
	mk := func(key [32]byte, local, remote peer.ID, name string, judge func(intro) decision) *handshake {
		return &handshake{
			key: key, tag: "tag", local: local, remote: remote,
			introduce: func([]byte) intro { return intro{Name: name, Since: time.Unix(1, 0)} },
			state:     func() admitState { return admitState{} },
			judge: func(in intro, _ admitState, _ []byte) decision {
				if in.Name == "" {
					return decision{}
				}
				return judge(in)
			},
		}
	}
	return mk(keyA, a, b, "A", admit), mk(keyB, b, a, "B", judgeB)
}

func TestHandshake(t *testing.T) {
	var key, wrong [32]byte
	rand.Read(key[:])
	rand.Read(wrong[:])

	ini, res := sides(t, key, key, nil)
	ir, ierr, rr, rerr := pair(t, ini, res)
	if ierr != nil || rerr != nil || ir.intro.Name != "B" || rr.intro.Name != "A" || !bytes.Equal(ir.transcript, rr.transcript) {
		t.Fatalf("admission: %v / %v, %+v / %+v", ierr, rerr, ir, rr)
	}

	// A responder without the secret is caught before the initiator says
	// anything about itself.
	ini, res = sides(t, key, wrong, nil)
	_, ierr, _, _ = pair(t, ini, res)
	if !errors.Is(ierr, errProof) {
		t.Fatalf("responder without the secret: %v", ierr)
	}
	// With the keys the other way round, neither side admits the other and
	// the responder learns nothing of the initiator.
	ini, res = sides(t, wrong, key, nil)
	_, ierr, rr, rerr = pair(t, ini, res)
	if !errors.Is(ierr, errProof) || rerr == nil || rr.intro.Name != "" {
		t.Fatalf("initiator without the secret: %v / %v", ierr, rerr)
	}

	// A refusal reaches the initiator with its reason.
	ini, res = sides(t, key, key, func(intro) decision {
		return decision{code: refuseSeatTaken, reason: "this interview already has a candidate"}
	})
	_, ierr, _, rerr = pair(t, ini, res)
	var refused *RefusedError
	if !errors.As(ierr, &refused) || refused.Code != refuseSeatTaken || refused.Reason != "this interview already has a candidate" || rerr == nil {
		t.Fatalf("refusal: %v / %v", ierr, rerr)
	}
}

// roleOf decides roles from proof only; a credential that does not hold is
// an error (the peer is refused), never a way in as the candidate.
func TestRoleOf(t *testing.T) {
	_, companyKey, _ := ed25519.GenerateKey(rand.Reader)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now().UTC().Truncate(time.Second)
	inv := &invite.Invite{CompanyKey: companyKey.Public().(ed25519.PublicKey), Revoked: []invite.CredentialID{{9}}}
	n := &Node{now: time.Now, log: discard()}
	l := &live{n: n, inv: inv, log: discard(), revokedEmails: map[string]bool{}}
	id, _ := newPeer(t)
	cred := func(key ed25519.PrivateKey, subject peer.ID, credID invite.CredentialID, issued time.Time) string {
		c := &invite.Credential{ID: credID, CompanyKey: key.Public().(ed25519.PublicKey), Org: "Acme", Peer: subject,
			Name: "Ana", Email: "ana@acme.test", Role: invite.RoleInterviewer, Issued: issued, Expires: issued.Add(time.Hour)}
		tok, err := c.Sign(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	someoneElse, _ := newPeer(t)
	tr := []byte("transcript")
	tests := []struct {
		name string
		in   intro
		want string
		err  bool
	}{
		{"nothing", intro{Name: "Sam"}, RoleCandidate, false},
		{"valid credential", intro{Name: "Ana", Credential: cred(companyKey, id, invite.CredentialID{1}, now)}, RoleInterviewer, false},
		{"another company's credential", intro{Name: "Ana", Credential: cred(otherKey, id, invite.CredentialID{1}, now)}, "", true},
		{"someone else's credential", intro{Name: "Ana", Credential: cred(companyKey, someoneElse, invite.CredentialID{1}, now)}, "", true},
		{"expired credential", intro{Name: "Ana", Credential: cred(companyKey, id, invite.CredentialID{1}, now.Add(-2*time.Hour))}, "", true},
		{"revoked credential", intro{Name: "Ana", Credential: cred(companyKey, id, invite.CredentialID{9}, now)}, "", true},
		{"garbage credential", intro{Name: "Ana", Credential: "xyz"}, "", true},
		{"company signature", intro{Name: "Acme", CompanySig: signCompany(companyKey, tr, id)}, RoleCompany, false},
		{"company signature, other transcript", intro{Name: "Acme", CompanySig: signCompany(companyKey, []byte("other"), id)}, "", true},
		{"other company's signature", intro{Name: "Acme", CompanySig: signCompany(otherKey, tr, id)}, "", true},
	}
	for _, tt := range tests {
		role, _, err := l.roleOf(id, tt.in, tr)
		if role != tt.want || (err != nil) != tt.err {
			t.Errorf("%s: role %q, err %v; want %q", tt.name, role, err, tt.want)
		}
	}
}

// rwc is a stream fed from fixed bytes, writing into nothing.
type rwc struct{ io.Reader }

func (rwc) Write(p []byte) (int, error) { return len(p), nil }

func FuzzAdmission(f *testing.F) {
	var key [32]byte
	a, _ := newPeer(f)
	b, _ := newPeer(f)
	var seed bytes.Buffer
	writeFrame(&seed, admitHello{V: 1, Tag: "tag", Nonce: make([]byte, nonceSize)})
	writeFrame(&seed, admitProof{Proof: make([]byte, 32), Intro: intro{Name: "x"}})
	f.Add(seed.Bytes())
	f.Add([]byte{0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := &handshake{
			key: key, tag: "tag", local: a, remote: b,
			introduce: func([]byte) intro { return intro{Name: "me"} },
			state:     func() admitState { return admitState{} },
			judge:     func(intro, admitState, []byte) decision { return decision{admit: true} },
		}
		r := bufio.NewReader(bytes.NewReader(data))
		hello, err := readHello(r)
		if err != nil {
			return
		}
		// Without the key, no input gets through the responder's check.
		if _, err := h.respond(rwc{r}, r, hello); err == nil {
			t.Fatal("admitted without a proof")
		}
		// The initiator side reads what a responder would send.
		r2 := bufio.NewReader(bytes.NewReader(data))
		if _, err := h.initiate(struct {
			io.Reader
			io.Writer
		}{r2, io.Discard}); err == nil {
			t.Fatal("initiator admitted without a proof")
		}
	})
}
