package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrNoSandbox is returned by Detect when bubblewrap is missing or does not
// work on this host: nothing is ever run without it.
var ErrNoSandbox = errors.New("no sandbox")

// ErrUnknownLanguage is returned by Run for a language this runner does not
// offer.
var ErrUnknownLanguage = errors.New("language not offered by this runner")

// ErrBadJob is returned by Run for a job it refuses to start (file names,
// sizes, a missing main file).
var ErrBadJob = errors.New("bad job")

// Default limits of a run.
const (
	DefaultWall      = 10 * time.Second
	DefaultCPU       = 5 * time.Second
	DefaultMemory    = 256 << 20
	DefaultProcesses = 64
	DefaultOpenFiles = 256
	DefaultFileSize  = 16 << 20
	DefaultOutput    = 1 << 20
	DefaultDisk      = 64 << 20
)

// Job bounds.
const (
	MaxFiles     = 100
	MaxJobBytes  = 4 << 20 // the files' text, all together
	MaxStdin     = 1 << 20
	MaxChunk     = 16 << 10 // an Output's data, at most
	compileWall  = 30 * time.Second
	compileCPU   = 30 * time.Second
	compileMem   = 1 << 30
	compileFiles = 1024
	compileProcs = 128
)

// Limits bound a run. A zero field takes its default.
type Limits struct {
	Wall      time.Duration // wall time of the run step; 10 s
	CPU       time.Duration // CPU time, every process together; 5 s
	Memory    int64         // bytes: resident, every process together, and address space per process; 256 MiB
	Processes int           // processes and threads at once; 64
	OpenFiles int           // per process; 256
	FileSize  int64         // bytes, per file written; 16 MiB
	Output    int64         // bytes of stdout and stderr together; 1 MiB
	Disk      int64         // bytes, each of the tmpfs /work and /tmp; 64 MiB
}

func (l Limits) withDefaults() Limits {
	if l.Wall == 0 {
		l.Wall = DefaultWall
	}
	if l.CPU == 0 {
		l.CPU = DefaultCPU
	}
	if l.Memory == 0 {
		l.Memory = DefaultMemory
	}
	if l.Processes == 0 {
		l.Processes = DefaultProcesses
	}
	if l.OpenFiles == 0 {
		l.OpenFiles = DefaultOpenFiles
	}
	if l.FileSize == 0 {
		l.FileSize = DefaultFileSize
	}
	if l.Output == 0 {
		l.Output = DefaultOutput
	}
	if l.Disk == 0 {
		l.Disk = DefaultDisk
	}
	return l
}

// compile returns the limits of a compile step: toolchains need more than
// the programs they build.
func (l Limits) compile() Limits {
	c := l
	c.Wall = max(l.Wall, compileWall)
	c.CPU = max(l.CPU, compileCPU)
	c.Memory = max(l.Memory, compileMem)
	c.Processes = max(l.Processes, compileProcs)
	c.OpenFiles = max(l.OpenFiles, compileFiles)
	c.FileSize = max(l.FileSize, 64<<20)
	return c
}

// Config configures a Runner. The zero value works on a host with
// bubblewrap.
type Config struct {
	// File is a JSON config file of limits and languages (see fileConfig
	// in lang.go). If empty, the defaults and the built-in languages.
	File string
	// Limits override the defaults (and the file's), field by field.
	Limits Limits
	// Languages, if set, are the only languages offered (of those found).
	Languages []string
	// Bwrap is the bubblewrap binary. If empty, /usr/bin/bwrap, else bwrap
	// in the system directories.
	Bwrap string
	// CacheDir holds what runs may read but not write: the Go build cache
	// that Warm fills. Runs bind it by its path, so as root (where runs
	// take user IDs of their own) every directory above it must be open to
	// others (mode o+x). If empty, /var/cache/parley-runner as root, else
	// parley/runner in os.UserCacheDir().
	CacheDir string
	// Slots is how many runs go at once; more wait. If zero, the number
	// of CPUs.
	Slots int
	// UIDBase is, when the process runs as root, the first of the host
	// user IDs that runs take (one per slot). If zero, 2000000000.
	UIDBase uint32
	// Logger receives the runner's log. If nil, slog.Default().
	Logger *slog.Logger
}

// Runner runs jobs in the sandbox. It is safe for concurrent use.
type Runner struct {
	cfg      Config
	log      *slog.Logger
	bwrap    string
	prlimit  string
	limits   Limits
	langs    map[string]*Language
	slots    chan int
	root     bool
	uid      uint32
	cacheDir string
	cgroup   string // what this host has, for Limits

	warmMu sync.Mutex // one Warm at a time
}

