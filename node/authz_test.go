package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/invite"
)

// A member the company removes mid-interview is dropped by every honest
// node at once, is refused when it comes back (also by the company node,
// for a link made before the removal), and the interviewers see why.
func TestRevocationMidSession(t *testing.T) {
	tm := startTeam(t, 2)
	i1, i2 := tm.interviewers[0], tm.interviewers[1]
	cand := startNode(t, nodeOpts{})
	s := tm.create(t, NewSessions{})
	join(t, i1, s.Link, "Ana")
	join(t, i2, s.Link, "Bob")
	join(t, cand, s.Link, "Sam")
	all := []string{"Ana/interviewer", "Bob/interviewer", "Sam/candidate"}
	waitRoster(t, s.ID, all, tm.company, i1, i2, cand)
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.company.RemoveMember(context.Background(), "i2@acme.test"); err != nil {
		t.Fatal(err)
	}
	// Everyone drops Bob: the list reached them on the topic, not in a
	// handshake.
	waitRoster(t, s.ID, []string{"Ana/interviewer", "Sam/candidate"}, tm.company, i1, cand)
	// Bob's node learnt it too, and left.
	waitFor(t, 10*time.Second, "Bob's node leaves", func() bool {
		_, err := i2.lookupLive(s.ID)
		return err != nil
	})
	// Refused when he comes back, by the company node too (the link was made
	// before the removal and revokes nothing).
	_, err := i2.Join(context.Background(), s.Link, "Bob")
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Code != refuseRevoked && refused.Code != refuseBadCredential {
		t.Fatalf("Bob's rejoin: %v", err)
	}
	// The company node says why; nothing is blamed on the others.
	v, err := tm.company.Session(context.Background(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(v.Refusals, func(r Refusal) bool { return r.Name == "Bob" && strings.Contains(r.What, "revoked") }) {
		t.Fatalf("the company node's refusals: %+v", v.Refusals)
	}
	for _, n := range []*Node{tm.company, i1} {
		v, _ := n.Session(context.Background(), s.ID)
		for _, r := range v.Refusals {
			if r.Name != "Bob" {
				t.Errorf("%s refused %s: %s", n.ID().ShortString(), r.Name, r.What)
			}
		}
	}
	// The candidate's node shows no refusals (it is not for the candidate).
	if cv, _ := cand.Session(context.Background(), s.ID); cv.Refusals != nil {
		t.Fatalf("the candidate sees refusals: %+v", cv.Refusals)
	}
}

// A record signed with a credential that no longer holds is refused, however
// it is dated: an expired interviewer cannot end the session by dating the
// end back into its validity, nor date a record before the link existed.
func TestBackdatedRecords(t *testing.T) {
	tm, i1, cand, s := interview(t, "Ana", "Sam")
	l, err := tm.company.lookupLive(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	// Mallory's credential, for i1's peer, valid for an hour two hours ago.
	old := &invite.Credential{ID: invite.NewCredentialID(), CompanyKey: tm.company.companyPublic(), Org: "Acme Inc", Peer: i1.ID(),
		Name: "Mallory", Email: "m@acme.test", Role: invite.RoleInterviewer, Issued: now.Add(-3 * time.Hour), Expires: now.Add(-2 * time.Hour)}
	expired, err := old.Sign(tm.company.company)
	if err != nil {
		t.Fatal(err)
	}
	valid := i1CredToken(t, i1, tm)
	tests := []struct {
		name string
		cred string
		at   time.Time
	}{
		{"expired credential, dated into its validity", expired, now.Add(-150 * time.Minute)},
		{"valid credential, dated before the link", valid, l.inv.ValidFrom.Add(-time.Hour)},
		{"valid credential, dated in the future", valid, now.Add(time.Hour)},
	}
	for _, tt := range tests {
		r := record{Kind: recordEnd, Session: s.ID, Reason: "ended", By: i1.ID().String(), ByName: "Mallory", At: tt.at}
		sr, err := signRecord(r, nil, i1.key, tt.cred)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := l.refusalsList()
		l.mergeRecords([]signedRecord{sr}, i1.ID())
		after, _ := l.refusalsList()
		if status(t, tm.company, s.ID) == StatusEnded {
			t.Fatalf("%s: the session ended", tt.name)
		}
		if countRefusals(after) <= countRefusals(before) {
			t.Fatalf("%s: not counted as a refusal", tt.name)
		}
	}
	// The same through the topic, from the interviewer's (modified) node:
	// every node refuses it.
	r := record{Kind: recordEnd, Session: s.ID, Reason: "ended", By: i1.ID().String(), ByName: "Mallory", At: now.Add(-150 * time.Minute)}
	sr, err := signRecord(r, nil, i1.key, expired)
	if err != nil {
		t.Fatal(err)
	}
	_, cbefore := l.refusalsList()
	if err := liveOf(i1, s.ID).publish(msgRecord, sr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the company node refuses the record from the topic", func() bool {
		_, n := l.refusalsList()
		return n > cbefore
	})
	if status(t, tm.company, s.ID) == StatusEnded || status(t, cand, s.ID) == StatusEnded {
		t.Fatal("a backdated end from the topic ended the session")
	}
	// The same end with a credential valid now counts.
	r = record{Kind: recordEnd, Session: s.ID, Reason: "ended", By: i1.ID().String(), ByName: "Ana", At: now}
	sr, err = signRecord(r, nil, i1.key, valid)
	if err != nil {
		t.Fatal(err)
	}
	l.mergeRecords([]signedRecord{sr}, i1.ID())
	waitStatus(t, s.ID, StatusEnded, tm.company)
	_ = cand
}

func countRefusals(rs []Refusal) int {
	n := 0
	for _, r := range rs {
		n += r.Count
	}
	return n
}

// i1CredToken returns the credential token an interviewer's node holds.
func i1CredToken(t *testing.T, i *Node, tm *team) string {
	t.Helper()
	c, err := i.db.Credential(tm.company.companyPublic())
	if err != nil {
		t.Fatal(err)
	}
	return c.Token
}

// What a candidate's node learns about the interviewers is what the product
// shows the candidate: their names, not their emails. The interviewers and
// the company node still learn each other's.
func TestCandidateLearnsNames(t *testing.T) {
	tm := startTeam(t, 2)
	i1, i2 := tm.interviewers[0], tm.interviewers[1]
	cand := startNode(t, nodeOpts{})
	s := tm.create(t, NewSessions{})
	join(t, i1, s.Link, "Ana")
	join(t, i2, s.Link, "Bob")
	join(t, cand, s.Link, "Sam")
	waitRoster(t, s.ID, []string{"Ana/interviewer", "Bob/interviewer", "Sam/candidate"}, tm.company, i1, i2, cand)
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.ID, StatusLive, cand)
	lc, err := cand.lookupLive(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	lc.mu.Lock()
	var creds []string
	for _, sr := range lc.state.records() {
		creds = append(creds, sr.Credential)
	}
	for _, p := range lc.peers {
		if p.email != "" {
			t.Errorf("the candidate's node knows %s's email %s", p.name, p.email)
		}
	}
	lc.mu.Unlock()
	stored, err := cand.db.Session(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range stored.Records {
		var sr signedRecord
		if err := decodeStrict(raw, &sr); err != nil {
			t.Fatal(err)
		}
		creds = append(creds, sr.Credential)
	}
	if len(creds) == 0 {
		t.Fatal("no records to check")
	}
	for _, tok := range creds {
		if tok == "" {
			continue // signed by the company key
		}
		c, err := invite.ParseCredential(tok)
		if err != nil || !c.Public() || strings.Contains(tok, ".") {
			t.Errorf("a record the candidate's node holds carries a whole credential: %v", err)
		}
	}
	// The interviewers know each other's emails (for the recorder), from
	// the document streams.
	l1, err := i1.lookupLive(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "Ana's node learns Bob's email", func() bool {
		l1.mu.Lock()
		defer l1.mu.Unlock()
		return l1.peers[i2.ID()] != nil && l1.peers[i2.ID()].email == "i2@acme.test"
	})
}

// A session that names its interviewers lets in only them as interviewers:
// another team member is refused (not let in as the candidate), by every
// node, the candidate's included, and cannot sign the session's records.
func TestNamedInterviewers(t *testing.T) {
	tm := startTeam(t, 2)
	i1, i2 := tm.interviewers[0], tm.interviewers[1]
	cand := startNode(t, nodeOpts{})
	s := tm.create(t, NewSessions{Interviewers: []string{"i1@acme.test"}})
	join(t, i1, s.Link, "Ana")
	join(t, cand, s.Link, "Sam")
	waitRoster(t, s.ID, []string{"Ana/interviewer", "Sam/candidate"}, tm.company, i1, cand)
	_, err := i2.Join(context.Background(), s.Link, "Bob")
	if !errors.Is(err, ErrNotNamed) {
		t.Fatalf("Bob's join: %v", err)
	}
	// Bob's modified node presents its credential anyway: every node refuses.
	inv := liveOf(i1, s.ID).inv
	tok := i1CredToken(t, i2, tm)
	for _, n := range []*Node{tm.company, i1, cand} {
		l := liveOf(n, s.ID)
		if _, _, err := l.roleOf(i2.ID(), intro{Name: "Bob", Credential: invite.PublicCredential(tok)}, nil); !errors.Is(err, ErrNotNamed) {
			t.Errorf("%s: Bob's credential: %v", n.ID().ShortString(), err)
		}
	}
	// Nor does a record Bob signs count.
	r := record{Kind: recordEnd, Session: s.ID, Reason: "ended", By: i2.ID().String(), ByName: "Bob", At: time.Now().UTC()}
	sr, err := signRecord(r, nil, i2.key, invite.PublicCredential(tok))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyRecord(sr, inv, func(invite.CredentialID) bool { return false }, time.Now()); err == nil {
		t.Fatal("a record by an interviewer the session does not name verified")
	}
}
