package media

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A host behind 1:1 NAT announces its public address as a host candidate,
// besides its interfaces' own; a bad address is refused when the API is
// made.
func TestPublicIPs(t *testing.T) {
	api, err := NewAPI(Config{Loopback: true, PublicIPs: []string{"203.0.113.7"}})
	if err != nil {
		t.Fatal(err)
	}
	leg, err := api.NewLeg(1, Handler{})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sdp, err := leg.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sdp, " 203.0.113.7 ") || !strings.Contains(sdp, " 127.0.0.1 ") {
		t.Fatalf("the offer's candidates:\n%s", sdp)
	}
	if _, err := NewAPI(Config{PublicIPs: []string{"not-an-ip"}}); err == nil {
		t.Fatal("a bad public IP was taken")
	}
}
