package node

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"parley/crdt"
	"parley/internal/crasher"
)

var (
	mutantCount = flag.Int("crashers.mutants", 96, "how many crafted inputs TestCrashersInSession makes, besides the committed ones")
	mutantSeed  = flag.Uint64("crashers.seed", 1, "the seed of the inputs TestCrashersInSession makes")
)

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

// attack is a crafted input, sent as one frame.
type attack struct {
	name  string // the committed input's, or what the mutation changed
	frame docFrame
}

func (a attack) String() string {
	return fmt.Sprintf("%s as %s frame %d", a.name, a.frame.kind, a.frame.typ)
}

// committedAttacks sends every committed crafted input as a change, a sync
// message and a snapshot of either document.
func committedAttacks(t testing.TB) []attack {
	t.Helper()
	ins, err := crasher.All()
	if err != nil {
		t.Fatal(err)
	}
	var out []attack
	for _, in := range ins {
		for _, typ := range []byte{frameChange, frameSync, frameSnapshot} {
			for _, kind := range []crdt.Kind{crdt.Shared, crdt.Private} {
				out = append(out, attack{in.Name, docFrame{typ: typ, kind: kind, data: in.Bytes}})
			}
		}
	}
	return out
}

// mutantAttacks makes n crafted inputs (crasher.Mutator, seeded with seed)
// out of valid data for a session's documents, saved as given: changes,
// whole documents and sync messages, each sent as what it is.
//
// Many mutants are valid Automerge, and a node takes them as the sender's
// edits: the valid data must be such that no mutant of it can change what
// the test checks. The changes and sync messages are built on the
// documents' genesis alone, by an actor of Mallory's: they apply to the
// session's documents, concurrently with their content, and nothing they
// hold, mutated or not, can name that content (it is by actors they do not
// list) or a root key of it. A whole document would hold the genesis too,
// and a mutant that gives it another actor makes a second genesis, whose
// root objects may win over the real ones and hide every file (a valid,
// if hostile, edit); so the document is one of its own, with root keys
// Parley does not use.
func mutantAttacks(t testing.TB, saved map[crdt.Kind][]byte, n int, seed uint64) []attack {
	t.Helper()
	type valid struct {
		changes, docs, syncs [][]byte
	}
	bases := map[crdt.Kind]valid{}
	for kind, b := range saved {
		doc, err := automerge.Load(b) // honest data: safe in this process
		if err != nil {
			t.Fatal(err)
		}
		all, err := doc.Changes()
		if err != nil || len(all) == 0 || len(all[0].Dependencies()) != 0 {
			t.Fatalf("%s document: no genesis (%v)", kind, err)
		}
		genesis := all[0].Hash()
		mine, err := doc.Fork(genesis)
		if err != nil {
			t.Fatal(err)
		}
		if err := mine.SetActorID("6d616c6c6f7279"); err != nil {
			t.Fatal(err)
		}
		at := time.Unix(1_800_000_000, 0)
		step := func(do func() error) {
			t.Helper()
			if err := do(); err != nil {
				t.Fatal(err)
			}
			if _, err := mine.Commit("", automerge.CommitOptions{Time: &at}); err != nil {
				t.Fatal(err)
			}
		}
		if kind == crdt.Shared {
			files := mine.Path("files").Map()
			step(func() error { return files.Set("gen.txt", automerge.NewText("hello, wörld 🙂\n")) })
			step(func() error { return mine.Path("files", "gen.txt").Text().Splice(1, 4, "ELLO") })
			step(func() error { return mine.Path("languages").Map().Set("gen.txt", "go") })
			step(func() error { return files.Set("gen2.txt", automerge.NewText("x")) })
			step(func() error { return files.Delete("gen2.txt") })
		} else {
			step(func() error { return mine.Path("notes").Text().Splice(0, 0, "mallory's notes\n") })
			step(func() error { return mine.Path("notes").Text().Splice(0, 10, "") })
		}
		var v valid
		changes, err := mine.Changes(genesis)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			v.changes = append(v.changes, c.Save())
		}
		v.changes = append(v.changes, automerge.SaveChanges(changes))
		v.docs = [][]byte{ownDocument(t)}
		// The sync messages of mine catching up a peer that has only the
		// genesis, both ways.
		peer, err := doc.Fork(genesis)
		if err != nil {
			t.Fatal(err)
		}
		a, b := automerge.NewSyncState(mine), automerge.NewSyncState(peer)
		for range 8 {
			for _, p := range [][2]*automerge.SyncState{{a, b}, {b, a}} {
				if m, ok := p[0].GenerateMessage(); ok {
					v.syncs = append(v.syncs, m.Bytes())
					if _, err := p[1].ReceiveMessage(m.Bytes()); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if len(v.syncs) < 2 {
			t.Fatalf("%s document: %d sync messages", kind, len(v.syncs))
		}
		bases[kind] = v
	}
	m := crasher.NewMutator(seed)
	var out []attack
	for i := range n {
		kind := crdt.Shared
		if i%4 == 3 {
			kind = crdt.Private
		}
		v := bases[kind]
		var f docFrame
		var what string
		switch i % 3 {
		case 0:
			f.typ = frameChange
			f.data, what = m.Chunks(v.changes[i%len(v.changes)])
		case 1:
			f.typ = frameSnapshot
			f.data, what = m.Chunks(v.docs[i%len(v.docs)])
		default:
			f.typ = frameSync
			f.data, what = m.SyncMessage(v.syncs[i%len(v.syncs)])
		}
		f.kind = kind
		out = append(out, attack{fmt.Sprintf("mutant %d (seed %d): %s", i, seed, what), f})
	}
	return out
}

// ownDocument is a saved document of its own (no Parley genesis), with
// root keys Parley does not use: maps, text long enough to be deflated in
// the saved form, a list, a counter, deletions.
func ownDocument(t testing.TB) []byte {
	t.Helper()
	d := automerge.New()
	at := time.Unix(1_800_000_000, 0)
	for _, do := range []func() error{
		func() error { return d.SetActorID("6d616c6c6f7279") },
		func() error { return d.RootMap().Set("zz", automerge.NewMap()) },
		func() error {
			return d.Path("zz").Map().Set("gen.txt", automerge.NewText(strings.Repeat("hello, wörld 🙂\n", 40)))
		},
		func() error { _, err := d.Commit("", automerge.CommitOptions{Time: &at}); return err },
		func() error { return d.Path("zz", "gen.txt").Text().Splice(3, 30, "ELLO") },
		func() error { return d.RootMap().Set("zl", []any{1, "two", 3.5, true, nil}) },
		func() error { return d.RootMap().Set("zc", automerge.NewCounter(3)) },
		func() error { return d.Path("zz").Map().Set("gen2.txt", "x") },
		func() error { _, err := d.Commit("", automerge.CommitOptions{Time: &at}); return err },
		func() error { return d.Path("zz").Map().Delete("gen2.txt") },
		func() error { _, err := d.Commit("", automerge.CommitOptions{Time: &at}); return err },
	} {
		if err := do(); err != nil {
			t.Fatal(err)
		}
	}
	return d.Save()
}

// Every crafted input, committed or made now, sent by an admitted peer
// into a live session with real content: the other nodes keep running,
// editing goes on, nothing stored is lost, and the interviewers see who
// sent bad data. The committed inputs go in as a change, a sync message
// and a snapshot of either document; the ones made now as what they are.
func TestCrashersInSession(t *testing.T) {
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

	saved := map[crdt.Kind][]byte{}
	for _, kind := range []crdt.Kind{crdt.Shared, crdt.Private} {
		d, err := liveOf(victim, s.ID).doc(kind)
		if err != nil {
			t.Fatal(err)
		}
		if saved[kind], err = victim.saveDoc(d); err != nil || saved[kind] == nil {
			t.Fatalf("%s document: %d bytes saved, %v", kind, len(saved[kind]), err)
		}
	}
	attacks := committedAttacks(t)
	committed := len(attacks)
	attacks = append(attacks, mutantAttacks(t, saved, *mutantCount, *mutantSeed)...)

	targets := []*Node{victim, company}
	// Blame follows the author: the other target took Mallory's bytes too,
	// and may pass them on; it is never blamed for them, nor anyone else
	// but Mallory.
	relayed := func(target *Node, name string) bool { return false }
	// lift checks whom a target quarantined (after what) and lifts it, so
	// that the next input reaches the worker too: a death that comes after
	// the test looked (in a later sync round) leaves Mallory quarantined,
	// and her bytes would be dropped unread. It reports whether Mallory was.
	lift := func(target *Node, after attack) bool {
		t.Helper()
		l := liveOf(target, s.ID)
		blamed := false
		for _, q := range l.quarantines() {
			if q.Name != "Mallory" && !relayed(target, q.Name) {
				t.Fatalf("after %s: %s blamed %s", after, target.ID().ShortString(), q.Name)
			}
			blamed = blamed || q.Name == "Mallory"
		}
		l.mu.Lock()
		clear(l.quar)
		l.mu.Unlock()
		return blamed
	}
	deaths := map[*Node]int{}
	mutantDeaths := 0
	var killers []attack // what killed the victim's worker, blamed on Mallory
	for i, a := range attacks {
		for _, target := range targets {
			if i > 0 {
				lift(target, attacks[i-1])
			}
			gen := target.worker.Generation()
			sendFrames(t, mallory, target, s.ID, a.frame)
			// The target answers, and knows the content.
			v, err := target.View(context.Background(), s.ID, crdt.Shared)
			if err != nil || v.Files["main.go"] != want {
				t.Fatalf("%s to %s: view %q, %v\ninput: %x", a, target.ID().ShortString(), v.Files["main.go"], err, a.frame.data)
			}
			if target.worker.Generation() == gen {
				continue
			}
			deaths[target]++
			if i >= committed {
				mutantDeaths++
				t.Logf("%s killed the worker of %s\ninput: %s", a, target.ID().ShortString(), hex.EncodeToString(a.frame.data))
			}
			if lift(target, a) && target == victim {
				killers = append(killers, a)
			}
		}
	}
	for _, target := range targets {
		lift(target, attacks[len(attacks)-1])
	}
	if deaths[victim] == 0 || deaths[company] == 0 {
		t.Fatalf("no crafted input killed a worker (%v): are they reaching it?", deaths)
	}
	t.Logf("worker deaths: victim %d, company %d; %d of them by the %d inputs made now", deaths[victim], deaths[company], mutantDeaths, *mutantCount)

	// Once more, and leave the quarantine in place: the interviewers see
	// who sent bad data. Any input that got Mallory quarantined before
	// will do; some depend on the document's state, so try them in turn.
	l := liveOf(victim, s.ID)
	quarantined := func() bool {
		for _, q := range l.quarantines() {
			if q.Name == "Mallory" {
				return true
			}
		}
		return false
	}
	for _, a := range killers {
		l.mu.Lock()
		clear(l.quar)
		l.mu.Unlock()
		sendFrames(t, mallory, victim, s.ID, a.frame)
		if quarantined() {
			break
		}
	}
	if !quarantined() {
		t.Fatalf("none of the %d inputs that got Mallory quarantined before does again", len(killers))
	}
	waitFor(t, 10*time.Second, "the victim's interviewers see the quarantine", func() bool {
		v, _ := victim.Session(context.Background(), s.ID)
		shown := false
		for _, q := range v.Quarantined {
			if q.Name != "Mallory" && !relayed(victim, q.Name) {
				t.Fatalf("the victim blames %s", q.Name)
			}
			shown = shown || q.Name == "Mallory"
		}
		return shown
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
	// Mallory may have edited the notes: a mutant of her valid edits that
	// Automerge takes is an edit too. Ana's are all there.
	if v := view(t, victim, s.ID, crdt.Private); !strings.Contains(v.Notes, "good start") {
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
}