// Detect finds bubblewrap and the toolchains of this host, checks that
// each works in the sandbox, and returns a Runner offering those that do.
// Without a working bubblewrap it returns an error wrapping ErrNoSandbox.
func Detect(ctx context.Context, cfg Config) (*Runner, error) {
	r := &Runner{cfg: cfg, log: cfg.Logger, root: os.Geteuid() == 0, uid: uint32(os.Geteuid())}
	if r.log == nil {
		r.log = slog.Default()
	}
	var err error
	if r.bwrap, err = findBwrap(cfg.Bwrap); err != nil {
		return nil, err
	}
	if r.prlimit, err = lookPath("prlimit"); err != nil {
		return nil, fmt.Errorf("runner: %w: prlimit (util-linux) is needed to set the sandbox's limits: %v", ErrNoSandbox, err)
	}
	langs := builtins()
	var fileLim Limits
	r.cacheDir = cfg.CacheDir
	if cfg.File != "" {
		if err := readConfigFile(cfg.File, &fileLim, langs, &r.cacheDir); err != nil {
			return nil, err
		}
	}
	if len(cfg.Languages) > 0 {
		for name := range langs {
			if !slices.Contains(cfg.Languages, name) {
				delete(langs, name)
			}
		}
	}
	r.limits = overlay(overlay(Limits{}, fileLim), cfg.Limits).withDefaults()
	n := cfg.Slots
	if n <= 0 {
		n = runtime.NumCPU()
	}
	r.slots = make(chan int, n)
	for i := range n {
		r.slots <- i
	}
	if r.cfg.UIDBase == 0 {
		r.cfg.UIDBase = 2_000_000_000
	}
	switch {
	case r.cacheDir != "":
	case r.root:
		r.cacheDir = "/var/cache/parley-runner"
	default:
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		r.cacheDir = filepath.Join(d, "parley", "runner")
	}
	if r.cacheDir, err = filepath.Abs(r.cacheDir); err != nil {
		return nil, fmt.Errorf("runner: cache: %w", err)
	}
	if slices.ContainsFunc(slices.Collect(maps.Values(langs)), func(l *Language) bool { return l.cache }) {
		if err := makeCacheDir(r.cacheDir, r.root); err != nil {
			return nil, fmt.Errorf("runner: cache: %w", err)
		}
	}
	r.cgroup = cgroupMode()

	// The sandbox itself must work: a host without user namespaces, say,
	// is told so now, not at the first Run.
	if res, out, err := r.probe(ctx, r.uidFor(0), nil, []string{"/bin/true"}); err != nil || res.Exit != 0 {
		return nil, fmt.Errorf("runner: %w: bubblewrap (%s) does not start a sandbox here: %v%s", ErrNoSandbox, r.bwrap, err, firstLine(out))
	}

	// Toolchains: found in the system directories, and working in the
	// sandbox (their version command runs there).
	r.langs = map[string]*Language{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	i := uint32(0)
	for _, l := range langs {
		uid := r.uid
		if r.root { // a user ID per probe: RLIMIT_NPROC counts per user
			uid = r.cfg.UIDBase + uint32(n) + i
			i++
		}
		wg.Go(func() {
			if err := r.detectLang(ctx, uid, l); err != nil {
				r.log.Info("runner: language not offered", "lang", l.Name, "why", err)
				return
			}
			mu.Lock()
			r.langs[l.Name] = l
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(r.langs) == 0 {
		return nil, fmt.Errorf("runner: no toolchain found that works in the sandbox (looked for %s)", strings.Join(slices.Sorted(maps.Keys(langs)), ", "))
	}
	return r, nil
}

// makeCacheDir makes the cache directory, readable by runs: as root, runs
// take other user IDs, which must reach it (and the node's umask may be
// 077).
func makeCacheDir(dir string, root bool) error {
	goDir := filepath.Join(dir, "go")
	if err := os.MkdirAll(goDir, 0o755); err != nil {
		return err
	}
	if !root {
		return nil
	}
	for _, d := range []string{dir, goDir} {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is closed to other users (mode %04o), so runs, which take user IDs of their own, cannot reach the cache %s: give one elsewhere", d, fi.Mode().Perm(), dir)
		}
		if d == "/" {
			return nil
		}
	}
}

func overlay(base, over Limits) Limits {
	setPos(&base.Wall, over.Wall)
	setPos(&base.CPU, over.CPU)
	setPos(&base.Memory, over.Memory)
	setPos(&base.Processes, over.Processes)
	setPos(&base.OpenFiles, over.OpenFiles)
	setPos(&base.FileSize, over.FileSize)
	setPos(&base.Output, over.Output)
	setPos(&base.Disk, over.Disk)
	return base
}

func findBwrap(name string) (string, error) {
	if name == "" {
		name = "/usr/bin/bwrap"
		if _, err := os.Stat(name); err != nil {
			name = "bwrap"
		}
	}
	p, err := lookPath(name)
	if err == nil {
		_, err = os.Stat(p)
	}
	if err != nil {
		return "", fmt.Errorf("runner: %w: bubblewrap is not installed (apt install bubblewrap); code is never run without it: %v", ErrNoSandbox, err)
	}
	return p, nil
}

var versionRE = regexp.MustCompile(`\d+(\.\d+)+`)

// detectLang checks that l's programs are installed and that its version
// command works in the sandbox.
func (r *Runner) detectLang(ctx context.Context, uid uint32, l *Language) error {
	for _, argv := range [][]string{l.Compile, l.Run, l.version} {
		if len(argv) == 0 || strings.HasPrefix(argv[0], "/tmp/") {
			continue
		}
		if _, err := lookPath(argv[0]); err != nil {
			return err
		}
	}
	binds, err := globBinds(l.binds)
	if err != nil {
		return err
	}
	l.binds = binds
	if len(l.version) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, out, err := r.probe(ctx, uid, l, l.version)
	if err != nil {
		return err
	}
	if res.Exit != 0 {
		return fmt.Errorf("%s exits with %d in the sandbox%s", strings.Join(l.version, " "), res.Exit, firstLine(out))
	}
	l.Version = strings.TrimPrefix(firstLine(out), ": ")
	if v := versionRE.FindString(l.Version); v != "" {
		l.Title = strings.TrimSuffix(l.Title, " 3") + " " + v
	}
	return nil
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

func globBinds(patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("bind %q is not an absolute path", p)
		}
		m, _ := filepath.Glob(p)
		for _, x := range m {
			if bad := forbiddenBind(x); bad != "" {
				return nil, fmt.Errorf("bind %s: %s is never shown to a run", x, bad)
			}
		}
		out = append(out, m...)
	}
	return out, nil
}

// forbiddenBind names what of the host a bind would show that a run must
// never see.
func forbiddenBind(p string) string {
	p = filepath.Clean(p)
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	for _, no := range []string{"/", "/home", "/root", "/proc", "/sys", "/etc", "/var", "/run", "/tmp", "/dev"} {
		if p == no {
			return no
		}
	}
	for _, no := range []string{"/home/", "/root/", "/proc/", "/sys/", "/run/", "/tmp/", "/var/lib/", "/dev/"} {
		if strings.HasPrefix(p, no) {
			return strings.TrimSuffix(no, "/")
		}
	}
	return ""
}

// Languages returns the languages this runner offers, by name.
func (r *Runner) Languages() []Language {
	var out []Language
	for _, name := range slices.Sorted(maps.Keys(r.langs)) {
		out = append(out, *r.langs[name])
	}
	return out
}

// Language returns the language named name, if offered.
func (r *Runner) Language(name string) (Language, bool) {
	l, ok := r.langs[name]
	if !ok {
		return Language{}, false
	}
	return *l, true
}

// Limit is one limit of the runs and how it is enforced here.
type Limit struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	How   string `json:"how"`
}

// Limits says which limits are in force and how, on this host.
func (r *Runner) Limits() []Limit {
	l := r.limits
	procs := fmt.Sprintf("RLIMIT_NPROC, a host user ID per run (%d and up)", r.cfg.UIDBase)
	if !r.root {
		procs = "RLIMIT_NPROC over this user's processes plus the limit (not root: runs share the node's user ID)"
	}
	cg := "no cgroup is used (" + r.cgroup + "): every limit is an rlimit or watched from /proc"
	return []Limit{
		{"wall time", l.Wall.String(), "timer; the sandbox's PID namespace is killed"},
		{"CPU time", l.CPU.String(), "RLIMIT_CPU per process, and the sum over the run's processes from /proc"},
		{"memory", fmt.Sprintf("%d MiB", l.Memory>>20), "RLIMIT_AS per process (plus headroom for Java, Node.js and Go, whose runtimes reserve address space; Java and Node.js bound their heaps to the limit), and resident memory summed from /proc"},
		{"processes", fmt.Sprint(l.Processes), procs},
		{"open files", fmt.Sprint(l.OpenFiles), "RLIMIT_NOFILE"},
		{"file size", fmt.Sprintf("%d MiB", l.FileSize>>20), "RLIMIT_FSIZE"},
		{"disk", fmt.Sprintf("%d MiB", l.Disk>>20), "size of each tmpfs (/work, /tmp)"},
		{"output", fmt.Sprintf("%d KiB", l.Output>>10), "counted; the run is stopped past it"},
		{"network", "none", "a network namespace of its own: no interface but its own loopback"},
		{"cgroup", r.cgroup, cg},
	}
}

// cgroupMode names the cgroup setup of this host, for people.
func cgroupMode() string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "cgroup v2"
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil {
		return "cgroup v1"
	}
	return "no cgroup"
}

