package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"parley/invite"
	"parley/node"
)

func (c *cli) cmdSession(args []string) error {
	return c.subcommand("session", args, []command{
		{"create", "create an interview (one session per block) and print the links", (*cli).sessionCreate},
		{"list", "list sessions (pending by default)", (*cli).sessionList},
		{"show", "show one session", (*cli).sessionShow},
		{"cancel", "end a session nobody started; its link is refused", (*cli).sessionCancel},
		{"email", "print (or send) the invite email of a session", (*cli).sessionEmail},
		{"start", "start the interview: the candidate leaves the lobby (interviewers)", (*cli).sessionStart},
		{"end", "end the interview for everyone, with --yes (interviewers)", (*cli).sessionEnd},
		{"leave", "leave the interview without ending it", (*cli).sessionLeave},
		{"release-seat", "free the candidate seat for another candidate node (interviewers)", (*cli).sessionReleaseSeat},
	})
}

// sessionAction parses `session NAME ID` and runs act through the running
// node, then prints what done says.
func (c *cli) sessionAction(args []string, name, help string, act func(b backend, id string) (node.Session, error), done func(s node.Session) string, check func() error, fs *flag.FlagSet) error {
	if fs == nil {
		fs = c.flags("session "+name, "ID", help)
	}
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	return c.withBackend(func(n backend) error {
		s, err := act(n, pos[0])
		if err != nil {
			return err
		}
		c.printf("%s\n", done(s))
		return nil
	})
}

func (c *cli) sessionStart(args []string) error {
	return c.sessionAction(args, "start", "Starts the interview (an interviewer, through the running node): the candidate leaves the lobby.",
		func(n backend, id string) (node.Session, error) { return n.StartSession(c.ctx, id) },
		func(s node.Session) string { return fmt.Sprintf("Interview %s started.", s.ID) }, nil, nil)
}

func (c *cli) sessionEnd(args []string) error {
	fs := c.flags("session end", "ID --yes", `
Ends the interview for everyone (an interviewer, through the running node):
every participant's node and the company node are told, and the link refuses
new joins from then on. To leave without ending, use `+"`parley session leave`"+`.`)
	yes := fs.Bool("yes", false, "confirm ending the interview for everyone")
	return c.sessionAction(args, "end", "", func(n backend, id string) (node.Session, error) { return n.EndSession(c.ctx, id) },
		func(s node.Session) string { return fmt.Sprintf("Interview %s ended for everyone.", s.ID) },
		func() error {
			if !*yes {
				return usagef("ending is for everyone: confirm with --yes (to leave only, use `parley session leave ID`)")
			}
			return nil
		}, fs)
}

func (c *cli) sessionLeave(args []string) error {
	return c.sessionAction(args, "leave", "Leaves the interview without ending it; join again with the link.",
		func(n backend, id string) (node.Session, error) { return n.LeaveSession(c.ctx, id) },
		func(s node.Session) string { return fmt.Sprintf("Left interview %s; it goes on without you.", s.ID) }, nil, nil)
}

