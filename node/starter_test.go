package node

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"parley/crdt"
	"parley/node/store"
)

// A session created with a language starts with main.EXT in it: on the
// company node at once, on the interviewers' and (after the start) the
// candidate's, with the same history everywhere; without a language, with
// no file.
func TestStarterFile(t *testing.T) {
	ctx := context.Background()
	tm := startTeam(t, 1)
	i1 := tm.interviewers[0]
	cand := startNode(t, nodeOpts{})
	s := tm.create(t, NewSessions{Language: "java"})
	if s.Language != "java" {
		t.Fatalf("the session's language is %q", s.Language)
	}
	v := view(t, tm.company, s.ID, crdt.Shared)
	if len(v.Files) != 1 || v.Languages["Main.java"] != "java" || v.Active != "Main.java" {
		t.Fatalf("the company node's document: %+v", v)
	}
	join(t, i1, s.Link, "")
	join(t, cand, s.Link, "")
	f, err := i1.Follow(ctx, s.ID) // the interviewer's page opens
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	waitFile(t, s.ID, "Main.java", "", i1)
	if _, err := i1.StartSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	waitFile(t, s.ID, "Main.java", "", cand)
	for _, n := range []*Node{tm.company, i1, cand} {
		if v := view(t, n, s.ID, crdt.Shared); len(v.Files) != 1 || v.Languages["Main.java"] != "java" {
			t.Fatalf("%s has %+v", n.ID().ShortString(), v)
		}
		// Made at time zero by nobody: the replay starts with it, and
		// the timeline names no one for it.
		tl, err := n.Timeline(ctx, s.ID)
		if err != nil || len(tl) != 1 || tl[0].Participant != "" || tl[0].Time.Year() > 1970 {
			t.Fatalf("%s's timeline: %+v, %v", n.ID().ShortString(), tl, err)
		}
	}

	// Without a language (links made before), no file.
	bare := tm.create(t, NewSessions{})
	if v := view(t, tm.company, bare.ID, crdt.Shared); len(v.Files) != 0 {
		t.Fatalf("a session without a language starts with %v", v.Files)
	}
	if _, err := tm.company.CreateSessions(ctx, NewSessions{Candidate: "X", Title: "Y", Language: "cobol"}); err == nil {
		t.Fatal("a language the editor does not know was taken")
	}
}

// Two nodes that add the starter file at once, each before it has the
// other's copy, make the very same change: the session has one file and
// one history, not two conflicting files.
func TestStarterFileAtOnce(t *testing.T) {
	ctx := context.Background()
	// The company node made it when it created the session, while it was
	// not running; the interviewer's page opens first.
	company, i1, id := offlineCompany(t, "go")
	if r := join(t, i1, linkOf(t, company, id), ""); !r.Alone {
		t.Fatal("the interviewer found someone: the company node is not running")
	}
	f, err := i1.Follow(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if v := view(t, i1, id, crdt.Shared); v.Active != "main.go" {
		t.Fatalf("the interviewer's page opened %+v", v)
	}
	// Now the company node comes up, with its own.
	if err := company.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the two copies meet", func() bool {
		a, b := heads(t, company, id), heads(t, i1, id)
		return len(a) > 0 && slices.Equal(a, b) && len(roster(t, company, id)) == 1
	})
	// Each made it itself: its store holds it as its own.
	for _, n := range []*Node{company, i1} {
		incs, err := n.db.Increments(id, string(crdt.Shared), 0)
		if err != nil || !slices.ContainsFunc(incs, func(inc store.Increment) bool { return inc.From == n.id.String() }) {
			t.Fatalf("%s did not make the starter file itself (%v)", n.ID().ShortString(), err)
		}
	}
	for _, n := range []*Node{company, i1} {
		if v := view(t, n, id, crdt.Shared); len(v.Files) != 1 || v.Files["main.go"] != "" {
			t.Fatalf("%s has %+v", n.ID().ShortString(), v)
		}
		if tl, err := n.Timeline(ctx, id); err != nil || len(tl) != 1 {
			t.Fatalf("%s's history has %d starter changes (%v), want 1", n.ID().ShortString(), len(tl), err)
		}
	}
	// The same change, byte for byte, on both nodes.
	starter := func(n *Node) []byte {
		n.docMu.Lock()
		defer n.docMu.Unlock()
		b, err := n.starterChange(id, "go")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if a, b := starter(company), starter(i1); !bytes.Equal(a, b) {
		t.Fatal("two nodes made different starter changes")
	}
}

// A file someone makes with the starter file's name on a node that has not
// received it yet (`parley code --load main.go` right after joining) wins
// over the starter file when the two meet: the starter hides nobody's file.
func TestStarterFileLosesToYours(t *testing.T) {
	ctx := context.Background()
	company, i1, id := offlineCompany(t, "go")
	join(t, i1, linkOf(t, company, id), "")
	edit(t, i1, id, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go", Text: "package main // MINE\n"})
	if err := company.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the two copies meet", func() bool {
		a, b := heads(t, company, id), heads(t, i1, id)
		return len(a) > 0 && slices.Equal(a, b) && len(roster(t, company, id)) == 1
	})
	for _, n := range []*Node{company, i1} {
		if v := view(t, n, id, crdt.Shared); len(v.Files) != 1 || v.Files["main.go"] != "package main // MINE\n" {
			t.Fatalf("%s has %+v", n.ID().ShortString(), v)
		}
	}
}

// offlineCompany makes a company node that creates a session in lang while
// it is not running, and an interviewer's node (running, on its team).
func offlineCompany(t *testing.T, lang string) (company, i1 *Node, id string) {
	t.Helper()
	ctx := context.Background()
	relay := startRelay(t)
	dir := filepath.Join(t.TempDir(), "company")
	if _, err := Init(dir, InitOptions{Org: "Acme Inc", Bootstrap: relay.Addrs()}); err != nil {
		t.Fatal(err)
	}
	company, err := New(Config{Dir: dir, Logger: testLogger(t), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { company.Close() })
	i1 = startNode(t, nodeOpts{cfg: Config{JoinWait: 100 * time.Millisecond}})
	res, err := company.AddMember(ctx, NewMember{Name: "Ana", Email: "ana@acme.test", Peer: i1.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := i1.AcceptCredential(ctx, res.Member.Token); err != nil {
		t.Fatal(err)
	}
	ss, err := company.CreateSessions(ctx, NewSessions{Candidate: "Sam", Title: "Loop", Language: lang})
	if err != nil {
		t.Fatal(err)
	}
	return company, i1, ss[0].ID
}

func linkOf(t *testing.T, n *Node, id string) string {
	t.Helper()
	s, err := n.Session(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Link
}

// heads returns a node's heads of a session's shared document; none while
// it is not in the session.
func heads(t testing.TB, n *Node, id string) []string {
	t.Helper()
	l, err := n.lookupLive(id)
	if err != nil {
		return nil
	}
	hs := l.docHeads()[string(crdt.Shared)]
	slices.Sort(hs)
	return hs
}