// Job is what to run.
type Job struct {
	Lang  string
	Files map[string]string // by name, relative to the working directory
	Main  string            // the file to start from; if empty, the language's
	Stdin []byte
}

// Stream names an output stream.
type Stream uint8

// Streams.
const (
	Stdout Stream = 1
	Stderr Stream = 2
)

func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// Output is a chunk of a run's output, at most MaxChunk bytes.
type Output struct {
	Stream Stream
	Data   []byte
}

// Reason says which limit stopped a run.
type Reason string

// Reasons.
const (
	ReasonTime      Reason = "time"      // wall or CPU time
	ReasonMemory    Reason = "memory"    // resident memory
	ReasonOutput    Reason = "output"    // too much output
	ReasonProcesses Reason = "processes" // the process limit was reached
	ReasonFileSize  Reason = "file_size" // a file grew past the limit
	ReasonStopped   Reason = "stopped"   // the caller stopped it
)

// Stages of a job.
const (
	StageCompile = "compile"
	StageRun     = "run"
)

// Result is how a job ended.
type Result struct {
	// Exit is the exit status: 128+N when a signal N ended it.
	Exit int `json:"exit"`
	// Reason, if set, is the limit that stopped it.
	Reason Reason `json:"reason,omitempty"`
	// Stage is the step it ended in: a failed compile ends in "compile".
	Stage string `json:"stage"`
	// Wall is the run step's wall time (the compile step's when it ended
	// there); Compile the compile step's.
	Wall    time.Duration `json:"wall"`
	Compile time.Duration `json:"compile,omitempty"`
	// CPU is the user and system time of every process of the job.
	CPU time.Duration `json:"cpu"`
	// PeakMemory is the most resident memory seen in the step it ended
	// in, in bytes: every process together, or one process's own peak,
	// whichever is more (the sandbox is looked at every few milliseconds).
	PeakMemory int64 `json:"peak_memory"`
	// Output is how many bytes of output were passed on.
	Output int64 `json:"output"`
}

