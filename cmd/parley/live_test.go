package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/node"
)

// syncBuffer is a bytes.Buffer safe for a writer and readers in different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// background runs a long-lived command (up, relay) until the test ends, and
// checks that it then exits cleanly.
func background(t *testing.T, dir string, args ...string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	env := func(k string) string {
		if k == "PARLEY_HOME" {
			return dir
		}
		return ""
	}
	go func() { done <- run(ctx, args, out, errOut, env) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("parley %s exited %d: %s", strings.Join(args, " "), code, errOut.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("parley %s did not stop", strings.Join(args, " "))
		}
	})
	return out
}

func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(out.String(), want) })
}

// up starts `parley up` for dir and waits for its API.
func up(t *testing.T, dir string) {
	t.Helper()
	// Cleanups run last-registered first: this one runs after the stop.
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(dir, "api.json")); err == nil {
			t.Errorf("%s/api.json outlived the node", dir)
		}
	})
	background(t, dir, "up", "--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0")
	waitFor(t, 10*time.Second, func() bool {
		fi, err := os.Stat(filepath.Join(dir, "api.json"))
		if err == nil && fi.Mode().Perm() != 0o600 {
			t.Fatalf("api.json has mode %04o", fi.Mode().Perm())
		}
		return err == nil
	})
}

// relay runs `parley relay` in root/relay and returns its address.
func relay(t *testing.T, root string) string {
	t.Helper()
	out := background(t, filepath.Join(root, "relay"), "relay", "--p2p-listen", "/ip4/127.0.0.1/tcp/0")
	waitOutput(t, out, "/p2p/")
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "/ip4/") {
			return line
		}
	}
	t.Fatal("the relay printed no address")
	return ""
}

// acme makes, under a temporary root, the data dirs of Acme Inc's company
// node (bootstrapping from a relay running in root/relay), of Ana Li, a team
// member, and of Sam, a candidate; none of them runs yet.
func acme(t *testing.T) (root, co, ana, sam string) {
	t.Helper()
	root = t.TempDir()
	co, ana, sam = filepath.Join(root, "co"), filepath.Join(root, "ana"), filepath.Join(root, "sam")
	ok(t, co, "init", "--org", "Acme Inc", "--bootstrap", relay(t, root))
	ok(t, ana, "init")
	ok(t, sam, "init")
	ok(t, ana, "team", "accept", ok(t, co, "team", "add", "--name", "Ana Li", "--email", "ana@acme.test", "--peer", ok(t, ana, "id").lastLine()).lastLine())
	return root, co, ana, sam
}

