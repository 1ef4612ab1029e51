package crdt

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

var testTime = time.Date(2025, 12, 1, 12, 0, 0, 0, time.UTC)

// Expected ops, written as briefly as the tests can.

func str(s string) Value { return Value{Kind: ValueStr, Str: s} }

func at(n uint64, actor string) OpID { return OpID{n, actor} }

// rootID is the root object; head, the head of a list or text.
var rootID, head OpID

// put is an op on a map's key.
func put(id, obj OpID, key string, act Action, v Value, pred ...OpID) Op {
	return Op{ID: id, Obj: obj, Key: key, MapKey: true, Action: act, Value: v, Pred: pred}
}

// ins inserts v into a list or text after elem.
func ins(id, obj, elem OpID, v Value) Op {
	return Op{ID: id, Obj: obj, Elem: elem, Insert: true, Action: ActSet, Value: v}
}

// del deletes elem of a list or text.
func del(id, obj, elem OpID) Op {
	return Op{ID: id, Obj: obj, Elem: elem, Action: ActDel, Pred: []OpID{elem}}
}

// insText inserts s into obj after elem, a code point an op, the first
// with counter first.
func insText(actor string, first uint64, obj, elem OpID, s string) []Op {
	var ops []Op
	for _, r := range s {
		id := at(first, actor)
		ops = append(ops, ins(id, obj, elem, str(string(r))))
		elem, first = id, first+1
	}
	return ops
}

func sameOps(t *testing.T, got, want []Op) {
	t.Helper()
	norm := func(o Op) Op {
		if len(o.Pred) == 0 {
			o.Pred = nil
		}
		return o
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("op %d missing: want %v", i+1, want[i])
		case i >= len(want):
			t.Errorf("op %d extra: got %v", i+1, got[i])
		case !reflect.DeepEqual(norm(got[i]), norm(want[i])):
			t.Errorf("op %d:\n got %v (%#v)\nwant %v (%#v)", i+1, got[i], got[i].Value, want[i], want[i].Value)
		}
	}
}

// sameMeta checks a decoded change against automerge-go's reading of it.
func sameMeta(t *testing.T, got *Change, want *automerge.Change) {
	t.Helper()
	var deps []ChangeHash
	for _, h := range want.Dependencies() {
		deps = append(deps, ChangeHash(h))
	}
	slices.SortFunc(deps, func(a, b ChangeHash) int { return bytes.Compare(a[:], b[:]) })
	if got.Hash != ChangeHash(want.Hash()) || !slices.Equal(got.Deps, deps) || got.Actor != want.ActorID() ||
		got.Seq != want.ActorSeq() || got.Time != want.Timestamp().UnixMilli() || got.Message != want.Message() {
		t.Errorf("decoded %v %v %s seq %d time %d %q\nautomerge %v %v %s seq %d time %d %q",
			got.Hash, got.Deps, got.Actor, got.Seq, got.Time, got.Message,
			want.Hash(), deps, want.ActorID(), want.ActorSeq(), want.Timestamp().UnixMilli(), want.Message())
	}
}

func newAM(t *testing.T, actor string) *automerge.Doc {
	t.Helper()
	d := automerge.New()
	if err := d.SetActorID(actor); err != nil {
		t.Fatal(err)
	}
	return d
}

func must(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// commit commits d's pending ops at testTime and returns the change,
// decoded and checked against automerge-go's reading.
func commit(t *testing.T, d *automerge.Doc, msg string) *Change {
	t.Helper()
	h, err := d.Commit(msg, automerge.CommitOptions{Time: &testTime})
	must(t, err)
	ac, err := d.Change(h)
	must(t, err)
	return decodeOne(t, ac)
}

func decodeOne(t *testing.T, ac *automerge.Change) *Change {
	t.Helper()
	cs, err := DecodeChanges(ac.Save())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("%d changes in one change's bytes", len(cs))
	}
	sameMeta(t, cs[0], ac)
	return cs[0]
}

func TestDecodeScalars(t *testing.T) {
	const a = "aa"
	d := newAM(t, a)
	r := d.RootMap()
	counter := automerge.NewCounter(3)
	// automerge-go writes Go's int as a float, as JavaScript would.
	must(t, r.Set("str", "x"), r.Set("int", int64(-5)), r.Set("uint", uint64(7)), r.Set("float", 3), r.Set("true", true),
		r.Set("false", false), r.Set("null", nil), r.Set("bytes", []byte{1, 2}), r.Set("time", testTime), r.Set("counter", counter))
	sameOps(t, commit(t, d, "scalars").Ops, []Op{
		put(at(1, a), rootID, "str", ActSet, str("x")),
		put(at(2, a), rootID, "int", ActSet, Value{Kind: ValueInt, Int: -5}),
		put(at(3, a), rootID, "uint", ActSet, Value{Kind: ValueUint, Uint: 7}),
		put(at(4, a), rootID, "float", ActSet, Value{Kind: ValueFloat, Float: 3}),
		put(at(5, a), rootID, "true", ActSet, Value{Kind: ValueTrue}),
		put(at(6, a), rootID, "false", ActSet, Value{Kind: ValueFalse}),
		put(at(7, a), rootID, "null", ActSet, Value{Kind: ValueNull}),
		put(at(8, a), rootID, "bytes", ActSet, Value{Kind: ValueBytes, Bytes: []byte{1, 2}}),
		put(at(9, a), rootID, "time", ActSet, Value{Kind: ValueTimestamp, Int: testTime.UnixMilli()}),
		put(at(10, a), rootID, "counter", ActSet, Value{Kind: ValueCounter, Int: 3}),
	})
	must(t, counter.Inc(-2), r.Set("str", "y"), r.Delete("null"))
	c := commit(t, d, "")
	sameOps(t, c.Ops, []Op{
		put(at(11, a), rootID, "counter", ActInc, Value{Kind: ValueInt, Int: -2}, at(10, a)),
		put(at(12, a), rootID, "str", ActSet, str("y"), at(1, a)),
		put(at(13, a), rootID, "null", ActDel, Value{}, at(7, a)),
	})
	if c.Seq != 2 || c.StartOp != 11 || len(c.Deps) != 1 {
		t.Errorf("second change: seq %d, start op %d, deps %v", c.Seq, c.StartOp, c.Deps)
	}
}

