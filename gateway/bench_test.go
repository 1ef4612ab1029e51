package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"parley/crdt"
	"parley/internal/procstat"
)

func procRSS(tb testing.TB, pid int) int64 { return procMem(tb, pid).RSS }

func procMem(tb testing.TB, pid int) procstat.Memory {
	m, err := procstat.Read(pid)
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	return m
}

// workers returns the PIDs of this process's Automerge workers.
func workers() []int {
	var out []int
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(string(cmd), crdt.WorkerArg) && !slices.Contains(out, pid) {
				out = append(out, pid)
			}
		}
	}
	return out
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHostedParticipant measures what one browser guest costs the
// company's machine: a guest joins through the gateway (a relay, the
// company node and an interviewer in this process), its page syncs, the
// interview starts, and the guest and the interviewer type a keystroke
// each every 20 ms for 10 s. It reports the hosted participant's memory
// (its worker's RSS, and what this process grew by, after a GC, when it
// started), its worker's CPU while typing, and the time from the join's
// POST to the lobby on the guest's socket (without a browser's own page
// load: TestGatewayBrowser logs that).
func BenchmarkHostedParticipant(b *testing.B) {
	for range b.N {
		benchGuest(b)
	}
}

func benchGuest(b *testing.B) {
	b.StopTimer()
	e := startEnv(b, envOptions{relayed: true})
	ctx := context.Background()
	if _, err := e.ana.Join(ctx, e.link, "Ana"); err != nil {
		b.Fatal(err)
	}
	before := workers()
	runtime.GC()
	debug.FreeOSMemory()
	rss0 := procRSS(b, os.Getpid())

	b.StartTimer()
	start := time.Now()
	zoe := e.browser()
	e.joinAs(zoe, e.token, "Zoë")
	page := e.openGuestPage(zoe, e.session)
	waitFor(b, 10*time.Second, "the lobby", func() bool { return page.sessionStatus() == "lobby" })
	lobby := time.Since(start)
	b.StopTimer()

	var worker int
	for _, pid := range workers() {
		if !slices.Contains(before, pid) {
			worker = pid
		}
	}
	if worker == 0 {
		b.Fatal("no worker of the hosted participant")
	}
	idle := procRSS(b, worker)
	if _, err := e.ana.StartSession(ctx, e.session); err != nil {
		b.Fatal(err)
	}
	if err := e.ana.Edit(ctx, e.session, crdt.Shared, crdt.Edit{Op: "add", Name: "main.py", Text: "\n"}); err != nil {
		b.Fatal(err)
	}
	waitFor(b, 15*time.Second, "the file", func() bool { return page.file("main.py") == "\n" })
	cpu0, wcpu0, t0 := selfCPU(), procstat.CPU(worker), time.Now()
	const keys = 500
	text := []rune(strings.Repeat("héllo wörld 🙂 ", keys/14+1))[:keys]
	// Two people typing at 50 keystrokes a second each, paced by a ticker.
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for _, r := range text {
		page.splice("main.py", len([]rune(page.file("main.py"))), 0, string(r)) // at the end
		if err := e.ana.Edit(ctx, e.session, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.py", Pos: 0, Text: "a"}); err != nil {
			b.Fatal(err)
		}
		<-pace.C
	}
	want := strings.Repeat("a", keys) + "\n" + string(text)
	deadline := time.Now().Add(30 * time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		got, _, _ := e.ana.Code(ctx, e.session, "main.py")
		if got == want && page.file("main.py") == want {
			break
		}
		if time.Now().After(deadline) {
			code, reason, closed := page.closed()
			b.Fatalf("not the same text (page's socket closed: %v %d %s): want %d code points, the node has %d, the page %d",
				closed, code, reason, len([]rune(want)), len([]rune(got)), len([]rune(page.file("main.py"))))
		}
		<-poll.C
	}
	wall := time.Since(t0)
	wcpu := procstat.CPU(worker) - wcpu0
	cpu := selfCPU() - cpu0
	runtime.GC()
	debug.FreeOSMemory()
	grew := procRSS(b, os.Getpid()) - rss0
	wmem := procMem(b, worker)
	wrss := wmem.RSS
	b.ReportMetric(float64(lobby.Milliseconds()), "join-to-lobby-ms")
	b.ReportMetric(float64(idle)/(1<<20), "worker-RSS-lobby-MB")
	b.ReportMetric(float64(wrss)/(1<<20), "worker-RSS-MB")
	b.ReportMetric(float64(grew)/(1<<20), "process-grew-MB")
	b.ReportMetric(float64(wrss+grew)/(1<<20), "participant-MB")
	// The worker's own memory: most of its RSS is the binary's code,
	// shared with this process (procstat).
	b.ReportMetric(float64(wmem.Anon)/(1<<20), "worker-anon-MB")
	b.ReportMetric(float64(wmem.Anon+grew)/(1<<20), "participant-own-MB")
	b.ReportMetric(100*wcpu.Seconds()/wall.Seconds(), "worker-CPU-%")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "process-CPU-%")
}
