// Command parley runs Parley, a self-hosted, peer-to-peer platform for live
// technical interviews: it makes and runs this machine's node, manages the
// company's team and interview sessions, and checks links.
//
// Run `parley help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // time zones for invite emails, on machines without a zoneinfo database

	"parley/crdt"
	"parley/node"
)

func main() {
	crdt.MaybeServeWorker()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// cli is one invocation of the command line.
type cli struct {
	// interactive is set when stdin is a terminal: a person, not a
	// script, runs the command (joining as the candidate asks them to
	// confirm; a script is warned and goes on).
	interactive bool
	ctx         context.Context
	stdout      io.Writer
	stderr      io.Writer
	getenv      func(string) string

	// Global flags, accepted before the command and by every command.
	dataDir      string
	storeKeyFile string
	verbose      bool
}

type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) error
}

// commands are the top-level commands, in the order help lists them.
func commands() []command {
	return []command{
		{"demo", "start a whole interview on this machine: company, relay, interviewer, candidate", (*cli).cmdDemo},
		{"init", "create this node's keys and settings (--org makes a company node)", (*cli).cmdInit},
		{"id", "print this node's peer ID", (*cli).cmdID},
		{"team", "manage the company's team: add, accept, list, remove", (*cli).cmdTeam},
		{"session", "manage interviews: create, list, show, cancel, email, start, end, leave, release-seat", (*cli).cmdSession},
		{"invite", "check an interview link: inspect", (*cli).cmdInvite},
		{"up", "run this machine's node until Ctrl-C", (*cli).cmdUp},
		{"open", "print the running node's web app address, with a fresh way in", (*cli).cmdOpen},
		{"join", "take part in the interview of a link (through the running node)", (*cli).cmdJoin},
		{"relay", "run the admin's relay and bootstrap node until Ctrl-C", (*cli).cmdRelay},
		{"code", "print a session's code, or load a file into it", (*cli).cmdCode},
		{"run", "run a session's code on a runner, printing its output as it comes", (*cli).cmdRun},
		{"replay", "print the timeline of a session's code, or the code at a moment", (*cli).cmdReplay},
		{"media", "check audio and video: check", (*cli).cmdMedia},
		{"notes", "print the interviewers' private notes of a session, or add to them", (*cli).cmdNotes},
		{"feedback", "record a session's feedback once, and read it: submit, draft, claim, show, list", (*cli).cmdFeedback},
	}
}

// usageError is a mistake in how a command was called; it exits with 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError ends a command with a status of its own (`parley run` passes
// on its program's), after msg on stderr, if any.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return fmt.Sprintf("exit status %d: %s", e.code, e.msg) }

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	return runWith(ctx, args, stdout, stderr, getenv, stdinIsTerminal())
}

// stdinIsTerminal reports whether a person may be at the keyboard.
func stdinIsTerminal() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// runWith is run, told whether a person runs it at a terminal (interactive)
// or a script does.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, interactive bool) int {
	c := &cli{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv, interactive: interactive}
	err := c.dispatch(args)
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintf(stderr, "parley: %s\n", ee.msg)
		}
		return ee.code
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "parley: %s\n", ue.msg)
		return 2
	}
	fmt.Fprintf(stderr, "parley: %s\n", errorText(err))
	return 1
}

func (c *cli) dispatch(args []string) error {
	fs := c.flags("parley", usage{})
	fs.Usage = func() { c.usage(fs) }
	rest, err := parseInterspersed(fs, args, 1)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		c.usage(fs)
		return usagef("no command given")
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) > 0 {
			return c.dispatch(append(rest, "-h"))
		}
		c.usage(fs)
		return nil
	}
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd.run(c, rest)
		}
	}
	return usagef("unknown command %q (run `parley help` for the list)", name)
}

func (c *cli) usage(fs *flag.FlagSet) {
	w := c.stderr
	fmt.Fprintf(w, "Parley: live technical interviews, peer to peer.\n\nusage: parley [--data DIR] [--store-key-file FILE] [--verbose] COMMAND [ARGS]\n\ncommands:\n")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "\nexamples:\n  parley demo\n  parley help session\n  parley session create -h\n")
	fmt.Fprintf(w, "\nRun `parley COMMAND -h` (or `parley help COMMAND`) for a command's flags.\n\nglobal flags:\n")
	var global []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { global = append(global, f) })
	printFlags(w, global)
}

// logger returns the logger commands give the node: warnings and errors on
// stderr, or everything with --verbose.
func (c *cli) logger() *slog.Logger {
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
}

// open opens this machine's node.
func (c *cli) open() (*node.Node, error) {
	return node.New(node.Config{Dir: c.dir(), StoreKeyFile: c.storeKeyFile, Logger: c.logger()})
}

// dir returns the data directory named by --data or the environment.
func (c *cli) dir() string {
	if c.dataDir != "" {
		return c.dataDir
	}
	return c.getenv("PARLEY_HOME")
}

// printf writes to standard output.
func (c *cli) printf(format string, args ...any) { fmt.Fprintf(c.stdout, format, args...) }

// oneLine replaces line breaks, so that a value from outside cannot forge
// lines of output.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}
