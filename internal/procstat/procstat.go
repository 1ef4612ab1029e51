// Package procstat reads what Linux's /proc says of a process's memory and
// CPU time, for the benchmarks that report a participant's cost.
//
// A process's resident set (VmRSS) counts the pages of its executable that
// are in memory, and a Go binary of this size is mostly code: the kernel
// may map it in huge pages, so that tens of MB of clean, file-backed pages
// show in an Automerge worker's RSS that hardly runs any of them. Those
// pages are the page cache's, shared with every process of the same binary
// (the node and its workers); Anon is what the process itself allocated,
// and PSS shares the mapped pages among the processes that map them.
package procstat

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Memory is a process's resident memory, in bytes.
type Memory struct {
	RSS  int64 // VmRSS: every resident page mapped
	Anon int64 // RssAnon: its own (heap, stacks; Automerge's heap in a worker)
	File int64 // RssFile: pages of mapped files, its executable's code most of all
	PSS  int64 // proportional set size: shared pages split among their processes
}

// Read reads a process's memory.
func Read(pid int) (Memory, error) {
	var m Memory
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for _, f := range []struct {
		key string
		to  *int64
	}{{"VmRSS:", &m.RSS}, {"RssAnon:", &m.Anon}, {"RssFile:", &m.File}} {
		*f.to = kbField(string(status), f.key)
	}
	if rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		m.PSS = kbField(string(rollup), "Pss:")
	}
	return m, nil
}

// Add returns the sum of two readings.
func (m Memory) Add(o Memory) Memory {
	return Memory{RSS: m.RSS + o.RSS, Anon: m.Anon + o.Anon, File: m.File + o.File, PSS: m.PSS + o.PSS}
}

// kbField reads "Key:   123 kB" from a /proc file, in bytes.
func kbField(text, key string) int64 {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, key); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// CPU returns a process's CPU time, user and system.
func CPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// Children lists the processes whose parent is pid.
func Children(pid int) []int {
	var out []int
	me := strconv.Itoa(pid)
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		data, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		if len(fields) > 1 && fields[1] == me {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
			out = append(out, child)
		}
	}
	return out
}
