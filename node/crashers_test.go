package node

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"parley/crdt"
	"parley/internal/crasher"
	"parley/node/store"
)

// The crasher tests send crafted Automerge inputs, the committed ones of
// internal/crasher and mutants of valid data that crasher.Mutator makes
// during the run, on every path document data takes into a node: from an
// interviewer's and from the candidate's (modified) node, to interviewers,
// the company node and the candidate's node (this file); need frames
// (crashers_need_test.go); the page's WebSocket (crashers_page_test.go);
// and what a quarantine does to its author's later frames
// (crashers_quarantine_test.go). Whatever the inputs do, no node process
// dies, editing goes on, and no honest node is ever quarantined.

var (
	mutantCount = flag.Int("crashers.mutants", 96, "how many crafted inputs each crasher test makes, besides the committed ones")
	mutantSeed  = flag.Uint64("crashers.seed", 1, "the seed of the inputs the crasher tests make (each test adds its own offset)")
)

// sendFrames opens a document stream from one node to another, as a
// modified node would, and writes raw frames. It returns once the receiver
// has handled them all (it closes its side after the last).
func sendFrames(t testing.TB, from, to *Node, sessionID string, frames ...docFrame) {
	t.Helper()
	if err := writeFrames(from, to, sessionID, frames...); err != nil {
		t.Fatal(err)
	}
}

// writeFrames is sendFrames, for any goroutine.
func writeFrames(from, to *Node, sessionID string, frames ...docFrame) error {
	l := liveOf(from, sessionID)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := from.p2p.host.NewStream(ctx, to.ID(), SyncProtocol)
	if err != nil {
		return err
	}
	defer s.Close()
	w := bufio.NewWriter(s)
	if err := writeFrame(w, syncHello{Tag: l.tag}); err != nil {
		return err
	}
	for _, f := range frames {
		if err := writeDocFrame(w, f); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	s.CloseWrite()
	// Wait for the receiver to finish reading: it closes its side.
	bufio.NewReader(s).ReadByte()
	return nil
}

// attack is a crafted input, sent as one frame.
type attack struct {
	name  string // the committed input's, or what the mutation changed
	made  bool   // made during the run (a mutant), not committed
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
				out = append(out, attack{name: in.Name, frame: docFrame{typ: typ, kind: kind, data: in.Bytes}})
			}
		}
	}
	return out
}

// relabelledAttacks sends every committed input that holds changes again,
// its changes relabelled as actor's (crasher.Relabel): a node takes changes
// from its page only under its own actor, and from the candidate's node
// only the candidate's, so that only relabelled can they reach the worker
// on those paths. Each goes as changes (unless it is a sync message) and
// as a sync message, for the shared document.
func relabelledAttacks(t testing.TB, actor string) []attack {
	t.Helper()
	ins, err := crasher.All()
	if err != nil {
		t.Fatal(err)
	}
	a, err := hex.DecodeString(actor)
	if err != nil {
		t.Fatal(err)
	}
	var out []attack
	for _, in := range ins {
		b, ok := crasher.Relabel(in.Bytes, a)
		if !ok {
			continue
		}
		name := in.Name + ", relabelled"
		if msg, ok := crasher.SyncMessageWith(b); ok {
			out = append(out, attack{name: name, frame: docFrame{typ: frameChange, kind: crdt.Shared, data: b}})
			b = msg
		}
		out = append(out, attack{name: name, frame: docFrame{typ: frameSync, kind: crdt.Shared, data: b}})
	}
	if len(out) == 0 {
		t.Fatal("no committed input holds changes")
	}
	return out
}

// valid is valid data for one document that a participant's node could
// send: changes (each on its own, and all together), whole documents, and
// sync messages. Mutants are made of it.
type valid struct {
	kind                 crdt.Kind
	changes, docs, syncs [][]byte
}

