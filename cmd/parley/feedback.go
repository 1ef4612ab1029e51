package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"parley/invite"
	"parley/node"
	"parley/node/store"
)

func (c *cli) cmdFeedback(args []string) error {
	return c.subcommand("feedback", args, []command{
		{"submit", "sign and send your feedback on a session to the company node (the recorder)", (*cli).feedbackSubmit},
		{"draft", "keep a draft of your feedback, to submit later", (*cli).feedbackDraft},
		{"claim", "record this session's feedback yourself, for the other interviewers to see", (*cli).feedbackClaim},
		{"show", "show a session's feedback: yours, or on the company node the recorded one", (*cli).feedbackShow},
		{"list", "list the feedback the company node recorded", (*cli).feedbackList},
	})
}

// scorecardFlags registers the flags of a scorecard.
func scorecardFlags(fs *flag.FlagSet) func() (store.Scorecard, error) {
	rec := fs.String("recommendation", "", "overall `REC`: "+strings.Join(store.Recommendations, ", "))
	var ratings listFlag
	fs.Var(&ratings, "rating", "a rating `NAME=N` (N from 1 to 4) on one of the session's criteria; repeat for each")
	text := fs.String("text", "", "the feedback's free `TEXT` (Markdown)")
	textFile := fs.String("text-file", "", "read the free text from `FILE` instead")
	return func() (store.Scorecard, error) {
		sc := store.Scorecard{Recommendation: *rec, Text: *text}
		if *textFile != "" {
			if *text != "" {
				return sc, usagef("give --text or --text-file, not both")
			}
			b, err := readLimited(*textFile, 32<<10)
			if err != nil {
				return sc, err
			}
			sc.Text = string(b)
		}
		for _, r := range ratings {
			name, v, ok := strings.Cut(r, "=")
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if !ok || err != nil {
				return sc, usagef("--rating %q: give NAME=N, N from 1 to 4", r)
			}
			if sc.Ratings == nil {
				sc.Ratings = map[string]int{}
			}
			sc.Ratings[strings.TrimSpace(name)] = n
		}
		return sc, nil
	}
}

func (c *cli) feedbackSubmit(args []string) error {
	fs := c.flags("feedback submit", usage{
		synopsis: "ID --recommendation REC [--rating NAME=N]... [--text TEXT | --text-file FILE]",
		examples: []string{`parley feedback submit 7kq3m2xa --recommendation yes --rating "Problem solving=4" --rating "Communication=3" --text "Clear, tested code."`},
		help: `
Signs your feedback on a session with this node's key and sends it to the
company node, through the running node; an interviewer's node only, once the
interview started (most often after it ended). One interviewer records a
session's feedback: the one the link names, else the one who claimed it in
the room, else the first to submit. Until the company node answers, the
feedback waits in this node's outbox and is retried, across restarts; it is
never lost and never recorded twice. A session's feedback is recorded once: a
second submission is refused.`,
	})
	return c.scorecardCommand(fs, args, true, backend.Submit,
		"Feedback on %[1]s submitted; it waits in the outbox until the company node records it (see `parley feedback show %[1]s`).\n")
}

func (c *cli) feedbackDraft(args []string) error {
	fs := c.flags("feedback draft", usage{
		synopsis: "ID [--recommendation REC] [--rating NAME=N]... [--text TEXT | --text-file FILE]",
		examples: []string{`parley feedback draft 7kq3m2xa --rating "Code quality=3" --text "Good naming; no tests yet."`},
		help: `
Keeps a draft of your feedback on a session on this node, before or after the
interview; the room's feedback form shows it. A draft replaces the one before.
Nothing leaves this node until ` + "`parley feedback submit`" + `.`,
	})
	return c.scorecardCommand(fs, args, false, backend.SaveDraft, "Draft of your feedback on %[1]s saved.\n")
}

