package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testLimits are tighter than the defaults, so that runs that must be
// stopped are stopped soon.
var testLimits = Limits{Wall: 6 * time.Second, CPU: 2 * time.Second}

var shared struct {
	once sync.Once
	r    *Runner
	err  error
	warm error
}

// testRunner returns the runner the tests share, skipping the test when
// this host has no bubblewrap. The Go build cache lives in the system's
// temporary directory across test runs: filling it takes minutes once.
func testRunner(t testing.TB) *Runner {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed (apt install bubblewrap): sandbox tests skipped")
	}
	shared.once.Do(func() {
		cache := filepath.Join(os.TempDir(), "parley-runner-test-cache")
		shared.r, shared.err = Detect(context.Background(), Config{Limits: testLimits, CacheDir: cache, Slots: 2})
		if shared.err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			shared.warm = shared.r.Warm(ctx)
			cancel()
		}
	})
	if errors.Is(shared.err, ErrNoSandbox) {
		t.Skipf("no working sandbox here: %v", shared.err)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.r
}

// collect runs job and returns its result and output, by stream.
func collect(t testing.TB, r *Runner, job Job) (Result, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	res, err := r.Run(context.Background(), job, func(o Output) {
		if len(o.Data) > MaxChunk {
			t.Errorf("chunk of %d bytes, over %d", len(o.Data), MaxChunk)
		}
		if o.Stream == Stderr {
			stderr.Write(o.Data)
		} else {
			stdout.Write(o.Data)
		}
	})
	if err != nil {
		t.Fatalf("run %s: %v", job.Lang, err)
	}
	return res, stdout.String(), stderr.String()
}

func TestDetectWithoutBwrap(t *testing.T) {
	_, err := Detect(context.Background(), Config{Bwrap: "/nonexistent/bwrap", CacheDir: t.TempDir()})
	if !errors.Is(err, ErrNoSandbox) {
		t.Fatalf("Detect without bwrap: %v, want ErrNoSandbox", err)
	}
	if !strings.Contains(err.Error(), "apt install bubblewrap") {
		t.Errorf("the error does not say what to do: %v", err)
	}
}

func TestDetect(t *testing.T) {
	r := testRunner(t)
	for _, l := range r.Languages() {
		t.Logf("%-10s %-28s %s", l.Name, l.Title, l.Version)
	}
	if _, ok := r.Language("python"); !ok {
		t.Error("python3 is installed here, but not offered")
	}
	for _, l := range r.Limits() {
		t.Logf("%-10s %-8s %s", l.Name, l.Value, l.How)
	}
	if shared.warm != nil {
		t.Errorf("Warm: %v", shared.warm)
	}
}

func TestRunFilesStdinStreams(t *testing.T) {
	r := testRunner(t)
	job := Job{Lang: "python", Stdin: []byte("é and 🙂\n"), Files: map[string]string{
		"main.py":       "import sys, os\nfrom lib.helper import shout\nsys.stderr.write('to stderr\\n')\nprint(shout(sys.stdin.read().strip()))\nprint(os.getcwd(), sorted(os.listdir('.')))\nsys.exit(3)\n",
		"lib/helper.py": "def shout(s):\n    return s.upper()\n",
		"data.txt":      "x",
	}}
	res, stdout, stderr := collect(t, r, job)
	if res.Exit != 3 || res.Reason != "" || res.Stage != StageRun {
		t.Errorf("result %+v, want exit 3 in the run step", res)
	}
	if want := "É AND 🙂\n/work ['data.txt', 'lib', 'main.py']\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	if stderr != "to stderr\n" {
		t.Errorf("stderr %q", stderr)
	}
	if res.Wall <= 0 || res.PeakMemory <= 0 {
		t.Errorf("no wall time or memory in %+v", res)
	}
}

func TestRunCompileError(t *testing.T) {
	r := testRunner(t)
	if _, ok := r.Language("c"); !ok {
		t.Skip("no C compiler here")
	}
	res, _, stderr := collect(t, r, Job{Lang: "c", Files: map[string]string{"main.c": "int main( { return 0; }\n"}})
	if res.Stage != StageCompile || res.Exit == 0 {
		t.Errorf("result %+v, want a failed compile step", res)
	}
	if !strings.Contains(stderr, "main.c") {
		t.Errorf("the compiler's message is not in stderr: %q", stderr)
	}
}

