package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/crdt"
	"parley/node"
	"parley/node/store"
	"parley/node/web"
)

// Every command's -h has a usage line naming every flag it lists, and an
// example; `parley GROUP help CMD` is `parley help GROUP CMD`; commands
// do not list the global flags they ignore.
func TestHelp(t *testing.T) {
	dir := t.TempDir()
	if r := ok(t, dir, "help"); !strings.Contains(r.stderr, "examples:\n  parley demo") {
		t.Fatalf("parley help:\n%s", r.stderr)
	}
	subLine := regexp.MustCompile(`(?m)^  ([a-z-]+) +\S`)
	var leaves [][]string
	for _, cmd := range commands() {
		r := ok(t, dir, cmd.name, "-h")
		if !strings.Contains(r.stderr, "COMMAND [ARGS]\n\ncommands:\n") {
			leaves = append(leaves, []string{cmd.name})
			continue
		}
		group := r.stderr[strings.Index(r.stderr, "commands:\n"):]
		group = group[:strings.Index(group, "\n\n")]
		for _, m := range subLine.FindAllStringSubmatch(group, -1) {
			leaves = append(leaves, []string{cmd.name, m[1]})
		}
		if via := ok(t, dir, cmd.name, "help"); via.stderr != r.stderr {
			t.Errorf("parley %s help differs from parley %s -h", cmd.name, cmd.name)
		}
		if via := ok(t, dir, "help", cmd.name); via.stderr != r.stderr {
			t.Errorf("parley help %s differs from parley %s -h", cmd.name, cmd.name)
		}
	}
	if len(leaves) < 29 {
		t.Fatalf("found only %d commands: %v", len(leaves), leaves)
	}
	flagLine := regexp.MustCompile(`(?m)^  (--[a-z0-9-]+)`)
	for _, leaf := range leaves {
		name := strings.Join(leaf, " ")
		h := ok(t, dir, append(slices.Clone(leaf), "-h")...).stderr
		if len(leaf) == 2 {
			if via := ok(t, dir, leaf[0], "help", leaf[1]).stderr; via != h {
				t.Errorf("parley %s help %s differs from parley %s -h", leaf[0], leaf[1], name)
			}
		}
		line, _, _ := strings.Cut(h, "\n\n")
		if !strings.HasPrefix(line, "usage: parley "+name) {
			t.Errorf("%s -h starts %q", name, line)
			continue
		}
		if !strings.Contains(h, "\nexamples:\n  parley "+name) {
			t.Errorf("%s -h has no example:\n%s", name, h)
		}
		for _, m := range flagLine.FindAllStringSubmatch(h, -1) {
			if !regexp.MustCompile(regexp.QuoteMeta(m[1]) + `\b`).MatchString(line) {
				t.Errorf("%s -h: the usage line lacks %s:\n%s", name, m[1], line)
			}
		}
		fitsIn80(t, line)
	}
	for _, cmd := range [][]string{{"demo", "-h"}, {"invite", "inspect", "-h"}} {
		if h := ok(t, dir, cmd...).stderr; strings.Contains(h, "--data") || strings.Contains(h, "--store-key-file") {
			t.Errorf("parley %s lists flags it ignores:\n%s", strings.Join(cmd, " "), h)
		}
	}
}