// validEdits makes valid data for a document saved as saved (honest data:
// safe to load in this process): the changes edit makes as actor on a fork
// of the document, at its genesis alone (atGenesis) or as it is, each on
// its own and all together; the fork, saved whole; and the sync messages
// that catch up a peer that has what the fork started from, both ways.
// edit makes its edits in steps, each committed.
func validEdits(t testing.TB, kind crdt.Kind, saved []byte, actor string, atGenesis bool, edit func(d *automerge.Doc, step func(func() error))) valid {
	t.Helper()
	doc, err := automerge.Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	all, err := doc.Changes()
	if err != nil || len(all) == 0 || len(all[0].Dependencies()) != 0 {
		t.Fatalf("%s document: no genesis (%v)", kind, err)
	}
	from := doc.Heads()
	if atGenesis {
		from = []automerge.ChangeHash{all[0].Hash()}
	}
	mine, err := doc.Fork(from...)
	if err != nil {
		t.Fatal(err)
	}
	if err := mine.SetActorID(actor); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_800_000_000, 0)
	edit(mine, func(do func() error) {
		t.Helper()
		if err := do(); err != nil {
			t.Fatal(err)
		}
		if _, err := mine.Commit("", automerge.CommitOptions{Time: &at}); err != nil {
			t.Fatal(err)
		}
	})
	v := valid{kind: kind, docs: [][]byte{mine.Save()}}
	changes, err := mine.Changes(from...)
	if err != nil || len(changes) == 0 {
		t.Fatalf("%s document: %d changes made, %v", kind, len(changes), err)
	}
	for _, c := range changes {
		v.changes = append(v.changes, c.Save())
	}
	v.changes = append(v.changes, automerge.SaveChanges(changes))
	peer, err := doc.Fork(from...)
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
	return v
}

// staffData is valid data an interviewer's node could send for a session's
// documents, saved as given: changes and sync messages built on the
// documents' genesis alone, as actor, and a whole document of its own.
//
// Many mutants are valid Automerge, and a node takes them as the sender's
// edits: the valid data must be such that no mutant of it can change what
// the tests check. Built on the genesis alone, the changes apply
// concurrently with the session's content, and nothing they hold, mutated
// or not, can name that content (it is by actors they do not list) or a
// root key of it. A whole document would hold the genesis too, and a
// mutant that gives it another actor makes a second genesis, whose root
// objects may win over the real ones and hide every file (a valid, if
// hostile, edit); so the document is one of its own, with root keys
// Parley does not use.
func staffData(t testing.TB, saved map[crdt.Kind][]byte, actor string) []valid {
	t.Helper()
	shared := validEdits(t, crdt.Shared, saved[crdt.Shared], actor, true, func(d *automerge.Doc, step func(func() error)) {
		files := d.Path("files").Map()
		step(func() error { return files.Set("gen.txt", automerge.NewText("hello, wörld 🙂\n")) })
		step(func() error { return d.Path("files", "gen.txt").Text().Splice(1, 4, "ELLO") })
		step(func() error { return d.Path("languages").Map().Set("gen.txt", "go") })
		step(func() error { return files.Set("gen2.txt", automerge.NewText("x")) })
		step(func() error { return files.Delete("gen2.txt") })
	})
	private := validEdits(t, crdt.Private, saved[crdt.Private], actor, true, func(d *automerge.Doc, step func(func() error)) {
		step(func() error { return d.Path("notes").Text().Splice(0, 0, "mallory's notes\n") })
		step(func() error { return d.Path("notes").Text().Splice(0, 10, "") })
	})
	own := ownDocument(t)
	shared.docs, private.docs = [][]byte{own}, [][]byte{own}
	return []valid{shared, private}
}

// candidateData is valid data the candidate's node could send once the
// interview started: its edits of main.go, made as actor on the shared
// document as it is (saved). Its mutants may edit the code (the candidate
// may), and nothing else: whatever else they do breaks a rule.
func candidateData(t testing.TB, saved []byte, actor string) valid {
	t.Helper()
	return validEdits(t, crdt.Shared, saved, actor, false, func(d *automerge.Doc, step func(func() error)) {
		code := d.Path("files", "main.go").Text()
		step(func() error { return code.Splice(0, 0, "// Sam was here 🙂\n") })
		step(func() error { return code.Splice(3, 3, "SAM") })
		step(func() error { return code.Splice(0, 3, "") })
		step(func() error { return code.Splice(10, 0, "wörld") })
	})
}

