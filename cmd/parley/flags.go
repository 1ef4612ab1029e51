package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"parley/node"
)

// usage is what a command's -h says, besides its flags.
type usage struct {
	// synopsis is the arguments and the flags worth naming first, as in
	// "ID --yes" or "--candidate NAME --title TITLE"; the usage line adds
	// every other flag.
	synopsis string
	// help says what the command does.
	help string
	// examples are whole command lines, at least one.
	examples []string
	// ignores names global flags the command has no use for: they are
	// accepted (scripts may pass --data to every command) but not listed.
	ignores []string
}

// globalFlags are the flags every command accepts, in the order -h lists them.
var globalFlags = []string{"data", "store-key-file", "verbose"}

// flags returns a FlagSet for a command, with the global flags registered.
// Its Usage prints the whole -h text; parse it with parseArgs or
// parseInterspersed, which print one line for a mistake.
func (c *cli) flags(name string, u usage) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseInterspersed says what was wrong
	fs.StringVar(&c.dataDir, "data", c.dataDir, "the node's data `DIR` (default $PARLEY_HOME, else ~/.parley)")
	fs.StringVar(&c.storeKeyFile, "store-key-file", c.storeKeyFile, "`FILE` with the key encrypting the store at rest (default: the one given to init)")
	fs.BoolVar(&c.verbose, "verbose", c.verbose, "log everything the node does to stderr")
	fs.Usage = func() { c.printUsage(fs, u) }
	return fs
}

// printUsage prints a command's -h: the usage line with every flag, what it
// does, examples, and the flags.
func (c *cli) printUsage(fs *flag.FlagSet, u usage) {
	w := c.stderr
	fmt.Fprintf(w, "%s\n", wrapWords("usage: parley "+fs.Name()+" "+usageLine(fs, u), 80, len("usage: parley "+fs.Name()+" ")))
	if u.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(u.help))
	}
	if len(u.examples) > 0 {
		fmt.Fprintf(w, "\nexamples:\n")
		for _, e := range u.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	var own, global []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		switch {
		case slices.Contains(u.ignores, f.Name):
		case slices.Contains(globalFlags, f.Name):
			global = append(global, f)
		default:
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		fmt.Fprintf(w, "\nflags:\n")
		printFlags(w, own)
	}
	if len(global) > 0 {
		fmt.Fprintf(w, "\nglobal flags (also before the command):\n")
		printFlags(w, global)
	}
}

// mentioned matches the flags a synopsis names.
var mentioned = regexp.MustCompile(`--([a-z0-9-]+)`)

// usageLine returns the synopsis followed by every flag it does not name:
// the command's own, then the global ones.
func usageLine(fs *flag.FlagSet, u usage) string {
	named := map[string]bool{}
	for _, m := range mentioned.FindAllStringSubmatch(u.synopsis, -1) {
		named[m[1]] = true
	}
	var own, global []string
	fs.VisitAll(func(f *flag.Flag) {
		if named[f.Name] || slices.Contains(u.ignores, f.Name) {
			return
		}
		s := "[--" + f.Name
		if v, _ := flag.UnquoteUsage(f); v != "" && !isBool(f) {
			s += " " + v
		}
		s += "]"
		if _, ok := f.Value.(*listFlag); ok {
			s += "..."
		}
		if slices.Contains(globalFlags, f.Name) {
			global = append(global, s)
		} else {
			own = append(own, s)
		}
	})
	return strings.Join(slices.DeleteFunc(append([]string{u.synopsis}, append(own, global...)...), func(s string) bool { return s == "" }), " ")
}

// printFlags lists flags as the flag package does, with two dashes.
func printFlags(w io.Writer, fl []*flag.Flag) {
	for _, f := range fl {
		name, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" && !isBool(f) {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(text, "\n", "\n    \t"))
	}
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// wrapWords wraps s at width columns, indenting continuation lines; it
// breaks lines only between words outside brackets, so that "[--file F]"
// stays whole.
func wrapWords(s string, width, indent int) string {
	indent = min(indent, width/2)
	var units []string
	depth, start := 0, 0
	for i, r := range s + " " {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth = max(depth-1, 0)
		case r == ' ' && depth == 0:
			if i > start {
				units = append(units, s[start:i])
			}
			start = i + 1
		}
	}
	var b strings.Builder
	col := 0
	for i, u := range units {
		switch {
		case i == 0:
		case col+1+len(u) > width:
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = indent
		default:
			b.WriteString(" ")
			col++
		}
		b.WriteString(u)
		col += len(u)
	}
	return b.String()
}

