package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"parley/invite"
)

const relayAddr = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"

func TestCreateSessions(t *testing.T) {
	clk := newClock()
	company := openNode(t, clk, InitOptions{Org: "Acme Inc", Bootstrap: []string{relayAddr}})
	ana := openNode(t, clk, InitOptions{})
	if _, err := company.AddMember(context.Background(), NewMember{Name: "Ana", Email: "ana@acme.test", Peer: ana.ID().String()}); err != nil {
		t.Fatal(err)
	}
	starts := clk.Now().Add(24 * time.Hour)
	ss, err := company.CreateSessions(context.Background(), NewSessions{
		Candidate: "Sam Doe", CandidateEmail: "sam@example.test", Title: "Backend loop", Starts: starts,
		Duration: 45 * time.Minute, Validity: 2 * time.Hour, Blocks: 3, Interviewers: []string{"ANA@acme.test"},
		Recorder: "ana@acme.test", Conference: "https://meet.acme.test/x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 3 {
		t.Fatalf("%d sessions", len(ss))
	}
	ids := map[string]bool{}
	for i, s := range ss {
		ids[s.ID] = true
		inv, err := invite.Parse(s.Link)
		if err != nil {
			t.Fatal(err)
		}
		wantStart := starts.Add(time.Duration(i) * 45 * time.Minute)
		if inv.SessionID != s.ID || inv.Block != i+1 || inv.Blocks != 3 || !inv.Starts.Equal(wantStart) ||
			!inv.ValidUntil.Equal(wantStart.Add(2*time.Hour)) || !inv.ValidFrom.Equal(clk.Now()) ||
			inv.Recorder != "ana@acme.test" || inv.Conference != "https://meet.acme.test/x" ||
			len(inv.Bootstrap) != 1 || inv.Bootstrap[0].String() != relayAddr || inv.MaxInterviewers != DefaultMaxInterviewers {
			t.Errorf("block %d link holds %+v", i+1, inv)
		}
		if s.Status != StatusPending || s.Duration != "45m" || len(s.Interviewers) != 1 || s.Interviewers[0] != "ana@acme.test" {
			t.Errorf("block %d: %+v", i+1, s)
		}
	}
	if len(ids) != 3 {
		t.Fatal("blocks share a session id")
	}
	keys := map[string]bool{}
	for _, s := range ss {
		inv, _ := invite.Parse(s.Link)
		keys[inv.Keys().Topic] = true
	}
	if len(keys) != 3 {
		t.Fatal("blocks share a topic")
	}

	// Lookup by unique prefix.
	got, err := company.Session(context.Background(), ss[1].ID[:6])
	if err != nil || got.ID != ss[1].ID {
		t.Fatalf("prefix lookup: %+v, %v", got, err)
	}
	if _, err := company.Session(context.Background(), "zzzzzzzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing session: %v", err)
	}
}

