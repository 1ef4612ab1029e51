package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"parley/crdt"
	"parley/node/web"
)

// process runs the parley command in a process of its own (the test binary
// re-executed), for what in-process tests cannot do: SIGKILL.
func process(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv, _ := json.Marshal(args)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PARLEY_TEST_CLI="+string(argv), "PARLEY_HOME="+dir)
	out, err := os.Create(filepath.Join(t.TempDir(), "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return cmd
}

// upProcess starts `parley up` in a process and waits for its API.
func upProcess(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := process(t, dir, "up", "--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0")
	waitFor(t, 20*time.Second, func() bool {
		f, err := web.ReadAPIFile(dir)
		return err == nil && f.PID == cmd.Process.Pid
	})
	return cmd
}

func client(t *testing.T, dir string) *web.Client {
	t.Helper()
	f, err := web.ReadAPIFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return web.NewClient(f.URL, f.Token)
}

// A node killed with SIGKILL and restarted has every change it had
// acknowledged, rejoins, and catches up on what it missed. Code and replay
// work through the running node.
func TestKillNine(t *testing.T) {
	root, co, ana, sam := acme(t)
	up(t, co)
	up(t, sam)
	anaProc := upProcess(t, ana)

	var created []sessionJSON
	json.Unmarshal([]byte(ok(t, co, "session", "create", "--candidate", "Sam Doe", "--title", "Loop", "--language", "go", "--json").stdout), &created)
	id, link := created[0].ID, created[0].Link
	ok(t, ana, "join", link)
	ok(t, sam, "join", link, "--as-candidate")
	ok(t, ana, "session", "start", id)
	waitFor(t, 10*time.Second, func() bool {
		var s sessionJSON
		json.Unmarshal([]byte(ok(t, sam, "session", "show", id, "--json").stdout), &s)
		return s.Status == "live"
	})
	src := filepath.Join(root, "main.go")
	code := "package main\n\nfunc main() {\n\tprintln(\"héllo, 世界 🙂\")\n}\n"
	os.WriteFile(src, []byte(code), 0o644)
	ok(t, ana, "code", id, "--load", src)
	fails(t, sam, 1, "only an interviewer", "code", id, "--load", src)
	waitFor(t, 15*time.Second, func() bool { return parley(t, sam, "code", id).stdout == code })
	if got := ok(t, ana, "code", id, "--file", "main.go").stdout; got != code {
		t.Fatalf("code printed %q", got)
	}
	// One more acknowledged edit, then the kill.
	ctx := context.Background()
	if err := client(t, ana).Edit(ctx, id, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Pos: 0, Text: "// by Ana\n"}); err != nil {
		t.Fatal(err)
	}
	anaProc.Process.Signal(syscall.SIGKILL)
	anaProc.Wait()
	// The candidate goes on typing meanwhile.
	if err := client(t, sam).Edit(ctx, id, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Pos: 0, Text: "// by Sam, while Ana was away\n"}); err != nil {
		t.Fatal(err)
	}
	upProcess(t, ana)
	// Both edits, whichever comes first: the kill may come before Ana's
	// edit left her node, and two inserts at the same place, made apart,
	// are ordered by their actors.
	wants := []string{"// by Sam, while Ana was away\n// by Ana\n" + code, "// by Ana\n// by Sam, while Ana was away\n" + code}
	var want string
	waitFor(t, 20*time.Second, func() bool {
		r := parley(t, ana, "code", id)
		want = r.stdout
		return r.code == 0 && slices.Contains(wants, r.stdout)
	})
	waitFor(t, 20*time.Second, func() bool { return parley(t, sam, "code", id).stdout == want })
	waitFor(t, 20*time.Second, func() bool { return parley(t, co, "code", id).stdout == want })

	// The timeline names who typed what; --at shows the code of a moment.
	var tl []struct {
		Time        time.Time
		Participant string
		File        string
		Inserted    int
	}
	if err := json.Unmarshal([]byte(ok(t, co, "replay", id, "--json").stdout), &tl); err != nil {
		t.Fatal(err)
	}
	// First the session's starter file, main.go, which nobody typed.
	if len(tl) == 0 || tl[0].Participant != "" || tl[0].File != "main.go" || tl[0].Time.Year() > 1970 {
		t.Fatalf("timeline %+v", tl)
	}
	tl = tl[1:]
	if len(tl) < 3 || tl[0].Participant != "Ana Li" || tl[0].File != "main.go" || tl[0].Inserted != len([]rune(code)) {
		t.Fatalf("timeline %+v", tl)
	}
	before := tl[0].Time.Add(time.Millisecond).Format(time.RFC3339Nano)
	if got := ok(t, co, "replay", id, "--at", before).stdout; got != code {
		t.Fatalf("code at %s: %q", before, got)
	}
	if table := ok(t, co, "replay", id).stdout; !strings.Contains(table, "Sam Doe") || !strings.Contains(table, "Ana Li") || !strings.Contains(table, "(starter file)") {
		t.Fatalf("replay table:\n%s", table)
	}
}
