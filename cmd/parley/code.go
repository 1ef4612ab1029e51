package main

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"parley/crdt"
	"parley/node"
)

// recentEdit is how recent a change to a file makes --load ask for --yes:
// someone may be typing in it.
const recentEdit = time.Minute

func (c *cli) cmdCode(args []string) error {
	fs := c.flags("code", usage{
		synopsis: "ID [--file F] [--load PATH [--yes]]",
		help: `
Prints the current code of a session's file (default: the active one), byte
for byte, through the running node. With --load, replaces the file's text
with a local file's (creating the file; interviewers only), and says what it
replaced; when someone else changed the file in the last minute, they may
be typing in it: confirm with --yes. File names have no folders (main.go, not
src/main.go).`,
		examples: []string{"parley code 7kq3m2xa", "parley code 7kq3m2xa --file main.go --load ./main.go"},
	})
	file := fs.String("file", "", "the session's `FILE` (default: the active one; with --load, the local file's name)")
	load := fs.String("load", "", "replace the file's text with this local `PATH`'s")
	yes := fs.Bool("yes", false, "with --load: replace the file even if someone changed it in the last minute")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	if *file != "" {
		if err := checkFileName(*file); err != nil {
			return err
		}
	}
	if *load == "" {
		return c.withBackend(func(n backend) error {
			text, _, err := n.Code(c.ctx, pos[0], *file)
			if err != nil {
				return err
			}
			_, err = c.stdout.Write([]byte(text))
			return err
		})
	}
	name := *file
	if name == "" {
		name = filepath.Base(*load)
	}
	text, err := readLimited(*load, 4<<20)
	if err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		s, err := n.Session(c.ctx, pos[0])
		if err != nil {
			return err
		}
		if s.Role != node.RoleInterviewer {
			return n.LoadFile(c.ctx, s.ID, name, string(text)) // the node says who may
		}
		old, _, err := n.Code(c.ctx, s.ID, name)
		exists := err == nil
		if err != nil && !errors.Is(err, node.ErrNotFound) {
			return err
		}
		if exists && old == string(text) {
			fmt.Fprintf(c.stderr, "%s already holds the text of %s; nothing changed.\n", name, *load)
			return nil
		}
		// The last change by someone else: this node's own (through its
		// page or an earlier load) are its user's, who knows.
		var last *node.TimelineEntry
		if exists {
			info, err := n.Info(c.ctx)
			if err != nil {
				return err
			}
			tl, err := n.Timeline(c.ctx, s.ID)
			if err != nil {
				return err
			}
			for i := range tl {
				if tl[i].File == name && tl[i].Peer != info.Peer {
					last = &tl[i]
				}
			}
		}
		if last != nil && time.Since(last.Time) < recentEdit && !*yes {
			return usagef("%s changed %s %s ago: they may be typing in it, and loading replaces its whole text for everyone; confirm with --yes (to see it first: parley code %s --file %s)",
				editor(*last), name, formatDuration(max(time.Since(last.Time).Truncate(time.Second), time.Second)), shortID(s.ID), name)
		}
		if err := n.LoadFile(c.ctx, s.ID, name, string(text)); err != nil {
			return err
		}
		switch {
		case !exists:
			fmt.Fprintf(c.stderr, "Loaded %s into %s, a new file (%d bytes).\n", *load, name, len(text))
		case last != nil:
			fmt.Fprintf(c.stderr, "Loaded %s into %s (%d bytes), replacing its %d bytes, last changed by %s at %s.\n", *load, name, len(text), len(old), editor(*last), last.Time.UTC().Format("15:04:05 MST"))
		default:
			fmt.Fprintf(c.stderr, "Loaded %s into %s (%d bytes), replacing its %d bytes.\n", *load, name, len(text), len(old))
		}
		return nil
	})
}

// editor names who made a change of the timeline.
func editor(e node.TimelineEntry) string {
	if e.Participant != "" {
		return oneLine(e.Participant)
	}
	return "peer " + shortPeer(e.Peer)
}

// checkFileName refuses names a session's document does not take, saying
// why in the command line's words.
func checkFileName(name string) error {
	switch {
	case strings.ContainsAny(name, `/\`):
		base := name[strings.LastIndexAny(name, `/\`)+1:]
		return usagef("--file %q: a session's files have plain names, without folders: give --file %s", name, cmp.Or(base, "NAME"))
	case strings.ContainsAny(name, "\r\n\x00") || !utf8.ValidString(name):
		return usagef("--file %q: a file name is text without line breaks", name)
	case name == "" || len(name) > crdt.MaxNameLen:
		return usagef("--file %q: a file name has 1 to %d bytes", name, crdt.MaxNameLen)
	}
	return nil
}

func (c *cli) cmdReplay(args []string) error {
	fs := c.flags("replay", usage{
		synopsis: "ID [--json] [--at TIME [--file F]]",
		help: `
Prints the timeline of a session's code, through the running node: each
change with its time, who made it, the file, and how many characters it
inserted and deleted, and each run of the code with who pressed Run and how
it ended. With --at, prints the code as it was at that moment (RFC3339)
instead.`,
		examples: []string{"parley replay 7kq3m2xa", "parley replay 7kq3m2xa --at 2026-12-01T14:32:00Z --file main.go"},
	})
	asJSON := fs.Bool("json", false, "print the timeline as JSON")
	at := fs.String("at", "", "print the code as it was at this `TIME` (RFC3339)")
	file := fs.String("file", "", "with --at: the `FILE` (default: the one active then)")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	if *at != "" {
		t, err := time.Parse(time.RFC3339Nano, *at)
		if err != nil {
			return usagef("--at %q is not an RFC3339 time (example: 2026-12-01T14:32:00Z)", *at)
		}
		return c.withBackend(func(n backend) error {
			text, _, err := n.CodeAt(c.ctx, pos[0], *file, t)
			if err != nil {
				return err
			}
			_, err = c.stdout.Write([]byte(text))
			return err
		})
	}
	return c.withBackend(func(n backend) error {
		tl, err := n.Timeline(c.ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			if tl == nil {
				tl = []node.TimelineEntry{}
			}
			return c.printJSON(tl)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "TIME\tPARTICIPANT\tFILE\tINSERTED\tDELETED\n")
		for _, e := range tl {
			when, who := e.Time.UTC().Format("2006-01-02 15:04:05.000"), editor(e)
			if e.Time.Year() < 2000 {
				// The session's starter file: made by every node alike, at
				// time zero, by nobody (see node/starter.go).
				when, who = "(the start)", "(starter file)"
			}
			if e.Run != nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", when, who, oneLine(e.File), runSummary(e.Run))
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", when, who, oneLine(e.File), e.Inserted, e.Deleted)
		}
		return tw.Flush()
	})
}