func TestDecodeNested(t *testing.T) {
	const a = "abcdef01"
	d := newAM(t, a)
	m, l, tx := automerge.NewMap(), automerge.NewList(), automerge.NewText("hé")
	must(t, d.RootMap().Set("m", m), m.Set("k", "v"), d.RootMap().Set("l", l), l.Append("a", int64(2)), m.Set("t", tx))
	sameOps(t, commit(t, d, "nested").Ops, slices.Concat([]Op{
		put(at(1, a), rootID, "m", ActMakeMap, Value{}),
		put(at(2, a), at(1, a), "k", ActSet, str("v")),
		put(at(3, a), rootID, "l", ActMakeList, Value{}),
		ins(at(4, a), at(3, a), head, str("a")),
		ins(at(5, a), at(3, a), at(4, a), Value{Kind: ValueInt, Int: 2}),
		put(at(6, a), at(1, a), "t", ActMakeText, Value{}),
	}, insText(a, 7, at(6, a), head, "hé")))
	must(t, l.Delete(0), l.Set(0, "b"), m.Delete("k"))
	over := Op{ID: at(10, a), Obj: at(3, a), Elem: at(5, a), Action: ActSet, Value: str("b"), Pred: []OpID{at(5, a)}}
	sameOps(t, commit(t, d, "").Ops, []Op{
		del(at(9, a), at(3, a), at(4, a)),
		over,
		put(at(11, a), at(1, a), "k", ActDel, Value{}, at(2, a)),
	})
}

// Text splices are one op per code point (accents and emoji alike);
// automerge-go deletes before it inserts.
func TestDecodeText(t *testing.T) {
	const a = "0123456789abcdef0123456789abcdef"
	d := newAM(t, a)
	tx := automerge.NewText("")
	must(t, d.RootMap().Set("t", tx), tx.Splice(0, 0, "café 🙂👍🏽"))
	obj := at(1, a)
	sameOps(t, commit(t, d, "").Ops, slices.Concat([]Op{put(obj, rootID, "t", ActMakeText, Value{})},
		insText(a, 2, obj, head, "café 🙂👍🏽")))
	must(t, tx.Splice(3, 1, "e"))
	sameOps(t, commit(t, d, "").Ops, []Op{del(at(10, a), obj, at(5, a)), ins(at(11, a), obj, at(4, a), str("e"))})
	must(t, tx.Delete(5, 3))
	sameOps(t, commit(t, d, "").Ops, []Op{del(at(12, a), obj, at(7, a)), del(at(13, a), obj, at(8, a)), del(at(14, a), obj, at(9, a))})
}

// crdt's own edits decode to what they did: replayed, the decoded changes
// make the document's view.
func TestDecodeEdits(t *testing.T) {
	d := mustDoc(t, Shared, "aaaa")
	g := genesisActor("session1")
	apply := func(edits ...Edit) *Change {
		t.Helper()
		if _, err := d.apply(edits, testTime); err != nil {
			t.Fatal(err)
		}
		return lastChange(t, d)
	}
	// A text made inside a map, as the add edit makes it.
	c := apply(Edit{Op: "add", Name: "a.go", Text: "hé🙂", Lang: "go"})
	sameOps(t, c.Ops, slices.Concat([]Op{put(at(4, "aaaa"), at(1, g), "a.go", ActMakeText, Value{})},
		insText("aaaa", 5, at(4, "aaaa"), head, "hé🙂"),
		[]Op{put(at(8, "aaaa"), at(2, g), "a.go", ActSet, str("go"))}))
	if c.Message != `[{"t":"file:a.go","i":3}]` {
		t.Errorf("message %q", c.Message)
	}
	apply(Edit{Op: "splice", Target: "file:a.go", Pos: 1, Del: 1, Text: "e wörld"}, Edit{Op: "splice", Target: "question", Text: "Why? 🤔"})
	apply(Edit{Op: "rename", Name: "a.go", To: "main.go"}, Edit{Op: "active", Name: "main.go"}, Edit{Op: "add", Name: "b.py"})
	apply(Edit{Op: "language", Name: "b.py", Lang: "python"}, Edit{Op: "delete", Name: "main.go"})
	checkReplay(t, d)
}

// lastChange decodes a document's newest change.
func lastChange(t *testing.T, d *doc) *Change {
	t.Helper()
	all, err := d.am.Changes()
	must(t, err)
	return decodeOne(t, all[len(all)-1])
}

// checkReplay replays every change of d, decoded, and compares the result
// with d's view.
func checkReplay(t *testing.T, d *doc) {
	t.Helper()
	all, err := d.am.Changes()
	must(t, err)
	m := newModel()
	for _, ac := range all {
		m.apply(t, decodeOne(t, ac))
	}
	want := view(t, d)
	if got := m.view(t, d.kind); !reflect.DeepEqual(got, want) {
		t.Errorf("replayed %+v\n    view %+v", got, want)
	}
}

