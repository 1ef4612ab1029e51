package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
		{"cancel", "end a session before it starts (--yes when someone is in it); its link is refused", (*cli).sessionCancel},
		{"email", "print (or send) the invite email of a session", (*cli).sessionEmail},
		{"start", "start the interview: the candidate leaves the lobby (interviewers)", (*cli).sessionStart},
		{"end", "end the interview for everyone, with --yes (interviewers)", (*cli).sessionEnd},
		{"leave", "leave the interview without ending it", (*cli).sessionLeave},
		{"release-seat", "free the candidate seat for another candidate node (interviewers)", (*cli).sessionReleaseSeat},
	})
}

// sessionAction parses `session NAME ID` with fs, runs check (if any), then
// act through the running node, and prints what done says.
func (c *cli) sessionAction(args []string, fs *flag.FlagSet, act func(b backend, id string) (node.Session, error), done func(s node.Session) string, check func() error) error {
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
	fs := c.flags("session start", usage{
		synopsis: "ID",
		help: `
Starts the interview (an interviewer, through the running node): the
candidate leaves the lobby. Starting a live interview again changes nothing
and says since when it is live.`,
		examples: []string{"parley session start 7kq3m2xa"},
	})
	var already bool
	return c.sessionAction(args, fs, func(n backend, id string) (node.Session, error) {
		s, err := n.Session(c.ctx, id)
		if err == nil && s.Status == node.StatusLive && s.Role == node.RoleInterviewer {
			already = true
			return s, nil
		}
		return n.StartSession(c.ctx, id)
	}, func(s node.Session) string {
		if !already {
			return fmt.Sprintf("Interview %s started.", s.ID)
		}
		msg := fmt.Sprintf("Interview %s is already live", s.ID)
		if !s.StartedAt.IsZero() {
			msg += " since " + invite.FormatTime(s.StartedAt)
		}
		if s.StartedBy != "" {
			msg += ", started by " + oneLine(s.StartedBy)
		}
		return msg + "; nothing changed."
	}, nil)
}

func (c *cli) sessionEnd(args []string) error {
	fs := c.flags("session end", usage{
		synopsis: "ID --yes",
		help: `
Ends the interview for everyone (an interviewer, through the running node):
every participant's node and the company node are told, and the link refuses
new joins from then on. To leave without ending, use ` + "`parley session leave`" + `.`,
		examples: []string{"parley session end 7kq3m2xa --yes"},
	})
	yes := fs.Bool("yes", false, "confirm ending the interview for everyone")
	return c.sessionAction(args, fs, func(n backend, id string) (node.Session, error) { return n.EndSession(c.ctx, id) },
		func(s node.Session) string { return fmt.Sprintf("Interview %s ended for everyone.", s.ID) },
		func() error {
			if !*yes {
				return usagef("ending is for everyone: confirm with --yes (to leave only, use `parley session leave ID`)")
			}
			return nil
		})
}

func (c *cli) sessionLeave(args []string) error {
	fs := c.flags("session leave", usage{
		synopsis: "ID",
		help:     "Leaves the interview without ending it; join again with the link.",
		examples: []string{"parley session leave 7kq3m2xa"},
	})
	return c.sessionAction(args, fs, func(n backend, id string) (node.Session, error) { return n.LeaveSession(c.ctx, id) },
		func(s node.Session) string { return fmt.Sprintf("Left interview %s; it goes on without you.", s.ID) }, nil)
}

