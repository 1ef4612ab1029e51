package invite

import (
	"strings"
	"testing"
	"time"
)

func TestRenderEmail(t *testing.T) {
	f := EmailFields{
		Link: "parley://join/TOKEN", Candidate: "Sam Doe", Title: "Backend loop", Org: "Acme Inc",
		Starts: Time{t0}, Duration: Duration(90 * time.Minute), Block: 2, Blocks: 3,
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
	for _, want := range []string{"Hello Sam Doe,", "parley://join/TOKEN", "Wednesday 25 November 2026, 14:00 UTC", "1 hour 30 minutes", "Audio and video are built in"} {
		if !strings.Contains(e.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, e.Body)
		}
	}
	f.Conference = "https://meet.acme.test/x"
	e, _ = RenderEmail(tmpl, f)
	if !strings.Contains(e.Body, "The call itself takes place here: https://meet.acme.test/x") || strings.Contains(e.Body, "built in") {
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
