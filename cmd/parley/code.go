package main

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"parley/node"
)

func (c *cli) cmdCode(args []string) error {
	fs := c.flags("code", "ID [--file F] [--load PATH]", `
Prints the current code of a session's file (default: the active one), byte
for byte, through the running node. With --load, replaces the file's text
with a local file's (creating the file; interviewers only).`)
	file := fs.String("file", "", "the session's `FILE` (default: the active one; with --load, the local file's name)")
	load := fs.String("load", "", "replace the file's text with this local `PATH`'s")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	if *load != "" {
		text, err := readLimited(*load, 4<<20)
		if err != nil {
			return err
		}
		name := *file
		if name == "" {
			name = filepath.Base(*load)
		}
		return c.withBackend(func(n backend) error {
			if err := n.LoadFile(c.ctx, pos[0], name, string(text)); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Loaded %s into %s (%d bytes).\n", *load, name, len(text))
			return nil
		})
	}
	return c.withBackend(func(n backend) error {
		text, _, err := n.Code(c.ctx, pos[0], *file)
		if err != nil {
			return err
		}
		_, err = c.stdout.Write([]byte(text))
		return err
	})
}

func (c *cli) cmdReplay(args []string) error {
	fs := c.flags("replay", "ID [--json] [--at TIME [--file F]]", `
Prints the timeline of a session's code, through the running node: each
change with its time, who made it, the file, and how many characters it
inserted and deleted. With --at, prints the code as it was at that moment
(RFC3339) instead.`)
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
			return usagef("--at %q is not an RFC3339 time", *at)
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
			who := e.Participant
			if who == "" {
				who = e.Peer
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", e.Time.UTC().Format("2006-01-02 15:04:05.000"), oneLine(who), oneLine(e.File), e.Inserted, e.Deleted)
		}
		return tw.Flush()
	})
}
