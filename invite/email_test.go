package invite

import (
	"strings"
	"testing"
	"time"
)

func TestRenderEmail(t *testing.T) {
	f := EmailFields{
		Link: "parley://join/TOKEN", Candidate: "Sam Doe", Title: "Backend loop", Org: "Acme Inc",
		Starts: Time{Time: t0}, Duration: Duration(90 * time.Minute), Block: 2, Blocks: 3,
	}
	tmpl, err := ParseEmailTemplate(DefaultEmailTemplate)
	if err != nil {
		t.Fatal(err)
	}
	e, err := RenderEmail(tmpl, f)
	if err != nil {
		t.Fatal(err)
	}
	if e.Subject != `Acme Inc: your interview "Backend loop" (part 2 of 3)` {
		t.Errorf("subject = %q", e.Subject)
	}
	for _, want := range []string{"Hello Sam Doe,", "parley://join/TOKEN", "Wednesday 25 November 2026, 14:00 UTC", "1 hour 30 minutes", "allow your camera and microphone"} {
		if !strings.Contains(e.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, e.Body)
		}
	}
	f.Conference = "https://meet.acme.test/x"
	e, _ = RenderEmail(tmpl, f)
	if !strings.Contains(e.Body, "The call itself takes place here: https://meet.acme.test/x") || strings.Contains(e.Body, "allow your camera") {
		t.Errorf("body with a conference URL:\n%s", e.Body)
	}

	custom, err := ParseEmailTemplate("Hi {{.Candidate}}, join {{.Link}} at {{.Starts.Format \"15:04\"}}.\n")
	if err != nil {
		t.Fatal(err)
	}
	e, _ = RenderEmail(custom, f)
	if e.Subject != `Acme Inc: interview "Backend loop"` || e.Body != "Hi Sam Doe, join parley://join/TOKEN at 14:00.\n" {
		t.Errorf("custom template rendered %+v", e)
	}
}

// The invite says what Parley is and how to open the link: in a browser
// through the company's gateway, else step by step; times are in the
// recruiter's zone and UTC; the interviewers are named.
func TestInviteEmailWording(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	f := EmailFields{
		Link: "parley://join/TOKEN", Candidate: "Sam Doe", Title: "Backend loop", Org: "Acme Inc",
		Starts: Time{Time: t0, Zone: paris}, Duration: Duration(time.Hour), Block: 1, Blocks: 1,
		Interviewers: Names{"Ana Li", "Bo Chen"}, Language: "Python", File: "main.py",
	}
	render := func(text string, f EmailFields) string {
		t.Helper()
		tmpl, err := ParseEmailTemplate(text)
		if err != nil {
			t.Fatal(err)
		}
		e, err := RenderEmail(tmpl, f)
		if err != nil {
			t.Fatal(err)
		}
		return e.Subject + "\n" + e.Body
	}
	body := render(DefaultEmailTemplate, f)
	for _, want := range []string{
		"Wednesday 25 November 2026, 15:00 CET (14:00 UTC)", "With: Ana Li and Bo Chen.",
		"The interview takes place in Parley", "parley init", "parley up", "choose Join, paste the link",
		"parley join 'LINK' --as-candidate", "main.py, in Python",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the email without a gateway lacks %q:\n%s", want, body)
		}
	}
	f.InBrowser = true
	f.Link = "https://interviews.acme.test/join#TOKEN"
	body = render(DefaultEmailTemplate, f)
	if !strings.Contains(body, "open the link in Chrome") || strings.Contains(body, "parley up") {
		t.Errorf("the email with a gateway:\n%s", body)
	}
	for _, line := range strings.Split(body, "\n") {
		if len([]rune(line)) > 80 && !strings.Contains(line, f.Link) {
			t.Errorf("line over 80 columns: %q", line)
		}
	}
	f.Recorder = "Ana Li"
	body = render(InterviewerEmailTemplate, f)
	for _, want := range []string{"Interview with Sam Doe: Backend loop", "Interviewers: Ana Li and Bo Chen.", "Feedback: Ana Li records it.", "parley join 'LINK'", "as an interviewer"} {
		if !strings.Contains(body, want) {
			t.Errorf("the interviewers' email lacks %q:\n%s", want, body)
		}
	}
	// A day apart in UTC: both dates.
	late := Time{Time: time.Date(2026, 11, 25, 23, 30, 0, 0, time.UTC), Zone: paris}
	if got := late.String(); got != "Thursday 26 November 2026, 00:30 CET (Wednesday 25 November 2026, 23:30 UTC)" {
		t.Errorf("Time across midnight = %q", got)
	}
	if got := (Time{Time: t0, Zone: time.UTC}).String(); got != "Wednesday 25 November 2026, 14:00 UTC" {
		t.Errorf("Time in UTC = %q", got)
	}
}

func TestEmailTemplateErrors(t *testing.T) {
	for _, text := range []string{"{{.Nope}}", "{{.Link", "{{template \"x\"}}"} {
		if _, err := ParseEmailTemplate(text); err == nil || !strings.HasPrefix(err.Error(), "email template:") {
			t.Errorf("ParseEmailTemplate(%q) = %v, want an email template error", text, err)
		}
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1 hour", 45 * time.Minute: "45 minutes", 2*time.Hour + time.Minute: "2 hours 1 minute", 0: "0 minutes"} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}
