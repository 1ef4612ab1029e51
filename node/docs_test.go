package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/crdt"
)

func view(t testing.TB, n *Node, id string, kind crdt.Kind) crdt.View {
	t.Helper()
	v, err := n.View(context.Background(), id, kind)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func edit(t testing.TB, n *Node, id string, kind crdt.Kind, edits ...crdt.Edit) {
	t.Helper()
	if err := n.Edit(context.Background(), id, kind, edits...); err != nil {
		t.Fatal(err)
	}
}

// waitFile waits until every node has the file with the given text.
func waitFile(t testing.TB, id, file, want string, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		waitFor(t, 15*time.Second, fmt.Sprintf("%s on %s is %q", file, n.ID().ShortString(), want), func() bool {
			text, ok := view(t, n, id, crdt.Shared).Files[file]
			return ok && text == want
		})
	}
}

// storeHolds reports whether any file of a node's store holds b.
func storeHolds(t testing.TB, n *Node, b []byte) bool {
	t.Helper()
	found := false
	filepath.Walk(filepath.Join(n.Dir(), "store"), func(path string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			data, _ := os.ReadFile(path)
			found = found || bytes.Contains(data, b)
		}
		return nil
	})
	return found
}

func TestEditor(t *testing.T) {
	tm := startTeam(t, 2)
	i1, i2 := tm.interviewers[0], tm.interviewers[1]
	cand := startNode(t, nodeOpts{})
	s := tm.create(t, NewSessions{})
	for _, n := range []*Node{i1, i2, cand} {
		join(t, n, s.Link, "")
	}
	waitRoster(t, s.ID, []string{"Sam Doe/candidate", "Interviewer 1/interviewer", "Interviewer 2/interviewer"}, tm.company, i1, i2, cand)

	// Interviewers prepare the question and starter code in the lobby, and
	// keep private notes.
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go", Text: "package main\n", Lang: "go"},
		crdt.Edit{Op: "splice", Target: "question", Text: "QUESTION-MARKER: reverse a list"})
	edit(t, i2, s.ID, crdt.Private, crdt.Edit{Op: "splice", Target: "notes", Text: "NOTES-MARKER: ask about generics"})
	waitFile(t, s.ID, "main.go", "package main\n", i2, tm.company)
	waitFor(t, 10*time.Second, "notes reach the other interviewer", func() bool {
		return view(t, i1, s.ID, crdt.Private).Notes == "NOTES-MARKER: ask about generics"
	})
	// The candidate's node has none of it: not the content before the
	// start, never the private document.
	if v := view(t, cand, s.ID, crdt.Shared); len(v.Files) != 0 || v.Question != "" {
		t.Fatalf("the candidate has content in the lobby: %+v", v)
	}
	if _, err := cand.View(context.Background(), s.ID, crdt.Private); !errors.Is(err, ErrNoDoc) {
		t.Fatalf("the candidate's node keeps a private document: %v", err)
	}
	if err := cand.Edit(context.Background(), s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Text: "x"}); err == nil {
		t.Fatal("the candidate edited before the start")
	}

	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	waitFile(t, s.ID, "main.go", "package main\n", cand)
	if v := view(t, cand, s.ID, crdt.Shared); v.Question != "QUESTION-MARKER: reverse a list" || v.Languages["main.go"] != "go" {
		t.Fatalf("the candidate's view after the start: %+v", v)
	}

	// Everyone types at once, in several scripts.
	words := map[*Node]string{i1: "héllo ", i2: "漢字 ", cand: "🙂 "}
	var wg sync.WaitGroup
	for n, w := range words {
		wg.Go(func() {
			for range 20 {
				if err := n.Edit(context.Background(), s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Pos: 13, Text: w}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	all := []*Node{tm.company, i1, i2, cand}
	waitFor(t, 20*time.Second, "all nodes converge", func() bool {
		first := view(t, all[0], s.ID, crdt.Shared).Files["main.go"]
		for _, n := range all[1:] {
			if view(t, n, s.ID, crdt.Shared).Files["main.go"] != first {
				return false
			}
		}
		return len([]rune(first)) == len([]rune("package main\n"))+20*(6+3+2)
	})

	// Still, the candidate's node holds no private note, anywhere.
	if storeHolds(t, cand, []byte("NOTES-MARKER")) {
		t.Fatal("the candidate's store holds the private notes")
	}
	if !storeHolds(t, i1, []byte("NOTES-MARKER")) {
		t.Fatal("the test cannot see notes in a store at all")
	}
	// The timeline names who typed.
	tl, err := tm.company.Timeline(context.Background(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	typed := map[string]int{}
	for _, e := range tl {
		if e.File == "main.go" {
			typed[e.Participant] += e.Inserted
		}
	}
	if typed["Interviewer 1"] != len("package main\n")+20*6 || typed["Sam Doe"] != 40 || typed["Interviewer 2"] != 60 {
		t.Fatalf("timeline attribution %v", typed)
	}
}

// A node that joins late gets the whole document as a snapshot, not the
// history change by change, and keeps up after.
func TestLateJoinSnapshot(t *testing.T) {
	tm, i1, _, s := interview(t, "Ana", "Sam")
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go"})
	for i := range 50 {
		edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Pos: i, Text: "x"})
	}
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	late := startNode(t, nodeOpts{})
	res, _ := tm.company.AddMember(context.Background(), NewMember{Name: "Bo", Email: "bo@acme.test", Peer: late.ID().String()})
	late.AcceptCredential(context.Background(), res.Member.Token)
	join(t, late, s.Link, "")
	waitFile(t, s.ID, "main.go", strings.Repeat("x", 50), late)
	if _, err := late.db.Snapshot(s.ID, string(crdt.Shared)); err != nil {
		t.Fatalf("the late joiner did not start from a snapshot: %v", err)
	}
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Pos: 0, Text: "y"})
	waitFile(t, s.ID, "main.go", "y"+strings.Repeat("x", 50), late)
}
