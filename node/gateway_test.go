package node

import (
	"context"
	"strings"
	"testing"
)

// With a public URL (the company's gateway), the invite email's link is
// the https one, and it says the link opens in a browser with nothing to
// install; without, it says how to get Parley.
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
		if got := strings.Contains(e.Body, "nothing to install"); got != tt.advice {
			t.Fatalf("public URL %q: the email says there is nothing to install: %v\n%s", tt.publicURL, got, e.Body)
		}
	}
}
