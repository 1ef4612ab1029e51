package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"parley/crdt"
)

func TestMain(m *testing.M) {
	crdt.MaybeServeWorker()
	if args := os.Getenv("PARLEY_TEST_CLI"); args != "" {
		// Run as the parley command (a subprocess of a test).
		var argv []string
		json.Unmarshal([]byte(args), &argv)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, argv, os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// result is what one command printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// lastLine returns the last line of standard output.
func (r result) lastLine() string {
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	return lines[len(lines)-1]
}

// parley runs the command line in process with the given data dir.
func parley(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return parleyAt(t, dir, false, args...)
}

// parleyTTY runs the command line as a person at a terminal would.
func parleyTTY(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return parleyAt(t, dir, true, args...)
}

func parleyAt(t *testing.T, dir string, interactive bool, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "PARLEY_HOME" {
			return dir
		}
		return ""
	}
	code := runWith(context.Background(), args, &out, &errOut, env, interactive)
	if strings.Contains(errOut.String(), "panic") || strings.Contains(errOut.String(), "goroutine ") {
		t.Fatalf("parley %s: stack trace on stderr:\n%s", strings.Join(args, " "), errOut.String())
	}
	return result{out.String(), errOut.String(), code}
}

// ok runs a command that must succeed.
func ok(t *testing.T, dir string, args ...string) result {
	t.Helper()
	r := parley(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("parley %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// fails runs a command that must fail with code and say want on stderr.
func fails(t *testing.T, dir string, code int, want string, args ...string) result {
	t.Helper()
	r := parley(t, dir, args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Fatalf("parley %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, want, r.stdout, r.stderr)
	}
	return r
}

// company makes a company node and a participant node with a credential.
func company(t *testing.T) (companyDir, anaDir string) {
	t.Helper()
	root := t.TempDir()
	companyDir, anaDir = filepath.Join(root, "company"), filepath.Join(root, "ana")
	ok(t, companyDir, "init", "--org", "Acme Inc")
	ok(t, anaDir, "init")
	peer := ok(t, anaDir, "id").lastLine()
	tok := ok(t, companyDir, "team", "add", "--name", "Ana Li", "--email", "ana@acme.test", "--peer", peer).lastLine()
	ok(t, anaDir, "team", "accept", tok)
	return companyDir, anaDir
}

// newPeer makes a participant's node and returns its peer ID.
func newPeer(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "peer")
	ok(t, dir, "init")
	return ok(t, dir, "id").lastLine()
}

// fitsIn80 fails the test if a line of out is wider than 80 characters.
func fitsIn80(t *testing.T, out string) {
	t.Helper()
	for line := range strings.Lines(out) {
		if n := utf8.RuneCountInString(strings.TrimRight(line, "\n")); n > 80 {
			t.Errorf("%d characters, over 80: %q", n, line)
		}
	}
}

func TestInitAndID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	r := ok(t, dir, "init", "--org", "Acme Inc", "--bootstrap", "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf")
	if !strings.Contains(r.stdout, "Company key:") || !strings.Contains(r.stdout, "Peer ID:") {
		t.Fatalf("init printed:\n%s", r.stdout)
	}
	id := ok(t, dir, "id")
	if strings.Count(id.stdout, "\n") != 1 || !strings.Contains(r.stdout, id.lastLine()) {
		t.Fatalf("id printed %q; init printed %q", id.stdout, r.stdout)
	}
	again := ok(t, dir, "--data", dir, "init", "--org", "Acme Inc")
	if !strings.Contains(again.stdout, "already existed") || ok(t, dir, "id").lastLine() != id.lastLine() {
		t.Fatalf("second init: %s", again.stdout)
	}
	// --data wins over PARLEY_HOME.
	other := filepath.Join(t.TempDir(), "other")
	ok(t, dir, "init", "--data", other)
	if ok(t, dir, "id", "--data", other).lastLine() == id.lastLine() {
		t.Fatal("--data ignored")
	}
	if _, err := os.Stat(filepath.Join(other, "company.key")); !os.IsNotExist(err) {
		t.Fatal("participant node has a company key")
	}
}

func TestTeamCommands(t *testing.T) {
	companyDir, anaDir := company(t)
	var team []map[string]any
	if err := json.Unmarshal([]byte(ok(t, companyDir, "team", "list", "--json").stdout), &team); err != nil {
		t.Fatal(err)
	}
	if len(team) != 1 || team[0]["email"] != "ana@acme.test" || team[0]["role"] != "interviewer" || team[0]["name"] != "Ana Li" {
		t.Fatalf("team list --json: %v", team)
	}
	if list := ok(t, anaDir, "team", "list").stdout; !strings.Contains(list, "Acme Inc") || !strings.Contains(list, "ana@acme.test") {
		t.Fatalf("ana's team list:\n%s", list)
	}
	// A credential issued for another node is refused, saying why.
	bo := filepath.Join(t.TempDir(), "bo")
	ok(t, bo, "init")
	tok := ok(t, companyDir, "team", "add", "--name", "X", "--email", "x@acme.test", "--peer", newPeer(t), "--expires", "2w").lastLine()
	fails(t, bo, 1, "issued for node", "team", "accept", tok)
	pub, disc, _ := strings.Cut(tok, ".")
	fails(t, bo, 1, "bad signature", "team", "accept", pub[:len(pub)-10]+strings.Repeat("A", 8)+pub[len(pub)-2:]+"."+disc)
	fails(t, bo, 1, "does not match the signed credential", "team", "accept", pub+"."+disc[:len(disc)-3]+"AAA")
	fails(t, bo, 1, "team credential is damaged", "team", "accept", tok[:60]+strings.Repeat("A", 8)+tok[68:])

	r := ok(t, companyDir, "team", "remove", "x@acme.test")
	if !strings.Contains(r.stdout, "revoked") {
		t.Fatalf("remove printed %q", r.stdout)
	}
	fails(t, companyDir, 1, "no team member", "team", "remove", "x@acme.test")
	fails(t, companyDir, 2, "team add: unknown flag --nope (see `parley team add -h`)", "team", "add", "--nope")
	fails(t, companyDir, 2, "team add needs --peer", "team", "add", "--name", "A", "--email", "a@acme.test")
	fails(t, companyDir, 2, "not a duration", "team", "add", "--name", "A", "--email", "a@acme.test", "--peer", "x", "--expires", "soon")
	fails(t, anaDir, 1, "company key", "team", "add", "--name", "A", "--email", "a@acme.test", "--peer", ok(t, bo, "id").lastLine())
}

// sessionJSON is what `session create --json` promises.
type sessionJSON struct {
	ID, Link, Status, Title, Candidate string
	Block, Blocks                      int
	Starts, Expires                    time.Time
	Participants                       []any
}

func TestSessionCommands(t *testing.T) {
	companyDir, anaDir := company(t)
	starts := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r := ok(t, companyDir, "session", "create", "--candidate", "Sam Doe", "--candidate-email", "sam@example.test",
		"--title", "Backend loop", "--starts", starts.Format(time.RFC3339), "--duration", "45m", "--expires", "2d",
		"--blocks", "3", "--interviewer", "ana@acme.test", "--recorder", "ana@acme.test", "--json")
	var created []sessionJSON
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("%v in %s", err, r.stdout)
	}
	if len(created) != 3 {
		t.Fatalf("%d sessions", len(created))
	}
	for i, s := range created {
		want := starts.Add(time.Duration(i) * 45 * time.Minute)
		if s.Block != i+1 || s.Blocks != 3 || s.Status != "pending" || s.Title != "Backend loop" || s.Candidate != "Sam Doe" ||
			!s.Starts.Equal(want) || !s.Expires.Equal(want.Add(48*time.Hour)) || !strings.HasPrefix(s.Link, "parley://join/") || s.ID == "" {
			t.Errorf("block %d: %+v", i+1, s)
		}
		// Anyone can inspect the link.
		in := ok(t, anaDir, "invite", "inspect", s.Link)
		if !strings.Contains(in.stdout, "Acme Inc") || !strings.Contains(in.stdout, "Signature valid") {
			t.Errorf("inspect:\n%s", in.stdout)
		}
	}

	// Without --json, one block: the link is the last line.
	one := ok(t, companyDir, "session", "create", "--candidate", "Kim", "--title", "Pairing")
	link := one.lastLine()
	if !strings.HasPrefix(link, "parley://join/") {
		t.Fatalf("last line %q is not the link", link)
	}

	list := ok(t, companyDir, "session", "list").stdout
	if strings.Count(list, "\n") != 5 || strings.Contains(list, "parley://join/") || !strings.Contains(list, created[1].ID[:8]) || !strings.Contains(list, "2/3") {
		t.Fatalf("session list:\n%s", list)
	}
	fitsIn80(t, list)
	var show sessionJSON
	json.Unmarshal([]byte(ok(t, companyDir, "session", "show", created[1].ID, "--json").stdout), &show)
	if show.ID != created[1].ID || show.Link != created[1].Link {
		t.Fatalf("show --json: %+v", show)
	}
	if out := ok(t, companyDir, "session", "show", created[1].ID[:8]).stdout; !strings.Contains(out, "2 of 3") || !strings.Contains(out, created[1].Link) ||
		!regexp.MustCompile(`\nInterviewers: +ana@acme.test\n`).MatchString(out) || !regexp.MustCompile(`\nDuration: +45m\n`).MatchString(out) {
		t.Fatalf("show:\n%s", out)
	}

	ok(t, companyDir, "session", "cancel", created[2].ID)
	fails(t, companyDir, 1, "already ended", "session", "cancel", created[2].ID)
	var ended []sessionJSON
	json.Unmarshal([]byte(ok(t, companyDir, "session", "list", "--status", "ended", "--json").stdout), &ended)
	if len(ended) != 1 || ended[0].ID != created[2].ID || ended[0].Status != "ended" {
		t.Fatalf("ended: %+v", ended)
	}
	fails(t, companyDir, 2, "unknown status", "session", "list", "--status", "later")
	fails(t, companyDir, 1, "no session", "session", "show", "zzzzzzzzzz")
}

func TestSessionCreateRefuses(t *testing.T) {
	companyDir, anaDir := company(t)
	ok(t, companyDir, "team", "add", "--name", "Cy", "--email", "cy@acme.test", "--peer", newPeer(t))
	tests := []struct {
		dir  string
		code int
		want string
		args []string
	}{
		{anaDir, 1, "needs the company key", []string{"--candidate", "S", "--title", "T"}},
		{companyDir, 1, "bo@acme.test is not on the team", []string{"--candidate", "S", "--title", "T", "--interviewer", "bo@acme.test"}},
		{companyDir, 1, "at most 1", []string{"--candidate", "S", "--title", "T", "--interviewer", "ana@acme.test", "--interviewer", "cy@acme.test", "--max-interviewers", "1"}},
		{companyDir, 2, "--max-interviewers 0: a session takes 1 to 16 interviewers", []string{"--candidate", "S", "--title", "T", "--max-interviewers", "0"}},
		{companyDir, 2, "needs --candidate", []string{"--title", "T"}},
		{companyDir, 2, "not an RFC3339 time", []string{"--candidate", "S", "--title", "T", "--starts", "tomorrow"}},
		{companyDir, 2, "unknown flag --colour", []string{"--candidate", "S", "--title", "T", "--colour", "red"}},
		{companyDir, 1, "already have expired", []string{"--candidate", "S", "--title", "T", "--starts", time.Now().Add(-2 * time.Minute).Format(time.RFC3339), "--expires", "1m"}},
	}
	for _, tt := range tests {
		fails(t, tt.dir, tt.code, tt.want, append([]string{"session", "create"}, tt.args...)...)
	}
	if out := ok(t, companyDir, "session", "list", "--status", "all").stdout; !strings.Contains(out, "No all sessions") {
		t.Fatalf("refused creates stored sessions:\n%s", out)
	}
}

func TestInviteInspectBad(t *testing.T) {
	companyDir, _ := company(t)
	link := ok(t, companyDir, "session", "create", "--candidate", "S", "--title", "T").lastLine()
	tok := strings.TrimPrefix(link, "parley://join/")
	expired := ok(t, companyDir, "session", "create", "--candidate", "S", "--title", "T", "--expires", "1s").lastLine()
	future := ok(t, companyDir, "session", "create", "--candidate", "S", "--title", "T", "--starts", time.Now().Add(48*time.Hour).Format(time.RFC3339)).lastLine()
	tampered := []byte(tok)
	tampered[len(tampered)/2] ^= 'A' ^ 'B'
	tests := []struct{ name, link, want string }{
		{"garbage", "parley://join/%%%", "interview link is damaged"},
		{"truncated", link[:len(link)-40], "interview link"},
		{"tampered", "parley://join/" + string(tampered), "interview link"},
		{"oversized", "parley://join/" + strings.Repeat("A", 5000), "over the limit"},
		{"version", "parley://join/Ag" + tok[2:], "format version"},
		{"other site", "https://evil.test/login#" + tok, "not a Parley interview link"},
	}
	for _, tt := range tests {
		fails(t, companyDir, 1, tt.want, "invite", "inspect", tt.link)
	}
	// The future link is valid now: links open when they are made.
	ok(t, companyDir, "invite", "inspect", future)
	// An expired link shows what it holds, then fails naming the check.
	var r result
	waitFor(t, 5*time.Second, func() bool {
		r = parley(t, companyDir, "invite", "inspect", expired, "--json")
		return r.code != 0
	})
	var in map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &in); err != nil || r.code != 1 || in["valid"] != false || !strings.Contains(r.stderr, "expired on") {
		t.Fatalf("expired link: code %d, %v, stderr %s", r.code, in, r.stderr)
	}
}

func TestSessionEmail(t *testing.T) {
	companyDir, _ := company(t)
	var created []sessionJSON
	json.Unmarshal([]byte(ok(t, companyDir, "session", "create", "--candidate", "Sam Doe", "--candidate-email", "sam@example.test", "--title", "Loop", "--conference", "https://meet.acme.test/r", "--json").stdout), &created)
	r := ok(t, companyDir, "session", "email", created[0].ID)
	for _, want := range []string{"To: sam@example.test", "Subject: Acme Inc: your interview \"Loop\"", created[0].Link, "https://meet.acme.test/r", "Hello Sam Doe"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("email lacks %q:\n%s", want, r.stdout)
		}
	}
	tmpl := filepath.Join(t.TempDir(), "invite.tmpl")
	os.WriteFile(tmpl, []byte("Subject: Hi {{.Candidate}}\n\n{{.Org}} {{.Block}}/{{.Blocks}} {{.Duration}}: {{.Link}}\n"), 0o644)
	r = ok(t, companyDir, "session", "email", created[0].ID, "--template", tmpl)
	if !strings.Contains(r.stdout, "Subject: Hi Sam Doe\n\nAcme Inc 1/1 1 hour: "+created[0].Link) {
		t.Fatalf("custom template:\n%s", r.stdout)
	}
	os.WriteFile(tmpl, []byte("{{.Nope}}"), 0o644)
	fails(t, companyDir, 1, "email template", "session", "email", created[0].ID, "--template", tmpl)

	// The interviewers get their own: named, with the recorder, the
	// language, and times in the recruiter's zone and UTC.
	json.Unmarshal([]byte(ok(t, companyDir, "session", "create", "--candidate", "Sam Doe", "--title", "Loop", "--interviewer", "ana@acme.test",
		"--recorder", "ana@acme.test", "--language", "go", "--zone", "Europe/Paris", "--starts", "2030-03-01T15:00:00+01:00", "--json").stdout), &created)
	r = ok(t, companyDir, "session", "email", created[0].ID, "--interviewers")
	for _, want := range []string{"To: ana@acme.test", "Subject: Interview with Sam Doe: Loop", "Interviewers: Ana Li.", "Feedback: Ana Li records it.",
		"main.go, in Go", "Friday 1 March 2030, 15:00 CET (14:00 UTC)", created[0].Link} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("interviewers' email lacks %q:\n%s", want, r.stdout)
		}
	}
	r = ok(t, companyDir, "session", "email", created[0].ID)
	for _, want := range []string{"With: Ana Li.", "parley up", "--as-candidate", "15:00 CET (14:00 UTC)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("candidate's email lacks %q:\n%s", want, r.stdout)
		}
	}
	fails(t, companyDir, 2, "--language \"cobol\"", "session", "create", "--candidate", "S", "--title", "T", "--language", "cobol")
	fails(t, companyDir, 2, "--zone \"Mars/Olympus\"", "session", "create", "--candidate", "S", "--title", "T", "--zone", "Mars/Olympus")
	fails(t, companyDir, 2, "needs --from", "session", "email", created[0].ID, "--smtp", "127.0.0.1:25")
}

func TestBadDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	fails(t, dir, 1, "parley init", "id")
	ok(t, dir, "init", "--org", "Acme")
	ok(t, dir, "session", "create", "--candidate", "S", "--title", "T")
	os.Chmod(dir, 0o755)
	fails(t, dir, 1, "chmod 700", "id")
	os.Chmod(dir, 0o700)
	// A corrupt store: an error that says so, nothing else.
	os.WriteFile(filepath.Join(dir, "store", "MANIFEST"), []byte("garbage"), 0o600)
	fails(t, dir, 1, "damaged", "session", "list")
	fails(t, dir, 2, "unknown command", "frobnicate")
}

func TestStoreKeyFile(t *testing.T) {
	root := t.TempDir()
	dir, keyFile := filepath.Join(root, "home"), filepath.Join(root, "store.key")
	ok(t, dir, "init", "--org", "Acme", "--store-key-file", keyFile)
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	ok(t, dir, "session", "create", "--candidate", "S", "--title", "T")
	other := filepath.Join(root, "other.key")
	os.WriteFile(other, bytes.Repeat([]byte{1}, 32), 0o600)
	fails(t, dir, 1, "encryption key", "session", "list", "--store-key-file", other)
	if out := ok(t, dir, "session", "list").stdout; !strings.Contains(out, "pending") {
		t.Fatalf("list with the recorded key:\n%s", out)
	}
}

func TestPublicURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	ok(t, dir, "init", "--org", "Acme", "--public-url", "https://interviews.acme.test")
	link := ok(t, dir, "session", "create", "--candidate", "S", "--title", "T").lastLine()
	if !strings.HasPrefix(link, "https://interviews.acme.test/join#") {
		t.Fatalf("link %q", link)
	}
	ok(t, dir, "invite", "inspect", link)
	fails(t, dir, 1, "not an https:// URL", "init", "--public-url", "http://x.test")
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour, "45m": 45 * time.Minute, "1h30m": 90 * time.Minute} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1h", "d", "1x", "99999999d"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) succeeded", in)
		}
	}
}

// waitFor polls cond until it holds, failing the test after timeout; with
// what it was waiting for in the failure, if said.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, said ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			for _, s := range said {
				t.Fatalf("%s: not within %v", s(), timeout)
			}
			t.Fatalf("condition not met within %v", timeout)
		}
		<-time.After(20 * time.Millisecond)
	}
}
