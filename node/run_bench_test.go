package node

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRunFirstOutput measures, in a session of a company node
// (running code), an interviewer and the candidate, the time from the
// candidate's press of Run (StartRun on its node) to the program's first
// output on the interviewer's node, and to the end (the signed result
// checked there). A page adds its WebSocket hop to its node.
func BenchmarkRunFirstOutput(b *testing.B) {
	tm := runTeam(b, 1, false)
	i1 := tm.interviewers[0]
	s, cand := runInterview(b, tm, "print('hello')\n", false)
	li := liveOf(i1, s.ID)
	var first, end []time.Duration
	for b.Loop() {
		changed := li.runs.wait()
		t0 := time.Now()
		r, err := cand.StartRun(context.Background(), s.ID, RunRequest{Main: "main.py"})
		if err != nil {
			b.Fatal(err)
		}
		var sawOutput bool
		for {
			v := li.runView(r.ID)
			if !sawOutput && len(v.Output) > 0 {
				first = append(first, time.Since(t0))
				sawOutput = true
			}
			if v.State != RunRunning {
				end = append(end, time.Since(t0))
				if v.State != RunDone {
					b.Fatalf("run: %+v", v)
				}
				break
			}
			select {
			case <-changed:
				changed = li.runs.wait()
			case <-time.After(30 * time.Second):
				b.Fatal("the run did not end on the interviewer's node")
			}
		}
	}
	b.ReportMetric(ms(percentile(first, 0.5)), "first-output-p50-ms")
	b.ReportMetric(ms(percentile(first, 0.99)), "first-output-p99-ms")
	b.ReportMetric(ms(percentile(end, 0.5)), "end-p50-ms")
}
