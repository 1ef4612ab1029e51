package node

import (
	"bufio"
	"bytes"
	"testing"

	"parley/crdt"
)

func TestDocFrames(t *testing.T) {
	var buf bytes.Buffer
	frames := []docFrame{{frameChange, crdt.Shared, []byte("change")}, {frameSync, crdt.Private, []byte{1, 2, 3}}, {frameNeed, crdt.Shared, []byte{0}}}
	for _, f := range frames {
		if err := writeDocFrame(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&buf)
	for _, want := range frames {
		got, err := readDocFrame(r)
		if err != nil || got.typ != want.typ || got.kind != want.kind || !bytes.Equal(got.data, want.data) {
			t.Fatalf("read %+v, %v; want %+v", got, err, want)
		}
	}
	// A newer node's frame type is skipped, whole: the next frame reads.
	skip := bufio.NewReader(bytes.NewReader([]byte{frameLast + 3, 0, 2, 7, 7, frameNeed, 1, 1, 0}))
	if got, err := readDocFrame(skip); err != nil || got.typ != frameLast+3 || got.data != nil {
		t.Fatalf("a newer type: %+v, %v", got, err)
	}
	if got, err := readDocFrame(skip); err != nil || got.typ != frameNeed || got.kind != crdt.Private {
		t.Fatalf("the frame after a newer type: %+v, %v", got, err)
	}
	for name, bad := range map[string][]byte{
		"type 0":           {0, 0, 1, 0},
		"truncated skip":   {frameLast + 1, 0, 5, 1, 2},
		"unknown document": {1, 7, 1, 0},
		"empty":            {1, 0, 0},
		"oversized":        {1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"truncated":        {1, 0, 5, 1, 2},
	} {
		if _, err := readDocFrame(bufio.NewReader(bytes.NewReader(bad))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDocFrame(f *testing.F) {
	var seed bytes.Buffer
	writeDocFrame(&seed, docFrame{frameSync, crdt.Private, []byte{0x42, 0, 1}})
	f.Add(seed.Bytes())
	f.Add([]byte{1, 0, 1, 0})
	f.Add([]byte{4, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			fr, err := readDocFrame(r)
			if err != nil {
				return
			}
			switch {
			case fr.typ > frameLast: // a newer node's, skipped
				if fr.data != nil {
					t.Fatalf("kept a skipped frame's bytes: %+v", fr)
				}
			case fr.typ < frameChange || len(fr.data) == 0 || len(fr.data) > maxDocFrame ||
				(fr.typ == frameRecords || fr.typ == frameLeftOut) && len(fr.data) > maxRecordsFrame:
				t.Fatalf("accepted %+v", fr)
			}
		}
	})
}