// A change big enough to compress decodes the same compressed, and
// automerge-go reads the compressed chunk as the same change.
func TestDecodeCompressed(t *testing.T) {
	const a = "aa"
	d := newAM(t, a)
	tx := automerge.NewText("")
	big := strings.Repeat("0123456789", 500) + "🙂"
	must(t, d.RootMap().Set("t", tx), tx.Splice(0, 0, big))
	h, err := d.Commit("big", automerge.CommitOptions{Time: &testTime})
	must(t, err)
	ac, err := d.Change(h)
	must(t, err)
	raw := ac.Save()
	if raw[8] != chunkChange {
		t.Fatalf("automerge-go wrote chunk type %d", raw[8])
	}
	plain := decodeOne(t, ac)
	sameOps(t, plain.Ops, slices.Concat([]Op{put(at(1, a), rootID, "t", ActMakeText, Value{})}, insText(a, 2, at(1, a), head, big)))

	z := compressChunk(t, raw)
	if len(z) >= len(raw)/4 {
		t.Fatalf("compressed %d bytes to %d", len(raw), len(z))
	}
	loaded, err := automerge.LoadChanges(z)
	must(t, err)
	if len(loaded) != 1 || loaded[0].Hash() != h {
		t.Fatalf("automerge-go loads the compressed chunk as %v", loaded)
	}
	got, err := DecodeChanges(z)
	must(t, err)
	if len(got) != 1 || !bytes.Equal(got[0].Raw, z) {
		t.Fatalf("compressed: Raw is not the chunk as it came")
	}
	got[0].Raw = plain.Raw
	if !reflect.DeepEqual(got[0], plain) {
		t.Fatalf("compressed decodes differently")
	}

	// Among other chunks, as SaveIncremental concatenates them.
	r := d.RootMap()
	must(t, r.Set("x", "y"))
	h2, err := d.Commit("")
	must(t, err)
	ac2, err := d.Change(h2)
	must(t, err)
	cs, err := DecodeChanges(slices.Concat(z, ac2.Save(), raw))
	must(t, err)
	if len(cs) != 3 || cs[0].Hash != ChangeHash(h) || cs[1].Hash != ChangeHash(h2) || cs[2].Hash != ChangeHash(h) {
		t.Fatalf("decoded %d changes", len(cs))
	}
}

// compressChunk turns a change chunk into a compressed one, as Automerge's
// Change::bytes does.
func compressChunk(t testing.TB, chunk []byte) []byte {
	r := reader{b: chunk, off: 9}
	if _, err := r.uint(); err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.DefaultCompression)
	w.Write(chunk[r.off:])
	w.Close()
	out := append(slices.Clone(chunk[:8]), chunkCompressed)
	return append(uleb(out, uint64(z.Len())), z.Bytes()...)
}