// TestRunEveryLanguage runs a program reading stdin in each language
// offered, with two files where the language has a way to use them.
func TestRunEveryLanguage(t *testing.T) {
	r := testRunner(t)
	jobs := map[string]Job{
		"python":     {Files: map[string]string{"main.py": "import util\nprint(util.greet(input()))\n", "util.py": "def greet(n): return 'hello ' + n\n"}},
		"javascript": {Files: map[string]string{"main.js": "const u = require('./util.js');\nlet s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(u.greet(s.trim())));\n", "util.js": "exports.greet = n => 'hello ' + n;\n"}},
		"go":         {Files: map[string]string{"main.go": "package main\n\nimport (\"bufio\"; \"fmt\"; \"os\")\n\nfunc main() { s := bufio.NewScanner(os.Stdin); s.Scan(); fmt.Println(greet(s.Text())) }\n", "util.go": "package main\n\nfunc greet(n string) string { return \"hello \" + n }\n"}},
		"c":          {Files: map[string]string{"main.c": "#include <stdio.h>\nconst char *greet(void);\nint main(void){ char b[64]; if (!fgets(b, sizeof b, stdin)) return 1; printf(\"%s%s\", greet(), b); }\n", "util.c": "const char *greet(void) { return \"hello \"; }\n"}},
		"cpp":        {Files: map[string]string{"main.cpp": "#include <iostream>\n#include <string>\nstd::string greet(const std::string&);\nint main(){ std::string s; std::getline(std::cin, s); std::cout << greet(s) << std::endl; }\n", "util.cpp": "#include <string>\nstd::string greet(const std::string& n) { return \"hello \" + n; }\n"}},
		"java":       {Files: map[string]string{"Main.java": "import java.util.Scanner;\npublic class Main { public static void main(String[] a) { System.out.println(Util.greet(new Scanner(System.in).nextLine())); } }\n", "Util.java": "class Util { static String greet(String n) { return \"hello \" + n; } }\n"}},
	}
	for _, l := range r.Languages() {
		job, ok := jobs[l.Name]
		if !ok {
			continue
		}
		t.Run(l.Name, func(t *testing.T) {
			t.Parallel()
			job.Lang, job.Stdin = l.Name, []byte("world\n")
			res, stdout, stderr := collect(t, r, job)
			if res.Exit != 0 || stdout != "hello world\n" {
				t.Errorf("%s: %+v, stdout %q, stderr %q", l.Title, res, stdout, stderr)
			}
			cmds, _ := r.Commands(job)
			t.Logf("%s: %s; compile %v, run %v, CPU %v, peak %d MiB", l.Title, strings.Join(cmds, " && "), res.Compile, res.Wall, res.CPU, res.PeakMemory>>20)
		})
	}
}

func TestConcurrentRuns(t *testing.T) {
	r := testRunner(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			job := Job{Lang: "python", Files: map[string]string{"main.py": "import time\ntime.sleep(0.2)\nprint(" + strconv.Itoa(i) + ")\n"}}
			res, stdout, _ := collect(t, r, job)
			if res.Exit != 0 || stdout != strconv.Itoa(i)+"\n" {
				t.Errorf("run %d: %+v %q", i, res, stdout)
			}
		})
	}
	wg.Wait()
}

