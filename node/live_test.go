package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		<-time.After(10 * time.Millisecond)
	}
}

// testLogger logs to the test's output with -v and PARLEY_TEST_LOG set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("PARLEY_TEST_LOG") == "" {
		return discard()
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startRelay starts a relay on loopback.
func startRelay(t testing.TB) *Relay {
	t.Helper()
	r, err := NewRelay(RelayConfig{Dir: filepath.Join(t.TempDir(), "relay"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// nodeOpts configure startNode.
type nodeOpts struct {
	init InitOptions
	cfg  Config
	dir  string // reuse a data dir (a restart)
}

// startNode initializes (unless o.dir is set) and starts a node on loopback.
func startNode(t testing.TB, o nodeOpts) *Node {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "data")
		if _, err := Init(dir, o.init); err != nil {
			t.Fatal(err)
		}
	}
	cfg := o.cfg
	cfg.Dir = dir
	if cfg.Logger == nil {
		// Each node's lines name its directory; its first line, its peer.
		cfg.Logger = testLogger(t).With("node", filepath.Base(filepath.Dir(dir)))
	}
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	if bin := os.Getenv("PARLEY_TEST_WORKER"); bin != "" && cfg.Worker.Command == nil {
		// A worker binary (go build ./cmd/parley-worker), in place of this
		// test binary: for the memory figures of the benchmarks.
		cfg.Worker.Command = func() *exec.Cmd { return exec.Command(bin) }
	}
	if cfg.JoinWait == 0 {
		cfg.JoinWait = 5 * time.Second
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger.Debug("test node", "peer", n.ID())
	if err := n.Start(context.Background()); err != nil {
		n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// team is a relay, a company node and interviewers with credentials.
type team struct {
	relay        *Relay
	company      *Node
	interviewers []*Node
}

func startTeam(t testing.TB, interviewers int) *team {
	t.Helper()
	tm := &team{relay: startRelay(t)}
	tm.company = startNode(t, nodeOpts{init: InitOptions{Org: "Acme Inc", Bootstrap: tm.relay.Addrs()}})
	for i := range interviewers {
		n := startNode(t, nodeOpts{})
		name := fmt.Sprintf("Interviewer %d", i+1)
		res, err := tm.company.AddMember(context.Background(), NewMember{Name: name, Email: fmt.Sprintf("i%d@acme.test", i+1), Peer: n.ID().String()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.AcceptCredential(context.Background(), res.Member.Token); err != nil {
			t.Fatal(err)
		}
		tm.interviewers = append(tm.interviewers, n)
	}
	return tm
}

func (tm *team) create(t testing.TB, req NewSessions) Session {
	t.Helper()
	req.Candidate = cmpOrStr(req.Candidate, "Sam Doe")
	req.Title = cmpOrStr(req.Title, "Backend loop")
	ss, err := tm.company.CreateSessions(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return ss[0]
}

func cmpOrStr(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

func join(t testing.TB, n *Node, link, name string) JoinResult {
	t.Helper()
	res, err := n.Join(context.Background(), link, name)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	return res
}

// roster returns "name/role" of everyone a node sees in a session, sorted.
func roster(t testing.TB, n *Node, id string) []string {
	t.Helper()
	s, err := n.Session(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range s.Participants {
		out = append(out, p.Name+"/"+p.Role)
	}
	slices.Sort(out)
	return out
}

func status(t testing.TB, n *Node, id string) string {
	t.Helper()
	s, err := n.Session(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Status
}

func waitRoster(t testing.TB, id string, want []string, nodes ...*Node) {
	t.Helper()
	slices.Sort(want)
	for _, n := range nodes {
		waitFor(t, 20*time.Second, fmt.Sprintf("roster on %s is %v", n.ID().ShortString(), want), func() bool {
			return slices.Equal(roster(t, n, id), want)
		})
	}
}

func waitStatus(t testing.TB, id, want string, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		waitFor(t, 10*time.Second, fmt.Sprintf("status on %s is %s", n.ID().ShortString(), want), func() bool {
			return status(t, n, id) == want
		})
	}
}

// interview starts a team with one interviewer and a candidate node, both in
// a new session, and waits until everyone sees everyone.
func interview(t testing.TB, interviewerName, candidateName string) (tm *team, i1, cand *Node, s Session) {
	t.Helper()
	tm = startTeam(t, 1)
	i1 = tm.interviewers[0]
	cand = startNode(t, nodeOpts{})
	s = tm.create(t, NewSessions{})
	join(t, i1, s.Link, interviewerName)
	join(t, cand, s.Link, candidateName)
	waitRoster(t, s.ID, []string{candidateName + "/candidate", cmpOrStr(interviewerName, "Interviewer 1") + "/interviewer"}, tm.company, cand, i1)
	return tm, i1, cand, s
}

func TestLiveSession(t *testing.T) {
	tm := startTeam(t, 2)
	i1, i2 := tm.interviewers[0], tm.interviewers[1]
	cand := startNode(t, nodeOpts{})
	s := tm.create(t, NewSessions{})

	if res := join(t, cand, s.Link, "Sam"); res.Role != RoleCandidate {
		t.Fatalf("candidate joined as %s", res.Role)
	}
	// The company node admitted the candidate: it waits in the lobby.
	waitRoster(t, s.ID, []string{"Sam/candidate"}, tm.company, cand)
	waitStatus(t, s.ID, StatusLobby, tm.company, cand)

	// The user's claim does not decide the role: the credential does.
	if res := join(t, i1, s.Link, "Ana"); res.Role != RoleInterviewer {
		t.Fatalf("interviewer joined as %s", res.Role)
	}
	join(t, i2, s.Link, "")
	everyone := []*Node{tm.company, i1, i2, cand}
	waitRoster(t, s.ID, []string{"Sam/candidate", "Ana/interviewer", "Interviewer 2/interviewer"}, everyone...)
	if v, _ := i1.Session(context.Background(), s.ID); !v.CandidateWaiting || v.Status != StatusLobby {
		t.Fatalf("interviewer's view: %+v", v)
	}

	// The lobby gate: the session's content may go to interviewers and the
	// company node at once, to the candidate only after the start.
	gate := func(n, to *Node) bool { return liveOf(n, s.ID).mayReceiveContent(to.ID()) }
	if !gate(i1, i2) || !gate(i1, tm.company) || !gate(cand, i1) || gate(i1, cand) || gate(tm.company, cand) {
		t.Fatal("the lobby gate is open before the start")
	}
	if _, err := cand.StartSession(context.Background(), s.ID); !errors.Is(err, ErrNotInterviewer) {
		t.Fatalf("candidate started the interview: %v", err)
	}
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.ID, StatusLive, everyone...)
	if !gate(i1, cand) || !gate(tm.company, cand) || !gate(i2, cand) {
		t.Fatal("the lobby gate stays shut after the start")
	}

	// Leaving is not ending.
	if _, err := i2.LeaveSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	waitRoster(t, s.ID, []string{"Sam/candidate", "Ana/interviewer"}, tm.company, i1, cand)
	if st := status(t, tm.company, s.ID); st != StatusLive {
		t.Fatalf("status after a leave: %s", st)
	}

	if _, err := i1.EndSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.ID, StatusEnded, tm.company, i1, cand)
	// The link refuses new joins, on a node that was there and on one that
	// never was.
	for _, n := range []*Node{i2, startNode(t, nodeOpts{})} {
		_, err := n.Join(context.Background(), s.Link, "")
		if !errors.Is(err, ErrSessionEnded) || !strings.Contains(err.Error(), "this interview has ended") {
			t.Fatalf("join after the end: %v", err)
		}
	}
	// The company node keeps who came and when.
	v, _ := tm.company.Session(context.Background(), s.ID)
	var names []string
	for _, a := range v.Attendance {
		names = append(names, a.Name)
	}
	if len(v.Attendance) < 3 || !slices.Contains(names, "Sam") || v.EndReason != "ended" {
		t.Fatalf("company's record: %+v", v)
	}
}

func TestSeat(t *testing.T) {
	tm := startTeam(t, 1)
	i1 := tm.interviewers[0]
	s := tm.create(t, NewSessions{})
	cand1 := startNode(t, nodeOpts{})
	join(t, cand1, s.Link, "Sam")
	join(t, i1, s.Link, "")
	waitRoster(t, s.ID, []string{"Sam/candidate", "Interviewer 1/interviewer"}, tm.company, i1, cand1)

	// Another candidate node is refused, saying what to do.
	cand2 := startNode(t, nodeOpts{})
	_, err := cand2.Join(context.Background(), s.Link, "Sam (laptop 2)")
	if err == nil || !strings.Contains(err.Error(), "this interview already has a candidate; ask an interviewer to release the seat") {
		t.Fatalf("second candidate: %v", err)
	}

	// The same candidate node, restarted, gets its seat back.
	dir := cand1.Dir()
	cand1.Close()
	waitRoster(t, s.ID, []string{"Interviewer 1/interviewer"}, tm.company, i1)
	cand1 = startNode(t, nodeOpts{dir: dir})
	waitRoster(t, s.ID, []string{"Sam/candidate", "Interviewer 1/interviewer"}, tm.company, i1, cand1)

	// A candidate cannot release the seat; an interviewer can, and then the
	// other node takes it.
	if _, err := cand1.ReleaseSeat(context.Background(), s.ID); !errors.Is(err, ErrNotInterviewer) {
		t.Fatalf("candidate released the seat: %v", err)
	}
	if _, err := i1.ReleaseSeat(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	waitRoster(t, s.ID, []string{"Interviewer 1/interviewer"}, tm.company, i1)
	if res := join(t, cand2, s.Link, "Sam (laptop 2)"); res.Role != RoleCandidate {
		t.Fatalf("second candidate joined as %s", res.Role)
	}
	waitRoster(t, s.ID, []string{"Sam (laptop 2)/candidate", "Interviewer 1/interviewer"}, tm.company, i1, cand2)
}

func TestInterviewerLimit(t *testing.T) {
	tm := startTeam(t, 2)
	i1, i2 := tm.interviewers[0], tm.interviewers[1]
	s := tm.create(t, NewSessions{MaxInterviewers: 1})
	join(t, i1, s.Link, "")
	_, err := i2.Join(context.Background(), s.Link, "")
	if err == nil || !strings.Contains(err.Error(), "maximum of 1 interviewers") {
		t.Fatalf("interviewer over the limit: %v", err)
	}
	// The candidate's seat is never taken by interviewers.
	cand := startNode(t, nodeOpts{})
	join(t, cand, s.Link, "Sam")
	waitRoster(t, s.ID, []string{"Sam/candidate", "Interviewer 1/interviewer"}, tm.company, i1, cand)
}

// A credential from another company makes nobody an interviewer: that node
// is a candidate like any other holder of the link.
func TestForeignCredential(t *testing.T) {
	tm := startTeam(t, 0)
	other := startNode(t, nodeOpts{init: InitOptions{Org: "Acme Inc"}}) // same name, other key
	mallory := startNode(t, nodeOpts{})
	res, err := other.AddMember(context.Background(), NewMember{Name: "Mallory", Email: "m@acme.test", Peer: mallory.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.AcceptCredential(context.Background(), res.Member.Token); err != nil {
		t.Fatal(err)
	}
	s := tm.create(t, NewSessions{})
	if r := join(t, mallory, s.Link, "Mallory"); r.Role != RoleCandidate {
		t.Fatalf("joined as %s", r.Role)
	}
	waitRoster(t, s.ID, []string{"Mallory/candidate"}, tm.company)
}

func TestIdleEnd(t *testing.T) {
	relay := startRelay(t)
	company := startNode(t, nodeOpts{init: InitOptions{Org: "Acme Inc", Bootstrap: relay.Addrs()}, cfg: Config{IdleEnd: 300 * time.Millisecond}})
	i1 := startNode(t, nodeOpts{})
	res, _ := company.AddMember(context.Background(), NewMember{Name: "Ana", Email: "a@acme.test", Peer: i1.ID().String()})
	i1.AcceptCredential(context.Background(), res.Member.Token)
	ss, err := company.CreateSessions(context.Background(), NewSessions{Candidate: "Sam", Title: "T"})
	if err != nil {
		t.Fatal(err)
	}
	s := ss[0]
	join(t, i1, s.Link, "")
	waitRoster(t, s.ID, []string{"Ana/interviewer"}, company)
	// Pending sessions with nobody in never end by themselves.
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.ID, StatusLive, company)
	if _, err := i1.LeaveSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.ID, StatusEnded, company)
	v, _ := company.Session(context.Background(), s.ID)
	if !strings.HasPrefix(v.EndReason, "idle") {
		t.Fatalf("end reason %q", v.EndReason)
	}
	if _, err := i1.Join(context.Background(), s.Link, ""); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("rejoin after the idle end: %v", err)
	}
}

func TestCancelRefusesLink(t *testing.T) {
	tm := startTeam(t, 0)
	s := tm.create(t, NewSessions{})
	if _, err := tm.company.CancelSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	cand := startNode(t, nodeOpts{})
	_, err := cand.Join(context.Background(), s.Link, "")
	if !errors.Is(err, ErrSessionEnded) || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("join of a cancelled session: %v", err)
	}
}

// An interviewer's node that stops and starts again is back in the session
// with its role, and the others see it.
func TestRestartKeepsRole(t *testing.T) {
	tm, i1, cand, s := interview(t, "Ana", "Sam")
	dir := i1.Dir()
	i1.Close()
	waitRoster(t, s.ID, []string{"Sam/candidate"}, tm.company, cand)
	i1 = startNode(t, nodeOpts{dir: dir})
	waitRoster(t, s.ID, []string{"Sam/candidate", "Ana/interviewer"}, tm.company, cand, i1)
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatalf("the restarted interviewer cannot start: %v", err)
	}
	waitStatus(t, s.ID, StatusLive, cand)
}

func TestRelayMetrics(t *testing.T) {
	r, err := NewRelay(RelayConfig{Dir: filepath.Join(t.TempDir(), "relay"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Metrics: "127.0.0.1:0", Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	resp, err := http.Get("http://" + r.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"libp2p_relaysvc", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	r.Close()
	if err := r.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
}

// A peer that sends nothing for a while and to which no connection is left
// (a node that crashed, or whose goodbye and pubsub's leave were both lost)
// leaves the roster; one that is still connected stays, however slow.
func TestSilentPeerDropped(t *testing.T) {
	tm, _, cand, s := interview(t, "Ana", "Sam")
	l, err := tm.company.lookupLive(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	ghost := testPeerID(t)
	long := time.Now().Add(-2 * silentFor)
	l.mu.Lock()
	l.peers[ghost] = &participant{id: ghost, role: RoleInterviewer, name: "Ghost", since: long, heard: long}
	l.peers[cand.ID()].heard = long
	l.mu.Unlock()
	l.dropSilent(time.Now())
	l.mu.Lock()
	_, ghostIn := l.peers[ghost]
	_, candIn := l.peers[cand.ID()]
	l.mu.Unlock()
	if ghostIn || !candIn {
		t.Fatalf("after the check: the silent, unconnected peer present: %v; the silent, connected candidate present: %v", ghostIn, candIn)
	}
	waitRoster(t, s.ID, []string{"Ana/interviewer", "Sam/candidate"}, tm.company)
}
