package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// spec is one sandboxed job, checked and expanded.
type spec struct {
	lang         *Language
	files        map[string]string
	names        []string // of files, sorted
	stdin        []byte
	compile, run []string
	limits       Limits // the run step's
	uid          uint32 // host user ID the sandbox runs as
	warm         bool   // the Go build cache is bound read-write (Warm only)
	probe        bool   // a toolchain's version, with the compile limits
}

// Paths inside the sandbox.
const (
	workDir = "/work"
	goCache = "/cache/go"
	// The sandbox is looked at every tick, more often at first, so that
	// a short run's memory is seen too.
	tick      = 50 * time.Millisecond
	firstTick = 2 * time.Millisecond
	drainFor  = 2 * time.Second
)

// compileAS is the address space of a compile step: toolchains reserve a
// lot (the JVM, the go command); resident memory is what is watched.
const compileAS = 4 << 30

// bwrapStatus is one of the JSON documents bwrap writes on
// --json-status-fd: the first when the sandbox is set up, the last when
// its program exited.
type bwrapStatus struct {
	ChildPID int    `json:"child-pid"`
	PIDNS    uint64 `json:"pid-namespace"`
	ExitCode *int   `json:"exit-code"`
}

// exec runs s in a sandbox.
func (r *Runner) exec(ctx context.Context, s *spec, out func(Output)) (Result, error) {
	var parentEnds, readEnds []*os.File // closed after start, and at the end
	defer func() {
		for _, f := range append(parentEnds, readEnds...) {
			f.Close()
		}
	}()
	pipe := func() (*os.File, *os.File, error) {
		rd, wr, err := os.Pipe()
		if err == nil {
			parentEnds = append(parentEnds, wr)
			readEnds = append(readEnds, rd)
		}
		return rd, wr, err
	}
	var extra []*os.File
	fd := func(f *os.File) string {
		extra = append(extra, f)
		return strconv.Itoa(2 + len(extra))
	}

	var stageR *os.File
	stageFD := ""
	if s.compile != nil {
		rd, wr, err := pipe()
		if err != nil {
			return Result{}, err
		}
		stageR, stageFD = rd, fd(wr) // fd 3: the script writes the compile's status there
	}
	statusR, statusW, err := pipe()
	if err != nil {
		return Result{}, err
	}
	stdoutR, stdoutW, err := pipe()
	if err != nil {
		return Result{}, err
	}
	stderrR, stderrW, err := pipe()
	if err != nil {
		return Result{}, err
	}
	stdin, err := memFile("stdin", s.stdin)
	if err != nil {
		return Result{}, err
	}
	parentEnds = append(parentEnds, stdin)

	args := []string{
		"--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
		"--cap-drop", "ALL", "--hostname", "parley", "--clearenv",
		"--setenv", "PATH", strings.Join(searchPath, ":"), "--setenv", "HOME", "/tmp",
		"--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8",
	}
	for _, k := range slices.Sorted(maps.Keys(s.lang.env)) {
		args = append(args, "--setenv", k, s.lang.env[k])
	}
	args = append(args, rootBinds()...)
	for _, b := range s.lang.binds {
		args = append(args, "--ro-bind", b, b)
	}
	args = append(args, "--proc", "/proc", "--dev", "/dev",
		"--size", strconv.FormatInt(s.limits.Disk, 10), "--tmpfs", "/tmp",
		"--size", strconv.FormatInt(s.limits.Disk, 10), "--tmpfs", workDir)
	dirs := map[string]bool{}
	for _, n := range s.names {
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		args = append(args, "--dir", workDir+"/"+d)
	}
	for _, n := range s.names {
		f, err := memFile(n, []byte(s.files[n]))
		if err != nil {
			return Result{}, err
		}
		parentEnds = append(parentEnds, f)
		args = append(args, "--file", fd(f), workDir+"/"+n)
	}
	if s.lang.cache {
		bind := "--ro-bind"
		if s.warm {
			bind = "--bind"
		}
		args = append(args, "--dir", "/cache", bind, path.Join(r.cacheDir, "go"), goCache)
	}
	// The root (bwrap's own tmpfs, holding the mount points) is made
	// read-only last: a run writes to /work and /tmp only, both bounded.
	args = append(args, "--remount-ro", "/", "--chdir", workDir, "--json-status-fd", fd(statusW), "--")

	// The outer limits are the first step's; a compile step's script
	// lowers them for the run step (lowering needs no privilege).
	first := s.limits
	if s.compile != nil {
		first = s.limits.compile()
	}
	nprocBase := 0
	if !r.root {
		nprocBase = tasksOf(r.uid)
	}
	as := s.limits.Memory + s.lang.extraAS
	if s.compile != nil || s.probe {
		as = compileAS + s.lang.extraAS
	}
	// bwrap leaves the --file descriptors open in the sandbox: the
	// script closes them (and the compile status pipe) before the program
	// starts.
	var closeFDs []string
	for i := range extra {
		if fd := strconv.Itoa(3 + i); fd != stageFD {
			closeFDs = append(closeFDs, fd+"<&-")
		}
	}
	shell := "/bin/sh"
	if len(extra) > 7 {
		shell = "/bin/bash" // dash takes one-digit descriptors only
	}
	script := ""
	if len(closeFDs) > 0 {
		script = "exec " + strings.Join(closeFDs, " ") + "\n"
	}
	if s.compile != nil {
		runAS := s.limits.Memory + s.lang.extraAS
		run := append([]string{r.prlimit}, rlimitArgs(s.limits, runAS, nprocBase)...)
		run = append(append(run, "--"), s.run...)
		script += fmt.Sprintf("%s %s>&-\ns=$?\necho \"$s\" >&%s\nexec %s>&-\n[ \"$s\" -eq 0 ] || exit \"$s\"\nexec %s\n",
			shellJoin(s.compile), stageFD, stageFD, stageFD, shellJoin(run))
	} else {
		script += "exec " + shellJoin(s.run) + "\n"
	}
	args = append(args, shell, "-c", script)
	outer := append(rlimitArgs(first, as, nprocBase), "--", r.bwrap)
	cmd := exec.Command(r.prlimit, append(outer, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = stdin, stdoutW, stderrW, extra
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if r.root && s.uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: s.uid, Gid: s.uid, Groups: []uint32{}}
	}

	cloexecInherited()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("runner: start the sandbox: %w", err)
	}
	for _, f := range parentEnds {
		f.Close()
	}
	parentEnds = nil

	var helpers sync.WaitGroup
	defer helpers.Wait()
	chunks := make(chan Output, 8)
	var pumps sync.WaitGroup
	pumps.Go(func() { pump(stdoutR, Stdout, chunks) })
	pumps.Go(func() { pump(stderrR, Stderr, chunks) })
	helpers.Go(func() { pumps.Wait(); close(chunks) })
	statuses := make(chan bwrapStatus, 4)
	helpers.Go(func() {
		defer close(statuses)
		dec := json.NewDecoder(io.LimitReader(statusR, 64<<10))
		for {
			var st bwrapStatus
			if dec.Decode(&st) != nil {
				return
			}
			statuses <- st
		}
	})
	stages := make(chan int, 1)
	if stageR != nil {
		helpers.Go(func() {
			defer close(stages)
			line, err := bufio.NewReader(io.LimitReader(stageR, 64)).ReadString('\n')
			if err != nil {
				return
			}
			if code, err := strconv.Atoi(strings.TrimSpace(line)); err == nil {
				stages <- code
			}
		})
	} else {
		close(stages)
	}
	exited := make(chan struct{})
	helpers.Go(func() { cmd.Wait(); close(exited) })

	res := Result{Stage: StageRun}
	lim := s.limits
	if s.compile != nil {
		res.Stage, lim = StageCompile, first
	}
	stepStart := start
	wall := time.NewTimer(lim.Wall)
	defer wall.Stop()
	every := firstTick
	ticker := time.NewTimer(every)
	defer ticker.Stop()
	var (
		ns        uint64
		started   bool // bwrap set the sandbox up
		exitCode  *int
		killed    bool
		sent      int64
		peak      int64
		cpuSeen   time.Duration
		bwrapErr  []byte // stderr before the program started: bwrap's own
		drain     <-chan time.Time
		done      = ctx.Done()
		exitedCh  = (<-chan struct{})(exited)
		stagesCh  = (<-chan int)(stages)
		statusCh  = (<-chan bwrapStatus)(statuses)
		chunksCh  = (<-chan Output)(chunks)
		wallCh    = wall.C
		compileOK = s.compile == nil
	)
	kill := func(why Reason) {
		if res.Reason == "" {
			res.Reason = why
		}
		if killed {
			return
		}
		killed = true
		cmd.Process.Kill()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if ns != 0 {
			sweep(s.uid, ns)
		}
	}
	for chunksCh != nil || exitedCh != nil || statusCh != nil || stagesCh != nil {
		select {
		case o, ok := <-chunksCh:
			if !ok {
				chunksCh = nil
				continue
			}
			if !started && o.Stream == Stderr && len(bwrapErr) < 1024 {
				bwrapErr = append(bwrapErr, o.Data...)
			}
			if left := lim.Output - sent; int64(len(o.Data)) > left {
				o.Data = o.Data[:max(left, 0)]
				kill(ReasonOutput)
			}
			if len(o.Data) > 0 {
				sent += int64(len(o.Data))
				out(o)
			}
		case st, ok := <-statusCh:
			if !ok {
				statusCh = nil
				continue
			}
			if st.PIDNS != 0 {
				ns, started = st.PIDNS, true
				if killed {
					sweep(s.uid, ns)
				}
			}
			if st.ExitCode != nil {
				exitCode = st.ExitCode
			}
		case code, ok := <-stagesCh:
			if !ok {
				stagesCh = nil
				continue
			}
			now := time.Now()
			res.Compile = now.Sub(start)
			if code == 0 && !killed {
				compileOK = true
				res.Stage, lim, stepStart = StageRun, s.limits, now
				cpuSeen, peak = 0, 0
				wall.Reset(lim.Wall)
			}
		case <-ticker.C:
			every = min(every*2, tick)
			ticker.Reset(every)
			if ns == 0 || killed {
				continue
			}
			t := scan(s.uid, ns)
			peak = max(peak, t.rss, t.hwm)
			cpuSeen = max(cpuSeen, t.cpu)
			switch {
			case t.rss > lim.Memory:
				kill(ReasonMemory)
			case t.cpu > lim.CPU:
				kill(ReasonTime)
			case t.tasks+1 >= lim.Processes:
				kill(ReasonProcesses)
			}
		case <-wallCh:
			wallCh = nil
			kill(ReasonTime)
		case <-done:
			done = nil
			kill(ReasonStopped)
		case <-exitedCh:
			exitedCh = nil
			if ns != 0 {
				if left := settle(s.uid, ns); left > 0 {
					r.log.Warn("runner: processes outlived their sandbox and were killed", "count", left)
				}
			}
			drain = time.After(drainFor)
		case <-drain:
			// Whatever still holds the pipes is not ours to wait for.
			drain = nil
			stdoutR.Close()
			stderrR.Close()
			statusR.Close()
			if stageR != nil {
				stageR.Close()
			}
		}
	}
	end := time.Now()
	res.Wall = end.Sub(stepStart)
	res.Output = sent
	ps := cmd.ProcessState
	res.CPU = max(ps.UserTime()+ps.SystemTime(), cpuSeen)
	// Not the rusage's maxrss: it counts this process's own memory, which
	// the child had before it became prlimit.
	res.PeakMemory = peak
	if !started && !killed {
		return res, fmt.Errorf("runner: the sandbox did not start (bwrap exited with %d)%s", ps.ExitCode(), firstLine(bwrapErr))
	}
	switch {
	case exitCode != nil:
		res.Exit = *exitCode
	case ps.Exited():
		res.Exit = ps.ExitCode()
	default:
		res.Exit = 128 + int(syscall.SIGKILL)
	}
	if !compileOK && res.Stage == StageRun {
		res.Stage = StageCompile
	}
	if res.Reason == "" {
		switch res.Exit {
		case 128 + int(syscall.SIGXCPU):
			res.Reason = ReasonTime
		case 128 + int(syscall.SIGXFSZ):
			res.Reason = ReasonFileSize
		case 128 + int(syscall.SIGKILL):
			if res.CPU >= lim.CPU {
				res.Reason = ReasonTime
			}
		}
	}
	return res, nil
}

