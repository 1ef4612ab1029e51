package crdt

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"parley/internal/procstat"
)

// A node runs the worker binary beside it only if both were built from
// exactly the same source.
func TestSameSource(t *testing.T) {
	build := func(version, rev, modified, automerge string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "parley", Version: version},
			Deps: []*debug.Module{{Path: automergeModule, Version: automerge}}}
		if rev != "" {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "vcs.revision", Value: rev})
		}
		if modified != "" {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "vcs.modified", Value: modified})
		}
		return bi
	}
	am := "v0.0.0-20230903201930-b80ce8aadbb9"
	otherGo := build("v1.2.0", "", "", am)
	otherGo.GoVersion = "go1.25.0"
	for _, c := range []struct {
		name string
		a, b *debug.BuildInfo
		want bool
	}{
		{"the same release", build("v1.2.0", "", "", am), build("v1.2.0", "", "", am), true},
		{"another release", build("v1.2.0", "", "", am), build("v1.1.0", "", "", am), false},
		{"another Go", build("v1.2.0", "", "", am), otherGo, false},
		{"another Automerge", build("v1.2.0", "", "", am), build("v1.2.0", "", "", "v0.1.0"), false},
		{"the same clean commit", build("(devel)", "abc", "false", am), build("(devel)", "abc", "false", am), true},
		{"the same commit, modified", build("(devel)", "abc", "true", am), build("(devel)", "abc", "true", am), false},
		{"a dirty tree's version", build("v0.0.0-20261202-abc+dirty", "abc", "true", am), build("v0.0.0-20261202-abc+dirty", "abc", "true", am), false},
		{"another commit", build("(devel)", "abc", "false", am), build("(devel)", "abd", "false", am), false},
		{"nothing to tell by", build("(devel)", "", "", am), build("(devel)", "", "", am), false},
	} {
		if got := sameSource(c.a, c.b); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// The worker binary (cmd/parley-worker) serves the worker protocol, and a
// node finds it beside itself only when both were built from the same
// source.
func TestWorkerBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/parley-worker")
	}
	bin := buildWorker(t)
	w := NewWorker(WorkerConfig{Command: func() *exec.Cmd { return exec.Command(bin) }})
	defer w.Close()
	if err := w.New("s/shared", Shared, "aaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Edit("s/shared", []Edit{{Op: "add", Name: "a.go", Text: "package a\n"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	v, err := w.View("s/shared")
	if err != nil || v.Files["a.go"] != "package a\n" {
		t.Fatalf("view %+v, %v", v, err)
	}
	r, err := w.Replay("s/shared")
	if err != nil || len(r.Steps) != 2 {
		t.Fatalf("replay %+v, %v", r, err)
	}
	// Beside a program built from the same source, it is taken if its
	// stamp says which clean commit it was built from (a clean clone), and
	// passed over if not (a tree with changes): never on a guess.
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(filepath.Dir(bin), "parley")
	stamped := setting(bi, "vcs.revision") != "" && setting(bi, "vcs.modified") == "false"
	if got := ownWorkerFor(exe, bi); (got == bin) != stamped {
		t.Fatalf("worker binary stamped %v (%v): found %q", stamped, bi.Settings, got)
	}
	// Built from other source, it is passed over.
	other := *bi
	other.Settings = []debug.BuildSetting{{Key: "vcs.revision", Value: "0000"}, {Key: "vcs.modified", Value: "false"}}
	if got := ownWorkerFor(exe, &other); got != "" {
		t.Fatalf("a worker binary from another commit was taken: %s", got)
	}
	// Not executable, it is passed over.
	if err := os.Chmod(bin, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ownWorkerFor(exe, bi); got != "" {
		t.Fatalf("a worker binary that cannot run was taken: %s", got)
	}
}

// buildWorker builds cmd/parley-worker, without the race detector whatever
// the test's build, and returns its path.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), WorkerBinary)
	build := exec.Command("go", "build", "-o", bin, "../cmd/parley-worker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkIdleWorker is an idle worker's memory (issue 17, target 3: 15
// MB): the parley binary run as its worker, as a node does without the
// worker binary beside it, and cmd/parley-worker. Each is built, started,
// given a document with a file, then read: RSS, its own (anonymous)
// memory, PSS, and the binary's size.
func BenchmarkIdleWorker(b *testing.B) {
	dir := b.TempDir()
	for _, c := range []struct {
		name, pkg string
		args      []string
	}{{"parley", "../cmd/parley", []string{WorkerArg}}, {"parley-worker", "../cmd/parley-worker", nil}} {
		b.Run(c.name, func(b *testing.B) {
			bin := filepath.Join(dir, c.name)
			if out, err := exec.Command("go", "build", "-o", bin, c.pkg).CombinedOutput(); err != nil {
				b.Fatalf("go build: %v\n%s", err, out)
			}
			var rss, anon, pss float64
			for b.Loop() {
				w := NewWorker(WorkerConfig{Command: func() *exec.Cmd { return exec.Command(bin, c.args...) }})
				if err := w.New("s/shared", Shared, "aaaaaaaa"); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Edit("s/shared", []Edit{{Op: "add", Name: "a.go", Text: "package a\n"}}, time.Now()); err != nil {
					b.Fatal(err)
				}
				if _, err := w.View("s/shared"); err != nil {
					b.Fatal(err)
				}
				m, err := procstat.Read(w.cmd.Process.Pid)
				if err != nil {
					b.Fatal(err)
				}
				rss, anon, pss = rss+float64(m.RSS), anon+float64(m.Anon), pss+float64(m.PSS)
				w.Close()
			}
			n := float64(b.N) * (1 << 20)
			b.ReportMetric(rss/n, "RSS-MB")
			b.ReportMetric(anon/n, "anon-MB")
			b.ReportMetric(pss/n, "PSS-MB")
			if fi, err := os.Stat(bin); err == nil {
				b.ReportMetric(float64(fi.Size())/(1<<20), "binary-MB")
			}
		})
	}
}