func (c *cli) sessionReleaseSeat(args []string) error {
	fs := c.flags("session release-seat", usage{
		synopsis: "ID",
		help: `
Frees the candidate seat (an interviewer, through the running node), so that
the candidate can join from another machine; the node that held it leaves.`,
		examples: []string{"parley session release-seat 7kq3m2xa"},
	})
	return c.sessionAction(args, fs, func(n backend, id string) (node.Session, error) { return n.ReleaseSeat(c.ctx, id) },
		func(s node.Session) string {
			return fmt.Sprintf("The candidate seat of %s is free: the candidate can join again.", s.ID)
		}, nil)
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// startsGrace is how far in the past --starts may be: a start a few
// minutes ago is an interview starting now, set up a little late.
const startsGrace = 5 * time.Minute

func (c *cli) sessionCreate(args []string) error {
	fs := c.flags("session create", usage{
		synopsis: "--candidate NAME --title TITLE",
		help: `
Creates an interview on the company node and prints each block's link (with
one block, the link is the last line). --blocks N makes N separate sessions
back to back, each with its own link, so that one block's end never ends the
next. Named interviewers must be on the team. --starts is refused when it is
past (more than a few minutes ago): an interview is scheduled from now on.`,
		examples: []string{
			`parley session create --candidate "Sam Doe" --title "Backend loop"`,
			`parley session create --candidate "Sam Doe" --candidate-email sam@example.com --title "Backend loop" --starts 2027-03-01T15:00:00+01:00 --duration 45m --blocks 2 --interviewer ana@acme.test --language go`,
		},
	})
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
	fs.IntVar(&req.Blocks, "blocks", 1, fmt.Sprintf("number of back-to-back sessions (`N`, 1 to %d) with this candidate", invite.MaxBlocks))
	fs.Var(&interviewers, "interviewer", "team member `EMAIL` taking part (repeatable)")
	fs.IntVar(&req.MaxInterviewers, "max-interviewers", node.DefaultMaxInterviewers, fmt.Sprintf("most interviewers in the session at once (`N`, 1 to %d)", invite.MaxInterviewers))
	fs.StringVar(&req.Conference, "conference", "", "external conferencing `URL` (Zoom, Meet...); default: built-in audio and video")
	fs.StringVar(&req.Recorder, "recorder", "", "`EMAIL` of the interviewer who records feedback (default: agreed in the room)")
	criteria := fs.String("criteria", "", "the feedback `CRITERIA` for these sessions, comma-separated, instead of the node's")
	fs.Var(&bootstrap, "bootstrap", "bootstrap/relay `MULTIADDR` for these links instead of the node's defaults (repeatable)")
	fs.StringVar(&req.TURN, "turn", "", "TURN server `URL` for these links instead of the node's (none for none); its secret must be the one init copied")
	fs.StringVar(&req.Language, "language", node.DefaultLanguage, "the `LANGUAGE` each session starts in, with one file main.EXT: "+node.LanguageIDs())
	fs.StringVar(&req.Zone, "zone", "", "the time `ZONE` (IANA name, like Europe/Paris) the invite email gives times in, besides UTC (default this machine's)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if _, ok := node.LanguageOf(req.Language); !ok {
		return usagef("--language %q: a session starts in %s", req.Language, node.LanguageIDs())
	}
	if req.Zone == "" {
		req.Zone = localZone(c.getenv)
	} else if _, err := time.LoadLocation(req.Zone); err != nil || req.Zone == "Local" {
		return usagef("--zone %q is not a time zone this machine knows: give an IANA name like Europe/Paris or America/New_York", req.Zone)
	}
	if req.Candidate == "" || req.Title == "" {
		return usagef("session create needs --candidate and --title (see `parley session create -h`)")
	}
	req.Criteria = splitCriteria(*criteria)
	if req.Blocks < 1 || req.Blocks > invite.MaxBlocks {
		return usagef("--blocks %d: an interview has 1 to %d blocks", req.Blocks, invite.MaxBlocks)
	}
	if req.MaxInterviewers < 1 || req.MaxInterviewers > invite.MaxInterviewers {
		return usagef("--max-interviewers %d: a session takes 1 to %d interviewers", req.MaxInterviewers, invite.MaxInterviewers)
	}
	if starts != "" {
		t, err := time.Parse(time.RFC3339, starts)
		if err != nil {
			return usagef("--starts %q is not an RFC3339 time (example: 2027-03-01T14:00:00Z or 2027-03-01T15:00:00+01:00)", starts)
		}
		// A time already past is almost always a slip (a wrong date, or a
		// local time written with Z), and the invite would give the
		// candidate a time that has gone.
		if ago := time.Since(t); ago > startsGrace {
			unit := time.Minute
			if ago > 48*time.Hour {
				unit = 24 * time.Hour
			}
			return usagef("--starts %s is %s ago: an interview is scheduled from now on; to start now, leave --starts out (a local time needs its offset, like 2027-03-01T15:00:00+01:00)", invite.FormatTime(t), formatDuration(ago.Truncate(unit)))
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
			c.printf("\nBlock %d/%d  %s  starts %s  session %s\n%s\n", s.Block, s.Blocks, durationText(s.Duration), invite.FormatTime(s.Starts), s.ID, s.Link)
		}
		return nil
	})
}