func (c *cli) sessionReleaseSeat(args []string) error {
	return c.sessionAction(args, "release-seat", `
Frees the candidate seat (an interviewer, through the running node), so that
the candidate can join from another machine; the node that held it leaves.`,
		func(n backend, id string) (node.Session, error) { return n.ReleaseSeat(c.ctx, id) },
		func(s node.Session) string {
			return fmt.Sprintf("The candidate seat of %s is free: the candidate can join again.", s.ID)
		}, nil, nil)
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) sessionCreate(args []string) error {
	fs := c.flags("session create", `--candidate NAME --title TITLE [flags]`, `
Creates an interview on the company node and prints each block's link (with
one block, the link is the last line). --blocks N makes N separate sessions
back to back, each with its own link, so that one block's end never ends the
next. Named interviewers must be on the team.`)
	var req node.NewSessions
	var starts string
	var interviewers, bootstrap listFlag
	asJSON := fs.Bool("json", false, "print a JSON array with an object per session")
	fs.StringVar(&req.Candidate, "candidate", "", "the candidate's `NAME`, as shown to everyone")
	fs.StringVar(&req.CandidateEmail, "candidate-email", "", "the candidate's email `ADDRESS`, for the invite email")
	fs.StringVar(&req.Title, "title", "", "the interview's `TITLE`")
	fs.StringVar(&starts, "starts", "", "when the first block starts, as `RFC3339` (default now)")
	fs.Var(durationFlag{&req.Duration}, "duration", "length of each block, as `DURATION` (default 1h)")
	fs.Var(durationFlag{&req.Validity}, "expires", "how long each link stays valid after its block starts, as `DURATION` (default 7d)")
	fs.IntVar(&req.Blocks, "blocks", 1, "number of back-to-back sessions (`N`) with this candidate")
	fs.Var(&interviewers, "interviewer", "team member `EMAIL` taking part (repeatable)")
	fs.IntVar(&req.MaxInterviewers, "max-interviewers", node.DefaultMaxInterviewers, "most interviewers in the session at once (`N`)")
	fs.StringVar(&req.Conference, "conference", "", "external conferencing `URL` (Zoom, Meet...); default: built-in audio and video")
	fs.StringVar(&req.Recorder, "recorder", "", "`EMAIL` of the interviewer who records feedback (default: agreed in the room)")
	criteria := fs.String("criteria", "", "the feedback `CRITERIA` for these sessions, comma-separated, instead of the node's")
	fs.Var(&bootstrap, "bootstrap", "bootstrap/relay `MULTIADDR` for these links instead of the node's defaults (repeatable)")
	fs.StringVar(&req.TURN, "turn", "", "TURN server `URL` for these links instead of the node's (none for none); its secret must be the one init copied")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if req.Candidate == "" || req.Title == "" {
		return usagef("session create needs --candidate and --title")
	}
	req.Criteria = splitCriteria(*criteria)
	if req.MaxInterviewers < 1 || req.Blocks < 1 {
		return usagef("--max-interviewers and --blocks must be at least 1")
	}
	if starts != "" {
		t, err := time.Parse(time.RFC3339, starts)
		if err != nil {
			return usagef("--starts %q is not an RFC3339 time (example: 2026-12-01T14:00:00Z or 2026-12-01T15:00:00+01:00)", starts)
		}
		req.Starts = t
	}
	req.Interviewers = interviewers
	req.Bootstrap = bootstrap
	return c.withBackend(func(n backend) error {
		sessions, err := n.CreateSessions(c.ctx, req)
		if err != nil {
			return err
		}
		if *asJSON {
			return c.printJSON(sessions)
		}
		s0 := sessions[0]
		c.printf("Created %q with %s: %d session(s), pending.\n", oneLine(s0.Title), oneLine(s0.Candidate), len(sessions))
		c.printf("Send each link to the candidate and the interviewers (`parley session email ID` writes the invite).\n")
		for _, s := range sessions {
			c.printf("\nBlock %d/%d  %s  starts %s  session %s\n%s\n", s.Block, s.Blocks, s.Duration, invite.FormatTime(s.Starts), s.ID, s.Link)
		}
		return nil
	})
}

func (c *cli) sessionList(args []string) error {
	fs := c.flags("session list", "[--status pending|live|ended|expired|all] [--json]", `
Lists sessions with a given status, pending by default (the dashboard's
Pending tab). The LINK column holds each whole link.`)
	status := fs.String("status", "pending", "which sessions: `pending`, live, ended, expired or all")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		sessions, err := n.Sessions(c.ctx, *status)
		if err != nil {
			return usagef("%v", err)
		}
		if *asJSON {
			return c.printJSON(sessions)
		}
		if len(sessions) == 0 {
			c.printf("No %s sessions.\n", *status)
			return nil
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "ID\tTITLE\tCANDIDATE\tBLOCK\tSTARTS\tSTATUS\tWHO\tLINK\n")
		for _, s := range sessions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", s.ID, oneLine(s.Title), oneLine(s.Candidate), s.Block, s.Blocks, invite.FormatTime(s.Starts), s.Status, who(s), s.Link)
		}
		return tw.Flush()
	})
}

// who summarizes who is in a session, or who came to one that is over.
func who(s node.Session) string {
	var names []string
	if len(s.Participants) > 0 {
		for _, p := range s.Participants {
			names = append(names, oneLine(p.Name))
		}
	} else {
		seen := map[string]bool{}
		for _, a := range s.Attendance {
			if !seen[a.Peer] {
				seen[a.Peer] = true
				names = append(names, oneLine(a.Name))
			}
		}
	}
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ", ")
}

func (c *cli) sessionShow(args []string) error {
	fs := c.flags("session show", "ID [--json]", "Shows a session. ID may be abbreviated to a unique prefix.")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		s, err := n.Session(c.ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return c.printJSON(s)
		}
		c.printSession(s)
		return nil
	})
}

