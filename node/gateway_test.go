package node

import (
	"context"
	"strings"
	"testing"
)

// With a public URL (the company's gateway), the invite email's link is
// the https one, and says it opens in a browser with nothing to install;
// without, the email is the template's own.
func TestInviteEmailGatewayLink(t *testing.T) {
	clk := newClock()
	for _, tt := range []struct {
		publicURL string
		prefix    string
		advice    bool
	}{
		{"https://interviews.acme.example", "https://interviews.acme.example/join#", true},
		{"", "parley://join/", false},
	} {
		company := openNode(t, clk, InitOptions{Org: "Acme Inc", PublicURL: tt.publicURL})
		ss, err := company.CreateSessions(context.Background(), NewSessions{Candidate: "Sam", Title: "Loop"})
		if err != nil {
			t.Fatal(err)
		}
		e, err := company.InviteEmail(context.Background(), ss[0].ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ss[0].Link, tt.prefix) || !strings.Contains(e.Body, ss[0].Link) {
			t.Fatalf("link %s in:\n%s", ss[0].Link, e.Body)
		}
		if got := strings.Contains(e.Body, ss[0].Link+"\n  (open this link in your browser; nothing to install)"); got != tt.advice {
			t.Fatalf("public URL %q: the advice is there: %v\n%s", tt.publicURL, got, e.Body)
		}
	}
	// An email that says it already is left as it is.
	body := "Open https://x.example/join#T in your browser: nothing to install."
	if got := browserAdvice(body, "https://x.example/join#T"); got != body {
		t.Fatalf("advice added twice: %q", got)
	}
}
