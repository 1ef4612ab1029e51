package node

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"parley/media"
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

// page is a session page's side of its node's call, played in Go: it
// answers the node's offer as the browser does, sends a generated test
// signal as its camera and microphone, and notes what arrives from the
// others, in order.
type page struct {
	t      testing.TB
	f      *Follower
	leg    *media.Leg
	gen    media.Generator
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	got []arrival
}

// arrival is an RTP packet as the page received it.
type arrival struct {
	kind    media.Kind
	seq     uint16
	ts      uint32
	picture int // the VP8 picture ID, or -1
	key     bool
}

// openPage opens a page on a node's session and joins its call.
func openPage(t testing.TB, n *Node, id string) *page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := n.Follow(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := f.MediaOffer(ctx)
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	api, err := media.NewAPI(media.Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, f: f, done: make(chan struct{})}
	p.leg, err = api.NewLeg(1, media.Handler{Packet: p.packet, KeyframeRequest: func(int) { p.gen.RequestKeyframe() }})
	if err != nil {
		t.Fatal(err)
	}
	answer, err := p.leg.Answer(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.MediaAnswer(answer); err != nil {
		t.Fatal(err)
	}
	gctx, gcancel := context.WithCancel(context.Background())
	p.cancel = gcancel
	go func() {
		defer close(p.done)
		p.gen.Run(gctx, func(k media.Kind, pkt *rtp.Packet) { p.leg.WriteRTP(0, k, pkt) })
	}()
	t.Cleanup(p.close)
	return p
}

func (p *page) packet(k media.Kind, pkt *rtp.Packet) {
	a := arrival{kind: k, seq: pkt.SequenceNumber, ts: pkt.Timestamp, picture: -1}
	if b := pkt.Payload; k == media.Video && len(b) >= 4 && b[0]&0x80 != 0 && b[1]&0x80 != 0 && b[2]&0x80 != 0 {
		a.picture = int(b[2]&0x7f)<<8 | int(b[3])
		a.key = media.IsKeyframe(b)
	}
	p.mu.Lock()
	p.got = append(p.got, a)
	p.mu.Unlock()
}

// received counts the packets of a kind received so far.
func (p *page) received(k media.Kind) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.got {
		if a.kind == k {
			n++
		}
	}
	return n
}

// close leaves, as a page that reloads or closes does: its socket and its
// peer connection go.
func (p *page) close() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
	p.cancel = nil
	p.leg.Close()
	p.f.Close()
}

// continuous fails the test unless what the page received of a kind is one
// stream, as a browser's jitter buffer needs it: sequence numbers step
// forward (a few lost at most), timestamps never go back, VP8 picture IDs
// step forward by a frame at a time.
func (p *page) continuous(k media.Kind) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var prev *arrival
	for i := range p.got {
		a := &p.got[i]
		if a.kind != k {
			continue
		}
		if prev != nil {
			if d := a.seq - prev.seq; d == 0 || d > 20 {
				p.t.Fatalf("%s packet %d: sequence number %d after %d", k, i, a.seq, prev.seq)
			}
			if d := a.ts - prev.ts; int32(d) < 0 || d > 10*90000 {
				p.t.Fatalf("%s packet %d: timestamp %d after %d", k, i, a.ts, prev.ts)
			}
			if a.picture >= 0 && prev.picture >= 0 {
				if d := (a.picture - prev.picture) & 0x7fff; d > 3 {
					p.t.Fatalf("%s packet %d: picture ID %d after %d", k, i, a.picture, prev.picture)
				}
			}
		}
		prev = a
	}
}

// liveCall is an interviewer and a candidate in a started interview, each
// with a page in the call.
func liveCall(t *testing.T) (i1, cand *Node, s Session) {
	t.Helper()
	tm := startTeam(t, 1)
	i1 = tm.interviewers[0]
	cand = startNode(t, nodeOpts{})
	s = tm.create(t, NewSessions{})
	join(t, i1, s.Link, "")
	join(t, cand, s.Link, "Sam")
	waitRoster(t, s.ID, []string{"Sam/candidate", "Interviewer 1/interviewer"}, i1, cand)
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.ID, "live", i1, cand)
	return i1, cand, s
}

// flowing waits until a page receives audio and video beyond what it had.
func flowing(t *testing.T, p *page, within time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	a, v := p.received(media.Audio), p.received(media.Video)
	waitFor(t, within, what, func() bool {
		return p.received(media.Audio) >= a+10 && p.received(media.Video) >= v+25
	})
	return time.Since(start)
}

// A page replaced mid-call (a reload: a new peer connection from the page,
// whose SSRC, sequence numbers, timestamps and picture IDs start anywhere)
// reaches the other participant's page as one continuous stream, every
// time: the other browser would drop what looks older than what it played.
func TestMediaPageReplaced(t *testing.T) {
	i1, cand, s := liveCall(t)
	mine, theirs := openPage(t, i1, s.ID), openPage(t, cand, s.ID)
	flowing(t, theirs, 10*time.Second, "the candidate's page receives the interviewer's")
	flowing(t, mine, 10*time.Second, "the interviewer's page receives the candidate's")
	for i := range 4 {
		mine.close()
		mine = openPage(t, i1, s.ID)
		took := flowing(t, theirs, 5*time.Second, "the candidate's page receives the new page's")
		flowing(t, mine, 5*time.Second, "the new page receives the candidate's")
		t.Logf("replacement %d: flowing again after %v", i+1, took)
	}
	theirs.continuous(media.Video)
	theirs.continuous(media.Audio)
}

// A node restarted mid-call (each side's in turn: one offers the peer
// connection between them, the other answers) is back in the call as soon
// as its page is: the other node replaces its dead connection rather than
// waiting for it to time out, and the other page receives one continuous
// stream throughout.
func TestMediaNodeRestart(t *testing.T) {
	i1, cand, s := liveCall(t)
	pages := map[*Node]*page{i1: openPage(t, i1, s.ID), cand: openPage(t, cand, s.ID)}
	for _, p := range pages {
		flowing(t, p, 10*time.Second, "the call flows")
	}
	nodes := []*Node{i1, cand}
	for i := range nodes {
		n, other := nodes[i], nodes[1-i]
		pages[n].close()
		dir := n.Dir()
		n.Close()
		n = startNode(t, nodeOpts{dir: dir})
		nodes[i] = n
		waitRoster(t, s.ID, []string{"Sam/candidate", "Interviewer 1/interviewer"}, n, other)
		back := time.Now()
		pages[n] = openPage(t, n, s.ID)
		flowing(t, pages[other], 10*time.Second, "the other page receives the restarted node's")
		flowing(t, pages[n], 10*time.Second, "the restarted node's page receives the other's")
		t.Logf("restart of the %s's node (the %s side): flowing both ways %v after it was back in the session", map[bool]string{true: "interviewer", false: "candidate"}[i == 0],
			map[bool]string{true: "offering", false: "answering"}[n.ID() < other.ID()], time.Since(back).Round(time.Millisecond))
		pages[other].continuous(media.Video)
		pages[other].continuous(media.Audio)
	}
}