func (c *cli) printSession(s node.Session) {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, oneLine(v)) }
	row("Session", s.ID)
	row("Title", s.Title)
	row("Candidate", s.Candidate)
	if s.CandidateEmail != "" {
		row("Candidate email", s.CandidateEmail)
	}
	row("Block", fmt.Sprintf("%d of %d", s.Block, s.Blocks))
	row("Status", s.Status)
	row("Starts", invite.FormatTime(s.Starts))
	row("Duration", s.Duration)
	row("Link valid until", invite.FormatTime(s.Expires))
	if len(s.Interviewers) > 0 {
		row("Interviewers", fmt.Sprint(s.Interviewers))
	}
	row("Max interviewers", fmt.Sprint(s.MaxInterviewers))
	if s.Conference != "" {
		row("Conferencing", s.Conference)
	} else {
		row("Conferencing", "built-in audio and video")
	}
	if len(s.Criteria) > 0 {
		row("Feedback criteria", strings.Join(s.Criteria, ", "))
	}
	if s.Recorder != "" {
		row("Feedback recorder", s.Recorder)
	}
	if s.Feedback != nil {
		row("Feedback", fmt.Sprintf("%s, recorded by %s at %s (`parley feedback show %s`)", s.Feedback.Recommendation, s.Feedback.By, invite.FormatTime(s.Feedback.At), s.ID))
	}
	if !s.EndedAt.IsZero() {
		row("Ended", fmt.Sprintf("%s by %s (%s)", invite.FormatTime(s.EndedAt), s.EndedBy, s.EndReason))
	}
	if s.Role != "" {
		row("This node", s.Role)
	}
	for _, p := range s.Participants {
		row("Present", fmt.Sprintf("%s (%s) since %s", p.Name, p.Role, invite.FormatTime(p.Since)))
	}
	if s.CandidateWaiting {
		row("Lobby", "the candidate is waiting for an interviewer to start")
	}
	for _, a := range s.Attendance {
		when := "joined " + invite.FormatTime(a.Joined)
		if !a.Left.IsZero() {
			when += ", left " + invite.FormatTime(a.Left)
		}
		row("Attended", fmt.Sprintf("%s (%s): %s", a.Name, a.Role, when))
	}
	row("Link", s.Link)
	tw.Flush()
}

func (c *cli) sessionCancel(args []string) error {
	fs := c.flags("session cancel", "ID", "Ends a session nobody has started (company node); its link is refused from then on.")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		s, err := n.CancelSession(c.ctx, pos[0])
		if err != nil {
			return err
		}
		c.printf("Cancelled session %s (%s with %s); its link is refused from now on.\n", s.ID, oneLine(s.Title), oneLine(s.Candidate))
		return nil
	})
}

func (c *cli) sessionEmail(args []string) error {
	fs := c.flags("session email", "ID [--template FILE] [--smtp HOST:PORT --from ADDR [--to ADDR]]", `
Prints the invite email of a session, with its link, from the default template
or a text/template FILE whose output is a "Subject:" line, an empty line and
the body. Fields: {{.Link}} {{.Candidate}} {{.Title}} {{.Org}} {{.Starts}}
{{.Duration}} {{.Block}} {{.Blocks}} {{.Conference}}.

With --smtp and --from it sends the email instead (STARTTLS required), to the
candidate's email or --to. Credentials come from the environment:
PARLEY_SMTP_USERNAME and PARLEY_SMTP_PASSWORD.`)
	tmplFile := fs.String("template", "", "text/template `FILE` for the email")
	smtpAddr := fs.String("smtp", "", "send through the SMTP server at `HOST:PORT`")
	from := fs.String("from", "", "sender `ADDRESS` when sending")
	to := fs.String("to", "", "recipient `ADDRESS` (default: the candidate's email)")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	var tmpl string
	if *tmplFile != "" {
		b, err := readLimited(*tmplFile, 64<<10)
		if err != nil {
			return fmt.Errorf("email template: %w", err)
		}
		tmpl = string(b)
	}
	if *smtpAddr != "" && *from == "" {
		return usagef("sending with --smtp needs --from")
	}
	var email node.InviteEmail
	err = c.withBackend(func(n backend) error {
		email, err = n.InviteEmail(c.ctx, pos[0], tmpl)
		return err
	})
	if err != nil {
		return err
	}
	rcpt := *to
	if rcpt == "" {
		rcpt = email.To
	}
	if *smtpAddr == "" {
		if rcpt != "" {
			c.printf("To: %s\n", rcpt)
		}
		c.printf("Subject: %s\n\n%s", email.Subject, email.Body)
		return nil
	}
	if rcpt == "" {
		return usagef("the session has no candidate email: give --to")
	}
	cfg := node.SMTP{Addr: *smtpAddr, From: *from, Username: c.getenv("PARLEY_SMTP_USERNAME"), Password: c.getenv("PARLEY_SMTP_PASSWORD")}
	if err := node.SendMail(c.ctx, cfg, rcpt, invite.Email{Subject: email.Subject, Body: email.Body}); err != nil {
		return err
	}
	c.printf("Sent %q to %s.\n", email.Subject, rcpt)
	return nil
}

// readLimited reads a file of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d", path, fi.Size(), max)
	}
	return os.ReadFile(path)
}
