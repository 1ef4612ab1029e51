package web

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/crdt"
	"parley/node"
	"parley/runner"
)

// A page runs code through its socket, as a guest's page must (the
// gateway serves no API): before the start it is refused with an error on
// the socket; once started, the run's start, output and end come to both
// pages; a stop stops it; a run message of a hostile page (too long a
// file name, no run to stop) gets an error and the socket stays.
func TestLiveRun(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed (apt install bubblewrap): run tests skipped")
	}
	rn, err := runner.Detect(context.Background(), runner.Config{Languages: []string{"python"}, Logger: discard(),
		CacheDir: filepath.Join(os.TempDir(), "parley-web-runner-test-cache"), Limits: runner.Limits{Wall: 30 * time.Second}})
	if errors.Is(err, runner.ErrNoSandbox) {
		t.Skipf("no working sandbox here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	iv := startInterview(t, node.Config{Runner: rn})
	ana, sam, anaWeb, samWeb, id := iv.ana, iv.sam, iv.anaWeb, iv.samWeb, iv.id
	if err := ana.Edit(ctx, id, crdt.Shared, crdt.Edit{Op: "add", Name: "main.py", Text: "import sys\nprint('héllo', sys.stdin.read())\n"}); err != nil {
		t.Fatal(err)
	}
	anaPage, samPage := openPage(t, anaWeb, id), openPage(t, samWeb, id)
	waitFor(t, "hellos", func() bool {
		_, ok1 := anaPage.last("hello", nil)
		_, ok2 := samPage.last("hello", nil)
		return ok1 && ok2
	})
	errorSays := func(p *page, what, text string) {
		t.Helper()
		waitFor(t, what, func() bool {
			_, ok := p.last("error", func(m wsOut) bool { return strings.Contains(m.Error, text) })
			return ok
		})
	}

	// In the lobby: refused, on the socket.
	samPage.sendText(map[string]any{"type": "run", "file": "main.py"})
	errorSays(samPage, "the lobby's refusal", "once the interview has started")

	if _, err := ana.StartSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the candidate has the code", func() bool { return samPage.file("main.py") != "" })
	waitFor(t, "the company's runner is known", func() bool {
		v, _ := sam.Session(ctx, id)
		return v.Execution != nil && len(v.Execution.Runners) == 1
	})

	// A run from the candidate's page reaches both pages.
	samPage.sendText(map[string]any{"type": "run", "file": "main.py", "stdin": "wörld"})
	ended := func(p *page) (wsOut, bool) {
		return p.last("run", func(m wsOut) bool { return m.Run.Type == "end" })
	}
	for _, p := range []*page{samPage, anaPage} {
		waitWithin(t, 30*time.Second, "the run's end", func() bool { _, ok := ended(p); return ok })
		end, _ := ended(p)
		if out := stdoutOf(p, end.Run.ID); out != "héllo wörld\n" {
			t.Fatalf("the run's output: %q", out)
		}
		if end.Run.Run.State != node.RunDone || end.Run.Run.By != "Sam" {
			t.Fatalf("the run's end: %+v", end.Run.Run)
		}
	}

	// A run that waits, stopped from the page.
	if err := ana.LoadFile(ctx, id, "main.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new code", func() bool { return strings.Contains(samPage.file("main.py"), "sleep") })
	samPage.sendText(map[string]any{"type": "run"})
	var running wsOut
	defer func() {
		if t.Failed() {
			samPage.mu.Lock()
			for _, m := range samPage.texts {
				if m.Type == "error" || m.Type == "run" {
					t.Logf("%s %s %+v", m.Type, m.Error, m.Run)
				}
			}
			samPage.mu.Unlock()
		}
	}()
	waitWithin(t, 30*time.Second, "the second run prints", func() bool {
		var ok bool
		running, ok = samPage.last("run", func(m wsOut) bool { return m.Run.Type == "start" })
		return ok && stdoutOf(samPage, running.Run.ID) == "up\n"
	})
	samPage.sendText(map[string]any{"type": "run-stop", "run": running.Run.ID})
	waitWithin(t, 30*time.Second, "the stop", func() bool {
		_, ok := samPage.last("run", func(m wsOut) bool {
			return m.Run.Type == "end" && m.Run.ID == running.Run.ID && m.Run.Run.Result != nil && m.Run.Run.Result.Reason == string(runner.ReasonStopped)
		})
		return ok
	})

	// Hostile messages: an error each, the socket stays.
	samPage.sendText(map[string]any{"type": "run", "file": strings.Repeat("x", 300)})
	errorSays(samPage, "a long file name refused", "bad run")
	samPage.sendText(map[string]any{"type": "run-stop", "run": "nope"})
	errorSays(samPage, "an unknown run refused", "has no run nope")
	samPage.sendText(map[string]any{"type": "run", "file": "missing.py"})
	errorSays(samPage, "a missing file refused", "no file")
	if closed, err := samPage.closed(); closed {
		t.Fatalf("the page's socket closed: %v", err)
	}
}

// stdoutOf returns what a page was sent of a run's standard output.
func stdoutOf(p *page, run string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, m := range p.texts {
		if m.Type == "run" && m.Run.Type == "output" && m.Run.ID == run && m.Run.Stream == "stdout" {
			b.WriteString(m.Run.Data)
		}
	}
	return b.String()
}
