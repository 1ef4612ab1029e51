package crdt

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The seed corpora (testdata/fuzz/Fuzz*) hold real changes and sync
// messages made by automerge-go; the JS vectors and the crashers (from
// shared/data, beside the repository) are added here.

var jsVectors = []string{
	"genesis-shared", "staff-add", "staff-question", "staff-language-text", "splice", "splice-emoji",
	"updatetext", "default-time", "paste", "genesis-private", "staff-notes",
}

// addCrashers adds the inputs that abort the Automerge core (see
// crashers), sync messages or not, if there are any.
func addCrashers(f *testing.F, sync bool) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "data", "automerge-crashers", "*.hex"))
	for _, name := range files {
		s, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(s)))
		if err != nil {
			f.Fatal(err)
		}
		if (b[0] == syncV1) == sync {
			f.Add(b)
		}
	}
}

// fuzzDecoder has lower limits than DecodeChanges's: with them, a change
// of a million ops, each decoded in half a microsecond, would take most of
// the fuzzer's time.
func fuzzDecoder() decoder { return decoder{maxOps: 1 << 12, ops: 1 << 13, inflate: 1 << 20} }

// fuzzDocID is the document the seeds' changes were made in: their ops
// name its genesis objects, so that CheckChange gets past "another object".
var fuzzDocID = DocID("fuzz", Shared)

// FuzzDecodeChanges decodes arbitrary bytes as they are and framed anew as
// one change chunk with a right checksum (or the fuzzer would seldom get
// past it), and checks what decodes.
func FuzzDecodeChanges(f *testing.F) {
	for _, name := range jsVectors {
		f.Add(jsHex(f, name))
	}
	addCrashers(f, false)
	f.Add(baseCraft().chunk())
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, reframe(b)} {
			d := fuzzDecoder()
			cs, err := d.changes(in)
			if err != nil {
				if cs != nil {
					t.Fatal("changes and an error")
				}
				continue
			}
			for _, c := range cs {
				checkDecoded(t, c)
			}
		}
	})
}

// reframe makes b's body (what follows a chunk header, or all of b) one
// change chunk with the right length and checksum.
func reframe(b []byte) []byte {
	body := b
	if len(b) >= 9 && string(b[:4]) == string(chunkMagic[:]) {
		r := reader{b: b, off: 9}
		if _, err := r.uint(); err == nil {
			body = b[r.off:]
		}
	}
	return frame(body)
}

// checkDecoded checks what the decoder promises of a change, and that
// CheckChange takes it for any role in either document.
func checkDecoded(t *testing.T, c *Change) {
	t.Helper()
	if len(c.Ops) > maxChangeOps || c.Seq == 0 || c.StartOp == 0 || c.StartOp+uint64(len(c.Ops)) > maxCounter+1 {
		t.Fatalf("change seq %d, start op %d, %d ops", c.Seq, c.StartOp, len(c.Ops))
	}
	if !validActor(c.Actor) || !utf8.ValidString(c.Message) || len(c.Message) > maxMessage || len(c.Deps) > maxDeps {
		t.Fatalf("change by %q, message %q, %d deps", c.Actor, c.Message, len(c.Deps))
	}
	id := func(id OpID, zero bool) {
		if zero && id == (OpID{}) {
			return
		}
		if id.Counter == 0 || id.Counter > maxCounter || !validActor(id.Actor) {
			t.Fatalf("op ID %q", id)
		}
	}
	for i, op := range c.Ops {
		if op.ID != (OpID{c.StartOp + uint64(i), c.Actor}) {
			t.Fatalf("op %d is %v", i, op.ID)
		}
		id(op.Obj, true)
		id(op.Elem, true)
		for _, p := range op.Pred {
			id(p, false)
		}
		if op.MapKey && op.Elem != (OpID{}) || !op.MapKey && op.Key != "" || !utf8.ValidString(op.Key) || !utf8.ValidString(op.Value.Str) {
			t.Fatalf("op %v", op)
		}
		if op.Action == ActInc && op.Value.Kind != ValueInt && op.Value.Kind != ValueUint {
			t.Fatalf("op %v", op)
		}
		_ = op.String()
	}
	checkAllRoles(t, c)
}

func validActor(a string) bool {
	_, err := hex.DecodeString(a)
	return err == nil && len(a) <= 2*maxActorBytes
}

