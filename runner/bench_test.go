package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

const helloPy = "print('hello')\n"

// BenchmarkOverhead measures what the sandbox adds to a Python hello world
// run bare (target: at most 30 ms), and how many such runs a second the
// machine sustains with every slot busy.
func BenchmarkOverhead(b *testing.B) {
	r := testRunner(b)
	py, err := lookPath("python3")
	if err != nil {
		b.Skip(err)
	}
	dir := b.TempDir()
	main := filepath.Join(dir, "main.py")
	os.WriteFile(main, []byte(helloPy), 0o644)
	bare := func() time.Duration {
		cmd := exec.Command(py, main)
		out, err := cmd.Output()
		if err != nil || string(out) != "hello\n" {
			b.Fatalf("bare run: %v %q", err, out)
		}
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	job := Job{Lang: "python", Files: map[string]string{"main.py": helloPy}}
	sandboxed := func() time.Duration {
		res, err := r.Run(context.Background(), job, nil)
		if err != nil || res.Exit != 0 {
			b.Fatalf("sandboxed run: %v %+v", err, res)
		}
		return res.CPU
	}
	// Interleaved, so that both see the same load on a shared machine;
	// the fastest of each, and the CPU time, say more than the mean where
	// other work competes for the cores.
	var tBare, tBox, cBare, cBox time.Duration
	minBare, minBox := time.Hour, time.Hour
	for b.Loop() {
		t0 := time.Now()
		cBare += bare()
		t1 := time.Now()
		cBox += sandboxed()
		t2 := time.Now()
		tBare += t1.Sub(t0)
		tBox += t2.Sub(t1)
		minBare, minBox = min(minBare, t1.Sub(t0)), min(minBox, t2.Sub(t1))
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(tBare)/n, "bare-ms/run")
	b.ReportMetric(ms(tBox)/n, "sandbox-ms/run")
	b.ReportMetric(ms(tBox-tBare)/n, "overhead-ms/run")
	b.ReportMetric(ms(minBox-minBare), "overhead-min-ms")
	b.ReportMetric(ms(cBox-cBare)/n, "overhead-cpu-ms/run")
}

// BenchmarkThroughput runs Python hello worlds on every slot at once.
func BenchmarkThroughput(b *testing.B) {
	r := testRunner(b)
	job := Job{Lang: "python", Files: map[string]string{"main.py": helloPy}}
	start := time.Now()
	b.SetParallelism(1)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := r.Run(context.Background(), job, nil); err != nil || res.Exit != 0 {
				b.Errorf("run: %v %+v", err, res)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
}

// BenchmarkSandboxAlone runs /bin/true in the sandbox and bare, to see
// what the sandbox itself costs without an interpreter's start: the
// fastest and the median of each, interleaved.
func BenchmarkSandboxAlone(b *testing.B) {
	testRunner(b) // skips without bubblewrap
	cfg := filepath.Join(b.TempDir(), "runner.json")
	os.WriteFile(cfg, []byte(`{"languages": {"true": {"main": "x", "run": ["/bin/true"]}}}`), 0o644)
	r, err := Detect(context.Background(), Config{File: cfg, Languages: []string{"true"}, CacheDir: b.TempDir(), Slots: 1})
	if err != nil {
		b.Fatal(err)
	}
	job := Job{Lang: "true", Files: map[string]string{"x": ""}}
	var bare, box []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if res, err := r.Run(context.Background(), job, nil); err != nil || res.Exit != 0 {
			b.Fatalf("%v %+v", err, res)
		}
		bare, box = append(bare, t1.Sub(t0)), append(box, time.Since(t1))
	}
	slices.Sort(bare)
	slices.Sort(box)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(box[0]-bare[0]), "overhead-min-ms")
	b.ReportMetric(ms(box[len(box)/2]-bare[len(bare)/2]), "overhead-median-ms")
}
