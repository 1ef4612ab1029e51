package node

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/internal/crasher"
)

func crasherFiles(t testing.TB) map[string][]byte {
	ins, err := crasher.All()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, in := range ins {
		out[in.Name] = in.Bytes
	}
	return out
}

// sendFrames opens a document stream from one node to another, as a
// modified node would, and writes raw frames.
func sendFrames(t testing.TB, from, to *Node, sessionID string, frames ...docFrame) {
	t.Helper()
	l := liveOf(from, sessionID)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := from.p2p.host.NewStream(ctx, to.ID(), SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := writeFrame(s, syncHello{Tag: l.tag}); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := writeDocFrame(s, f); err != nil {
			t.Fatal(err)
		}
	}
	s.CloseWrite()
	// Wait for the receiver to finish reading: it closes its side.
	bufio.NewReader(s).ReadByte()
}

// Every crasher, sent by an admitted peer as a change, a sync message and a
// snapshot, of either document, into a live session with real content:
// the other nodes keep running, editing goes on, nothing stored is lost,
// and the interviewers see who sent bad data.
func TestCrashersInSession(t *testing.T) {
	crashers := crasherFiles(t)
	quick := Config{Worker: crdt.WorkerConfig{Deadline: 3 * time.Second}}
	relay := startRelay(t)
	company := startNode(t, nodeOpts{init: InitOptions{Org: "Acme Inc", Bootstrap: relay.Addrs()}, cfg: quick})
	victim := startNode(t, nodeOpts{cfg: quick})
	mallory := startNode(t, nodeOpts{})
	for i, n := range []*Node{victim, mallory} {
		res, err := company.AddMember(context.Background(), NewMember{Name: []string{"Ana", "Mallory"}[i], Email: []string{"ana@acme.test", "m@acme.test"}[i], Peer: n.ID().String()})
		if err != nil {
			t.Fatal(err)
		}
		n.AcceptCredential(context.Background(), res.Member.Token)
	}
	cand := startNode(t, nodeOpts{cfg: quick})
	ss, _ := company.CreateSessions(context.Background(), NewSessions{Candidate: "Sam", Title: "Loop"})
	s := ss[0]
	for _, n := range []*Node{victim, mallory, cand} {
		join(t, n, s.Link, "")
	}
	waitRoster(t, s.ID, []string{"Sam/candidate", "Ana/interviewer", "Mallory/interviewer"}, company, victim)
	edit(t, victim, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go", Text: "func main() {\n\tprintln(\"héllo 🙂\")\n}\n"},
		crdt.Edit{Op: "splice", Target: "question", Text: "Print hello"})
	edit(t, victim, s.ID, crdt.Private, crdt.Edit{Op: "splice", Target: "notes", Text: "good start"})
	if _, err := victim.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	want := "func main() {\n\tprintln(\"héllo 🙂\")\n}\n"
	waitFile(t, s.ID, "main.go", want, company, cand, mallory)

	targets := []*Node{victim, company}
	deaths := map[*Node]int{}
	for name, b := range crashers {
		for _, typ := range []byte{frameChange, frameSync, frameSnapshot} {
			for _, kind := range []crdt.Kind{crdt.Shared, crdt.Private} {
				for _, target := range targets {
					gen := target.worker.Generation()
					sendFrames(t, mallory, target, s.ID, docFrame{typ: typ, kind: kind, data: b})
					// The target answers, and knows the content.
					v, err := target.View(context.Background(), s.ID, crdt.Shared)
					if err != nil || v.Files["main.go"] != want {
						t.Fatalf("%s as %d/%s to %s: view %q, %v", name, typ, kind, target.ID().ShortString(), v.Files["main.go"], err)
					}
					if target.worker.Generation() != gen {
						deaths[target]++
						// Let the next crasher through too: the test wants
						// every input to reach the worker.
						l := liveOf(target, s.ID)
						for _, q := range l.quarantines() {
							// The other target took Mallory's bytes too;
							// some do not kill a worker until a later
							// operation, and that node may pass them on
							// (and remove them when its own worker dies on
							// them). It is blamed then, rightly: its data
							// crashes this worker, and the quarantine stops
							// it doing so round after round. Nobody else is.
							relayed := target == victim && q.Name == "Acme Inc" || target == company && q.Name == "Ana"
							if q.Name != "Mallory" && !relayed {
								t.Fatalf("%s as %d/%s: %s blamed %s", name, typ, kind, target.ID().ShortString(), q.Name)
							}
						}
						l.mu.Lock()
						clear(l.quar)
						l.mu.Unlock()
					}
				}
			}
		}
	}
	if deaths[victim] == 0 || deaths[company] == 0 {
		t.Fatalf("no crasher killed a worker (%v): are they reaching it?", deaths)
	}
	t.Logf("worker deaths: victim %d, company %d", deaths[victim], deaths[company])

	// Once more, and leave the quarantine in place: the interviewers see
	// who sent bad data.
	l := liveOf(victim, s.ID)
	l.mu.Lock()
	clear(l.quar)
	l.mu.Unlock()
	sendFrames(t, mallory, victim, s.ID, docFrame{typ: frameSync, kind: crdt.Shared, data: crashers["sync_bloom_div_by_zero"]})
	waitFor(t, 10*time.Second, "the victim's interviewers see the quarantine", func() bool {
		v, _ := victim.Session(context.Background(), s.ID)
		return len(v.Quarantined) == 1 && v.Quarantined[0].Name == "Mallory"
	})
	if v, _ := cand.Session(context.Background(), s.ID); len(v.Quarantined) != 0 {
		t.Fatal("the candidate is shown the quarantine")
	}

	// Editing goes on, everywhere.
	edit(t, victim, s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Pos: 0, Text: "// still here\n"})
	edit(t, cand, s.ID, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Pos: 0, Text: "// me too\n"})
	waitFor(t, 15*time.Second, "edits flow after the attack", func() bool {
		for _, n := range []*Node{victim, company, cand} {
			if f := view(t, n, s.ID, crdt.Shared).Files["main.go"]; !strings.Contains(f, "// still here\n") || !strings.Contains(f, "// me too\n") {
				return false
			}
		}
		return true
	})
	if v := view(t, victim, s.ID, crdt.Private); v.Notes != "good start" {
		t.Fatalf("private notes after the attack: %q", v.Notes)
	}
	// Nothing stored is lost: a restart reloads it all.
	dir := victim.Dir()
	victim.Close()
	victim = startNode(t, nodeOpts{dir: dir, cfg: quick})
	waitFor(t, 15*time.Second, "the restarted victim has everything", func() bool {
		v, err := victim.View(context.Background(), s.ID, crdt.Shared)
		return err == nil && strings.Contains(v.Files["main.go"], "// still here\n") && v.Question == "Print hello"
	})
	_ = network.DirOutbound
	_ = peer.ID("")
}