// checkAllRoles runs CheckChange for every role and kind: a candidate may
// never do more than the staff.
func checkAllRoles(t *testing.T, c *Change) {
	t.Helper()
	for _, kind := range []Kind{Shared, Private} {
		id := DocID("fuzz", kind)
		staff, cand := CheckChange(kind, id, RoleStaff, c), CheckChange(kind, id, RoleCandidate, c)
		for _, err := range []error{staff, cand} {
			var re *RuleError
			if err != nil && (!errors.As(err, &re) || re.Actor != c.Actor || re.What == "") {
				t.Fatalf("CheckChange: %v", err)
			}
		}
		if cand == nil && staff != nil {
			t.Fatalf("the candidate may make a change the staff may not: %v", staff)
		}
		if cand == nil && kind == Private && c.Actor != genesisActor(id) {
			t.Fatal("the candidate may write the private document")
		}
	}
}

func FuzzDecodeSyncMessage(f *testing.F) {
	f.Add(jsHex(f, "sync"))
	addCrashers(f, true)
	chunk := baseCraft().chunk()
	f.Add(slices.Concat([]byte{syncV1, 0, 0, 1, 0, 5, 1, 10, 7, 0, 0, 1}, uleb(nil, uint64(len(chunk))), chunk))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := fuzzDecoder()
		m, err := d.syncMessage(b)
		if err != nil {
			return
		}
		for _, h := range m.Have {
			bl := h.Bloom
			if bl.Entries > 0 && (bl.BitsPerEntry == 0 || bl.Probes == 0 || bl.Probes > maxBloomProbes || uint64(len(bl.Bits)) != (uint64(bl.Entries)*uint64(bl.BitsPerEntry)+7)/8) {
				t.Fatalf("Bloom filter %+v", bl)
			}
		}
		for _, c := range m.Changes {
			checkDecoded(t, c)
		}
	})
}

// FuzzCheckChange checks changes built from the fuzzer's bytes, six bytes
// an op, so that they name the genesis objects, the keys and the values
// the rules care about.
func FuzzCheckChange(f *testing.F) {
	f.Add(byte(2), []byte{5, 0, 1, 0, 0, 1, 5, 0, 3, 0, 0, 1})
	f.Add(byte(2), []byte{0, 0, 1, 0, 1, 0, 1, 6, 4, 0, 1, 0, 2, 6, 1, 0, 1, 0, 3, 0, 1, 0, 0, 0})
	f.Add(byte(0), []byte{0, 1, 0, 0, 1, 0})
	f.Add(byte(2), []byte{4, 0, 1, 0, 0, 0, 0, 5, 1, 0, 1, 0})
	f.Fuzz(func(t *testing.T, actor byte, b []byte) {
		c := fuzzChange(actor, b)
		checkAllRoles(t, c)
		// The candidate may edit texts other than the question, and only
		// that.
		if CheckChange(Shared, fuzzDocID, RoleCandidate, c) == nil {
			g := genesisActor(fuzzDocID)
			for _, op := range c.Ops {
				if op.Obj.Counter == 0 || op.Obj.Actor == g && op.Obj.Counter <= genesisQuestion || !isTextOp(&op) {
					t.Fatalf("the candidate may make %v", op)
				}
			}
		}
	})
}

func fuzzChange(actor byte, b []byte) *Change {
	g, pg := genesisActor(fuzzDocID), genesisActor(DocID("fuzz", Private))
	c := &Change{Actor: []string{g, pg}[min(int(actor), 1)], Seq: 1, StartOp: 10}
	if actor > 1 {
		c.Actor = "bad0"
	}
	objs := []OpID{{}, at(1, g), at(2, g), at(3, g), at(1, pg), at(4, "5aff"), at(4, g), at(3, pg)}
	elems := []OpID{{}, at(5, "5aff"), at(10, c.Actor)}
	keys := []string{"active", "files", "languages", "question", "notes", "recorder", "a.go", "a/b", ""}
	values := []Value{
		str("x"), {}, {Kind: ValueInt, Int: 1}, {Kind: ValueTrue}, {Kind: ValueBytes, Bytes: []byte{1}},
		str(strings.Repeat("x", maxLanguageLen+1)), {Kind: ValueCounter}, {Kind: ValueUnknown, Code: 12}, str("🙂"),
	}
	for i := 0; i+6 <= len(b) && len(c.Ops) < 64; i += 6 {
		op := Op{
			ID:     at(c.StartOp+uint64(len(c.Ops)), c.Actor),
			Obj:    objs[int(b[i])%len(objs)],
			Action: Action(b[i+2] % 10),
			Value:  values[int(b[i+3])%len(values)],
			MapKey: b[i+4]&1 != 0,
			Insert: b[i+4]&2 != 0,
		}
		if op.MapKey {
			op.Key = keys[int(b[i+1])%len(keys)]
		} else {
			op.Elem = elems[int(b[i+5])%len(elems)]
		}
		if b[i+4]&4 != 0 {
			op.Pred = []OpID{op.Elem}
		}
		c.Ops = append(c.Ops, op)
	}
	return c
}
