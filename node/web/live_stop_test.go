package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/node"
)

// A node that stops closes its pages' sockets as going away (1001), so
// that a page reconnects and finds the session again once the node is
// back; 1000 would tell it that the node left the session for good.
func TestLiveNodeStopping(t *testing.T) {
	r := startRelay(t)
	ctx := context.Background()
	company, _ := up(t, node.InitOptions{Org: "Acme Inc", Bootstrap: r.Addrs()})
	ana, anaWeb := up(t, node.InitOptions{})
	res, err := company.AddMember(ctx, node.NewMember{Name: "Ana", Email: "ana@acme.test", Peer: ana.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	ana.AcceptCredential(ctx, res.Member.Token)
	ss, err := company.CreateSessions(ctx, node.NewSessions{Candidate: "Sam", Title: "Loop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ana.Join(ctx, ss[0].Link, ""); err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(anaWeb.URL(), "http://", "ws://", 1) + "/api/v1/sessions/" + ss[0].ID + "/live?token=" + anaWeb.Token()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				closed <- err
				return
			}
		}
	}()
	ana.Close()
	select {
	case err := <-closed:
		if s := websocket.CloseStatus(err); s != websocket.StatusGoingAway {
			t.Fatalf("the socket closed with %v (%v), want going away", s, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the socket stayed open after the node stopped")
	}
}