// Commands returns the command lines a job would run, for people: the
// compile step's (if any) and the run step's.
func (r *Runner) Commands(job Job) ([]string, error) {
	s, err := r.plan(job)
	if err != nil {
		return nil, err
	}
	var out []string
	if s.compile != nil {
		out = append(out, shellJoin(s.compile))
	}
	return append(out, shellJoin(s.run)), nil
}

// Run runs job in the sandbox, passing its output to out as it comes (out
// is called from one goroutine at a time, and must not keep Data), and
// returns how it ended. When ctx ends first, the job is stopped
// (ReasonStopped). An error means the job did not run: it was refused
// (ErrBadJob, ErrUnknownLanguage) or the sandbox failed to start.
func (r *Runner) Run(ctx context.Context, job Job, out func(Output)) (Result, error) {
	s, err := r.plan(job)
	if err != nil {
		return Result{}, err
	}
	select {
	case slot := <-r.slots:
		defer func() { r.slots <- slot }()
		s.uid = r.uidFor(slot)
	case <-ctx.Done():
		return Result{Stage: StageRun, Reason: ReasonStopped, Exit: 128 + 9}, nil
	}
	if out == nil {
		out = func(Output) {}
	}
	return r.exec(ctx, s, out)
}

func (r *Runner) uidFor(slot int) uint32 {
	if r.root {
		return r.cfg.UIDBase + uint32(slot)
	}
	return r.uid
}