func TestStop(t *testing.T) {
	r := testRunner(t)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	done := make(chan Result)
	go func() {
		res, err := r.Run(ctx, Job{Lang: "python", Files: map[string]string{"main.py": "import time\nprint('up', flush=True)\ntime.sleep(60)\n"}}, func(Output) { once.Do(func() { close(started) }) })
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-started
	cancel()
	select {
	case res := <-done:
		if res.Reason != ReasonStopped {
			t.Errorf("stopped run: %+v", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run did not stop")
	}
	checkNothingLeft(t)
}

func TestBadJobs(t *testing.T) {
	r := testRunner(t)
	for _, job := range []Job{
		{Lang: "cobol", Files: map[string]string{"main.cob": ""}},
		{Lang: "python", Files: map[string]string{"other.py": ""}},
		{Lang: "python", Files: map[string]string{"main.py": "", "../x": ""}},
		{Lang: "python", Files: map[string]string{"main.py": "", "/etc/passwd": ""}},
		{Lang: "python", Files: map[string]string{"main.py": ""}, Stdin: make([]byte, MaxStdin+1)},
	} {
		if _, err := r.Run(context.Background(), job, nil); !errors.Is(err, ErrBadJob) && !errors.Is(err, ErrUnknownLanguage) {
			t.Errorf("job %v: %v, want it refused", job.Files, err)
		}
	}
}

var fileNameTests = []struct {
	name string
	ok   bool
}{
	{"main.py", true}, {"src/util.go", true}, {"a b.txt", true}, {"é.py", true},
	{"", false}, {"/abs", false}, {"../up", false}, {"a/../b", false}, {"a//b", false}, {"./a", false},
	{".hidden", true}, {"a/.git/x", true}, {"a\x00b", false}, {"*.c", false}, {"a\nb", false}, {strings.Repeat("a", 256), false},
}

func TestCheckFileName(t *testing.T) {
	for _, tt := range fileNameTests {
		if err := checkFileName(tt.name); (err == nil) != tt.ok {
			t.Errorf("checkFileName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func FuzzCheckFileName(f *testing.F) {
	for _, tt := range fileNameTests {
		f.Add(tt.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkFileName(name) != nil {
			return
		}
		p := filepath.Join("/work", name)
		if !strings.HasPrefix(p, "/work/") || filepath.Clean(p) != p {
			t.Errorf("%q accepted, but lands at %s", name, p)
		}
	})
}

func TestExpand(t *testing.T) {
	got, err := expand([]string{"gcc", "-o", "/tmp/prog", "*.c", "{main}", "{class}", "-m{mem_mb}"}, "src/Main.java", []string{"a.c", "b.c", "b.h", "src/Main.java", "src/x.c"}, 256<<20)
	want := "gcc -o /tmp/prog a.c b.c src/Main.java Main -m256"
	if err != nil || strings.Join(got, " ") != want {
		t.Errorf("expand = %q, %v; want %q", got, err, want)
	}
	if _, err := expand([]string{"*.c"}, "main.py", []string{"main.py"}, 0); err == nil {
		t.Error("a pattern matching nothing was accepted")
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "runner.json")
	os.WriteFile(name, []byte(`{"limits": {"wall": "3s", "memory_mb": 128},
		"languages": {"java": null, "shell": {"main": "main.sh", "run": ["sh", "{main}"], "version": ["sh", "-c", "echo 1.0"]}}}`), 0o644)
	lim, langs := Limits{}, builtins()
	if err := readConfigFile(name, &lim, langs, new(string)); err != nil {
		t.Fatal(err)
	}
	if lim.Wall != 3*time.Second || lim.Memory != 128<<20 {
		t.Errorf("limits %+v", lim)
	}
	if _, ok := langs["java"]; ok {
		t.Error("java was not removed")
	}
	if l := langs["shell"]; l == nil || l.Main != "main.sh" {
		t.Errorf("shell: %+v", l)
	}
	for _, bad := range []string{`{"limits": {"wall": "soon"}}`, `{"languages": {"Bad Name": {"main": "a", "run": ["a"]}}}`, `{"languages": {"x": {"main": "../a", "run": ["a"]}}}`, `{"extra": 1}`, `{"languages": {"x": {"run": ["a"]}}}`} {
		os.WriteFile(name, []byte(bad), 0o644)
		if err := readConfigFile(name, &Limits{}, builtins(), new(string)); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
	if _, err := globBinds([]string{"/home"}); err == nil {
		t.Error("a bind of /home was accepted")
	}
}

// checkNothingLeft fails t if a process the runs started is still
// running: below this test process, or (as root) as a run's user ID.
func checkNothingLeft(t testing.TB) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		left = leftovers()
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		<-poll.C
	}
	if len(left) > 0 {
		t.Errorf("processes left running: %s", strings.Join(left, "; "))
	}
}

func leftovers() []string {
	me := os.Getpid()
	parent := map[int]int{}
	uid := map[int]uint32{}
	stat := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := statFields(b)
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		stat[pid] = strings.TrimSpace(string(b))
		if st, err := os.Stat("/proc/" + e.Name()); err == nil {
			uid[pid] = fileUID(st)
		}
	}
	var out []string
	for pid := range parent {
		mine := false
		for p, n := parent[pid], 0; p > 1 && n < 64; p, n = parent[p], n+1 {
			if p == me {
				mine = true
				break
			}
		}
		if mine || os.Geteuid() == 0 && uid[pid] >= 2_000_000_000 {
			out = append(out, stat[pid])
		}
	}
	return out
}

func fileUID(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}
