package invite

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"time"
)

// DefaultEmailTemplate is the invite email used when the company gives none.
// A template renders a whole message: a "Subject:" line, an empty line, and
// the body.
const DefaultEmailTemplate = `Subject: {{.Org}}: your interview "{{.Title}}"{{if gt .Blocks 1}} (part {{.Block}} of {{.Blocks}}){{end}}

Hello {{.Candidate}},

You are invited to a live technical interview with {{.Org}}: {{.Title}}{{if gt .Blocks 1}}, part {{.Block}} of {{.Blocks}}{{end}}.

When: {{.Starts}}, for {{.Duration}}.

Join with this link:

  {{.Link}}

Open it in Parley a few minutes early (paste it on the app's Join page, or
run: parley join LINK). You will wait in a lobby until your interviewer
starts the interview, then write code together in a shared editor.
{{- if .Conference}}

The call itself takes place here: {{.Conference}}
{{- else}}

Audio and video are built in; please allow your camera and microphone.
{{- end}}

The link is personal to this interview: please do not share it.

Good luck!
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
}

// Time is a time.Time that prints for people in templates, as
// "Wednesday 25 November 2026, 14:00 UTC"; .Starts.Format "..." still works.
type Time struct{ time.Time }

func (t Time) String() string { return t.Time.Format("Monday 2 January 2006, 15:04 MST") }

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
