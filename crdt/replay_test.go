package crdt

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/automerge/automerge-go"

	"parley/internal/trace"
)

// played is the files as the Replay page has them: the patches applied in
// order, in UTF-16 code units as the editor counts.
type played struct {
	files  map[string][]uint16
	active string
}

func (p *played) apply(t *testing.T, step int, ps []Patch) {
	t.Helper()
	for _, x := range ps {
		switch x.Op {
		case PatchNew:
			p.files[x.File] = utf16.Encode([]rune(x.Ins))
		case PatchGone:
			delete(p.files, x.File)
		case PatchActive:
			p.active = x.File
		case "":
			f, ok := p.files[x.File]
			if !ok || x.Pos < 0 || x.Del < 0 || x.Pos+x.Del > len(f) {
				t.Fatalf("step %d: patch %+v on a text of %d (has the file: %v)", step, x, len(f), ok)
			}
			p.files[x.File] = slices.Concat(f[:x.Pos], utf16.Encode([]rune(x.Ins)), f[x.Pos+x.Del:])
		default:
			t.Fatalf("step %d: unknown patch %+v", step, x)
		}
	}
}

func (p *played) texts() map[string]string {
	out := map[string]string{}
	for k, v := range p.files {
		out[k] = string(utf16.Decode(v))
	}
	return out
}

// Random edits by three people, merged now and then, played back step by
// step, give at every step the code Automerge gives at that moment: with
// concurrent typing in the same lines, files added, renamed and deleted,
// and characters beyond the BMP (two UTF-16 units each).
func TestReplayMatchesHistory(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			docs := []*doc{mustDoc(t, Shared, "aaaaaaaa"), mustDoc(t, Shared, "bbbbbbbb"), mustDoc(t, Shared, "cccccccc")}
			clock := time.UnixMilli(1_700_000_000_000)
			words := []string{"a", "xy", "é", "😀", "\n", "func ", "ñ😀b", "  "}
			for range 300 {
				d := docs[rng.IntN(len(docs))]
				if rng.IntN(6) == 0 {
					o := docs[rng.IntN(len(docs))]
					if err := d.am.LoadIncremental(o.am.Save()); err != nil {
						t.Fatal(err)
					}
					continue
				}
				v := view(t, d)
				names := slices.Sorted(maps.Keys(v.Files))
				var e Edit
				switch k := rng.IntN(20); {
				case len(names) == 0 || k == 0:
					e = Edit{Op: "add", Name: fmt.Sprintf("f%d.go", rng.IntN(4)), Text: words[rng.IntN(len(words))]}
				case k == 1:
					e = Edit{Op: "rename", Name: names[rng.IntN(len(names))], To: fmt.Sprintf("r%d.go", rng.IntN(4))}
				case k == 2:
					e = Edit{Op: "delete", Name: names[rng.IntN(len(names))]}
				case k == 3:
					e = Edit{Op: "active", Name: names[rng.IntN(len(names))]}
				default:
					name := names[rng.IntN(len(names))]
					n := utf8.RuneCountInString(v.Files[name])
					pos := rng.IntN(n + 1)
					e = Edit{Op: "splice", Target: "file:" + name, Pos: pos, Del: rng.IntN(n - pos + 1)}
					if e.Del > 3 {
						e.Del = 3
					}
					for range rng.IntN(3) + 1 {
						e.Text += words[rng.IntN(len(words))]
					}
				}
				clock = clock.Add(time.Duration(rng.IntN(2000)) * time.Millisecond)
				if _, err := d.apply([]Edit{e}, clock); err != nil {
					continue // a name taken, say: not an edit to replay
				}
			}
			all := docs[0]
			for _, o := range docs[1:] {
				if err := all.am.LoadIncremental(o.am.Save()); err != nil {
					t.Fatal(err)
				}
			}
			checkPlayback(t, all, 1)
		})
	}
}

// checkPlayback plays the document's Replay and compares, every stride
// steps and at the end, the files with Automerge's document at the heads
// of the changes played so far.
func checkPlayback(t *testing.T, d *doc, stride int) {
	t.Helper()
	r, err := d.replay()
	if err != nil {
		t.Fatal(err)
	}
	ams, err := d.am.Changes()
	if err != nil {
		t.Fatal(err)
	}
	chs := make([]*Change, len(ams))
	for i, c := range ams {
		dec, err := DecodeChanges(c.Save())
		if err != nil {
			t.Fatal(err)
		}
		chs[i] = dec[0]
	}
	order, err := timeOrder(chs)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != len(chs) {
		t.Fatalf("%d steps for %d changes", len(r.Steps), len(chs))
	}
	p := &played{files: map[string][]uint16{}}
	heads := map[ChangeHash]bool{}
	last := int64(0)
	for k, i := range order {
		s := r.Steps[k]
		if s.Time < last {
			t.Fatalf("step %d at %d, before the step before it (%d)", k, s.Time, last)
		}
		last = s.Time
		if r.Actors[s.Actor] != chs[i].Actor {
			t.Fatalf("step %d by %s, the change by %s", k, r.Actors[s.Actor], chs[i].Actor)
		}
		for _, dep := range chs[i].Deps {
			delete(heads, dep)
		}
		heads[chs[i].Hash] = true
		p.apply(t, k, s.Patches)
		if k%stride != 0 && k != len(order)-1 {
			continue
		}
		var hs []automerge.ChangeHash
		for h := range heads {
			hs = append(hs, automerge.ChangeHash(h))
		}
		f, err := d.am.Fork(hs...)
		if err != nil {
			t.Fatal(err)
		}
		want, err := (&doc{kind: Shared, am: f}).view()
		if err != nil {
			t.Fatal(err)
		}
		got := p.texts()
		if !maps.Equal(got, want.Files) {
			t.Fatalf("step %d of %d: played %s, Automerge has %s", k, len(order), show(got), show(want.Files))
		}
		shown := p.active // as the page picks the file to show
		if _, ok := got[shown]; !ok {
			shown = firstName(got)
		}
		if shown != want.Active {
			t.Fatalf("step %d: played shows %q, Automerge's active file is %q", k, shown, want.Active)
		}
	}
}

