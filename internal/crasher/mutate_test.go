package crasher

import (
	"bytes"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
)

// Run-length encoded columns decode and encode again to the same bytes,
// and so do deflated ones once inflated; a document whose columns were
// deflated again by this package loads, with the same content.
func TestColumnsRoundTrip(t *testing.T) {
	v := makeValid(t)
	rles := 0
	for _, b := range append([][]byte{v.saved}, v.changes...) {
		cs, _ := splitChunks(b)
		for _, c := range cs {
			bd, err := parseBody(c)
			if err != nil {
				t.Fatal(err)
			}
			for g := range bd.groups {
				for i := range bd.groups[g] {
					col := &bd.groups[g][i]
					data := col.data
					if col.spec&8 != 0 {
						data, _ = inflate(data)
						col.data = deflate(data)
					}
					typ := col.spec & 7
					if typ > 3 && typ != 6 || len(data) == 0 {
						continue
					}
					runs, ok := decodeRLE(data, typ == 3)
					if !ok {
						t.Fatalf("column %#x: %x does not decode", col.spec, data)
					}
					if again := encodeRLE(runs, typ == 3); !bytes.Equal(again, data) {
						t.Fatalf("column %#x: %x encodes again as %x", col.spec, data, again)
					}
					rles++
				}
			}
			if c.typ == chunkDocument {
				doc, err := automerge.Load(chunk{c.typ, bd.encode()}.encode())
				if err != nil {
					t.Fatalf("the document deflated again: %v", err)
				}
				orig, _ := automerge.Load(v.saved)
				if got, want := text(t, doc), text(t, orig); got != want {
					t.Fatalf("the document deflated again holds %q, want %q", got, want)
				}
			}
		}
	}
	if rles < 20 {
		t.Fatalf("only %d run-length encoded columns", rles)
	}
}

func text(t *testing.T, d *automerge.Doc) string {
	t.Helper()
	s, err := d.Path("files", "notes.txt").Text().Get()
	if err != nil {
		t.Fatal(err)
	}
	q, _ := d.Path("question").Text().Get()
	return q + s
}

// Mutants keep their framing and checksums, differ from what they came
// from and from one another, change all kinds of things, and are the same
// for the same seed.
func TestMutants(t *testing.T) {
	v := makeValid(t)
	run := func(seed uint64) (out [][]byte, whats []string) {
		m := NewMutator(seed)
		for i := range 600 {
			var b []byte
			var what string
			switch i % 3 {
			case 0:
				b, what = m.Chunks(v.changes[i%len(v.changes)])
			case 1:
				b, what = m.Chunks(v.saved)
			default:
				b, what = m.SyncMessage(v.syncs[i%len(v.syncs)])
			}
			out = append(out, b)
			whats = append(whats, what)
		}
		return out, whats
	}
	out, whats := run(1)
	distinct := map[string]bool{}
	for i, b := range out {
		distinct[string(b)] = true
		if i%3 == 2 {
			s, err := parseSync(b)
			if err != nil {
				t.Fatalf("%s: %x does not parse", whats[i], b)
			}
			for _, c := range s.changes {
				if !checksumOK(c) {
					t.Fatalf("%s: a change with a wrong checksum", whats[i])
				}
			}
			continue
		}
		cs, err := splitChunks(b)
		if err != nil {
			t.Fatalf("%s: %v", whats[i], err)
		}
		for _, c := range cs {
			if !checksumOK(c.encode()) || !bytes.Contains(b, c.encode()) {
				t.Fatalf("%s: a chunk with a wrong checksum", whats[i])
			}
		}
	}
	if len(distinct) < 500 {
		t.Errorf("%d distinct mutants of 600", len(distinct))
	}
	all := strings.Join(whats, "\n")
	for _, kind := range []string{"run ", "value", "seq", "startOp", "actors", "type", "deflate", "bloom entries", "bloom probes", "bloom bits", "need", "change 0: change"} {
		if !strings.Contains(all, kind) {
			t.Errorf("no mutant changes %q", kind)
		}
	}
	again, _ := run(1)
	other, _ := run(2)
	same := 0
	for i := range out {
		if !bytes.Equal(out[i], again[i]) {
			t.Fatalf("seed 1 made mutant %d differently the second time", i)
		}
		if bytes.Equal(out[i], other[i]) {
			same++
		}
	}
	if same > 60 {
		t.Errorf("seeds 1 and 2 made %d mutants of 600 alike", same)
	}
	if testing.Verbose() {
		for _, w := range whats[:12] {
			t.Log(w)
		}
	}
}
