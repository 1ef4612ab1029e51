package node

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Three participants' nodes (two interviewers and the candidate; the
// company node stays out of the call) each send the generated test signal:
// every one receives every other's audio and video over real loopback UDP.
// Before the start there is no call.
func TestMediaThreeParticipants(t *testing.T) {
	tm := startTeam(t, 2)
	i1, i2 := tm.interviewers[0], tm.interviewers[1]
	cand := startNode(t, nodeOpts{})
	s := tm.create(t, NewSessions{})
	join(t, i1, s.Link, "")
	join(t, i2, s.Link, "")
	join(t, cand, s.Link, "Sam")
	waitRoster(t, s.ID, []string{"Sam/candidate", "Interviewer 1/interviewer", "Interviewer 2/interviewer"}, i1, i2, cand)
	ctx := context.Background()

	if _, err := cand.MediaCheck(ctx, s.ID, time.Second); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Fatalf("a check in the lobby: %v", err)
	}
	if _, err := tm.company.MediaCheck(ctx, s.ID, time.Second); err == nil || !strings.Contains(err.Error(), "company node") {
		t.Fatalf("a check on the company node: %v", err)
	}
	if _, err := i1.StartSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	nodes := []*Node{i1, i2, cand}
	results := make([][]MediaCount, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { results[i], errs[i] = n.MediaCheck(ctx, s.ID, 4*time.Second) })
	}
	wg.Wait()
	for i, n := range nodes {
		if errs[i] != nil {
			t.Fatalf("%s: %v", n.ID().ShortString(), errs[i])
		}
		if len(results[i]) != 2 {
			t.Fatalf("%s heard from %d participants: %+v", n.ID().ShortString(), len(results[i]), results[i])
		}
		for _, c := range results[i] {
			t.Logf("%s got from %s: %d audio, %d video packets", n.ID().ShortString(), c.Name, c.Audio, c.Video)
			// 4 s of the signal is 200 audio and 500 video packets; the
			// first second may go to ICE and DTLS.
			if c.Audio < 50 || c.Video < 100 || !c.Connected {
				t.Errorf("%s got from %s (%s): %d audio, %d video packets, connected %v", n.ID().ShortString(), c.Name, c.Role, c.Audio, c.Video, c.Connected)
			}
		}
	}
}

// A session with external conferencing starts no media.
func TestMediaExternalConference(t *testing.T) {
	tm := startTeam(t, 1)
	s := tm.create(t, NewSessions{Conference: "https://meet.example/abc"})
	join(t, tm.interviewers[0], s.Link, "")
	if _, err := tm.interviewers[0].MediaCheck(context.Background(), s.ID, time.Second); err == nil || !strings.Contains(err.Error(), "https://meet.example/abc") {
		t.Fatalf("check: %v", err)
	}
}

// Two participants whose nodes may use only the relay's TURN server (as
// behind networks that let nothing else through) still hear and see each
// other: the link carries the TURN server and its credentials.
func TestMediaTURNOnly(t *testing.T) {
	r, err := NewRelay(RelayConfig{Dir: filepath.Join(t.TempDir(), "relay"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		TURN: TURNConfig{Listen: "127.0.0.1:0"}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	relayOnly := Config{MediaRelayOnly: true}
	company := startNode(t, nodeOpts{init: InitOptions{Org: "Acme Inc", Bootstrap: r.Addrs(), TURN: r.TURNURL(), TURNSecretFile: r.TURNSecretFile()}})
	ana := startNode(t, nodeOpts{cfg: relayOnly})
	sam := startNode(t, nodeOpts{cfg: relayOnly})
	ctx := context.Background()
	res, err := company.AddMember(ctx, NewMember{Name: "Ana", Email: "ana@acme.test", Peer: ana.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	ana.AcceptCredential(ctx, res.Member.Token)
	ss, err := company.CreateSessions(ctx, NewSessions{Candidate: "Sam", Title: "Loop"})
	if err != nil {
		t.Fatal(err)
	}
	s := ss[0]
	join(t, ana, s.Link, "")
	join(t, sam, s.Link, "")
	waitRoster(t, s.ID, []string{"Sam/candidate", "Ana/interviewer"}, ana, sam)
	if _, err := ana.StartSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	var got [2][]MediaCount
	var errs [2]error
	var wg sync.WaitGroup
	for i, n := range []*Node{ana, sam} {
		wg.Go(func() { got[i], errs[i] = n.MediaCheck(ctx, s.ID, 4*time.Second) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(got[i]) != 1 || got[i][0].Audio < 50 || got[i][0].Video < 100 {
			t.Fatalf("through TURN only: %+v", got[i])
		}
	}
	relayed := testutil.ToFloat64(r.turn.metrics.bytes.WithLabelValues("to_client"))
	if relayed == 0 {
		t.Fatal("the TURN server relayed nothing: the media went another way")
	}
	t.Logf("%+v %+v; TURN relayed %.0f bytes in", got[0], got[1], relayed)
}
