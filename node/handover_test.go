package node

import (
	"context"
	"testing"
	"time"

	"parley/crdt"
	"parley/node/store"
)

// The company node is offline for a whole interview: when it comes back,
// the interviewer's node hands the final documents over, with the start,
// the end and who came, so its archive and replay are complete; and the
// feedback submitted meanwhile arrives too.
func TestHandoverWhileCompanyOffline(t *testing.T) {
	tm := startTeam(t, 1)
	i1 := tm.interviewers[0]
	s := tm.create(t, NewSessions{})
	companyDir := tm.company.Dir()
	tm.company.Close()

	ctx := context.Background()
	cand := startNode(t, nodeOpts{})
	join(t, i1, s.Link, "Ana")
	join(t, cand, s.Link, "Sam")
	waitRoster(t, s.ID, []string{"Ana/interviewer", "Sam/candidate"}, i1, cand)
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go", Text: "package main\n"})
	edit(t, i1, s.ID, crdt.Private, crdt.Edit{Op: "splice", Target: "notes", Text: "NOTES: good questions"})
	if _, err := i1.StartSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	waitFile(t, s.ID, "main.go", "package main\n", cand)
	edit(t, cand, s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Pos: 13, Text: "// Sam\n"})
	final := "package main\n// Sam\n"
	waitFile(t, s.ID, "main.go", final, i1)
	if _, err := i1.EndSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := i1.Submit(ctx, s.ID, store.Scorecard{Recommendation: "yes"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the handover is tried", func() bool {
		hs, _ := i1.db.Handovers()
		return len(hs) == 1 && hs[0].Tries > 0
	})

	company := startNode(t, nodeOpts{dir: companyDir})
	waitFor(t, 40*time.Second, "the documents are handed over", func() bool {
		hs, _ := i1.db.Handovers()
		return len(hs) == 1 && hs[0].State == store.MineRecorded
	})
	waitFor(t, 20*time.Second, "the feedback arrives", func() bool { return mineState(t, i1, s.ID).State == store.MineRecorded })
	if st := status(t, company, s.ID); st != StatusEnded {
		t.Fatalf("the company node has the session %s", st)
	}
	code, _, err := company.Code(ctx, s.ID, "main.go")
	if err != nil || code != final {
		t.Fatalf("the company node's code: %q, %v", code, err)
	}
	notes, err := company.Notes(ctx, s.ID)
	if err != nil || notes != "NOTES: good questions" {
		t.Fatalf("the company node's notes: %q, %v", notes, err)
	}
	tl, err := company.Timeline(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	who := map[string]int{}
	for _, e := range tl {
		who[e.Participant] += e.Inserted
	}
	if who["Ana"] != len("package main\n") || who["Sam"] != len("// Sam\n") {
		t.Fatalf("the company node's timeline: %v", who)
	}
}