// A mistake on the command line gets one line: which flag, what is wrong,
// where to read more.
func TestFlagMistakes(t *testing.T) {
	companyDir, anaDir := company(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"session", "create", "--candidate", "S", "--title", "T", "--blocks", "abc"}, `parley: session create: --blocks "abc" is not a whole number (see ` + "`parley session create -h`)\n"},
		{[]string{"session", "create", "--candidate", "S", "--title", "T", "--blocks", "0"}, "parley: --blocks 0: an interview has 1 to 20 blocks\n"},
		{[]string{"session", "create", "--candidate", "S", "--title"}, "parley: session create: --title needs TITLE after it (see `parley session create -h`)\n"},
		{[]string{"session", "list", "--json=maybe"}, "parley: session list: --json takes no value (or =true, =false), not \"maybe\" (see `parley session list -h`)\n"},
		{[]string{"team", "add", "--expires", "soon"}, "parley: team add: --expires: \"soon\" is not a duration (examples: 90d, 2w, 1h30m, 45m) (see `parley team add -h`)\n"},
		{[]string{"--colour", "red", "id"}, "parley: parley: unknown flag --colour (see `parley -h`)\n"},
		{[]string{"init", "--org", " "}, "parley: --org needs the company's name (like --org \"Acme Inc\"); to make an interviewer's or a candidate's node, leave --org out\n"},
		{[]string{"code", "abcd", "--file", "dir/x.py", "--load", "x.py"}, "parley: --file \"dir/x.py\": a session's files have plain names, without folders: give --file x.py\n"},
		{[]string{"session", "create", "--candidate", "S", "--title", "T", "--starts", time.Now().Add(-3 * time.Hour).Format(time.RFC3339)}, "is 3h ago: an interview is scheduled from now on; to start now, leave --starts out"},
	}
	for _, tt := range tests {
		r := parley(t, companyDir, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("parley %s: exit %d, stderr %q; want 2 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
	// What the node refuses, it says once, without the label errors.Is
	// reads.
	for _, tt := range []struct {
		dir, want string
		args      []string
	}{
		{anaDir, "run this on the company node, the one made with `parley init --org NAME`\n", []string{"session", "create", "--candidate", "S", "--title", "T"}},
		{companyDir, "no team member has the email \"x@acme.test\" (see `parley team list`)\n", []string{"team", "remove", "x@acme.test"}},
		{companyDir, "no session has the ID \"abc\"; to pick one by the start of its ID, give at least 4 characters (see `parley session list --status all`)\n", []string{"session", "show", "abc"}},
		{companyDir, "\"sam@example\" has no full domain after the @ (like acme.com): check the address\n", []string{"session", "create", "--candidate", "S", "--title", "T", "--candidate-email", "sam@example"}},
		{companyDir, "is already on the team as Ana Li <ana@acme.test>", []string{"team", "add", "--name", "Ana", "--email", "ana.li@acme.test", "--peer", ok(t, anaDir, "id").lastLine()}},
		{companyDir, "duration 1d1h is out of range", []string{"session", "create", "--candidate", "S", "--title", "T", "--duration", "25h"}},
	} {
		fails(t, tt.dir, 1, tt.want, tt.args...)
	}
	if out := ok(t, companyDir, "session", "list", "--status", "all").stdout; !strings.Contains(out, "No all sessions") {
		t.Fatalf("refused creates stored sessions:\n%s", out)
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("this interview has ended (canceled at 2026-12-01 14:00 UTC): %w", node.ErrSessionEnded), "this interview has ended (canceled at 2026-12-01 14:00 UTC)"},
		{fmt.Errorf("store: /d/store is in use by another process (is `parley up` running?): %w", store.ErrLocked), "store: /d/store is in use by another process (is `parley up` running?)"},
		{&web.APIError{Code: "not_interviewer", Msg: "the interview has not started: not an interviewer"}, "the interview has not started"},
		{fmt.Errorf("joining: %w", fmt.Errorf("x ended: %w", node.ErrSessionEnded)), "joining: x ended"},
		// Kept: a label nothing else says, or not a label at all.
		{node.ErrNotInterviewer, "not an interviewer"},
		{errors.New("lookup: not found"), "lookup: not found"},
		{&web.APIError{Code: "bad_request", Msg: "x: not an interviewer"}, "x: not an interviewer"},
	}
	for _, tt := range tests {
		if got := errorText(tt.err); got != tt.want {
			t.Errorf("errorText(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 168 * time.Hour: "7d", 90 * time.Minute: "1h30m", 45 * time.Minute: "45m",
		36 * time.Hour: "1d12h", 90 * 24 * time.Hour: "90d", 30 * time.Second: "30s", 24 * time.Hour: "1d",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := parseDuration(want); err != nil || back != d {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", want, back, err, d)
		}
	}
}

func TestTableFits(t *testing.T) {
	tb := &table{header: []string{"ID", "STATUS", "TITLE", "WHO"}, shrink: []int{2, 3}}
	tb.add("abcd1234", "pending", strings.Repeat("Backend loop ", 10), "-")
	tb.add("efgh5678", "live", "Pairing", strings.Repeat("Ana Li, ", 20))
	tb.add("ijkl9012", "ended", "Ünïcödé", "Sam")
	var b strings.Builder
	if err := tb.print(&b); err != nil {
		t.Fatal(err)
	}
	fitsIn80(t, b.String())
	if !strings.Contains(b.String(), "…") || !strings.Contains(b.String(), "Ünïcödé") || !strings.Contains(b.String(), "abcd1234  pending") {
		t.Fatalf("table:\n%s", b.String())
	}
}

// The media check says why a participant's video did not arrive, and
// blames the path (TURN) only when there was no connection.
func TestMediaProblem(t *testing.T) {
	for _, tt := range []struct {
		r          node.MediaCount
		want, lack string
	}{
		{node.MediaCount{Name: "Sam", Connected: false}, "unreachable for audio and video from here (check the link's TURN server", ""},
		{node.MediaCount{Name: "Sam", Connected: true}, "connected, but nothing arrived", "TURN"},
		{node.MediaCount{Name: "Sam", Connected: true, Audio: 90}, "audio arrived but no video: their camera is off", "TURN"},
	} {
		got := mediaProblem(tt.r, 3)
		if !strings.HasPrefix(got, "Sam: ") || !strings.Contains(got, tt.want) || (tt.lack != "" && strings.Contains(got, tt.lack)) {
			t.Errorf("%+v: %q", tt.r, got)
		}
	}
}

// opensRoom checks that a page address printed for a session opens its
// room in the node's web app: the token is traded for a cookie, which then
// lets the API in.
func opensRoom(t *testing.T, page, id string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/s/"+id {
		t.Fatalf("%s: %s at %s", page, resp.Status, resp.Request.URL)
	}
	resp, err = c.Get(resp.Request.URL.Scheme + "://" + resp.Request.URL.Host + "/api/v1/sessions/" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the room's API with the page's cookie: %s", resp.Status)
	}
}

// Joining says who you join as before it happens; the lobby and live
// sessions ask before being cancelled; a second start says since when; a
// file someone just typed in is not replaced without --yes.
func TestLiveMessages(t *testing.T) {
	root, co, ana, sam := acme(t)
	other, bo := filepath.Join(root, "other"), filepath.Join(root, "bo")
	ok(t, other, "init", "--org", "Other Corp")
	ok(t, bo, "init")
	ok(t, bo, "team", "accept", ok(t, other, "team", "add", "--name", "Bo", "--email", "bo@other.test", "--peer", ok(t, bo, "id").lastLine()).lastLine())
	for _, d := range []string{co, ana, sam, bo} {
		up(t, d)
	}
	r := fails(t, co, 1, "a Parley node already runs in "+co+" (process ", "up", "--listen", "127.0.0.1:0")
	if strings.Contains(r.stderr, "in use") {
		t.Errorf("up twice: %s", r.stderr)
	}
	var created []sessionJSON
	// In Go: its starter file is main.go, and main.py below is new.
	json.Unmarshal([]byte(ok(t, co, "session", "create", "--candidate", "Sam Doe", "--title", "Loop", "--language", "go", "--json").stdout), &created)
	link, id := created[0].Link, created[0].ID

	// Joining as the candidate at a terminal needs --as-candidate, and says
	// why.
	r = failsTTY(t, sam, 2, "You are joining as the candidate, Sam Doe, of \"Loop\" at Acme Inc.", "join", link)
	for _, want := range []string{"Not you? This node holds no team credential", "parley team accept TOKEN", "If you are Sam Doe, join with `parley join LINK --as-candidate`."} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("sam's join lacks %q:\n%s", want, r.stderr)
		}
	}
	r = failsTTY(t, bo, 2, "\nNot you? This node holds team credentials of Other Corp (key ", "join", link)
	if !strings.Contains(r.stderr, "only, not of Acme Inc (key ") {
		t.Errorf("bo's join:\n%s", r.stderr)
	}
	fails(t, sam, 1, "no session", "session", "show", id) // nothing happened
	failsTTY(t, sam, 2, "join first with `parley join LINK --as-candidate`", "media", "check", link)
	var joined struct{ Role, Page, Warning string }
	if err := json.Unmarshal([]byte(ok(t, sam, "join", link, "--as-candidate", "--json").stdout), &joined); err != nil {
		t.Fatal(err)
	}
	if joined.Role != "candidate" || !strings.Contains(joined.Warning, "You are joining as the candidate, Sam Doe") || !strings.Contains(joined.Page, "/s/"+id+"?token=") {
		t.Fatalf("join --json: %+v", joined)
	}
	opensRoom(t, joined.Page, id)
	ok(t, sam, "join", link) // taking part already: no question

	// The company node's join does not tell it to start.
	waitFor(t, 10*time.Second, func() bool {
		var s sessionJSON
		json.Unmarshal([]byte(ok(t, co, "session", "show", id, "--json").stdout), &s)
		return s.Status == "lobby"
	})
	if r := ok(t, co, "join", link); strings.Contains(r.stdout, "session start") || !strings.Contains(r.stdout, "takes part silently") {
		t.Errorf("company node's join:\n%s", r.stdout)
	}
	fails(t, co, 2, "session "+id+" has Sam Doe (candidate) in its lobby: cancelling ends it for them", "session", "cancel", id)

	ok(t, ana, "join", link)
	ok(t, ana, "session", "start", id)
	if r := ok(t, ana, "session", "start", id); !regexp.MustCompile(`^Interview ` + id + ` is already live since \d{4}-\d\d-\d\d \d\d:\d\d UTC, started by Ana Li; nothing changed\.\n$`).MatchString(r.stdout) {
		t.Errorf("second start: %q", r.stdout)
	}
	r = fails(t, sam, 1, "only an interviewer can do that, and this is the candidate's node\n", "session", "start", id)

	// Loading over a file someone just typed in asks first.
	src := filepath.Join(root, "main.py")
	os.WriteFile(src, []byte("print('hello')\n"), 0o644)
	if r := ok(t, ana, "code", id, "--load", src); !strings.Contains(r.stderr, "into main.py, a new file") {
		t.Errorf("first load: %q", r.stderr)
	}
	waitFor(t, 10*time.Second, func() bool { return parley(t, sam, "code", id, "--file", "main.py").code == 0 })
	if err := client(t, sam).Edit(context.Background(), id, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.py", Pos: 0, Text: "# Sam was here\n"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.HasPrefix(ok(t, ana, "code", id, "--file", "main.py").stdout, "# Sam") })
	os.WriteFile(src, []byte("print('hello, world')\n"), 0o644)
	fails(t, ana, 2, "Sam Doe changed main.py ", "code", id, "--load", src)
	if got := ok(t, ana, "code", id, "--file", "main.py").stdout; !strings.HasPrefix(got, "# Sam") {
		t.Fatalf("refused load changed the file: %q", got)
	}
	if r := ok(t, ana, "code", id, "--load", src, "--yes"); !strings.Contains(r.stderr, "replacing its 30 bytes, last changed by Sam Doe at ") {
		t.Errorf("load --yes: %q", r.stderr)
	}

	// Cancelling a live interview asks, then ends it; joining after says
	// it ended, once.
	fails(t, co, 2, "interview "+id+" is under way with ", "session", "cancel", id)
	if r := ok(t, co, "session", "cancel", id, "--yes"); !strings.HasPrefix(r.stdout, "Ended interview "+id) {
		t.Errorf("cancel --yes: %q", r.stdout)
	}
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(ok(t, bo, "invite", "inspect", link).stdout, "Signature valid") && parley(t, bo, "join", link, "--as-candidate").code == 1
	})
	r = fails(t, bo, 1, "this interview has ended (", "join", link, "--as-candidate")
	if strings.Count(r.stderr, "has ended") != 1 {
		t.Errorf("the end said twice: %s", r.stderr)
	}
}

// failsTTY is fails, run as a person at a terminal would.
func failsTTY(t *testing.T, dir string, code int, want string, args ...string) result {
	t.Helper()
	r := parleyTTY(t, dir, args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Fatalf("parley %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, want, r.stdout, r.stderr)
	}
	return r
}