func show(files map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(&b, "%s=%q ", k, files[k])
	}
	return b.String()
}

// A real editing trace (its start: a paste, then typing with multi-cursor
// edits and non-ASCII characters), one change per transaction, plays back
// to the trace's text after each transaction.
func TestReplayTrace(t *testing.T) {
	tr, err := trace.Load("rustcode")
	if err != nil {
		t.Fatal(err)
	}
	n := 2000
	batches := append([][]Edit{{{Op: "add", Name: "f"}}}, traceEdits(&trace.Trace{Txns: tr.Txns[:n]}, "f")...)
	saved, err := Build("session1", Shared, "aaaaaaaa", batches, func(i int) time.Time { return time.UnixMilli(1_700_000_000_000 + int64(i)*300) })
	if err != nil {
		t.Fatal(err)
	}
	d, err := loadDoc(Shared, "aaaaaaaa", saved)
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.replay()
	if err != nil {
		t.Fatal(err)
	}
	// The genesis, the file added, then a step per transaction.
	if len(r.Steps) != n+2 {
		t.Fatalf("%d steps for %d transactions", len(r.Steps), n)
	}
	p := &played{files: map[string][]uint16{}}
	p.apply(t, 0, r.Steps[0].Patches)
	p.apply(t, 1, r.Steps[1].Patches)
	text := []rune{}
	for i, tx := range tr.Txns[:n] {
		for _, x := range tx.Patches {
			text = slices.Concat(text[:x.Pos], []rune(x.Ins), text[x.Pos+x.Del:])
		}
		p.apply(t, i+2, r.Steps[i+2].Patches)
		if got := string(utf16.Decode(p.files["f"])); got != string(text) {
			t.Fatalf("after transaction %d: played %d characters, the trace has %d", i, len(got), len(string(text)))
		}
	}
	checkPlayback(t, d, 97)
}

// FuzzReplay replays crafted changes after a real genesis: two people's,
// made apart, and a third on top of the first, naming the genesis objects,
// files, elements known and unknown. Nothing may panic, and every patch
// must fit the text it applies to.
func FuzzReplay(f *testing.F) {
	f.Add([]byte{1, 6, 1, 0, 1, 0, 1, 6, 4, 0, 1, 0, 6, 0, 1, 0, 2, 0}, []byte{1, 6, 3, 0, 1, 0}, []byte{6, 0, 1, 8, 2, 2, 6, 0, 3, 0, 4, 2})
	f.Add([]byte{0, 0, 1, 0, 1, 0, 1, 6, 4, 0, 1, 0, 2, 6, 1, 0, 1, 0, 3, 0, 1, 0, 0, 0}, []byte{}, []byte{3, 0, 1, 0, 2, 0})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		g, err := newDoc(fuzzDocID, Shared, "aaaaaaaa") // the genesis fuzzChange names
		if err != nil {
			t.Fatal(err)
		}
		ams, err := g.am.Changes()
		if err != nil {
			t.Fatal(err)
		}
		gen, err := DecodeChanges(ams[0].Save())
		if err != nil {
			t.Fatal(err)
		}
		ca, cb, cc := fuzzChange(0, a), fuzzChange(2, b), fuzzChange(0, c)
		ca.Hash[0], cb.Hash[0], cc.Hash[0] = 1, 2, 3
		ca.Deps, cb.Deps, cc.Deps = []ChangeHash{gen[0].Hash}, []ChangeHash{gen[0].Hash}, []ChangeHash{ca.Hash}
		cc.Seq, cc.StartOp = 2, ca.StartOp+uint64(len(ca.Ops))
		for i := range cc.Ops {
			cc.Ops[i].ID = at(cc.StartOp+uint64(i), cc.Actor)
		}
		r, err := replayChanges([]*Change{gen[0], ca, cb, cc})
		if err != nil {
			t.Fatal(err)
		}
		p := &played{files: map[string][]uint16{}}
		for i, s := range r.Steps {
			p.apply(t, i, s.Patches)
		}
	})
}
