package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"parley/invite"
)

// Inspect says what a link holds and what joining it would mean here: the
// role, or why it cannot be used.
func TestInspect(t *testing.T) {
	tm := startTeam(t, 1)
	i1 := tm.interviewers[0]
	cand := startNode(t, nodeOpts{})
	s := tm.create(t, NewSessions{Candidate: "Zoë Quinn"})
	ctx := context.Background()

	in, err := cand.Inspect(ctx, s.Link)
	if err != nil || !in.Valid || in.Role != RoleCandidate || in.Name != "Zoë Quinn" || in.Org != "Acme Inc" || in.Joined {
		t.Fatalf("candidate: %+v, %v", in, err)
	}
	in, err = i1.Inspect(ctx, s.Link)
	if err != nil || !in.Valid || in.Role != RoleInterviewer || in.Name != "Interviewer 1" {
		t.Fatalf("interviewer: %+v, %v", in, err)
	}
	if in, _ := tm.company.Inspect(ctx, s.Link); in.Role != RoleCompany {
		t.Fatalf("company: %+v", in)
	}

	// Joined, then ended: the node that was there says so.
	join(t, i1, s.Link, "")
	if in, _ := i1.Inspect(ctx, s.Link); !in.Joined || !in.Valid {
		t.Fatalf("joined: %+v", in)
	}
	if _, err := i1.EndSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the end is known", func() bool {
		in, _ := i1.Inspect(ctx, s.Link)
		return !in.Valid && in.Code == "ended"
	})

	// Expired, and not valid yet, as nodes whose clocks are weeks off see it.
	later := startNode(t, nodeOpts{cfg: Config{Now: func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }}})
	if in, err := later.Inspect(ctx, s.Link); err != nil || in.Valid || in.Code != "expired" || in.Error == "" || in.Title == "" {
		t.Fatalf("expired: %+v, %v", in, err)
	}
	earlier := startNode(t, nodeOpts{cfg: Config{Now: func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) }}})
	if in, err := earlier.Inspect(ctx, s.Link); err != nil || in.Valid || in.Code != "not_yet_valid" {
		t.Fatalf("not yet valid: %+v, %v", in, err)
	}
	// Not a link at all: an error that says so.
	if _, err := cand.Inspect(ctx, "parley://join/AAAA"); !errors.Is(err, invite.ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
}