func TestDecodeIncremental(t *testing.T) {
	d := mustDoc(t, Shared, "aaaa")
	d.am.SaveIncremental()
	for i := range 3 {
		if _, err := d.apply([]Edit{{Op: "splice", Target: "question", Pos: i, Text: "ab"}}, testTime); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := DecodeChanges(d.am.SaveIncremental())
	must(t, err)
	all, err := d.am.Changes()
	must(t, err)
	if len(cs) != 3 {
		t.Fatalf("%d changes", len(cs))
	}
	for i, c := range cs {
		sameMeta(t, c, all[i+1])
	}
	if cs, err := DecodeChanges(nil); cs != nil || err != nil {
		t.Fatalf("nothing decodes to %v, %v", cs, err)
	}
}

// Every node makes the same genesis; the rules (rules.go) know its objects
// by these op IDs.
func TestGenesisOpIDs(t *testing.T) {
	for _, tt := range []struct {
		kind Kind
		want func(g string) []Op
	}{
		{Shared, func(g string) []Op {
			return []Op{
				put(at(genesisFiles, g), rootID, "files", ActMakeMap, Value{}),
				put(at(genesisLanguages, g), rootID, "languages", ActMakeMap, Value{}),
				put(at(genesisQuestion, g), rootID, "question", ActMakeText, Value{}),
			}
		}},
		{Private, func(g string) []Op {
			return []Op{put(at(genesisNotes, g), rootID, "notes", ActMakeText, Value{})}
		}},
	} {
		id := DocID("pin", tt.kind)
		d, err := newDoc(id, tt.kind, "aaaa")
		must(t, err)
		all, err := d.am.Changes()
		must(t, err)
		if len(all) != 1 {
			t.Fatalf("%s: %d changes in a new document", tt.kind, len(all))
		}
		c := decodeOne(t, all[0])
		g := genesisActor(id)
		if c.Actor != g || c.Seq != 1 || c.StartOp != 1 || c.Time != 0 || c.Message != "" || c.Deps != nil {
			t.Errorf("%s genesis: actor %s seq %d start %d time %d message %q deps %v", tt.kind, c.Actor, c.Seq, c.StartOp, c.Time, c.Message, c.Deps)
		}
		sameOps(t, c.Ops, tt.want(g))
	}
}

func TestDecodeGoSyncMessages(t *testing.T) {
	a := mustDoc(t, Shared, "aaaa")
	if _, err := a.apply([]Edit{{Op: "add", Name: "a.go", Text: "package main // é🙂"}}, testTime); err != nil {
		t.Fatal(err)
	}
	b := mustDoc(t, Shared, "bbbb")
	if _, err := b.apply([]Edit{{Op: "splice", Target: "question", Text: "Sort 🔢"}}, testTime); err != nil {
		t.Fatal(err)
	}
	sa, sb := automerge.NewSyncState(a.am), automerge.NewSyncState(b.am)
	var changes, blooms int
	check := func(m *automerge.SyncMessage) {
		t.Helper()
		got, err := DecodeSyncMessage(m.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		var heads []ChangeHash
		for _, h := range m.Heads() {
			heads = append(heads, ChangeHash(h))
		}
		if !slices.Equal(got.Heads, heads) || len(got.Changes) != len(m.Changes()) || got.Flags != nil {
			t.Fatalf("decoded heads %v, %d changes, flags %x; automerge-go: %v, %d changes", got.Heads, len(got.Changes), got.Flags, heads, len(m.Changes()))
		}
		for i, c := range m.Changes() {
			sameMeta(t, got.Changes[i], c)
		}
		changes += len(got.Changes)
		for _, h := range got.Have {
			if h.Bloom.Entries > 0 {
				blooms++
			}
		}
	}
	for range 10 {
		ma, oka := sa.GenerateMessage()
		if oka {
			check(ma)
			_, err := sb.ReceiveMessage(ma.Bytes())
			must(t, err)
		}
		mb, okb := sb.GenerateMessage()
		if okb {
			check(mb)
			_, err := sa.ReceiveMessage(mb.Bytes())
			must(t, err)
		}
		if !oka && !okb {
			break
		}
	}
	if changes != 2 || blooms == 0 {
		t.Fatalf("the sync carried %d changes and %d Bloom filters", changes, blooms)
	}
	if va, vb := view(t, a), view(t, b); !reflect.DeepEqual(va, vb) {
		t.Fatalf("not in sync: %+v, %+v", va, vb)
	}
}

// jsHex reads bytes make-js.mjs wrote.
func jsHex(t testing.TB, name string) []byte {
	t.Helper()
	s, err := os.ReadFile(filepath.Join("testdata", "js-"+name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(s)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeJS(t *testing.T, name string) *Change {
	t.Helper()
	cs, err := DecodeChanges(jsHex(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(cs) != 1 {
		t.Fatalf("%s: %d changes", name, len(cs))
	}
	return cs[0]
}

const (
	jsStaff     = "1111111111111111aaaaaaaaaaaaaaaa"
	jsCandidate = "2222222222222222bbbbbbbbbbbbbbbb"
	jsT         = 1764590400000
)

// Changes made by the browser's Automerge (@automerge/automerge 3.5.0) the
// way the session page makes them: see testdata/make-js.mjs.
func TestDecodeJSChanges(t *testing.T) {
	g := genesisActor("js/shared")
	// The page's Automerge makes the very genesis crdt's newDoc makes.
	genesis := decodeJS(t, "genesis-shared")
	d, err := newDoc("js/shared", Shared, "aaaa")
	must(t, err)
	all, err := d.am.Changes()
	must(t, err)
	if genesis.Hash != ChangeHash(all[0].Hash()) {
		t.Errorf("JS genesis %v, Go genesis %v", genesis.Hash, all[0].Hash())
	}

	const s, c = jsStaff, jsCandidate
	add := decodeJS(t, "staff-add")
	file := at(4, s)
	sameOps(t, add.Ops, slices.Concat([]Op{put(file, at(genesisFiles, g), "main.go", ActMakeText, Value{})},
		insText(s, 5, file, head, "héllo 🙂\n"),
		[]Op{put(at(13, s), at(genesisLanguages, g), "main.go", ActSet, str("go"))}))
	if add.Time != jsT || add.Message != `[{"t":"file:main.go","i":8}]` || add.Seq != 1 || add.Deps[0] != genesis.Hash {
		t.Errorf("staff change: time %d, message %q, seq %d, deps %v", add.Time, add.Message, add.Seq, add.Deps)
	}
	question := decodeJS(t, "staff-question")
	sameOps(t, question.Ops, insText(s, 14, at(genesisQuestion, g), head, "Reverse a list 🔁"))

	// The page writes a splice's insertions before its deletions.
	splice := decodeJS(t, "splice")
	sameOps(t, splice.Ops, []Op{ins(at(30, c), file, at(5, s), str("e")), del(at(31, c), file, at(6, s))})
	if splice.Time != jsT+2000 || splice.Message != `[{"t":"file:main.go","i":1,"d":1}]` || splice.Actor != c || splice.Seq != 1 {
		t.Errorf("splice: time %d, message %q, actor %s, seq %d", splice.Time, splice.Message, splice.Actor, splice.Seq)
	}
	// An emoji with a skin tone is two code points, two ops; the page
	// counts UTF-16 units, Automerge code points.
	emoji := decodeJS(t, "splice-emoji")
	sameOps(t, emoji.Ops, insText(c, 32, file, at(10, s), "ça 👍🏽 "))

	// Automerge's own default time is in seconds.
	if dt := decodeJS(t, "default-time"); dt.Time != (jsT+99_999)/1000 || dt.Message != "" {
		t.Errorf("default time %d, message %q", dt.Time, dt.Message)
	}
	paste := decodeJS(t, "paste")
	if raw := jsHex(t, "paste"); raw[8] != chunkChange || len(paste.Ops) != 3000 {
		t.Errorf("paste: chunk type %d, %d ops", raw[8], len(paste.Ops))
	}

	// Replayed, the page's changes make the text it showed; applied to the
	// Go document, they make the same view.
	m := newModel()
	var inc []byte
	for _, name := range []string{"genesis-shared", "staff-add", "staff-question", "splice", "splice-emoji", "updatetext", "default-time", "paste"} {
		m.apply(t, decodeJS(t, name))
		inc = append(inc, jsHex(t, name)...)
	}
	want := View{
		Files:     map[string]string{"main.go": strings.Repeat("fn(){}\n", 428) + "abcd// package main\n"},
		Languages: map[string]string{"main.go": "go"},
		Active:    "main.go",
		Question:  "Reverse a list 🔁",
	}
	if got := m.view(t, Shared); !reflect.DeepEqual(got, want) {
		t.Errorf("replayed %+v", got)
	}
	must(t, d.am.LoadIncremental(inc))
	if got := view(t, d); !reflect.DeepEqual(got, want) {
		t.Errorf("Go document %+v", got)
	}
	// automerge-go reads each change as decoded.
	for _, name := range []string{"staff-add", "staff-question", "splice", "splice-emoji", "updatetext", "default-time", "paste"} {
		c := decodeJS(t, name)
		ac, err := d.am.Change(automerge.ChangeHash(c.Hash))
		must(t, err)
		sameMeta(t, c, ac)
	}

	// The private document.
	pg := genesisActor("js/private")
	notes := decodeJS(t, "staff-notes")
	sameOps(t, notes.Ops, insText(s, 2, at(genesisNotes, pg), head, "Strong on recursion ✓"))
	p, err := newDoc("js/private", Private, "aaaa")
	must(t, err)
	must(t, p.am.LoadIncremental(slices.Concat(jsHex(t, "genesis-private"), jsHex(t, "staff-notes"))))
	if v := view(t, p); v.Notes != "Strong on recursion ✓" || len(p.am.Heads()) != 1 {
		t.Errorf("private view %+v, heads %v", v, p.am.Heads())
	}
}

// A sync message from the page to its node: version 1, with the flags
// newer Automerge appends.
func TestDecodeJSSyncMessage(t *testing.T) {
	m, err := DecodeSyncMessage(jsHex(t, "sync"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Flags, []byte{0x02, 0x84}) {
		t.Errorf("flags %x", m.Flags)
	}
	var got, want []ChangeHash
	for _, c := range m.Changes {
		got = append(got, c.Hash)
	}
	for _, name := range []string{"splice", "splice-emoji", "updatetext", "default-time", "paste"} {
		want = append(want, decodeJS(t, name).Hash)
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	if len(m.Heads) != 1 || m.Heads[0] != want[len(want)-1] {
		t.Errorf("heads %v", m.Heads)
	}
	// automerge-go, which has the staff's changes, reads it alike.
	d, err := newDoc("js/shared", Shared, "aaaa")
	must(t, err)
	must(t, d.am.LoadIncremental(slices.Concat(jsHex(t, "staff-add"), jsHex(t, "staff-question"))))
	am, err := automerge.NewSyncState(d.am).ReceiveMessage(jsHex(t, "sync"))
	must(t, err)
	if len(am.Changes()) != len(m.Changes) {
		t.Fatalf("automerge-go reads %d changes", len(am.Changes()))
	}
	for i, c := range am.Changes() {
		sameMeta(t, m.Changes[i], c)
	}
}

// model replays decoded changes into plain values, a change at a time:
// enough to show that decoding lost nothing. It knows no concurrency.
type model struct {
	objs map[OpID]*modelObj
}

type modelObj struct {
	keys  map[string]modelVal
	elems []modelElem
}

type modelElem struct {
	id      OpID
	val     modelVal
	deleted bool
}

type modelVal struct {
	obj OpID // an object, if non-zero
	v   Value
}

func newModel() *model {
	return &model{objs: map[OpID]*modelObj{{}: {keys: map[string]modelVal{}}}}
}

func (m *model) apply(t *testing.T, c *Change) {
	t.Helper()
	for _, op := range c.Ops {
		o := m.objs[op.Obj]
		if o == nil {
			t.Fatalf("%v: no object %v", op, op.Obj)
		}
		val := modelVal{v: op.Value}
		switch op.Action {
		case ActMakeMap, ActMakeList, ActMakeText, ActMakeTable:
			m.objs[op.ID] = &modelObj{keys: map[string]modelVal{}}
			val = modelVal{obj: op.ID}
		case ActSet, ActDel:
		default:
			t.Fatalf("%v: the model does not know %v", op, op.Action)
		}
		if op.MapKey {
			if op.Action == ActDel {
				delete(o.keys, op.Key)
			} else {
				o.keys[op.Key] = val
			}
			continue
		}
		i := slices.IndexFunc(o.elems, func(e modelElem) bool { return e.id == op.Elem })
		if i < 0 && op.Elem != (OpID{}) {
			t.Fatalf("%v: no element %v", op, op.Elem)
		}
		switch {
		case op.Insert:
			o.elems = slices.Insert(o.elems, i+1, modelElem{id: op.ID, val: val})
		case op.Action == ActDel:
			o.elems[i].deleted = true
		default:
			o.elems[i].val = val
		}
	}
}

func (m *model) text(t *testing.T, v modelVal) string {
	t.Helper()
	o := m.objs[v.obj]
	if o == nil {
		t.Fatalf("%v is not an object", v)
	}
	var b strings.Builder
	for _, e := range o.elems {
		if !e.deleted {
			b.WriteString(e.val.v.Str)
		}
	}
	return b.String()
}

// view reads the replayed document as doc.view does.
func (m *model) view(t *testing.T, kind Kind) View {
	r := m.objs[OpID{}].keys
	var v View
	if kind == Private {
		v.Notes, v.Recorder = m.text(t, r["notes"]), r["recorder"].v.Str
		return v
	}
	v.Files, v.Languages = map[string]string{}, map[string]string{}
	for name, f := range m.objs[r["files"].obj].keys {
		v.Files[name] = m.text(t, f)
	}
	for name, l := range m.objs[r["languages"].obj].keys {
		v.Languages[name] = l.v.Str
	}
	v.Active = r["active"].v.Str
	if _, ok := v.Files[v.Active]; !ok {
		v.Active = firstName(v.Files)
	}
	v.Question = m.text(t, r["question"])
	return v
}

// Crafted chunks: a change's fields and columns written by hand.

type col struct {
	spec uint64
	data []byte
}

func sleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// lit is a literal run of unsigned values; litInt of signed ones.
func lit(vs ...uint64) []byte {
	b := sleb(nil, -int64(len(vs)))
	for _, v := range vs {
		b = uleb(b, v)
	}
	return b
}

func litInt(vs ...int64) []byte {
	b := sleb(nil, -int64(len(vs)))
	for _, v := range vs {
		b = sleb(b, v)
	}
	return b
}

func litStr(ss ...string) []byte {
	b := sleb(nil, -int64(len(ss)))
	for _, s := range ss {
		b = append(uleb(b, uint64(len(s))), s...)
	}
	return b
}

// counts is a boolean column: counts of false, true, false...
func counts(ns ...uint64) []byte {
	var b []byte
	for _, n := range ns {
		b = uleb(b, n)
	}
	return b
}

// craft is a change chunk to write by hand.
type craft struct {
	deps         []ChangeHash
	actor        []byte
	seq, startOp uint64
	time         int64
	msg          string
	others       [][]byte
	cols         []col
	extra        []byte
}

// baseCraft is a change by actor aa, seq 1, with one op: set root "k" = "v".
func baseCraft() craft {
	return craft{actor: []byte{0xaa}, seq: 1, startOp: 1, cols: setK()}
}

// setK is the columns of one op: set root "k" = "v".
func setK() []col {
	return []col{
		{specKeyStr, litStr("k")}, {specInsert, counts(1)}, {specAction, lit(1)},
		{specValMeta, lit(1<<4 | codeStr)}, {specValRaw, []byte("v")}, {specPred, lit(0)},
	}
}

func (c craft) body() []byte {
	b := uleb(nil, uint64(len(c.deps)))
	for _, d := range c.deps {
		b = append(b, d[:]...)
	}
	b = append(uleb(b, uint64(len(c.actor))), c.actor...)
	b = uleb(b, c.seq)
	b = uleb(b, c.startOp)
	b = sleb(b, c.time)
	b = append(uleb(b, uint64(len(c.msg))), c.msg...)
	b = uleb(b, uint64(len(c.others)))
	for _, a := range c.others {
		b = append(uleb(b, uint64(len(a))), a...)
	}
	b = uleb(b, uint64(len(c.cols)))
	for _, col := range c.cols {
		b = uleb(uleb(b, col.spec), uint64(len(col.data)))
	}
	for _, col := range c.cols {
		b = append(b, col.data...)
	}
	return append(b, c.extra...)
}

// frame makes a change chunk of a body, with its checksum.
func frame(body []byte) []byte {
	typed := append(uleb([]byte{chunkChange}, uint64(len(body))), body...)
	h := sha256.Sum256(typed)
	return slices.Concat(chunkMagic[:], h[:4], typed)
}

func (c craft) chunk() []byte { return frame(c.body()) }

// The hand-written chunks are real changes: automerge-go takes them.
func TestCraftedChunk(t *testing.T) {
	c := baseCraft()
	c.time, c.msg = 42, "m"
	b := c.chunk()
	cs, err := DecodeChanges(b)
	must(t, err)
	sameOps(t, cs[0].Ops, []Op{put(at(1, "aa"), rootID, "k", ActSet, str("v"))})
	d := automerge.New()
	must(t, d.LoadIncremental(b))
	if v, err := d.RootMap().Get("k"); err != nil || v.Str() != "v" {
		t.Fatalf("automerge-go reads k as %v, %v", v, err)
	}
	all, err := d.Changes()
	must(t, err)
	sameMeta(t, cs[0], all[0])
}

// Malformed changes are refused with an error that says what is wrong; a
// "" want means the change is fine.
func TestDecodeRefuses(t *testing.T) {
	ok := baseCraft().chunk()
	with := func(f func(c *craft)) []byte {
		c := baseCraft()
		f(&c)
		return c.chunk()
	}
	// cols replaces or adds columns, keeping them in order.
	cols := func(add ...col) []byte {
		return with(func(c *craft) {
			for _, a := range add {
				i := slices.IndexFunc(c.cols, func(x col) bool { return x.spec == a.spec })
				if i >= 0 {
					c.cols[i] = a
					continue
				}
				c.cols = append(c.cols, a)
			}
			c.cols = slices.DeleteFunc(c.cols, func(x col) bool { return x.data == nil })
			slices.SortFunc(c.cols, func(a, b col) int { return int(a.spec&^colDeflated) - int(b.spec&^colDeflated) })
		})
	}
	corrupt := func(b []byte, i int, v byte) []byte {
		b = slices.Clone(b)
		b[i] = v
		return b
	}
	bomb := func() []byte {
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestSpeed)
		w.Write(make([]byte, maxInflated+1))
		w.Close()
		return append(uleb(append(slices.Clone(ok[:8]), chunkCompressed), uint64(z.Len())), z.Bytes()...)
	}
	z := compressChunk(t, ok)
	body := baseCraft().body()
	many := make([][]byte, maxActors)

	for _, tt := range []struct {
		name string
		b    []byte
		want string
	}{
		// Chunks.
		{"ok", ok, ""},
		{"compressed", z, ""},
		{"short", ok[:7], "too short for a chunk header"},
		{"magic", corrupt(ok, 0, 0x86), "not an Automerge chunk"},
		{"checksum", corrupt(ok, 5, ok[5]^1), "does not match the change's hash"},
		{"body changed", corrupt(ok, len(ok)-1, 'w'), "does not match the change's hash"},
		{"truncated", ok[:len(ok)-1], "run past the end"},
		{"document", mustDoc(t, Shared, "aaaa").am.Save(), "a saved document (chunk type 0)"},
		{"unknown type", corrupt(ok, 8, 3), "unknown chunk type 3"},
		{"overlong length", slices.Concat(ok[:9], []byte{ok[9] | 0x80, 0}, ok[10:]), "padded with redundant bytes"},
		{"trailing garbage", append(slices.Clone(ok), 0x85), "too short for a chunk header"},
		{"deflate bomb", bomb(), "inflates to over the 67108864 bytes left to inflate"},
		{"deflate garbage", slices.Concat(z[:len(z)-3], []byte{0xff, 0xff, 0xff}), "inflate"},
		{"after deflate", frameAgain(z, append(slices.Clone(z[10:]), 0)), "bytes after the compressed change"},

		// A change's fields.
		{"seq 0", with(func(c *craft) { c.seq = 0 }), "seq 0"},
		{"big seq", with(func(c *craft) { c.seq = 1 << 63 }), ""},
		{"negative time", with(func(c *craft) { c.time = -1 }), ""},
		{"start op 0", with(func(c *craft) { c.startOp = 0 }), "start op 0,"},
		{"start op past 32 bits", with(func(c *craft) { c.startOp = 1 << 32 }), "start op 4294967296"},
		{"ops past 32 bits", with(func(c *craft) { c.startOp = 1<<32 - 1; c.cols[2].data = lit(1, 1) }), "counters over 4294967295"},
		{"actor too long", with(func(c *craft) { c.actor = make([]byte, 65) }), "actor ID of 65 bytes"},
		{"too many actors", with(func(c *craft) { c.others = many }), "1024 other actors"},
		{"message not UTF-8", with(func(c *craft) { c.msg = "\xff" }), "message is not valid UTF-8"},
		{"long message", with(func(c *craft) { c.msg = strings.Repeat("x", maxMessage) }), ""},
		{"message too long", with(func(c *craft) { c.msg = strings.Repeat("x", maxMessage+1) }), "message of 65537 bytes"},
		{"too many deps", with(func(c *craft) { c.deps = make([]ChangeHash, maxDeps+1) }), "1025 dependencies"},
		{"extra bytes", with(func(c *craft) { c.extra = []byte{1} }), "1 unknown bytes after the op columns"},
		{"column past the end", frame(body[:len(body)-1]), "runs past the end of the change"},

		// Column layout.
		{"deflated column", with(func(c *craft) { c.cols[2].spec |= colDeflated }), "column 0x4a is DEFLATE-compressed"},
		{"unknown deflated column", cols(col{11<<4 | colDeflated | colInt, lit(1)}), "column 0xba is DEFLATE-compressed"},
		{"unknown column", cols(col{11<<4 | colInt, lit(1)}), ""},
		{"unknown group", cols(col{12<<4 | colGroup, lit(1)}, col{12<<4 | colString, litStr("x")}), ""},
		{"unknown value", cols(col{12<<4 | colMeta, lit(0)}, col{12<<4 | colValue, []byte{1}}), ""},
		{"unknown lone value", cols(col{12<<4 | colValue, []byte{1}}), "value column 0xc7 without its metadata"},
		{"out of order", with(func(c *craft) { c.cols[1], c.cols[2] = c.cols[2], c.cols[1] }), "ascending order"},
		{"twice", with(func(c *craft) { c.cols = slices.Insert(c.cols, 1, c.cols[0]) }), "ascending order"},
		{"lone value", cols(col{specValMeta, nil}), "value column 0x57 without its metadata"},
		{"wrong type", cols(col{0<<4 | colString, litStr("x")}), "column 0x5: column 0 has no type 5"},
		{"pred columns alone", cols(col{specPred, nil}, col{specPredAct, lit(0)}, col{specPredCtr, litInt(1)}), "without their group column"},
		{"pred actor alone", cols(col{specPredAct, lit()}), "a predecessor actor column without a counter column"},

		// Ops.
		{"no key", cols(col{specKeyStr, nil}), "no key"},
		{"null key", cols(col{specKeyStr, []byte{0, 1}}), "no key"},
		{"two keys", cols(col{specKeyCtr, litInt(1)}), "parts of several"},
		{"element", cols(col{specKeyStr, nil}, col{specKeyActor, lit(0)}, col{specKeyCtr, litInt(1)}), ""},
		{"head", cols(col{specKeyStr, nil}, col{specKeyCtr, litInt(0)}), ""},
		{"element 0", cols(col{specKeyStr, nil}, col{specKeyActor, lit(0)}, col{specKeyCtr, litInt(0)}), "counter 0, not between 1"},
		{"negative element", cols(col{specKeyStr, nil}, col{specKeyActor, lit(0)}, col{specKeyCtr, litInt(-1)}), "negative counter -1"},
		{"object", cols(col{specObjActor, lit(0)}, col{specObjCtr, lit(7)}), ""},
		{"unknown actor", cols(col{specObjActor, lit(5)}, col{specObjCtr, lit(1)}), "actor index 5, but the change names 1 actors"},
		{"counter past 32 bits", cols(col{specObjActor, lit(0)}, col{specObjCtr, lit(1 << 32)}), "counter 4294967296, not between 1 and 4294967295"},
		{"object counter 0", cols(col{specObjActor, lit(0)}, col{specObjCtr, lit(0)}), "counter 0"},
		{"object actor alone", cols(col{specObjActor, lit(0)}), "an actor without a counter"},
		{"no insert", cols(col{specInsert, nil}), "column insert: no value"},
		{"no action", cols(col{specAction, []byte{0, 1}}), "column action: no value"},
		{"action 256", cols(col{specAction, lit(256)}), "unknown action 256"},
		{"action 9", cols(col{specAction, lit(9)}), ""},
		{"no value", cols(col{specValMeta, []byte{0, 1}}), "column value metadata: no value"},
		{"value past the end", cols(col{specValMeta, lit(2<<4 | codeStr)}), "raw value: 2 bytes run past the end"},
		{"value left over", cols(col{specValRaw, []byte("vw")}), "column value metadata holds more values"},
		{"null with a length", cols(col{specValMeta, lit(1<<4 | codeNull)}), "a null or boolean with a length of 1"},
		{"not UTF-8", cols(col{specValRaw, []byte{0xff}}), "not valid UTF-8"},
		{"float of 1 byte", cols(col{specValMeta, lit(1<<4 | codeFloat)}), "a float of 1 bytes"},
		{"number", cols(col{specValMeta, lit(2<<4 | codeUint)}, col{specValRaw, []byte{0x81, 0x01}}), ""},
		{"number with extra bytes", cols(col{specValMeta, lit(2<<4 | codeUint)}, col{specValRaw, []byte{1, 2}}), "1 bytes after the number"},
		{"unknown value type", cols(col{specValMeta, lit(1<<4 | 12)}), ""},
		{"huge value", cols(col{specValMeta, lit(1 << 60)}), "over the limit of 16777216"},
		{"increment by a string", cols(col{specAction, lit(uint64(ActInc))}), "an increment by \"v\""},
		{"no pred count", cols(col{specPred, nil}), "column predecessor count: no value"},
		{"pred without actor", cols(col{specPred, lit(1)}), "column predecessor actor: no value"},
		{"pred", cols(col{specPred, lit(2)}, col{specPredAct, lit(0, 0)}, col{specPredCtr, litInt(3, -1)}), ""},
		{"pred overflow", cols(col{specPred, lit(2)}, col{specPredAct, lit(0, 0)}, col{specPredCtr, litInt(1, math.MaxInt64)}), "overflows"},
		{"too many ops", cols(col{specAction, slices.Concat(sleb(nil, maxChangeOps+1), uleb(nil, 1))}), "1048577 operations, over the limit"},
		{"more ops than keys", cols(col{specAction, slices.Concat(sleb(nil, 2), uleb(nil, 1))}), "op 2: no key"},
		{"left over", cols(col{specInsert, counts(2)}), "column insert holds more values"},
		{"huge boolean run", cols(col{specInsert, counts(1 << 40)}), "a run of 1099511627776 values"},
		{"run of min int64", cols(col{specAction, sleb(nil, -1<<63)}), "more than 2097152 values"},
		{"LEB128 overflow", cols(col{specAction, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}}), "does not fit in 64 bits"},
		{"LEB128 cut short", cols(col{specAction, []byte{0x7f, 0x81}}), "ends in the middle of a value"},
		{"overlong LEB128", cols(col{specAction, []byte{0x7f, 0x81, 0x00}}), "padded with redundant bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := DecodeChanges(tt.b)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want == "" && len(cs) != 1:
				t.Errorf("%d changes", len(cs))
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// frameAgain makes a chunk of z's header with a new compressed body.
func frameAgain(z, body []byte) []byte {
	return append(uleb(slices.Clone(z[:9]), uint64(len(body))), body...)
}

func TestDecodeSyncRefuses(t *testing.T) {
	hash := bytes.Repeat([]byte{7}, 32)
	msg := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	n := func(v uint64) []byte { return uleb(nil, v) }
	bloom := func(b ...byte) []byte { return append(n(uint64(len(b))), b...) }
	noHave, noChanges := n(0), n(0)
	change := baseCraft().chunk()
	inSlot := func(b []byte) []byte { return append(n(uint64(len(b))), b...) }

	for _, tt := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty message", msg([]byte{syncV1}, n(0), n(0), noHave, noChanges), ""},
		{"flags", msg([]byte{syncV1}, n(0), n(0), noHave, noChanges, []byte{2, 2, 0x84}), ""},
		{"heads and a change", msg([]byte{syncV1}, n(1), hash, n(0), n(1), n(0), bloom(), n(1), inSlot(change)), ""},
		{"bloom", msg([]byte{syncV1}, n(0), n(0), n(1), n(1), hash, bloom(1, 10, 7, 0, 0), noChanges), ""},

		{"nothing", nil, "empty"},
		{"version 2", msg([]byte{syncV2}, n(0), n(0), noHave, noChanges), "a version 2 message"},
		{"not sync", msg([]byte{0x85}, n(0)), "not a sync message"},
		{"cut short", msg([]byte{syncV1}, n(1)), "heads: 1 hashes"},
		{"too many hashes", msg([]byte{syncV1}, n(maxSyncHashes+1), make([]byte, 32*(maxSyncHashes+1))), "65537 hashes"},
		{"too many haves", msg([]byte{syncV1}, n(0), n(0), n(maxSyncHaves+1)), "65 haves"},
		// sync_bloom_div_by_zero.hex of shared/data/automerge-crashers.
		{"bloom without bits", must2(hex.DecodeString("42000001000301000000")), "0 bits per entry"},
		{"bloom of 4G probes", msg([]byte{syncV1}, n(0), n(0), n(1), n(0), bloom(1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0)), "4294967295 probes"},
		{"bloom bits missing", msg([]byte{syncV1}, n(0), n(0), n(1), n(0), bloom(100, 10, 7, 0)), "1 bytes of bits where 100 entries"},
		{"bloom cut short", msg([]byte{syncV1}, n(0), n(0), n(1), n(0), n(5), []byte{1}), "Bloom filter: 5 bytes run past"},
		{"compressed change", msg([]byte{syncV1}, n(0), n(0), noHave, n(1), inSlot(compressChunk(t, change))), "a compressed change (chunk type 2)"},
		{"bytes after a change", msg([]byte{syncV1}, n(0), n(0), noHave, n(1), inSlot(append(slices.Clone(change), 0))), "1 bytes after the change"},
		{"two changes in one", msg([]byte{syncV1}, n(0), n(0), noHave, n(1), inSlot(slices.Concat(change, change))), "bytes after the change"},
		{"bad change", msg([]byte{syncV1}, n(0), n(0), noHave, n(1), inSlot(change[:20])), "change 1: chunk body"},
		{"too many changes", msg([]byte{syncV1}, n(0), n(0), noHave, n(1000)), "1000 changes in a message"},
		{"long flags", msg([]byte{syncV1}, n(0), n(0), noHave, noChanges, n(maxSyncFlags+1), make([]byte, maxSyncFlags+1)), "17 bytes of flags"},
		{"after the flags", msg([]byte{syncV1}, n(0), n(0), noHave, noChanges, []byte{1, 2, 3}), "1 bytes after the message"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeSyncMessage(tt.b)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func must2[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Inputs that abort the Automerge core (shared/data/automerge-crashers,
// found by fuzzing automerge-go) are all refused: the decoder can screen
// what reaches the worker.
func TestDecodeRefusesCrashers(t *testing.T) {
	for _, c := range crashers(t) {
		var err error
		if c.Bytes[0] == syncV1 {
			_, err = DecodeSyncMessage(c.Bytes)
		} else {
			_, err = DecodeChanges(c.Bytes)
		}
		if err == nil {
			t.Errorf("%s: accepted", c.Name)
		}
	}
}