// mutantAttacks makes n crafted inputs (crasher.Mutator, seeded with seed)
// of valid data: changes, whole documents and sync messages, each sent as
// what it is, for each valid in turn.
func mutantAttacks(bases []valid, n int, seed uint64) []attack {
	m := crasher.NewMutator(seed)
	var out []attack
	for i := range n {
		v := bases[(i/3)%len(bases)]
		f := docFrame{kind: v.kind}
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
		out = append(out, attack{name: fmt.Sprintf("mutant %d (seed %d): %s", i, seed, what), made: true, frame: f})
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

// actorNaming returns an Automerge actor that names a node's participant
// (its first 8 bytes are the node's; see actorKey), as its pages' actors
// do, with suffix (16 hex digits) for the rest.
func actorNaming(n *Node, suffix string) string { return actorKey(n.actor()) + suffix }

// crashSession is a started session with content, for the crasher tests:
// the company node, two interviewers, Ana and Mallory, and the candidate,
// Sam. A test makes one of them send crafted frames, as a modified node
// would; the others are honest, and nobody may ever quarantine them.
type crashSession struct {
	id                          string
	company, ana, mallory, cand *Node
	want                        string               // main.go, as Ana wrote it
	saved                       map[crdt.Kind][]byte // Ana's documents at the start
}

func (cs *crashSession) nodes() []*Node { return []*Node{cs.company, cs.ana, cs.mallory, cs.cand} }

func (cs *crashSession) name(n *Node) string {
	switch n {
	case cs.company:
		return "the company node"
	case cs.ana:
		return "Ana's node"
	case cs.mallory:
		return "Mallory's node"
	case cs.cand:
		return "Sam's node"
	}
	return n.ID().ShortString()
}

// startCrashSession starts the session's nodes, writes code, a question and
// notes on Ana's node, and starts the interview: the candidate's node
// takes the shared document.
func startCrashSession(t *testing.T) *crashSession {
	t.Helper()
	ctx := context.Background()
	quick := Config{Worker: crdt.WorkerConfig{Deadline: 3 * time.Second}}
	relay := startRelay(t)
	cs := &crashSession{want: "func main() {\n\tprintln(\"héllo 🙂\")\n}\n", saved: map[crdt.Kind][]byte{}}
	cs.company = startNode(t, nodeOpts{init: InitOptions{Org: "Acme Inc", Bootstrap: relay.Addrs()}, cfg: quick})
	cs.ana = startNode(t, nodeOpts{cfg: quick})
	cs.mallory = startNode(t, nodeOpts{cfg: quick})
	for i, n := range []*Node{cs.ana, cs.mallory} {
		res, err := cs.company.AddMember(ctx, NewMember{Name: []string{"Ana", "Mallory"}[i], Email: []string{"ana@acme.test", "m@acme.test"}[i], Peer: n.ID().String()})
		if err != nil {
			t.Fatal(err)
		}
		n.AcceptCredential(ctx, res.Member.Token)
	}
	cs.cand = startNode(t, nodeOpts{cfg: quick})
	ss, err := cs.company.CreateSessions(ctx, NewSessions{Candidate: "Sam", Title: "Loop"})
	if err != nil {
		t.Fatal(err)
	}
	cs.id = ss[0].ID
	for _, n := range []*Node{cs.ana, cs.mallory, cs.cand} {
		join(t, n, ss[0].Link, "")
	}
	waitRoster(t, cs.id, []string{"Sam/candidate", "Ana/interviewer", "Mallory/interviewer"}, cs.nodes()...)
	edit(t, cs.ana, cs.id, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go", Text: cs.want},
		crdt.Edit{Op: "splice", Target: "question", Text: "Print hello"})
	edit(t, cs.ana, cs.id, crdt.Private, crdt.Edit{Op: "splice", Target: "notes", Text: "good start"})
	if _, err := cs.ana.StartSession(ctx, cs.id); err != nil {
		t.Fatal(err)
	}
	waitFile(t, cs.id, "main.go", cs.want, cs.company, cs.cand, cs.mallory)
	for _, kind := range []crdt.Kind{crdt.Shared, crdt.Private} {
		d, err := liveOf(cs.ana, cs.id).doc(kind)
		if err != nil {
			t.Fatal(err)
		}
		if cs.saved[kind], err = cs.ana.saveDoc(d); err != nil || cs.saved[kind] == nil {
			t.Fatalf("%s document: %d bytes saved, %v", kind, len(cs.saved[kind]), err)
		}
	}
	return cs
}

// holdsCode checks that a node answers and holds main.go as Ana wrote it.
func (cs *crashSession) holdsCode(n *Node) error {
	v, err := n.View(context.Background(), cs.id, crdt.Shared)
	if err != nil || v.Files["main.go"] != cs.want {
		return fmt.Errorf("main.go is %q (%v)", v.Files["main.go"], err)
	}
	return nil
}

// onlyBlamed fails the test if any node of the session quarantines anyone
// but culprit (anyone at all, if culprit is nil). It returns the nodes that
// quarantine culprit.
func (cs *crashSession) onlyBlamed(t *testing.T, culprit *Node, after string) map[*Node]bool {
	t.Helper()
	blamed := map[*Node]bool{}
	for _, n := range cs.nodes() {
		for _, q := range liveOf(n, cs.id).quarantines() {
			if culprit == nil || q.Peer != culprit.ID().String() {
				t.Fatalf("after %s: %s quarantines %s (%s; carrier %q)", after, cs.name(n), q.Name, q.Reason, q.Carrier)
			}
			blamed[n] = true
		}
	}
	return blamed
}

// forgive empties a node's quarantines, as if they lifted themselves, but
// without starting the exchange afresh: the test's next input reaches the
// worker.
func forgive(n *Node, id string) {
	l := liveOf(n, id)
	l.mu.Lock()
	clear(l.quar)
	l.mu.Unlock()
}

// attackRun is what a run of attacks did.
type attackRun struct {
	deaths  map[*Node]int // the targets' worker deaths
	byMade  int           // of them, by inputs made in the run
	killers []attack      // what killed the first target's worker and got the sender quarantined there
	died    []attack      // what killed a target's worker
}

// runAttacks sends each attack from a node to each target in turn, as a
// modified node would. After each, the target answers and check holds of
// it, and no node of the session quarantines anyone but the sender (nobody
// honest, ever). Before each, the target forgives the sender, so that the
// input reaches the worker (a death in a later sync round leaves the
// sender quarantined, and its bytes would be dropped unread). At the end,
// every node lifts its quarantine of the sender, as an interviewer would
// (the exchange starts afresh): what its node sends honestly flows again.
func (cs *crashSession) runAttacks(t *testing.T, from *Node, targets []*Node, attacks []attack, check func(*Node) error) attackRun {
	t.Helper()
	run := attackRun{deaths: map[*Node]int{}}
	last := "the start"
	for _, a := range attacks {
		for _, target := range targets {
			cs.onlyBlamed(t, from, last)
			forgive(target, cs.id)
			gen := target.worker.Generation()
			sendFrames(t, from, target, cs.id, a.frame)
			if err := check(target); err != nil {
				t.Fatalf("%s to %s: %v\ninput: %x", a, cs.name(target), err, a.frame.data)
			}
			last = a.String() + " to " + cs.name(target)
			blamed := cs.onlyBlamed(t, from, last)
			if target.worker.Generation() == gen {
				continue
			}
			run.deaths[target]++
			run.died = append(run.died, a)
			if a.made {
				run.byMade++
				t.Logf("%s killed the worker of %s\ninput: %s", a, cs.name(target), hex.EncodeToString(a.frame.data))
			}
			if blamed[target] && target == targets[0] {
				run.killers = append(run.killers, a)
			}
		}
	}
	cs.onlyBlamed(t, from, last)
	for _, n := range cs.nodes() {
		liveOf(n, cs.id).lift(from.ID(), "the test's attack is over")
	}
	return run
}

// editingGoesOn checks that edits made on each of writers reach every one
// of readers.
func (cs *crashSession) editingGoesOn(t *testing.T, writers, readers []*Node) {
	t.Helper()
	if missing := cs.editsFlow(t, writers, readers); missing != "" {
		t.Fatalf("edits do not flow after the attack%s", missing)
	}
}

// editsFlow makes an edit on each of writers, and waits for them all to
// reach every one of readers. It returns what did not, and why.
func (cs *crashSession) editsFlow(t *testing.T, writers, readers []*Node) string {
	t.Helper()
	var marks []string
	for _, n := range writers {
		mark := fmt.Sprintf("// %s still here\n", n.ID().ShortString())
		if err := n.Edit(context.Background(), cs.id, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Pos: 0, Text: mark}); err != nil {
			return fmt.Sprintf("; %s cannot edit: %v", cs.name(n), err)
		}
		marks = append(marks, mark)
	}
	// A change that depends on one the reader lacks (one that only a
	// single node took, such as a crafted change sent to it alone) comes
	// with the next sync round at the latest: syncEvery and some.
	deadline := time.Now().Add(syncEvery + 10*time.Second)
	for {
		missing := ""
		for _, n := range readers {
			f := view(t, n, cs.id, crdt.Shared).Files["main.go"]
			for i, m := range marks {
				if !strings.Contains(f, m) {
					missing += fmt.Sprintf("; %s lacks the edit of %s", cs.name(n), cs.name(writers[i]))
				}
			}
		}
		if missing == "" {
			return ""
		}
		if time.Now().After(deadline) {
			for _, w := range writers {
				for _, r := range readers {
					if d := cs.lacks(t, r, w); d != "" {
						missing += fmt.Sprintf("\n%s lacks of %s's changes: %s", cs.name(r), cs.name(w), d)
					}
				}
			}
			return missing
		}
		<-time.After(10 * time.Millisecond)
	}
}

// lacks describes the changes of the shared document that one node has and
// another lacks: whose, and how many.
func (cs *crashSession) lacks(t *testing.T, reader, writer *Node) string {
	t.Helper()
	history := func(n *Node) []crdt.ChangeInfo {
		var h []crdt.ChangeInfo
		n.withDoc(cs.id, crdt.Shared, func(d *sessionDoc, _ store.Session) error {
			var err error
			h, err = n.worker.History(d.id)
			return err
		})
		return h
	}
	has := map[string]bool{}
	for _, c := range history(reader) {
		has[c.Hash] = true
	}
	by := map[string]int{}
	for _, c := range history(writer) {
		if !has[c.Hash] {
			by[c.Actor]++
		}
	}
	if len(by) == 0 {
		return ""
	}
	names := map[string]string{}
	for _, n := range cs.nodes() {
		names[actorKey(n.actor())] = cs.name(n)
	}
	var out []string
	for a, k := range by {
		out = append(out, fmt.Sprintf("%d by %s (%s)", k, a, cmpOrStr(names[actorKey(a)], "nobody known")))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// Every crafted input, committed or made now, sent by an interviewer's
// modified node into a live session with real content: the other nodes
// keep running, editing goes on, nothing stored is lost, only the sender is
// ever blamed, and the interviewers see who sent bad data. The committed
// inputs go in as a change, a sync message and a snapshot of either
// document; the ones made now (of data in an actor of nobody's, and in one
// of Mallory's) as what they are.
func TestCrashersInSession(t *testing.T) {
	cs := startCrashSession(t)
	attacks := committedAttacks(t)
	bases := append(staffData(t, cs.saved, "6d616c6c6f7279"), staffData(t, cs.saved, actorNaming(cs.mallory, "6d616c6c6f727921"))...)
	attacks = append(attacks, mutantAttacks(bases, *mutantCount, *mutantSeed)...)
	victim := cs.ana
	run := cs.runAttacks(t, cs.mallory, []*Node{victim, cs.company}, attacks, cs.holdsCode)
	if run.deaths[victim] == 0 || run.deaths[cs.company] == 0 {
		t.Fatalf("no crafted input killed a worker (%v): are they reaching it?", run.deaths)
	}
	t.Logf("worker deaths: Ana's node %d, the company node %d; %d of them by the %d inputs made now", run.deaths[victim], run.deaths[cs.company], run.byMade, *mutantCount)

	// Once more, and leave the quarantine in place: the interviewers see
	// who sent bad data. Any input that got Mallory quarantined before
	// will do; some depend on the document's state, so try them in turn.
	quarantined := func() bool { return cs.onlyBlamed(t, cs.mallory, "a killer again")[victim] }
	for _, a := range run.killers {
		forgive(victim, cs.id)
		sendFrames(t, cs.mallory, victim, cs.id, a.frame)
		if quarantined() {
			break
		}
	}
	if !quarantined() {
		t.Fatalf("none of the %d inputs that got Mallory quarantined before does again", len(run.killers))
	}
	waitFor(t, 10*time.Second, "the victim's interviewers see the quarantine", func() bool {
		v, _ := victim.Session(context.Background(), cs.id)
		shown := false
		for _, q := range v.Quarantined {
			if q.Peer != cs.mallory.ID().String() {
				t.Fatalf("the victim blames %s", q.Name)
			}
			shown = true
		}
		return shown
	})
	if v, _ := cs.cand.Session(context.Background(), cs.id); len(v.Quarantined) != 0 {
		t.Fatal("the candidate is shown the quarantine")
	}

	cs.editingGoesOn(t, []*Node{victim, cs.cand}, []*Node{victim, cs.company, cs.cand})
	// Mallory may have edited the notes: a mutant of her valid edits that
	// Automerge takes is an edit too. Ana's are all there.
	if v := view(t, victim, cs.id, crdt.Private); !strings.Contains(v.Notes, "good start") {
		t.Fatalf("private notes after the attack: %q", v.Notes)
	}
	want := view(t, victim, cs.id, crdt.Shared).Files["main.go"]
	// Nothing stored is lost: a restart reloads it all.
	dir := victim.Dir()
	victim.Close()
	victim = startNode(t, nodeOpts{dir: dir, cfg: Config{Worker: crdt.WorkerConfig{Deadline: 3 * time.Second}}})
	waitFor(t, 15*time.Second, "the restarted victim has everything", func() bool {
		v, err := victim.View(context.Background(), cs.id, crdt.Shared)
		return err == nil && v.Files["main.go"] == want && v.Question == "Print hello"
	})
}

// The candidate's modified node sends every crafted input, committed (as
// they are, and relabelled as its own changes) or made now (of its own
// valid edits of the code), to an interviewer's node
// and the company node: they keep running, hold everything the candidate
// may not change, never blame anyone else, and editing goes on. The
// private document's frames never reach a worker (the candidate may not
// have it).
func TestCrashersFromCandidate(t *testing.T) {
	cs := startCrashSession(t)
	ctx := context.Background()
	before := view(t, cs.ana, cs.id, crdt.Shared)
	base := candidateData(t, cs.saved[crdt.Shared], actorNaming(cs.cand, "73616d2073616d21"))
	attacks := append(committedAttacks(t), relabelledAttacks(t, actorNaming(cs.cand, "73616d2073616d22"))...)
	attacks = append(attacks, mutantAttacks([]valid{base}, *mutantCount, *mutantSeed+1000)...)
	// Valid edits come last, under an actor of the candidate's that no
	// mutant used: they are taken.
	ok := candidateData(t, cs.saved[crdt.Shared], actorNaming(cs.cand, "6f6b6f6b6f6b6f6b"))
	for _, c := range ok.changes[:len(ok.changes)-1] {
		attacks = append(attacks, attack{name: "the candidate's valid edit", frame: docFrame{typ: frameChange, kind: crdt.Shared, data: c}})
	}
	check := func(n *Node) error {
		v, err := n.View(ctx, cs.id, crdt.Shared)
		switch {
		case err != nil:
			return err
		case v.Question != before.Question:
			return fmt.Errorf("the question is %q", v.Question)
		case !slices.Equal(slices.Sorted(maps.Keys(v.Files)), []string{"main.go"}):
			return fmt.Errorf("the files are %v", slices.Sorted(maps.Keys(v.Files)))
		case !maps.Equal(v.Languages, before.Languages) || v.Active != before.Active:
			return fmt.Errorf("languages %v, active %q", v.Languages, v.Active)
		}
		return nil
	}
	run := cs.runAttacks(t, cs.cand, []*Node{cs.ana, cs.company}, attacks, check)
	for _, a := range run.died {
		if a.frame.kind == crdt.Private {
			t.Fatalf("%s reached a worker", a)
		}
	}
	t.Logf("worker deaths: Ana's node %d, the company node %d; %d of them by the %d inputs made now", run.deaths[cs.ana], run.deaths[cs.company], run.byMade, *mutantCount)
	// The path was open: the candidate's valid edits were taken.
	waitFor(t, 10*time.Second, "the candidate's valid edits are taken", func() bool {
		for _, n := range []*Node{cs.ana, cs.company} {
			if !strings.Contains(view(t, n, cs.id, crdt.Shared).Files["main.go"], "wörld") {
				return false
			}
		}
		return true
	})
	if v := view(t, cs.ana, cs.id, crdt.Private); v.Notes != "good start" {
		t.Fatalf("private notes after the attack: %q", v.Notes)
	}
	cs.editingGoesOn(t, []*Node{cs.ana, cs.company}, []*Node{cs.ana, cs.company})
	cs.onlyBlamed(t, cs.cand, "the edits")
	// The candidate's node edits with the others. Valid mutants are
	// variants of the same changes, and two of them may share an actor and
	// sequence number: nodes that took different ones (in the order the
	// sends and the sync rounds brought them) could never exchange them,
	// nor any change that depends on one. The company node tells them
	// which it left out, and they drop those (leftout.go).
	if missing := cs.editsFlow(t, []*Node{cs.ana, cs.cand}, []*Node{cs.ana, cs.company, cs.cand}); missing != "" {
		t.Fatalf("the candidate's node after the attack%s", missing)
	}
}

// An interviewer's modified node sends every crafted input, committed or
// made now, to the candidate's node once the interview started (so that it
// takes shared-document data): it keeps running, keeps the code, blames
// nobody but the sender, takes valid data again once the quarantine is
// lifted, and the interviewers' edits keep reaching it. Its worker never
// sees private-document data (it keeps none).
func TestCrashersToCandidate(t *testing.T) {
	cs := startCrashSession(t)
	attacks := committedAttacks(t)
	bases := append(staffData(t, cs.saved, "6d616c6c6f7279"), staffData(t, cs.saved, actorNaming(cs.mallory, "6d616c6c6f727921"))...)
	attacks = append(attacks, mutantAttacks(bases, *mutantCount, *mutantSeed+2000)...)
	run := cs.runAttacks(t, cs.mallory, []*Node{cs.cand}, attacks, cs.holdsCode)
	if run.deaths[cs.cand] == 0 {
		t.Fatal("no crafted input killed the candidate's worker: are they reaching it?")
	}
	for _, a := range run.died {
		if a.frame.kind == crdt.Private {
			t.Fatalf("%s reached the candidate's worker", a)
		}
	}
	t.Logf("worker deaths: Sam's node %d; %d of them by the %d inputs made now", run.deaths[cs.cand], run.byMade, *mutantCount)
	// Valid data of Mallory's is taken after all that.
	ok := validFile(t, cs.saved[crdt.Shared], actorNaming(cs.mallory, "6f6b6f6b6f6b6f6b"), "after.txt", "AFTER")
	sendFrames(t, cs.mallory, cs.cand, cs.id, docFrame{typ: frameChange, kind: crdt.Shared, data: ok})
	if v := view(t, cs.cand, cs.id, crdt.Shared); v.Files["after.txt"] != "AFTER" {
		t.Fatalf("the candidate's node did not take a valid change: %v", slices.Sorted(maps.Keys(v.Files)))
	}
	// The candidate's node takes the interviewers' edits. (Its own do not
	// reach the others now: they depend on changes of Mallory's that only
	// it has, and that the others do not take from a candidate; see
	// TestCrashersCandidateCutOff.)
	cs.editingGoesOn(t, []*Node{cs.ana, cs.company}, []*Node{cs.ana, cs.company, cs.cand})
	cs.onlyBlamed(t, cs.mallory, "the edits")
}

// An interviewer's modified node sends one valid change to the
// candidate's node alone, to cut it off: the candidate's later edits
// depend on it, and the other nodes never take another's change from a
// candidate. The company node tells the candidate's node that it left the
// change out for good (leftout.go); that node drops it and types its own
// edits again, and they reach everyone. (Found by TestCrashersToCandidate,
// whose valid mutants did just that.)
func TestCrashersCandidateCutOff(t *testing.T) {
	cs := startCrashSession(t)
	page, err := cs.cand.Follow(context.Background(), cs.id)
	if err != nil {
		t.Fatal(err)
	}
	only := validFile(t, cs.saved[crdt.Shared], actorNaming(cs.mallory, "6f6e6c7921212121"), "only.txt", "ONLY")
	sendFrames(t, cs.mallory, cs.cand, cs.id, docFrame{typ: frameChange, kind: crdt.Shared, data: only})
	if v := view(t, cs.cand, cs.id, crdt.Shared); v.Files["only.txt"] != "ONLY" {
		t.Fatal("the candidate's node did not take the change")
	}
	if missing := cs.editsFlow(t, []*Node{cs.cand}, []*Node{cs.ana, cs.company}); missing != "" {
		t.Fatalf("the candidate is cut off%s", missing)
	}
	waitFor(t, 10*time.Second, "the candidate's node drops the change the others refused", func() bool {
		_, ok := view(t, cs.cand, cs.id, crdt.Shared).Files["only.txt"]
		return !ok
	})
	// The candidate's page, whose copy holds the change, is told to start
	// again from the node's.
	if n, kind := page.Rebuilt(); n != 1 || kind != crdt.Shared {
		t.Fatalf("the page was told of %d rebuilds (the last of the %s document), want 1 of the shared one", n, kind)
	}
	// It stays dropped: Mallory's node offers it again at every round.
	sendFrames(t, cs.mallory, cs.cand, cs.id, docFrame{typ: frameChange, kind: crdt.Shared, data: only})
	if _, ok := view(t, cs.cand, cs.id, crdt.Shared).Files["only.txt"]; ok {
		t.Fatal("the candidate's node took the dropped change again")
	}
	if missing := cs.editsFlow(t, []*Node{cs.cand, cs.ana}, []*Node{cs.ana, cs.company, cs.cand}); missing != "" {
		t.Fatalf("after the drop%s", missing)
	}
	for _, n := range cs.nodes() {
		if v, _ := n.Session(context.Background(), cs.id); len(v.Quarantined) != 0 {
			t.Fatalf("%s quarantines %v: a valid change blames nobody", cs.name(n), v.Quarantined)
		}
	}
	// The drop is stored: the restarted node holds the same, and what it
	// made since, without the dropped change.
	want := view(t, cs.cand, cs.id, crdt.Shared).Files
	dir := cs.cand.Dir()
	cs.cand.Close()
	restarted := startNode(t, nodeOpts{dir: dir})
	v, err := restarted.View(context.Background(), cs.id, crdt.Shared)
	if err != nil || !maps.Equal(v.Files, want) {
		t.Fatalf("after a restart the candidate's node holds %q (%v), want %q", v.Files, err, want)
	}
}

// Only the company node can make a node drop data: a left-out frame from
// an interviewer's modified node naming a change the candidate's node
// holds is ignored.
func TestLeftOutOnlyFromCompany(t *testing.T) {
	cs := startCrashSession(t)
	page, err := cs.cand.Follow(context.Background(), cs.id)
	if err != nil {
		t.Fatal(err)
	}
	kept := validFile(t, cs.saved[crdt.Shared], actorNaming(cs.mallory, "6b6570746b657074"), "kept.txt", "KEPT")
	chs, err := crdt.DecodeChanges(kept)
	if err != nil {
		t.Fatal(err)
	}
	note := fmt.Appendf(nil, `{"hashes":[%q]}`, chs[0].Hash.String())
	// sendFrames returns once the receiver read them all.
	sendFrames(t, cs.mallory, cs.cand, cs.id,
		docFrame{typ: frameChange, kind: crdt.Shared, data: kept},
		docFrame{typ: frameLeftOut, kind: crdt.Shared, data: note})
	if v := view(t, cs.cand, cs.id, crdt.Shared); v.Files["kept.txt"] != "KEPT" {
		t.Fatalf("the candidate's node dropped a change on an interviewer's word: %v", slices.Sorted(maps.Keys(v.Files)))
	}
	if n, _ := page.Rebuilt(); n != 0 {
		t.Fatalf("the candidate's page was told of %d rebuilds", n)
	}
}

// validFile returns a valid change, by actor, that adds a file to the
// shared document saved as saved, concurrently with its content.
func validFile(t testing.TB, saved []byte, actor, name, text string) []byte {
	t.Helper()
	v := validEdits(t, crdt.Shared, saved, actor, true, func(d *automerge.Doc, step func(func() error)) {
		step(func() error { return d.Path("files").Map().Set(name, automerge.NewText(text)) })
	})
	return v.changes[0]
}

// An interviewer cannot be framed by a colleague's modified node: Mallory's
// node forges Ana's next change (her actor, her next number) and sends it
// to the company node and the candidate's before Ana makes hers. Ana's own
// is then a second version where the forgery came first; it is left out
// without blame, the company node settles on the version it holds, and
// Ana's edits reach everyone all the same (her node types them again).
// Nobody is quarantined.
func TestForgedChangeFramesNobody(t *testing.T) {
	cs := startCrashSession(t)
	v := validEdits(t, crdt.Shared, cs.saved[crdt.Shared], cs.ana.actor(), false, func(d *automerge.Doc, step func(func() error)) {
		step(func() error { return d.Path("files").Map().Set("forged.txt", automerge.NewText("FORGED")) })
	})
	forged := v.changes[0]
	for _, n := range []*Node{cs.company, cs.cand} {
		sendFrames(t, cs.mallory, n, cs.id, docFrame{typ: frameChange, kind: crdt.Shared, data: forged})
		if f := view(t, n, cs.id, crdt.Shared).Files["forged.txt"]; f != "FORGED" {
			t.Fatalf("%s did not take the forgery: %q", cs.name(n), f)
		}
	}
	if missing := cs.editsFlow(t, []*Node{cs.ana}, []*Node{cs.company, cs.cand, cs.mallory, cs.ana}); missing != "" {
		t.Fatalf("Ana's edit does not reach everyone%s", missing)
	}
	cs.onlyBlamed(t, nil, "the forgery")
	cs.editingGoesOn(t, []*Node{cs.ana, cs.cand}, []*Node{cs.company, cs.cand, cs.ana})
	cs.onlyBlamed(t, nil, "editing after the forgery")
}
