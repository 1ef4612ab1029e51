package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

var errFlagParse = errors.New("bad flags")

// flags returns a FlagSet for a command, with the global flags registered.
// synopsis and help make its usage text.
func (c *cli) flags(name, synopsis, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.dataDir, "data", c.dataDir, "the node's data `DIR` (default $PARLEY_HOME, else ~/.parley)")
	fs.StringVar(&c.storeKeyFile, "store-key-file", c.storeKeyFile, "`FILE` with the key encrypting the store at rest (default: the one given to init)")
	fs.BoolVar(&c.verbose, "verbose", c.verbose, "log everything the node does to stderr")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: parley %s %s\n", name, synopsis)
		if help != "" {
			fmt.Fprintf(c.stderr, "\n%s\n", strings.TrimSpace(help))
		}
		fmt.Fprintf(c.stderr, "\nflags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags wherever they appear among the arguments,
// so that `session show ID --json` works, and returns the positional
// arguments. With stopAfter > 0, parsing stops at that many positional
// arguments and the rest is returned untouched (for subcommands).
func parseInterspersed(fs *flag.FlagSet, args []string, stopAfter int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errFlagParse
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse stops at "--" after consuming it: all else is positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		if stopAfter > 0 && len(pos) == stopAfter {
			return append(pos, rest[1:]...), nil
		}
		args = rest[1:]
	}
}

// args parses a command's flags and checks it got exactly the positional
// arguments named in want.
func parseArgs(fs *flag.FlagSet, args []string, want ...string) ([]string, error) {
	pos, err := parseInterspersed(fs, args, 0)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(want) {
		if len(want) == 0 {
			return nil, usagef("%s takes no arguments, got %q", fs.Name(), strings.Join(pos, " "))
		}
		return nil, usagef("%s needs %s (got %d arguments)", fs.Name(), strings.Join(want, " "), len(pos))
	}
	return pos, nil
}

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// durationFlag accepts Go durations plus days and weeks: 90d, 1w, 1d12h.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

// parseDuration parses durations like 90d, 2w, 1d12h, 1h30m and 45m. It
// refuses zero and negative ones: every duration Parley asks for is positive.
func parseDuration(s string) (time.Duration, error) {
	rest := strings.TrimSpace(s)
	var total time.Duration
	for rest != "" {
		i := strings.IndexAny(rest, "dw")
		if i < 0 {
			d, err := time.ParseDuration(rest)
			if err != nil {
				return 0, fmt.Errorf("%q is not a duration (examples: 90d, 2w, 1h30m, 45m)", s)
			}
			total += d
			break
		}
		n, err := strconv.ParseUint(rest[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (examples: 90d, 2w, 1h30m, 45m)", s)
		}
		unit := 24 * time.Hour
		if rest[i] == 'w' {
			unit *= 7
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", s)
	}
	return total, nil
}