func (c *cli) sessionList(args []string) error {
	fs := c.flags("session list", usage{
		synopsis: "[--status pending|live|ended|expired|all] [--json]",
		help: `
Lists sessions with a given status, pending by default (the dashboard's
Pending tab), in 80 columns: IDs show their first 8 characters (any 4 or
more pick a session), times are UTC. The links are in --json, and each in
` + "`parley session show ID`" + `.`,
		examples: []string{"parley session list", "parley session list --status all --json"},
	})
	status := fs.String("status", "pending", "which sessions: `pending`, live, ended, expired or all")
	asJSON := fs.Bool("json", false, "print a JSON array, with each session's link")
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
		// WHO only when someone is or was in one: pending sessions have
		// nobody, and the columns are few.
		withWho := slices.ContainsFunc(sessions, func(s node.Session) bool { return who(s) != "-" })
		t := &table{header: []string{"ID", "STARTS (UTC)", "STATUS", "BLOCK", "CANDIDATE", "TITLE"}, shrink: []int{4, 5}}
		if withWho {
			t.header, t.shrink = append(t.header, "WHO"), append(t.shrink, 6)
		}
		for _, s := range sessions {
			row := []string{shortID(s.ID), s.Starts.UTC().Format("2006-01-02 15:04"), s.Status, fmt.Sprintf("%d/%d", s.Block, s.Blocks), oneLine(s.Candidate), oneLine(s.Title)}
			if withWho {
				row = append(row, who(s))
			}
			t.add(row...)
		}
		return t.print(c.stdout)
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
	fs := c.flags("session show", usage{
		synopsis: "ID [--json]",
		help:     "Shows a session, with its whole link. ID may be abbreviated to a unique prefix of 4 or more characters.",
		examples: []string{"parley session show 7kq3m2xa", "parley session show 7kq3 --json"},
	})
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
	row("Duration", durationText(s.Duration))
	row("Link valid until", invite.FormatTime(s.Expires))
	if len(s.Interviewers) > 0 {
		row("Interviewers", strings.Join(s.Interviewers, ", "))
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
	if l, ok := node.LanguageOf(s.Language); ok {
		row("Language", fmt.Sprintf("%s (starts with %s)", l.Name, l.File))
	}
	if s.Recorder != "" {
		row("Feedback recorder", s.Recorder)
	}
	if s.Feedback != nil {
		row("Feedback", fmt.Sprintf("%s, recorded by %s at %s (`parley feedback show %s`)", s.Feedback.Recommendation, s.Feedback.By, invite.FormatTime(s.Feedback.At), s.ID))
	}
	if !s.StartedAt.IsZero() {
		started := invite.FormatTime(s.StartedAt)
		if s.StartedBy != "" {
			started += " by " + s.StartedBy
		}
		row("Started", started)
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
	fs := c.flags("session cancel", usage{
		synopsis: "ID [--yes]",
		help: `
Ends a session nobody has started (company node); its link is refused from
then on. When someone is in it (the candidate waiting in the lobby, or an
interview under way), cancelling ends it for them: confirm with --yes. A live
interview is then ended for everyone, as ` + "`parley session end`" + ` does.`,
		examples: []string{"parley session cancel 7kq3m2xa", "parley session cancel 7kq3m2xa --yes"},
	})
	yes := fs.Bool("yes", false, "confirm cancelling a session someone is in")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		s, err := n.Session(c.ctx, pos[0])
		if err != nil {
			return err
		}
		busy := s.Status == node.StatusLobby || s.Status == node.StatusLive
		if busy && !*yes {
			return usagef("%s: cancelling ends it for them, and its link is refused from then on; confirm with `parley session cancel %s --yes`", inSession(s), shortID(s.ID))
		}
		if s.Status == node.StatusLive {
			// The node cancels only what has not started; this ends it.
			s, err = n.EndSession(c.ctx, s.ID)
			if err != nil {
				return err
			}
			c.printf("Ended interview %s (%s with %s) for everyone; its link is refused from now on.\n", s.ID, oneLine(s.Title), oneLine(s.Candidate))
			return nil
		}
		s, err = n.CancelSession(c.ctx, s.ID)
		if err != nil {
			return err
		}
		c.printf("Cancelled session %s (%s with %s); its link is refused from now on.\n", s.ID, oneLine(s.Title), oneLine(s.Candidate))
		return nil
	})
}