// plan checks a job and makes its sandbox spec.
func (r *Runner) plan(job Job) (*spec, error) {
	l, ok := r.langs[job.Lang]
	if !ok {
		return nil, fmt.Errorf("runner: %q: %w (offered: %s)", job.Lang, ErrUnknownLanguage, strings.Join(slices.Sorted(maps.Keys(r.langs)), ", "))
	}
	if len(job.Files) > MaxFiles {
		return nil, fmt.Errorf("runner: %w: %d files, at most %d", ErrBadJob, len(job.Files), MaxFiles)
	}
	if len(job.Stdin) > MaxStdin {
		return nil, fmt.Errorf("runner: %w: %d bytes of input, at most %d", ErrBadJob, len(job.Stdin), MaxStdin)
	}
	total := 0
	names := slices.Sorted(maps.Keys(job.Files))
	for _, n := range names {
		if err := checkFileName(n); err != nil {
			return nil, fmt.Errorf("runner: %w: %v", ErrBadJob, err)
		}
		total += len(job.Files[n])
	}
	if total > MaxJobBytes {
		return nil, fmt.Errorf("runner: %w: %d bytes of files, at most %d", ErrBadJob, total, MaxJobBytes)
	}
	main := job.Main
	if main == "" {
		main = l.Main
	}
	if _, ok := job.Files[main]; !ok {
		return nil, fmt.Errorf("runner: %w: the main file %q is not among the files", ErrBadJob, main)
	}
	s := &spec{lang: l, files: job.Files, names: names, stdin: job.Stdin, limits: r.limits}
	var err error
	if l.Compile != nil {
		if s.compile, err = expand(l.Compile, main, names, r.limits.Memory); err != nil {
			return nil, fmt.Errorf("runner: %w: %v", ErrBadJob, err)
		}
	}
	if s.run, err = expand(l.Run, main, names, r.limits.Memory); err != nil {
		return nil, fmt.Errorf("runner: %w: %v", ErrBadJob, err)
	}
	return s, nil
}

// probe runs argv in the sandbox with the compile limits, as uid, and
// returns its output.
func (r *Runner) probe(ctx context.Context, uid uint32, l *Language, argv []string) (Result, []byte, error) {
	if l == nil {
		l = &Language{Name: "probe"}
	}
	s := &spec{lang: l, run: argv, limits: r.limits.compile(), uid: uid, probe: true}
	var buf []byte
	res, err := r.exec(ctx, s, func(o Output) {
		if len(buf) < 4096 {
			buf = append(buf, o.Data...)
		}
	})
	return res, buf, err
}

// warmProgram imports the standard packages interview code uses most, so
// that Warm compiles them once.
const warmProgram = `package main

import (
	_ "bufio"
	_ "bytes"
	_ "cmp"
	_ "container/heap"
	_ "container/list"
	_ "encoding/json"
	_ "errors"
	_ "fmt"
	_ "io"
	_ "maps"
	_ "math"
	_ "math/big"
	_ "math/bits"
	_ "math/rand"
	_ "net"
	_ "os"
	_ "os/exec"
	_ "regexp"
	_ "slices"
	_ "sort"
	_ "strconv"
	_ "strings"
	_ "sync"
	_ "time"
	_ "unicode"
)

func main() {}
`

// Warm fills the Go build cache that Go runs read (bound read-only: a run
// never writes what another reads), by building a program that imports the
// common standard packages. Without it every Go run compiles the standard
// library, which takes longer than a run may. It takes minutes the first
// time on a small machine and seconds after; call it once at start, in the
// background.
func (r *Runner) Warm(ctx context.Context) error {
	l, ok := r.langs["go"]
	if !ok {
		return nil
	}
	r.warmMu.Lock()
	defer r.warmMu.Unlock()
	job := Job{Lang: "go", Files: map[string]string{"main.go": warmProgram}}
	s, err := r.plan(job)
	if err != nil {
		return err
	}
	s.run = []string{"/bin/true"}
	s.warm = true
	s.uid = r.uid
	lim := r.limits.compile()
	lim.Wall, lim.CPU, lim.Memory, lim.Disk = 20*time.Minute, 20*time.Minute, 2<<30, 1<<30
	s.limits = lim
	var msg []byte
	res, err := r.exec(ctx, s, func(o Output) {
		if len(msg) < 4096 {
			msg = append(msg, o.Data...)
		}
	})
	if err != nil {
		return fmt.Errorf("runner: warm the Go build cache: %w", err)
	}
	if res.Exit != 0 {
		return fmt.Errorf("runner: warm the Go build cache: %s exited with %d (%s)%s", l.Title, res.Exit, res.Reason, firstLine(msg))
	}
	// The node's umask may be 077: runs read the cache as other users.
	return filepath.WalkDir(filepath.Join(r.cacheDir, "go"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}

// shellJoin quotes argv for a POSIX shell.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:+,%@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
