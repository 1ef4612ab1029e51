package invite

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"time"
)

// DefaultEmailTemplate is the invite email to the candidate, used when the
// company gives none. A template renders a whole message: a "Subject:"
// line, an empty line, and the body. It says what Parley is and how to open
// the link: in a browser when the company runs a public gateway (InBrowser),
// else step by step with the candidate's own Parley.
const DefaultEmailTemplate = `Subject: {{.Org}}: your interview "{{.Title}}"{{if gt .Blocks 1}} (part {{.Block}} of {{.Blocks}}){{end}}

Hello {{.Candidate}},

You are invited to a live technical interview with {{.Org}}: {{.Title}}{{if gt .Blocks 1}}, part {{.Block}} of {{.Blocks}}{{end}}.

When: {{.Starts}}, for {{.Duration}}.
{{- if .Interviewers}}
With: {{.Interviewers}}.
{{- end}}

Your link:

  {{.Link}}

The interview takes place in Parley: a shared code editor{{if not .Conference}}
with audio and video{{end}} that runs between your computer and the
interviewers' directly. You need no account, and no third party sees the
interview.
{{- if .InBrowser}}

How to open it: a few minutes before the start, open the link in Chrome,
Edge, Firefox or Safari, on a computer with a camera and a microphone.
There is nothing to install.
{{- else}}

How to open it (the first time, 15 minutes before the start):

  1. Get Parley, the parley program for your computer, from {{.Org}}
     (reply to this email to ask for it), or build it from Parley's
     source with Go 1.26 and a C compiler: go build ./cmd/parley
  2. In a terminal, run once:  parley init
     then:                     parley up
     It prints an address, http://127.0.0.1:7420/?token=...: open it in
     Chrome, Edge, Firefox or Safari. Keep parley up running.
  3. On that page, choose Join, paste the link, check that it says you
     join as the candidate, {{.Candidate}}, and choose Join interview.
     (Or, in a second terminal: parley join 'LINK' --as-candidate)
{{- end}}

You wait in a lobby until your interviewer starts the interview, then write
code together{{if .Language}} (the editor starts with {{.File}}, in {{.Language}}){{end}}.
{{- if .Conference}}
The call itself takes place here: {{.Conference}}
{{- else}}
Please allow your camera and microphone when the page asks.
{{- end}}

The link is personal to this interview: please do not share it.

Good luck!
{{.Org}}
`

// InterviewerEmailTemplate is the email to a session's interviewers, used
// when the company gives none: when, with whom, who records the feedback,
// the link (the candidate's: an interviewer's team credential makes them
// an interviewer), and how to open it with their node.
const InterviewerEmailTemplate = `Subject: Interview with {{.Candidate}}: {{.Title}}{{if gt .Blocks 1}} (part {{.Block}} of {{.Blocks}}){{end}}

Hello,

You are interviewing {{.Candidate}} for {{.Org}}: {{.Title}}{{if gt .Blocks 1}}, part {{.Block}} of {{.Blocks}}{{end}}.

When: {{.Starts}}, for {{.Duration}}.
{{- if .Interviewers}}
Interviewers: {{.Interviewers}}.
{{- end}}
{{- if .Recorder}}
Feedback: {{.Recorder}} records it.
{{- else}}
Feedback: one of you records it: agree in the room ("I'll record it").
{{- end}}
{{- if .Language}}
Code: the editor starts with {{.File}}, in {{.Language}}.
{{- end}}
{{- if .Conference}}
Call: {{.Conference}}
{{- end}}

The link (the candidate has the same; your team credential makes you an
interviewer):

  {{.Link}}

Open it with your Parley node, with parley up running: on its page choose
Join and paste the link, or run: parley join 'LINK'
The Join page must say you join as an interviewer. If it says "the
candidate", stop: your node holds no {{.Org}} team credential yet (accept
the one your admin sent: parley team accept TOKEN).

Before the start you can write the question and starter code; the candidate
waits in the lobby until one of you starts the interview. Your private notes
never reach the candidate.

{{.Org}}
`

// EmailFields are what an email template can use.
type EmailFields struct {
	Link       string
	Candidate  string
	Title      string
	Org        string
	Starts     Time
	Duration   Duration
	Block      int
	Blocks     int
	Conference string // empty when the call is built in
	// Interviewers are the names of the interviewers the session names.
	Interviewers Names
	// Recorder is the name of the interviewer the link names to record
	// the feedback; empty if they agree in the room.
	Recorder string
	// Language is the language the editor starts in, for people
	// ("Python"), and File its file ("main.py"); empty if none.
	Language string
	File     string
	// InBrowser is set when the link opens in a browser: the company runs
	// a public gateway (`parley init --public-url`).
	InBrowser bool
}

// Names are people's names, printed for people: "Ana Li, Bo Chen and Cy".
type Names []string

func (n Names) String() string {
	switch len(n) {
	case 0:
		return ""
	case 1:
		return n[0]
	}
	return strings.Join(n[:len(n)-1], ", ") + " and " + n[len(n)-1]
}

// Time is a time.Time that prints for people in templates: in Zone (the
// recruiter's, if set) and in UTC, as "Monday 1 March 2027, 15:00 CET
// (14:00 UTC)"; .Starts.Format "..." still works.
type Time struct {
	time.Time
	Zone *time.Location // nil: UTC only
}

const longTime = "Monday 2 January 2006, 15:04 MST"

func (t Time) String() string {
	utc := t.Time.UTC()
	if t.Zone == nil {
		return utc.Format(longTime)
	}
	local := t.Time.In(t.Zone)
	if name, offset := local.Zone(); offset == 0 && (name == "UTC" || name == "UCT" || name == "Z") {
		return utc.Format(longTime)
	}
	if local.YearDay() != utc.YearDay() || local.Year() != utc.Year() {
		return local.Format(longTime) + " (" + utc.Format(longTime) + ")"
	}
	return local.Format(longTime) + " (" + utc.Format("15:04 MST") + ")"
}

// Duration is a time.Duration that prints for people: "1 hour 30 minutes".
type Duration time.Duration

func (d Duration) String() string {
	h := int(time.Duration(d) / time.Hour)
	m := int(time.Duration(d) % time.Hour / time.Minute)
	var parts []string
	if h > 0 {
		parts = append(parts, plural(h, "hour"))
	}
	if m > 0 || h == 0 {
		parts = append(parts, plural(m, "minute"))
	}
	return strings.Join(parts, " ")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// Email is a rendered message.
type Email struct {
	Subject string
	Body    string
}

// ParseEmailTemplate parses text as an email template and checks it against
// sample fields, so that a mistake shows before any email is sent.
func ParseEmailTemplate(text string) (*template.Template, error) {
	t, err := template.New("email").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("email template: %w", err)
	}
	if _, err := RenderEmail(t, EmailFields{Blocks: 1, Block: 1}); err != nil {
		return nil, err
	}
	return t, nil
}

// RenderEmail executes t with f and splits the result into subject and body.
// Without a "Subject:" line, the subject names the organisation and title.
func RenderEmail(t *template.Template, f EmailFields) (Email, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, f); err != nil {
		return Email{}, fmt.Errorf("email template: %w", err)
	}
	text := strings.ReplaceAll(buf.String(), "\r\n", "\n")
	e := Email{Subject: fmt.Sprintf("%s: interview %q", f.Org, f.Title), Body: text}
	if rest, ok := strings.CutPrefix(text, "Subject:"); ok {
		subject, body, _ := strings.Cut(rest, "\n")
		e.Subject = strings.TrimSpace(subject)
		e.Body = strings.TrimPrefix(body, "\n")
	}
	return e, nil
}