// inSession says who is in a session in the lobby or live, for people.
func inSession(s node.Session) string {
	var names []string
	for _, p := range s.Participants {
		names = append(names, fmt.Sprintf("%s (%s)", oneLine(p.Name), p.Role))
	}
	if s.Status == node.StatusLobby {
		if len(names) == 0 {
			return fmt.Sprintf("session %s has someone in its lobby", s.ID)
		}
		return fmt.Sprintf("session %s has %s in its lobby", s.ID, strings.Join(names, ", "))
	}
	if len(names) == 0 {
		return fmt.Sprintf("interview %s is under way (started %s)", s.ID, invite.FormatTime(s.StartedAt))
	}
	return fmt.Sprintf("interview %s is under way with %s", s.ID, strings.Join(names, ", "))
}

func (c *cli) sessionEmail(args []string) error {
	fs := c.flags("session email", usage{
		synopsis: "ID [--interviewers] [--template FILE] [--smtp HOST:PORT --from ADDRESS [--to ADDRESS]]",
		examples: []string{
			"parley session email 7kq3m2xa",
			"parley session email 7kq3m2xa --interviewers",
			"PARLEY_SMTP_USERNAME=hiring PARLEY_SMTP_PASSWORD=... parley session email 7kq3m2xa --smtp smtp.acme.test:587 --from hiring@acme.test",
		},
		help: `
Prints the invite email of a session, with its link: to the candidate (what
Parley is and how to open the link), or with --interviewers to the
interviewers the session names. Times are in the zone the session was created
in and in UTC. A text/template FILE replaces the default; its output is a
"Subject:" line, an empty line and the body. Fields: {{.Link}} {{.Candidate}}
{{.Title}} {{.Org}} {{.Starts}} {{.Duration}} {{.Block}} {{.Blocks}}
{{.Conference}} {{.Interviewers}} {{.Recorder}} {{.Language}} {{.File}}
{{.InBrowser}}.

With --smtp and --from it sends the email instead (STARTTLS required), to the
candidate's email (each interviewer's with --interviewers) or --to.
Credentials come from the environment: PARLEY_SMTP_USERNAME and
PARLEY_SMTP_PASSWORD.`,
	})
	forInterviewers := fs.Bool("interviewers", false, "the email to the session's interviewers instead of the candidate")
	tmplFile := fs.String("template", "", "text/template `FILE` for the email")
	smtpAddr := fs.String("smtp", "", "send through the SMTP server at `HOST:PORT`")
	from := fs.String("from", "", "sender `ADDRESS` when sending")
	to := fs.String("to", "", "recipient `ADDRESS` (default: the candidate's email, or the interviewers')")
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
		if *forInterviewers {
			email, err = n.InterviewerEmail(c.ctx, pos[0], tmpl)
		} else {
			email, err = n.InviteEmail(c.ctx, pos[0], tmpl)
		}
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
		if *forInterviewers {
			return usagef("the session names no interviewers: give --to")
		}
		return usagef("the session has no candidate email: give --to")
	}
	cfg := node.SMTP{Addr: *smtpAddr, From: *from, Username: c.getenv("PARLEY_SMTP_USERNAME"), Password: c.getenv("PARLEY_SMTP_PASSWORD")}
	for _, addr := range strings.Split(rcpt, ",") {
		addr = strings.TrimSpace(addr)
		if err := node.SendMail(c.ctx, cfg, addr, invite.Email{Subject: email.Subject, Body: email.Body}); err != nil {
			return err
		}
		c.printf("Sent %q to %s.\n", email.Subject, addr)
	}
	return nil
}

// localZone returns this machine's time zone as an IANA name: $TZ, else
// the zone /etc/localtime links to; "" (UTC) when neither says.
func localZone(getenv func(string) string) string {
	if tz := strings.TrimPrefix(getenv("TZ"), ":"); tz != "" {
		if _, err := time.LoadLocation(tz); err == nil && tz != "Local" {
			return tz
		}
		return ""
	}
	p, err := filepath.EvalSymlinks("/etc/localtime")
	if err != nil {
		return ""
	}
	_, name, ok := strings.Cut(p, "zoneinfo/")
	if !ok {
		return ""
	}
	if _, err := time.LoadLocation(name); err != nil {
		return ""
	}
	return name
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
