package runner

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// What the runner sees of a sandbox's processes, from /proc: no cgroup
// needed. A process belongs to a run when it runs as the run's user ID and
// lives in the run's PID namespace.

// clockTick is the unit of /proc/PID/stat times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

var pageSize = int64(os.Getpagesize())

// tally sums a sandbox's live processes.
type tally struct {
	pids  []int
	tasks int           // processes and threads
	cpu   time.Duration // user and system time
	rss   int64         // resident bytes
	hwm   int64         // the most resident bytes of one process so far (VmHWM)
}

// scan finds the processes of uid in the PID namespace ns.
func scan(uid uint32, ns uint64) tally {
	var t tally
	d, err := os.Open("/proc")
	if err != nil {
		return t
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	want := "pid:[" + strconv.FormatUint(ns, 10) + "]"
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		dir := "/proc/" + name
		var st syscall.Stat_t
		if syscall.Stat(dir, &st) != nil || st.Uid != uid {
			continue
		}
		if l, err := os.Readlink(dir + "/ns/pid"); err != nil || l != want {
			continue
		}
		b, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		f := statFields(b)
		if len(f) < 22 || f[0] == "Z" || f[0] == "X" {
			continue // a zombie holds nothing, and is gone once reaped
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		threads, _ := strconv.Atoi(f[17])
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		t.pids = append(t.pids, pid)
		t.hwm = max(t.hwm, vmHWM(dir))
		t.cpu += time.Duration(utime+stime) * clockTick
		t.tasks += max(threads, 1)
		t.rss += rss * pageSize
	}
	return t
}

// vmHWM returns a process's peak resident memory, from /proc/PID/status.
func vmHWM(dir string) int64 {
	b, err := os.ReadFile(dir + "/status")
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(b, []byte("\nVmHWM:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	f := bytes.Fields(line) // "1234 kB"
	if len(f) == 0 {
		return 0
	}
	kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return kb << 10
}

// statFields returns the fields of /proc/PID/stat after the command name
// (which may hold spaces and parentheses): state is field 0.
func statFields(b []byte) []string {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	var out []string
	for _, f := range bytes.Fields(b[i+1:]) {
		out = append(out, string(f))
	}
	return out
}

// sweep kills what is left of uid in the PID namespace ns and returns how
// many it found.
func sweep(uid uint32, ns uint64) int {
	n := 0
	for range 3 {
		t := scan(uid, ns)
		if len(t.pids) == 0 {
			break
		}
		n = max(n, len(t.pids))
		for _, pid := range t.pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

// settle waits for a finished sandbox's PID namespace to empty (the
// kernel kills what is left in it once its init has exited), then kills
// whatever lingers and returns how many that was.
func settle(uid uint32, ns uint64) int {
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); {
		if len(scan(uid, ns).pids) == 0 {
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
	return sweep(uid, ns)
}

// tasksOf counts the processes and threads uid runs now.
func tasksOf(uid uint32) int {
	d, err := os.Open("/proc")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	n := 0
	for _, name := range names {
		if _, err := strconv.Atoi(name); err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+name, &st) != nil || st.Uid != uid {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		if f := statFields(b); len(f) > 17 {
			th, _ := strconv.Atoi(f[17])
			n += max(th, 1)
		}
	}
	return n
}
