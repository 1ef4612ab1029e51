package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"parley/node"
	"parley/runner"
)

// Exit statuses of `parley run` when the sandbox stopped the program (as
// timeout(1) does for time).
const (
	exitRunTime    = 124 // it ran out of time
	exitRunLimit   = 125 // memory, output, processes or file size
	exitRunStopped = 130 // someone pressed Stop
)

func (c *cli) cmdRun(args []string) error {
	fs := c.flags("run", usage{
		synopsis: "ID [--file F] [--stdin FILE] [--json]",
		help: `
Runs a session's code as it is now, through the running node, on a runner
the session trusts (the company node, else an interviewer's node started with
` + "`parley up --runner`" + `), in its sandbox. Everyone in the session sees the run
start, its output and its end. Prints the program's output as it comes, its
standard output and error apart, and exits with the program's exit status;
when the sandbox stopped the program, it says why on stderr and exits with
124 (time) or 125 (memory, output, processes, file size); 130 when someone
stopped the run. With --json it prints the run when it ends instead.`,
		examples: []string{"parley run 7kq3m2xa", "parley run 7kq3m2xa --file main.py --stdin input.txt"},
	})
	file := fs.String("file", "", "the session's `FILE` to run (default: the active one)")
	lang := fs.String("lang", "", "its `LANGUAGE`: python, javascript, go, c, cpp, java... (default: the session's for the file, else from its name)")
	stdinFile := fs.String("stdin", "", "give the program this local `FILE` as its input (- for this command's own input)")
	asJSON := fs.Bool("json", false, "print the run (its output, result, runner, version) as JSON when it ends")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	req := node.RunRequest{Main: *file, Lang: *lang}
	switch *stdinFile {
	case "":
	case "-":
		b, err := io.ReadAll(io.LimitReader(os.Stdin, runner.MaxStdin+1))
		if err != nil {
			return err
		}
		if len(b) > runner.MaxStdin {
			return fmt.Errorf("the input is over the limit of %d bytes", runner.MaxStdin)
		}
		req.Stdin = string(b)
	default:
		b, err := readLimited(*stdinFile, runner.MaxStdin)
		if err != nil {
			return err
		}
		req.Stdin = string(b)
	}
	var res node.CodeRun
	err = c.withBackend(func(n backend) error {
		if err := c.requireRunning(n); err != nil {
			return err
		}
		var err error
		res, err = n.RunCode(c.ctx, pos[0], req, func(ev node.RunEvent) {
			switch {
			case *asJSON:
			case ev.Type == "start" && c.verbose:
				fmt.Fprintf(c.stderr, "parley: running %s on %s: %s\n", ev.Run.Main, oneLine(ev.Run.Runner), oneLine(strings.Join(ev.Run.Command, " && ")))
			case ev.Type == "output" && ev.Stream == "stderr":
				io.WriteString(c.stderr, ev.Data)
			case ev.Type == "output":
				io.WriteString(c.stdout, ev.Data)
			}
		})
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := c.printJSON(res); err != nil {
			return err
		}
	}
	return runOutcome(res)
}

// runOutcome turns how a run ended into the command's exit status.
func runOutcome(r node.CodeRun) error {
	if r.State != node.RunDone || r.Result == nil {
		return fmt.Errorf("the run did not finish: %s", oneLine(r.Error))
	}
	res := r.Result
	note := ""
	if r.Incomplete {
		note = " (some of its output was lost on the way)"
	}
	switch runner.Reason(res.Reason) {
	case "":
		if res.Stage == runner.StageCompile && res.Exit != 0 {
			return exitError{code: res.Exit, msg: "the program did not compile" + note}
		}
		if note != "" {
			return exitError{code: res.Exit, msg: strings.TrimPrefix(note, " ")}
		}
		return exitError{code: res.Exit}
	case runner.ReasonTime:
		return exitError{code: exitRunTime, msg: fmt.Sprintf("the sandbox stopped the program: it ran out of time (%d ms, %d ms of CPU)%s", res.WallMS, res.CPUMS, note)}
	case runner.ReasonStopped:
		return exitError{code: exitRunStopped, msg: "the run was stopped" + note}
	}
	what := map[runner.Reason]string{
		runner.ReasonMemory:    "it used too much memory",
		runner.ReasonOutput:    "it printed too much",
		runner.ReasonProcesses: "it started too many processes",
		runner.ReasonFileSize:  "it wrote too large a file",
	}[runner.Reason(res.Reason)]
	if what == "" {
		what = "limit: " + oneLine(res.Reason)
	}
	return exitError{code: exitRunLimit, msg: "the sandbox stopped the program: " + what + note}
}

// runSummary says in a few words how a run ended, for the timeline.
func runSummary(r *node.TimelineRun) string {
	switch {
	case r.State == node.RunRunning:
		return "run: running"
	case r.Result == nil:
		return "run: failed: " + oneLine(r.Error)
	case r.Result.Reason != "":
		return fmt.Sprintf("run: stopped (%s) after %d ms", oneLine(r.Result.Reason), r.Result.WallMS)
	}
	return fmt.Sprintf("run: exit %d, %d ms", r.Result.Exit, r.Result.WallMS)
}
