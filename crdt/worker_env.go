package crdt

import (
	"os"
	"os/exec"
)

// WorkerEnv, set to 1 in a process's environment, makes MaybeServeWorker
// serve as the worker, as does WorkerArg as the first argument: the parley
// binary and test binaries (whose TestMain calls MaybeServeWorker first)
// both become workers so.
const WorkerEnv = "PARLEY_CRDT_WORKER"

// MaybeServeWorker serves as the worker and exits when WorkerEnv is set or
// the first argument is WorkerArg; otherwise it returns at once.
func MaybeServeWorker() {
	if os.Getenv(WorkerEnv) != "1" && (len(os.Args) < 2 || os.Args[1] != WorkerArg) {
		return
	}
	if err := ServeWorker(os.Stdin, os.Stdout); err != nil {
		os.Stderr.WriteString("crdt worker: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}

// ReexecCommand runs the current executable as a worker through WorkerEnv:
// for tests, as WorkerConfig.Command.
func ReexecCommand() *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	return cmd
}
