// Package runner runs a session's code in a sandbox: the toolchains found on
// this host (Python 3, JavaScript on Node, Go, C, C++, Java, and what a
// config file adds), one job at a time per slot, with its output streamed as
// it comes and its end described (exit status, which limit stopped it, wall
// and CPU time, peak memory).
//
// # The sandbox: bubblewrap
//
// Every run happens inside bubblewrap (bwrap), never outside it: a host
// without bwrap gets an error from Detect and nothing runs. Why bubblewrap
// and not nsjail, firejail or a container runtime:
//
//   - It is a Debian package (`apt install bubblewrap`, in stable and every
//     supported release), maintained because Flatpak depends on it; nsjail
//     is not packaged in Debian stable, so it would be a binary we build and
//     patch ourselves.
//   - It works unprivileged (user namespaces) and as root alike, with no
//     setuid helper and no daemon: one process per run, gone when the run
//     ends.
//   - It does one thing, namespaces and mounts, and lets us add the rest
//     (rlimits, accounting, killing) around it; it needs no cgroup, so it
//     works on cgroup v1, cgroup v2 and cgroup-less hosts alike, which is
//     where Judge0's isolate fails (it needs cgroup v1 or a delegated v2).
//
// What a run gets (see sandbox.go): new user, mount, PID, IPC, UTS, cgroup
// and network namespaces (--unshare-all: no network at all, not even the
// host's loopback; the sandbox's own loopback reaches nothing), no
// capabilities, no further user namespaces; read-only binds of /usr, /lib*,
// /bin, /sbin, /etc/alternatives, /etc/ld.so.cache and the directories a
// toolchain declares (Java's /etc/java-*), and nothing else of the host: no
// /home, no /root, no data directory, no keys, no /sys; a fresh /proc of the
// new PID namespace and a minimal /dev; a fresh, size-bounded tmpfs as the
// working directory (/work, holding every file of the job) and another as
// /tmp. bwrap runs with --die-with-parent and --new-session (no TIOCSTI onto
// a terminal).
//
// # Limits
//
// Limits are rlimits, set by prlimit(1) (util-linux, essential in Debian)
// just before it execs bwrap, plus what this package watches from outside
// by reading /proc: wall time (a timer), CPU time (RLIMIT_CPU per process,
// and the sum over the sandbox's processes), memory (RLIMIT_AS per process,
// with headroom for runtimes that reserve address space up front: the JVM
// and V8, whose heaps are bounded to the limit by flags, and Go's runtime;
// and the sum of resident memory over the sandbox's processes, watched
// every few milliseconds), processes (RLIMIT_NPROC), open files (RLIMIT_NOFILE), file
// size (RLIMIT_FSIZE, and the tmpfs sizes), output (counted here; the run
// is stopped past the limit). None of them needs a cgroup, so they hold the
// same on every host; Limits says which are in force.
//
// When the node runs as root, each concurrent run gets a host user ID of
// its own (UIDBase + slot) before bwrap starts, so RLIMIT_NPROC counts that
// run's processes only, and a sandbox escape would land on an unprivileged
// user. When it does not, runs share the node's user ID, and the process
// limit is the node user's process count plus the limit, which a host
// running other work as that user should know.
//
// Everything a run started is killed when it ends: bwrap's PID namespace
// dies with it (the main program's exit, the wall timer, a limit, the
// caller's context), and the package then sweeps /proc for anything left in
// that namespace and kills it.
package runner
