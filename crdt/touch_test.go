package crdt

import (
	"errors"
	"flag"
	"fmt"
	"testing"
	"time"

	"parley/internal/crasher"
)

var touchMutants = flag.Int("touch.mutants", 240, "TestTouchFindsWhatKillsLater: how many crafted inputs to make")
var touchSeed = flag.Uint64("touch.seed", 1, "TestTouchFindsWhatKillsLater: the mutator's seed")
var touchFull = flag.Bool("touch.full", false, "TestTouchFindsWhatKillsLater: try the touch as it was before 2026-12-02 (an incremental save, a full read, a first sync message) instead")

// The touch (the check a node makes of its own page's data before storing
// or forwarding it) must find what kills the worker later: every input,
// committed or made by the mutator from a document with a real history,
// that Automerge takes and that survives the touch must survive what an
// honest node does with the document afterwards: read it whole, save it
// (incrementally and whole), check a snapshot of it, generate a first sync
// message, and type into it. Otherwise the node would store it and pass it
// on, and the worker would die on other nodes, blaming whoever carried it.
func TestTouchFindsWhatKillsLater(t *testing.T) {
	w := startWorker(t, 5*time.Second)
	// A history of typing: 300 changes of inserts and deletes here and there.
	batches := [][]Edit{{{Op: "add", Name: "main.rs", Text: "fn main() {\n\tprintln!(\"héllo 🙂\");\n}\n"}, {Op: "splice", Target: "question", Text: "FizzBuzz"}}}
	size := 35
	for i := range 300 {
		pos := (i * 7919) % size
		if i%4 == 3 && size > 40 {
			batches = append(batches, []Edit{{Op: "splice", Target: "file:main.rs", Pos: pos % (size - 3), Del: 3}})
			size -= 3
		} else {
			batches = append(batches, []Edit{{Op: "splice", Target: "file:main.rs", Pos: pos, Text: "ab\n"[i%3:]}})
			size += len("ab\n"[i%3:])
		}
	}
	at := func(i int) time.Time { return time.Unix(int64(1+i), 0) }
	saved, err := Build("s", Shared, "aaaa", batches, at)
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(id, actor string) {
		t.Helper()
		w.CloseDoc(id)
		if err := w.Load(id, id, Shared, actor, saved); err != nil {
			t.Fatal(err)
		}
	}
	// Valid data from another copy: changes of every kind an editor makes,
	// its whole document, and the sync messages that carry its changes.
	fresh("b/shared", "bbbb")
	var changes [][]byte
	for i, e := range [][]Edit{
		{{Op: "splice", Target: "file:main.rs", Pos: 3, Text: "x"}},
		{{Op: "splice", Target: "file:main.rs", Pos: 10, Del: 4}},
		{{Op: "splice", Target: "file:main.rs", Pos: 5, Del: 2, Text: "ü🙂 漢字\n\tfoo()"}},
		{{Op: "add", Name: "lib.rs", Text: "pub fn f() {}\n"}},
		{{Op: "language", Name: "lib.rs", Lang: "rust"}},
		{{Op: "splice", Target: "question", Pos: 4, Text: " in Rust"}},
		{{Op: "rename", Name: "lib.rs", To: "util.rs"}},
		{{Op: "delete", Name: "util.rs"}},
	} {
		c, err := w.Edit("b/shared", e, at(1000+i))
		if err != nil {
			t.Fatalf("%v: %v", e, err)
		}
		changes = append(changes, c)
	}
	doc, err := w.Save("b/shared")
	if err != nil {
		t.Fatal(err)
	}
	fresh("s/shared", "aaaa")
	syncs := catchUp(w)
	w.CloseDoc("b/shared")

	type input struct {
		bytes []byte
		what  string
		sync  bool
	}
	var ins []input
	for _, c := range crashers(t) {
		ins = append(ins, input{c.Bytes, c.Name, false}, input{c.Bytes, c.Name + " (as a sync message)", true})
	}
	m := crasher.NewMutator(*touchSeed)
	for i := range *touchMutants {
		switch i % 3 {
		case 0:
			b, what := m.Chunks(changes[i/3%len(changes)])
			ins = append(ins, input{b, fmt.Sprintf("change %d: %s", i/3%len(changes), what), false})
		case 1:
			b, what := m.Chunks(doc)
			ins = append(ins, input{b, "document: " + what, false})
		default:
			b, what := m.SyncMessage(syncs[i/3%len(syncs)])
			ins = append(ins, input{b, "sync message: " + what, true})
		}
	}

	later := []struct {
		name string
		do   func() error
	}{
		{"a full read", func() error { _, err := w.View("s/shared"); return err }},
		{"an incremental save", func() error { _, err := w.SaveIncremental("s/shared"); return err }},
		{"a first sync message", func() error {
			defer w.SyncReset("s/shared", "later")
			_, err := w.SyncGenerate("s/shared", "later")
			return err
		}},
		{"a save", func() error { _, err := w.Save("s/shared"); return err }},
		{"a snapshot's check", func() error { _, err := w.Check("s/shared"); return err }},
		{"typing", func() error {
			_, err := w.Edit("s/shared", []Edit{{Op: "splice", Target: "file:main.rs", Pos: 1, Text: "y"}}, at(2000))
			return err
		}},
	}
	touch := func() error { return w.Touch("s/shared") }
	if *touchFull {
		touch = func() error {
			if _, err := w.SaveIncremental("s/shared"); err != nil {
				return err
			}
			if _, err := w.View("s/shared"); err != nil {
				return err
			}
			defer w.SyncReset("s/shared", "touch")
			_, err := w.SyncGenerate("s/shared", "touch")
			return err
		}
	}
	var took, diedTaking, diedTouched, diedLater int
	for _, in := range ins {
		fresh("s/shared", "aaaa")
		if in.sync {
			_, err = w.SyncReceive("s/shared", "mallory", in.bytes, nil)
			w.SyncReset("s/shared", "mallory") // its bloom filter is another matter (sync_ in testdata)
		} else {
			_, err = w.Apply("s/shared", in.bytes, nil)
		}
		if errors.Is(err, ErrWorkerDied) {
			diedTaking++
			continue
		}
		if err != nil {
			continue // refused
		}
		took++
		if err := touch(); errors.Is(err, ErrWorkerDied) {
			diedTouched++
			t.Logf("the touch found %s", in.what)
			continue
		} else if err != nil {
			continue // the node refuses it
		}
		for _, l := range later {
			if err := l.do(); errors.Is(err, ErrWorkerDied) {
				t.Errorf("%s passed the touch, then killed the worker at %s", in.what, l.name)
				diedLater++
				break
			}
		}
	}
	t.Logf("%d inputs: %d killed the worker as it took them, %d were taken; of these, the touch killed it on %d, and %d killed it later",
		len(ins), diedTaking, took, diedTouched, diedLater)
	if diedTouched == 0 {
		t.Error("the touch found nothing: some committed inputs are taken and kill the worker at the next incremental save")
	}
	if took == diedTouched {
		t.Errorf("no taken input survived the touch: the test shows nothing about what follows it")
	}
}