func TestUpJoinEnd(t *testing.T) {
	root, co, ana, sam := acme(t)

	// A session made while the company node is down is joined when it
	// comes up.
	var created []sessionJSON
	if err := json.Unmarshal([]byte(ok(t, co, "session", "create", "--candidate", "Sam Doe", "--title", "Backend loop", "--json").stdout), &created); err != nil {
		t.Fatal(err)
	}
	link, id := created[0].Link, created[0].ID
	// Commands that need the network say so while no node runs.
	fails(t, sam, 1, "start it with `parley up`", "join", link)

	for _, d := range []string{co, ana, sam} {
		up(t, d)
	}
	// The foundation's commands go through the running node.
	if out := ok(t, co, "team", "list").stdout; !strings.Contains(out, "ana@acme.test") {
		t.Fatalf("team list through the node:\n%s", out)
	}

	r := ok(t, sam, "join", link, "--name", "Sam", "--as-candidate")
	if !strings.Contains(r.stdout, "as candidate") || !strings.Contains(r.stdout, "Session: "+id) || !strings.Contains(r.lastLine(), "/s/"+id+"?token=") {
		t.Fatalf("candidate's join:\n%s", r.stdout)
	}
	opensRoom(t, strings.TrimPrefix(r.lastLine(), "Page: "), id)
	r = ok(t, ana, "join", link, "--name", "I am the candidate")
	if !strings.Contains(r.stdout, "as interviewer") {
		t.Fatalf("interviewer's join:\n%s", r.stdout)
	}
	type participant struct{ Name, Role, Peer string }
	var show struct {
		Status           string
		CandidateWaiting bool `json:"candidate_waiting"`
		Participants     []participant
	}
	waitFor(t, 10*time.Second, func() bool {
		json.Unmarshal([]byte(ok(t, ana, "session", "show", id, "--json").stdout), &show)
		return len(show.Participants) == 2
	})
	if show.Status != "lobby" || !show.CandidateWaiting {
		t.Fatalf("interviewer sees %+v", show)
	}

	// The company node keeps attendance of whom it met.
	waitFor(t, 10*time.Second, func() bool {
		return strings.Count(ok(t, co, "session", "show", id).stdout, "Present:") == 2
	})
	fails(t, sam, 1, "only an interviewer", "session", "start", id)
	ok(t, ana, "session", "start", id)
	waitFor(t, 10*time.Second, func() bool {
		json.Unmarshal([]byte(ok(t, sam, "session", "show", id, "--json").stdout), &show)
		return show.Status == "live"
	})
	// The private notes: interviewers write and read them; the company
	// node keeps them; the candidate's node has none to give.
	ok(t, ana, "notes", id, "--append", "Strong start on **recursion**.")
	if r := ok(t, ana, "notes", id, "--append", "Asked about tests"); !strings.Contains(r.stdout, "Added 17 characters to the notes of "+id+"; they are 50 characters now") {
		t.Fatalf("notes --append printed %q", r.stdout)
	}
	if got := ok(t, ana, "notes", id).stdout; got != "Strong start on **recursion**.\n\nAsked about tests\n" {
		t.Fatalf("notes: %q", got)
	}
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(ok(t, co, "notes", id).stdout, "Asked about tests")
	})
	fails(t, sam, 1, "interviewers' alone", "notes", id)
	fails(t, sam, 1, "interviewers' alone", "notes", id, "--append", "let me in")
	fails(t, ana, 2, "--yes", "session", "end", id)
	ok(t, ana, "session", "end", id, "--yes")
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(ok(t, co, "session", "list", "--status", "ended").stdout, id[:8])
	})
	// The company node keeps who came and when.
	if out := ok(t, co, "session", "list", "--status", "ended").stdout; !strings.Contains(out, "Sam, I am") {
		t.Fatalf("ended list lacks who came:\n%s", out)
	}
	if out := ok(t, co, "session", "show", id).stdout; strings.Count(out, "Attended:") != 2 {
		t.Fatalf("show lacks attendance:\n%s", out)
	}
	// Feedback after the end: a draft, then the submission, which the
	// company node records; the candidate may do none of it.
	fails(t, sam, 1, "interviewers' alone", "feedback", "submit", id, "--recommendation", "strong-yes")
	fails(t, ana, 2, "NAME=N", "feedback", "submit", id, "--recommendation", "yes", "--rating", "Communication")
	ok(t, ana, "feedback", "draft", id, "--rating", "Communication=3", "--text", "Draft: clear")
	if out := ok(t, ana, "feedback", "show", id).stdout; !strings.Contains(out, "draft") || !strings.Contains(out, "3 of 4") {
		t.Fatalf("draft:\n%s", out)
	}
	fails(t, ana, 1, "not one of this session's criteria", "feedback", "submit", id, "--recommendation", "yes", "--rating", "Charisma=4")
	textFile := filepath.Join(root, "feedback.md")
	if err := os.WriteFile(textFile, []byte("Solid **recursion**."), 0o600); err != nil {
		t.Fatal(err)
	}
	ok(t, ana, "feedback", "submit", id, "--recommendation", "yes", "--rating", "Communication=3", "--rating", "Problem solving=4", "--text-file", textFile)
	waitFor(t, 20*time.Second, func() bool {
		return strings.Contains(ok(t, ana, "feedback", "show", id).stdout, "recorded by Ana Li")
	})
	var shown node.FeedbackView
	if err := json.Unmarshal([]byte(ok(t, co, "feedback", "show", id, "--json").stdout), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.State != "recorded" || shown.By != "Ana Li" || shown.Scorecard.Ratings["Problem solving"] != 4 || shown.Scorecard.Text != "Solid **recursion**." {
		t.Fatalf("the company node's feedback: %+v", shown)
	}
	list := ok(t, co, "feedback", "list").stdout
	if !strings.Contains(list, id[:8]) || !strings.Contains(list, "Ana Li") {
		t.Fatalf("feedback list:\n%s", list)
	}
	fitsIn80(t, list)
	fails(t, ana, 1, "feedback for this session was already recorded by Ana Li at", "feedback", "submit", id, "--recommendation", "no")
	if out := ok(t, co, "session", "show", id).stdout; !strings.Contains(out, "yes, recorded by Ana Li at") {
		t.Fatalf("session show lacks the feedback:\n%s", out)
	}
	// The notes and the code stay readable after the end.
	if got := ok(t, ana, "notes", id).stdout; !strings.Contains(got, "Asked about tests") {
		t.Fatalf("notes after the end: %q", got)
	}
	late := filepath.Join(root, "late")
	ok(t, late, "init")
	up(t, late)
	fails(t, late, 1, "this interview has ended", "join", link, "--as-candidate")
}