// parseInterspersed parses flags wherever they appear among the arguments,
// so that `session show ID --json` works, and returns the positional
// arguments. With stopAfter > 0, parsing stops at that many positional
// arguments and the rest is returned untouched (for subcommands). -h prints
// the usage and returns flag.ErrHelp; a mistake returns a usage error of one
// line saying which flag and why.
func parseInterspersed(fs *flag.FlagSet, args []string, stopAfter int) ([]string, error) {
	full := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = full }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				full()
				return nil, err
			}
			return nil, flagError(fs, err)
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

// The flag package's mistakes, as its Parse words them.
var (
	flagUndefined = regexp.MustCompile(`^flag provided but not defined: -(.+)$`)
	flagBadValue  = regexp.MustCompile(`^invalid value ("(?:[^"\\]|\\.)*") for flag -([^:]+): (.*)$`)
	flagBadBool   = regexp.MustCompile(`^invalid boolean value ("(?:[^"\\]|\\.)*") for -([^:]+): `)
	flagNoValue   = regexp.MustCompile(`^flag needs an argument: -(.+)$`)
)

// flagError turns the flag package's error into one line for people: which
// flag, what is wrong with it, and where to read more.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := flagUndefined.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("unknown flag --%s", m[1])
	} else if m := flagBadValue.FindStringSubmatch(msg); m != nil {
		value, name, why := m[1], m[2], m[3]
		switch why {
		case "parse error":
			why = "is not " + valueKind(fs.Lookup(name))
		case "value out of range":
			why = "is out of range"
		}
		msg = fmt.Sprintf("--%s %s %s", name, value, why)
		if strings.Contains(why, value) { // our own Values name the value
			msg = fmt.Sprintf("--%s: %s", name, why)
		}
	} else if m := flagBadBool.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("--%s takes no value (or =true, =false), not %s", m[2], m[1])
	} else if m := flagNoValue.FindStringSubmatch(msg); m != nil {
		what := "a value"
		if f := fs.Lookup(m[1]); f != nil {
			if v, _ := flag.UnquoteUsage(f); v != "" {
				what = v
			}
		}
		msg = fmt.Sprintf("--%s needs %s after it", m[1], what)
	}
	cmd := "parley -h"
	if fs.Name() != "parley" {
		cmd = "parley " + fs.Name() + " -h"
	}
	return usagef("%s: %s (see `%s`)", fs.Name(), msg, cmd)
}

// valueKind says what a flag's value must be.
func valueKind(f *flag.Flag) string {
	if f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			switch g.Get().(type) {
			case int, int64, uint, uint64:
				return "a whole number"
			case float64:
				return "a number"
			case time.Duration:
				return "a duration (examples: 90d, 1h30m, 45m)"
			}
		}
	}
	return "a valid value"
}

// parseArgs parses a command's flags and checks it got exactly the
// positional arguments named in want.
func parseArgs(fs *flag.FlagSet, args []string, want ...string) ([]string, error) {
	pos, err := parseInterspersed(fs, args, 0)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(want) {
		see := fmt.Sprintf(" (see `parley %s -h`)", fs.Name())
		if len(want) == 0 {
			return nil, usagef("%s takes no arguments, got %q%s", fs.Name(), strings.Join(pos, " "), see)
		}
		return nil, usagef("%s needs %s (got %d arguments)%s", fs.Name(), strings.Join(want, " "), len(pos), see)
	}
	return pos, nil
}

// isFlagSet reports whether the flag name was given.
func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
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
	return formatDuration(*f.d)
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

// formatDuration formats a duration as people write it: 7d, 1d12h, 1h,
// 1h30m, 45m.
func formatDuration(d time.Duration) string {
	return node.FormatLongDuration(d)
}

// durationText reformats a duration the node gave as text ("24h"); text
// that is not a duration is returned as it is.
func durationText(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return formatDuration(d)
}