// scorecardCommand runs `feedback submit` or `feedback draft`: the session
// and the scorecard from the command line, then act through the node, then
// done (its %[1]s is the session).
func (c *cli) scorecardCommand(fs *flag.FlagSet, args []string, final bool, act func(backend, context.Context, string, store.Scorecard) (store.Mine, error), done string) error {
	card := scorecardFlags(fs)
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	sc, err := card()
	if err != nil {
		return err
	}
	if final && sc.Recommendation == "" {
		return usagef("feedback needs --recommendation: one of %s", strings.Join(store.Recommendations, ", "))
	}
	return c.withBackend(func(n backend) error {
		m, err := act(n, c.ctx, pos[0], sc)
		if err != nil {
			return err
		}
		c.printf(done, m.Session)
		return nil
	})
}

func (c *cli) feedbackClaim(args []string) error {
	fs := c.flags("feedback claim", usage{
		synopsis: "ID",
		help: `
Makes you the one who records this session's feedback, through the running
node; every interviewer in the session sees who. Refused when the link names
someone else or another interviewer claimed it first.`,
		examples: []string{"parley feedback claim 7kq3m2xa"},
	})
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		f, err := n.ClaimRecorder(c.ctx, pos[0])
		if err != nil {
			return err
		}
		c.printf("You (%s) record the feedback of %s.\n", f.Recorder, f.Session)
		return nil
	})
}

func (c *cli) feedbackShow(args []string) error {
	fs := c.flags("feedback show", usage{
		synopsis: "ID [--json]",
		help: `
Shows a session's feedback: on the company node the recorded feedback; on an
interviewer's node your draft or submission and what became of it (in the
outbox, recorded, or refused and why).`,
		examples: []string{"parley feedback show 7kq3m2xa", "parley feedback show 7kq3m2xa --json"},
	})
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		v, err := n.Feedback(c.ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return c.printJSON(v)
		}
		c.printFeedback(v)
		return nil
	})
}

func (c *cli) printFeedback(v node.FeedbackView) {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, oneLine(v)) }
	row("Session", v.Session)
	if v.Title != "" {
		row("Interview", fmt.Sprintf("%s with %s (block %d of %d)", v.Title, v.Candidate, v.Block, v.Blocks))
	}
	switch v.State {
	case store.MineRecorded:
		row("State", fmt.Sprintf("recorded by %s at %s", v.By, invite.FormatTime(v.At)))
	case store.MineRefused:
		row("State", "refused: "+v.Reason)
	case store.MineOutbox:
		state := "submitted; waiting for the company node"
		if v.LastError != "" {
			state += fmt.Sprintf(" (%d tries; last: %s)", v.Tries, v.LastError)
		}
		row("State", state)
	default:
		row("State", v.State)
	}
	row("Recommendation", cmp.Or(v.Scorecard.Recommendation, "(none)"))
	names := slices.Clone(v.Criteria)
	for name := range v.Scorecard.Ratings {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		if r, ok := v.Scorecard.Ratings[name]; ok {
			row(name, fmt.Sprintf("%d of 4", r))
		} else {
			row(name, "not rated")
		}
	}
	tw.Flush()
	if v.Scorecard.Text != "" {
		c.printf("\n%s\n", strings.TrimRight(v.Scorecard.Text, "\n"))
	}
}

func (c *cli) feedbackList(args []string) error {
	fs := c.flags("feedback list", usage{
		synopsis: "[--json]",
		help: `
Lists the feedback the company node recorded, newest first (company node),
in 80 columns: session IDs show their first 8 characters, times are UTC.`,
		examples: []string{"parley feedback list", "parley feedback list --json"},
	})
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		list, err := n.FeedbackList(c.ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if list == nil {
				list = []node.FeedbackView{}
			}
			return c.printJSON(list)
		}
		if len(list) == 0 {
			c.printf("No feedback recorded yet.\n")
			return nil
		}
		t := &table{header: []string{"SESSION", "RECORDED (UTC)", "RECOMMENDATION", "CANDIDATE", "TITLE", "BY"}, shrink: []int{3, 4, 5}}
		for _, v := range list {
			t.add(shortID(v.Session), v.At.UTC().Format("2006-01-02 15:04"), v.Scorecard.Recommendation, oneLine(v.Candidate), oneLine(v.Title), oneLine(v.By))
		}
		return t.print(c.stdout)
	})
}