func TestCreateSessionsRefuses(t *testing.T) {
	clk := newClock()
	company := openNode(t, clk, InitOptions{Org: "Acme Inc"})
	participant := openNode(t, clk, InitOptions{})
	for i, email := range []string{"a@acme.test", "b@acme.test"} {
		n := participant
		if i > 0 {
			n = openNode(t, clk, InitOptions{})
		}
		if _, err := company.AddMember(context.Background(), NewMember{Name: email, Email: email, Peer: n.ID().String()}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		req  NewSessions
		want string
	}{
		{"no candidate", NewSessions{Title: "T"}, "candidate"},
		{"no title", NewSessions{Candidate: "C"}, "title"},
		{"stranger", NewSessions{Candidate: "C", Title: "T", Interviewers: []string{"x@acme.test"}}, "x@acme.test is not on the team"},
		{"too many", NewSessions{Candidate: "C", Title: "T", Interviewers: []string{"a@acme.test", "b@acme.test"}, MaxInterviewers: 1}, "at most 1"},
		{"recorder not interviewing", NewSessions{Candidate: "C", Title: "T", Interviewers: []string{"a@acme.test"}, Recorder: "b@acme.test"}, "not one of the session's interviewers"},
		{"recorder stranger", NewSessions{Candidate: "C", Title: "T", Recorder: "x@acme.test"}, "not on the team"},
		{"blocks", NewSessions{Candidate: "C", Title: "T", Blocks: 21}, "blocks"},
		{"bad conference", NewSessions{Candidate: "C", Title: "T", Conference: "javascript:x"}, "not an http(s) URL"},
		{"bad bootstrap", NewSessions{Candidate: "C", Title: "T", Bootstrap: []string{"/ip4/1.2.3.4/tcp/1"}}, "no /p2p/"},
		{"already expired", NewSessions{Candidate: "C", Title: "T", Starts: clk.Now().Add(-2 * time.Hour), Validity: time.Hour}, "already have expired"},
		{"bad email", NewSessions{Candidate: "C", Title: "T", CandidateEmail: "sam"}, "not an email"},
		{"email without a domain", NewSessions{Candidate: "C", Title: "T", CandidateEmail: "sam@example"}, "no full domain"},
	}
	for _, tt := range tests {
		_, err := company.CreateSessions(context.Background(), tt.req)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	all, _ := company.Sessions(context.Background(), "all")
	if len(all) != 0 {
		t.Fatalf("refused requests stored %d sessions", len(all))
	}
	if _, err := participant.CreateSessions(context.Background(), NewSessions{Candidate: "C", Title: "T"}); !errors.Is(err, ErrNotCompany) {
		t.Fatalf("participant created a session: %v", err)
	}
}

func TestSessionStatuses(t *testing.T) {
	clk := newClock()
	company := openNode(t, clk, InitOptions{Org: "Acme Inc", PublicURL: "https://interviews.acme.test/"})
	a, err := company.CreateSessions(context.Background(), NewSessions{Candidate: "A", Title: "T", Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, err := company.CreateSessions(context.Background(), NewSessions{Candidate: "B", Title: "T", Starts: clk.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a[0].Link, "https://interviews.acme.test/join#") {
		t.Fatalf("link %q does not use the public URL", a[0].Link)
	}
	count := func(status string) int {
		t.Helper()
		ss, err := company.Sessions(context.Background(), status)
		if err != nil {
			t.Fatal(err)
		}
		return len(ss)
	}
	if count("") != 2 || count("pending") != 2 || count("ended") != 0 || count("expired") != 0 || count("all") != 2 {
		t.Fatal("fresh sessions are not both pending")
	}
	if _, err := company.Sessions(context.Background(), "bogus"); err == nil {
		t.Fatal("unknown status accepted")
	}
	if _, err := company.CancelSession(context.Background(), b[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := company.CancelSession(context.Background(), b[0].ID); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("second cancel: %v", err)
	}
	clk.Advance(90 * time.Minute)
	if count("pending") != 0 || count("expired") != 1 || count("ended") != 1 {
		t.Fatalf("after expiry: pending %d, expired %d, ended %d", count("pending"), count("expired"), count("ended"))
	}
	s, _ := company.Session(context.Background(), b[0].ID)
	if s.Status != StatusEnded || s.EndReason != "canceled" || s.EndedAt.IsZero() {
		t.Fatalf("cancelled session: %+v", s)
	}
}

func TestInviteEmail(t *testing.T) {
	clk := newClock()
	company := openNode(t, clk, InitOptions{Org: "Acme Inc"})
	ss, err := company.CreateSessions(context.Background(), NewSessions{Candidate: "Sam", CandidateEmail: "sam@example.test", Title: "Loop", Blocks: 2})
	if err != nil {
		t.Fatal(err)
	}
	e, err := company.InviteEmail(context.Background(), ss[1].ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if to := e.To; to != "sam@example.test" || !strings.Contains(e.Body, ss[1].Link) || !strings.Contains(e.Subject, "part 2 of 2") {
		t.Fatalf("email: %+v", e)
	}
	if _, err := company.InviteEmail(context.Background(), ss[0].ID, "{{.Bogus}}"); err == nil {
		t.Fatal("bad template accepted")
	}
}
