package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/node"
)

// TestRunCommand: the company node runs code (`up --runner`); the
// candidate runs the session's code with `parley run`, which prints its
// output and passes on its exit status, or says which limit stopped it.
func TestRunCommand(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed (apt install bubblewrap): run tests skipped")
	}
	root, co, ana, sam := acme(t)
	cfg := filepath.Join(root, "runner.json")
	os.WriteFile(cfg, []byte(`{"cache_dir": "`+filepath.Join(root, "cache")+`", "limits": {"wall": "3s", "cpu": "1s"}, "languages": {"javascript": null, "go": null, "c": null, "cpp": null, "java": null}}`), 0o600)
	coOut := background(t, co, "up", "--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--runner", "--runner-config", cfg)
	waitFor(t, 60*time.Second, func() bool { _, err := os.Stat(filepath.Join(co, "api.json")); return err == nil })
	if out := coOut.String(); !strings.Contains(out, "Runner: runs code in a sandbox (bubblewrap): Python 3.") || !strings.Contains(out, "wall time  3s") {
		t.Fatalf("up --runner printed:\n%s", out)
	}
	up(t, ana)
	up(t, sam)
	var created []sessionJSON
	if err := json.Unmarshal([]byte(ok(t, co, "session", "create", "--candidate", "Sam Doe", "--title", "Backend loop", "--json").stdout), &created); err != nil {
		t.Fatal(err)
	}
	link, id := created[0].Link, created[0].ID
	ok(t, sam, "join", link, "--name", "Sam", "--as-candidate")
	ok(t, ana, "join", link)
	ok(t, ana, "session", "start", id)
	code := filepath.Join(root, "main.py")
	os.WriteFile(code, []byte("import sys\nprint('hello', sys.stdin.read().strip())\nprint('to stderr', file=sys.stderr)\nsys.exit(3)\n"), 0o600)
	ok(t, ana, "code", id, "--load", code)
	input := filepath.Join(root, "input.txt")
	os.WriteFile(input, []byte("Sam\n"), 0o600)

	var r result
	waitFor(t, 20*time.Second, func() bool {
		r = parley(t, sam, "run", id, "--file", "main.py", "--stdin", input)
		return r.code == 3
	})
	if r.stdout != "hello Sam\n" || r.stderr != "to stderr\n" {
		t.Fatalf("parley run: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var run node.CodeRun
	r = parley(t, ana, "run", id, "--stdin", input, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil || r.code != 3 {
		t.Fatalf("parley run --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if run.State != node.RunDone || run.Result.Exit != 3 || run.Main != "main.py" || len(run.Heads) == 0 || !strings.Contains(run.Runner, "company") {
		t.Fatalf("the run as JSON: %+v", run)
	}

	os.WriteFile(code, []byte("while True:\n    pass\n"), 0o600)
	ok(t, ana, "code", id, "--load", code, "--yes")
	waitFor(t, 20*time.Second, func() bool {
		r = parley(t, sam, "run", id)
		return r.code == 124
	})
	if !strings.Contains(r.stderr, "parley: the sandbox stopped the program: it ran out of time") {
		t.Fatalf("a loop: exit %d, stderr %q", r.code, r.stderr)
	}
	// The runs are in the session's timeline, on every node that saw them.
	waitFor(t, 10*time.Second, func() bool {
		tl := ok(t, co, "replay", id).stdout
		return strings.Contains(tl, "main.py  run: exit 3") && strings.Contains(tl, "run: stopped (time)")
	})
}
