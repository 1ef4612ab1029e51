package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/automerge/automerge-go"

	"parley/crdt"
	"parley/internal/crasher"
	"parley/node/store"
)

// testPage is a page's copies of a session's documents, kept in step with
// its node through a Follower as the web app does over the page WebSocket:
// it starts empty and takes the genesis through sync.
type testPage struct {
	f     *Follower
	docs  map[crdt.Kind]*automerge.Doc
	syncs map[crdt.Kind]*automerge.SyncState
}

func newTestPage(t testing.TB, f *Follower, suffix string) *testPage {
	t.Helper()
	p := &testPage{f: f, docs: map[crdt.Kind]*automerge.Doc{}, syncs: map[crdt.Kind]*automerge.SyncState{}}
	for _, kind := range f.Kinds() {
		d := automerge.New()
		if err := d.SetActorID(f.ActorPrefix() + suffix); err != nil {
			t.Fatal(err)
		}
		p.docs[kind], p.syncs[kind] = d, automerge.NewSyncState(d)
		p.sync(t, kind)
	}
	return p
}

// sync exchanges sync messages with the node until neither has more to say.
func (p *testPage) sync(t testing.TB, kind crdt.Kind) {
	t.Helper()
	for range 100 {
		msg, err := p.f.Generate(kind)
		if err != nil {
			t.Fatal(err)
		}
		if msg != nil {
			if _, err := p.syncs[kind].ReceiveMessage(msg); err != nil {
				t.Fatal(err)
			}
		}
		m, ok := p.syncs[kind].GenerateMessage()
		if ok {
			if err := p.f.Receive(kind, m.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		if msg == nil && !ok {
			return
		}
	}
	t.Fatal("the page's sync never ends")
}

// typeCode makes an edit of main.go on the page, and syncs it.
func (p *testPage) typeCode(t testing.TB, text string) {
	t.Helper()
	if err := p.docs[crdt.Shared].Path("files", "main.go").Text().Splice(0, 0, text); err != nil {
		t.Fatal(err)
	}
	if _, err := p.docs[crdt.Shared].Commit(""); err != nil {
		t.Fatal(err)
	}
	p.sync(t, crdt.Shared)
}

// carriedHashes returns the changes a document frame carries, as the node's
// Go decoder reads them (Automerge, in this process, could abort on
// crafted bytes); nil for a snapshot.
func carriedHashes(f docFrame) []string {
	var chs []*crdt.Change
	switch f.typ {
	case frameChange:
		chs, _ = crdt.DecodeChanges(f.data)
	case frameSync:
		m, _ := crdt.DecodeSyncMessage(f.data)
		chs = m.Changes
	}
	out := make([]string, 0, len(chs))
	for _, c := range chs {
		out = append(out, c.Hash.String())
	}
	return out
}

// historyHashes returns the changes of a node's copy of a document.
func historyHashes(t testing.TB, n *Node, id string, kind crdt.Kind) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := n.withDoc(id, kind, func(d *sessionDoc, _ store.Session) error {
		h, err := n.worker.History(d.id)
		for _, c := range h {
			out[c.Hash] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A hostile script on Ana's page sends crafted sync messages through the
// page WebSocket (Follower.Receive, then Generate for the reply, as the
// socket's loop does): the committed inputs and mutants of valid page
// edits, for either document. Ana's node refuses what fails or kills its
// worker and tells the page to start again (ErrRefusedChange: an error
// with reset); nothing of what it refused reaches the other nodes (no
// frame they get from Ana's node carries one of its changes, and no
// document holds one), nobody is quarantined anywhere, Ana's node keeps the
// code, and once the page reloads its honest edits flow again.
func TestCrashersFromPage(t *testing.T) {
	cs := startCrashSession(t)
	ctx := context.Background()
	ana := cs.ana
	others := []*Node{cs.company, cs.mallory, cs.cand}
	var mu sync.Mutex
	carried := map[string]string{} // change hash: who got it from Ana's node
	for _, n := range others {
		hook := func(from string, f docFrame) {
			if from != ana.ID().String() {
				return
			}
			hs := carriedHashes(f)
			mu.Lock()
			defer mu.Unlock()
			for _, h := range hs {
				carried[h] = cs.name(n)
			}
		}
		n.frameHook.Store(&hook)
	}

	f, err := ana.Follow(ctx, cs.id)
	if err != nil {
		t.Fatal(err)
	}
	page := newTestPage(t, f, "686f6e6573742121")
	if got, _ := page.docs[crdt.Shared].Path("files", "main.go").Get(); got.Kind() != automerge.KindText {
		t.Fatal("the page did not get the code")
	}

	// The inputs: every committed one, as a sync message of either
	// document and, those that hold changes, relabelled as the page's own
	// in a sync message; and mutants of sync messages that carry the page's edits
	// (under an actor of its own, on the genesis alone, so that no mutant
	// names the session's content).
	type input struct {
		name string
		kind crdt.Kind
		data []byte
	}
	var inputs []input
	ins, err := crasher.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		for _, kind := range f.Kinds() {
			inputs = append(inputs, input{in.Name, kind, in.Bytes})
		}
	}
	for _, a := range relabelledAttacks(t, f.ActorPrefix()+"6d616c6c6f727922") {
		if a.frame.typ == frameSync {
			inputs = append(inputs, input{a.name, crdt.Shared, a.frame.data})
		}
	}
	bases := staffData(t, cs.saved, f.ActorPrefix()+"6d616c6c6f727921")
	m := crasher.NewMutator(*mutantSeed + 3000)
	for i := range *mutantCount {
		v := bases[i%len(bases)]
		data, what := m.SyncMessage(v.syncs[(i/len(bases))%len(v.syncs)])
		inputs = append(inputs, input{fmt.Sprintf("mutant %d (seed %d): %s", i, *mutantSeed+3000, what), v.kind, data})
	}

	// And one that fails half way: a valid change, then one that Automerge
	// refuses (another change by an actor with the same sequence number as
	// one the node took).
	first := validFile(t, cs.saved[crdt.Shared], f.ActorPrefix()+"6669727374212121", "half.txt", "HALF")
	taken := validFile(t, cs.saved[crdt.Shared], f.ActorPrefix()+"7365636f6e642121", "taken.txt", "TAKEN")
	clash := validFile(t, cs.saved[crdt.Shared], f.ActorPrefix()+"7365636f6e642121", "clash.txt", "CLASH")
	takenMsg, _ := crasher.SyncMessageWith(taken)
	halfMsg, _ := crasher.SyncMessageWith(append(append([]byte{}, first...), clash...))
	inputs = append(inputs, input{"a valid change", crdt.Shared, takenMsg}, input{"a message that fails half way", crdt.Shared, halfMsg})

	refused := map[string]string{} // change hash: the input refused
	accepted := map[string]bool{}
	var deaths, replyDeaths, resets int
	lastGen, lastName := ana.worker.Generation(), ""
	for _, in := range inputs {
		gen := ana.worker.Generation()
		if gen != lastGen {
			t.Logf("Ana's worker died after %s, outside Receive", lastName)
		}
		err := f.Receive(in.kind, in.data)
		died := ana.worker.Generation() != gen
		lastGen, lastName = ana.worker.Generation(), in.name
		if died {
			t.Logf("%s killed Ana's worker in Receive: %v\ninput: %x", in.name, err, in.data)
			deaths++
		}
		switch {
		case err == nil:
			// As the socket's loop does: the reply.
			gen = ana.worker.Generation()
			if _, err := f.Generate(in.kind); err != nil && ana.worker.Generation() == gen {
				t.Fatalf("%s: the reply: %v", in.name, err)
			}
			if ana.worker.Generation() != gen {
				replyDeaths++
			}
		case errors.Is(err, ErrRefusedChange):
			resets++
		case died:
			t.Fatalf("%s killed the worker, and the page is not told to start again: %v", in.name, err)
		default:
			t.Errorf("%s: the page is told %v, without a reset", in.name, err)
		}
		var hs []string
		if msg, derr := crdt.DecodeSyncMessage(in.data); derr == nil {
			for _, c := range msg.Changes {
				hs = append(hs, c.Hash.String())
			}
		}
		for _, h := range hs {
			if err == nil {
				accepted[h] = true
			} else {
				refused[h] = in.name
			}
		}
		if err := cs.holdsCode(ana); err != nil {
			t.Fatalf("after %s: Ana's node: %v", in.name, err)
		}
		// What Ana's node kept of it does not kill a page that loads now.
		if err == nil {
			fresh, ferr := ana.Follow(ctx, cs.id)
			if ferr != nil {
				t.Fatal(ferr)
			}
			gen := ana.worker.Generation()
			_, ferr = fresh.Generate(in.kind)
			fresh.Close()
			if ferr != nil || ana.worker.Generation() != gen {
				t.Fatalf("after %s, taken, a page that loads kills Ana's worker: %v\ninput: %x", in.name, ferr, in.data)
			}
		}
		cs.onlyBlamed(t, nil, in.name)
	}
	t.Logf("%d inputs: %d refused with a reset; %d worker deaths in Receive, %d in the reply", len(inputs), resets, deaths, replyDeaths)
	if len(accepted) == 0 {
		t.Fatal("Ana's node took no change from the page: are the inputs reaching its worker?")
	}

	// Ana's edits and the page's after the attack reach everyone: so does
	// whatever of the attack got out, by now.
	f.Close()
	f, err = ana.Follow(ctx, cs.id) // the page reloads
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page = newTestPage(t, f, "72656c6f61646564")
	page.typeCode(t, "// typed on the page after the attack\n")
	cs.editingGoesOn(t, []*Node{ana, cs.cand}, cs.nodes())
	for _, n := range cs.nodes() {
		if !strings.Contains(view(t, n, cs.id, crdt.Shared).Files["main.go"], "// typed on the page after the attack\n") {
			t.Fatalf("%s lacks the page's edit", cs.name(n))
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for h, name := range refused {
		if accepted[h] {
			continue // the same change came in a message that was taken
		}
		if who, ok := carried[h]; ok {
			t.Errorf("%s got a change of %s, which Ana's node refused", who, name)
		}
	}
	for _, n := range cs.nodes() {
		for _, kind := range docKinds(liveOf(n, cs.id).role) {
			for h := range historyHashes(t, n, cs.id, kind) {
				if name, ok := refused[h]; ok && !accepted[h] {
					t.Errorf("%s holds a change of %s, which Ana's node refused", cs.name(n), name)
				}
			}
		}
	}
	cs.onlyBlamed(t, nil, "the attack")
	for _, n := range cs.nodes() {
		if rs := liveOf(n, cs.id).refusedByList(); len(rs) > 0 {
			t.Errorf("%s is refused by %+v", cs.name(n), rs)
		}
	}
	if v := view(t, ana, cs.id, crdt.Private); !strings.Contains(v.Notes, "good start") {
		t.Fatalf("private notes after the attack: %q", v.Notes)
	}
}
