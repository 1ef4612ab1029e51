package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"parley/invite"
)

func (c *cli) cmdInvite(args []string) error {
	return c.subcommand("invite", args, []command{
		{"inspect", "check a link's signature and validity and show what it holds", (*cli).inviteInspect},
	})
}

// inspection is the JSON form of `invite inspect`.
type inspection struct {
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty"`
	invite.Summary
}

func (c *cli) inviteInspect(args []string) error {
	fs := c.flags("invite inspect", usage{
		synopsis: "LINK [--json]",
		help: `
Checks an interview link: its encoding, version and signature, and whether it
is valid now; shows the organisation, title, candidate, block, times, the
TURN server (never its credentials) and the company key's fingerprint. Exits
non-zero, naming the failed check, for a bad link. Needs no node.`,
		examples: []string{"parley invite inspect 'parley://join/AUkK...'", "parley invite inspect 'https://interviews.acme.example/join#AUkK...' --json"},
		ignores:  globalFlags,
	})
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args, "LINK")
	if err != nil {
		return err
	}
	inv, err := invite.Parse(pos[0])
	if err != nil {
		return err
	}
	in := inspection{Summary: inv.Summary()}
	checkErr := inv.Check(time.Now())
	in.Valid = checkErr == nil
	if checkErr != nil {
		in.Error = checkErr.Error()
	}
	if *asJSON {
		if err := c.printJSON(in); err != nil {
			return err
		}
		return checkErr
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, oneLine(v)) }
	row("Organisation", inv.Org)
	row("Company key", in.CompanyKey)
	row("Title", inv.Title)
	row("Candidate", inv.Candidate)
	row("Block", fmt.Sprintf("%d of %d", inv.Block, inv.Blocks))
	row("Starts", invite.FormatTime(inv.Starts))
	row("Duration", formatDuration(inv.Duration))
	row("Valid", fmt.Sprintf("from %s until %s", invite.FormatTime(inv.ValidFrom), invite.FormatTime(inv.ValidUntil)))
	if inv.Conference != "" {
		row("Conferencing", inv.Conference)
	} else {
		row("Conferencing", "built-in audio and video")
	}
	switch {
	case inv.TURN != "" && inv.TURNUser != "":
		row("TURN", fmt.Sprintf("%s (credentials until %s)", inv.TURN, invite.FormatTime(in.TURNExpires)))
	case inv.TURN != "":
		row("TURN", inv.TURN+" (no credentials)")
	}
	row("Session", inv.SessionID)
	tw.Flush()
	if checkErr != nil {
		return checkErr
	}
	c.printf("Signature valid: signed by %s (key %s).\n", oneLine(inv.Org), in.CompanyKey)
	return nil
}