// rlimitArgs are prlimit's arguments for l.
func rlimitArgs(l Limits, as int64, nprocBase int) []string {
	cpu := int64((l.CPU + time.Second - 1) / time.Second)
	return []string{
		fmt.Sprintf("--cpu=%d:%d", cpu, cpu+1),
		fmt.Sprintf("--as=%d", as),
		fmt.Sprintf("--nproc=%d", nprocBase+l.Processes),
		fmt.Sprintf("--nofile=%d", l.OpenFiles),
		fmt.Sprintf("--fsize=%d", l.FileSize),
		"--core=0",
	}
}

// rootBinds shows the toolchains: /usr and the top-level directories that
// hold programs and libraries, read-only (or as the symlinks they are on a
// merged-/usr host), and of /etc only what binaries and the dynamic linker
// need.
func rootBinds() []string {
	var args []string
	for _, d := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if t, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", t, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	return append(args, "--dir", "/etc",
		"--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
		"--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache")
}

// memFile returns a file holding b, read from its start, that lives in
// memory only.
func memFile(name string, b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("parley-"+path.Base(name), unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("runner: memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// pump passes what f gives to ch, in chunks of at most MaxChunk bytes,
// until f ends.
func pump(f *os.File, s Stream, ch chan<- Output) {
	for {
		buf := make([]byte, MaxChunk)
		n, err := f.Read(buf)
		if n > 0 {
			ch <- Output{Stream: s, Data: buf[:n]}
		}
		if err != nil {
			return
		}
	}
}

// cloexecInherited marks every descriptor of this process above stderr
// close-on-exec. Go opens its own so; what the process inherited from
// whatever started it (a service manager, a shell) is not, and would
// otherwise pass on into every sandbox.
func cloexecInherited() {
	if unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
}
