package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"parley/runner"
)

// TestBrowserRun: in the demo's room, the candidate presses Run; both
// pages see the command, the run's output by stream and how it ended (exit
// status, time, memory, version); the interviewer stops a run the
// candidate started, and switches running off, which the candidate's page
// shows.
func TestBrowserRun(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	chromium(t)
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed (apt install bubblewrap): run tests skipped")
	}
	rn, err := runner.Detect(context.Background(), runner.Config{Languages: []string{"python"}, Logger: slog.New(slog.DiscardHandler),
		CacheDir: filepath.Join(os.TempDir(), "parley-cmd-runner-test-cache")})
	if err != nil {
		t.Skipf("no working sandbox here: %v", err)
	}
	d, err := startDemo(context.Background(), slog.New(slog.DiscardHandler), rn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	if _, err := d.Interviewer.StartSession(ctx, d.Session); err != nil {
		t.Fatal(err)
	}
	if err := d.Interviewer.LoadFile(ctx, d.Session, "main.py", "import sys\nprint('héllo from the sandbox')\nprint('warning', file=sys.stderr)\n"); err != nil {
		t.Fatal(err)
	}

	ana, cand := newTab(t, "interviewer"), newTab(t, "candidate")
	for _, x := range []struct {
		tb  *tab
		url string
	}{{ana, d.InterviewerURL}, {cand, d.CandidateURL}} {
		x.tb.run("open the room", chromedp.Navigate(x.url))
		x.tb.waitJS("the file opens", `window.parleyRoom && window.parleyRoom.file() === "main.py"`)
		x.tb.waitJS("Run is ready", `!document.querySelector("#run").disabled && document.querySelector("#run-command").textContent === "python3 main.py"`)
	}
	cand.run("press Run", chromedp.Click(`#run`, chromedp.ByQuery))
	for _, tb := range []*tab{cand, ana} {
		tb.waitJS("the run's output shows", `document.querySelector("#run-stdout").textContent === "héllo from the sandbox\n" && document.querySelector("#run-stderr").textContent === "warning\n"`)
		tb.waitJS("how it ended shows", `document.querySelector("#run-exit") && document.querySelector("#run-exit").textContent === "exit status 0" && /peak/.test(document.querySelector("#run-result").textContent)`)
		tb.waitJS("who ran which version where", `/Sam Doe ran main.py on the company's runner/.test(document.querySelector("#run-head").textContent) && /version [0-9a-f]{8}/.test(document.querySelector("#run-head").textContent)`)
	}
	cand.shot("run")

	if err := d.Interviewer.LoadFile(ctx, d.Session, "main.py", "import time\nprint('waiting', flush=True)\ntime.sleep(60)\n"); err != nil {
		t.Fatal(err)
	}
	cand.waitJS("the new code arrives", `window.parleyRoom.text().includes("sleep")`)
	cand.waitJS("Run is ready again", `!document.querySelector("#run").disabled`)
	cand.run("press Run", chromedp.Click(`#run`, chromedp.ByQuery))
	ana.waitJS("the interviewer sees it running", `document.querySelector("#run-stdout").textContent === "waiting\n" && !document.querySelector("#stop").hidden`)
	ana.run("press Stop", chromedp.Click(`#stop`, chromedp.ByQuery))
	for _, tb := range []*tab{cand, ana} {
		tb.waitJS("the run shows stopped", `document.querySelector("#run-exit") && document.querySelector("#run-exit").textContent === "stopped"`)
	}

	ana.run("switch running off", chromedp.Click(`#run-switch`, chromedp.ByQuery))
	cand.waitJS("the candidate's Run is off", `document.querySelector("#run").disabled && /switched running code off/.test(document.querySelector("#run-note").textContent)`)
	cand.shot("running-off")
}
