package node

import (
	"strings"
	"testing"
)

func TestDecodeLeftOut(t *testing.T) {
	h := strings.Repeat("ab", 32)
	if got, err := decodeLeftOut([]byte(`{"hashes":["` + h + `"]}`)); err != nil || len(got) != 1 || got[0] != h {
		t.Fatalf("a valid frame: %v %v", got, err)
	}
	many := `{"hashes":["` + strings.Repeat(h+`","`, maxLeftOut) + h + `"]}`
	for name, bad := range map[string]string{
		"no hashes":      `{"hashes":[]}`,
		"not a hash":     `{"hashes":["zz"]}`,
		"short hash":     `{"hashes":["abab"]}`,
		"unknown field":  `{"hashes":["` + h + `"],"x":1}`,
		"too many":       many,
		"not JSON":       `hashes`,
		"trailing bytes": `{"hashes":["` + h + `"]}{}`,
	} {
		if _, err := decodeLeftOut([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzLeftOut(f *testing.F) {
	f.Add([]byte(`{"hashes":["` + strings.Repeat("ab", 32) + `"]}`))
	f.Add([]byte(`{"hashes":[]}`))
	f.Add([]byte(`{"hashes":["00"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := decodeLeftOut(data)
		if err != nil {
			return
		}
		if len(hs) == 0 || len(hs) > maxLeftOut {
			t.Fatalf("accepted %d hashes", len(hs))
		}
		for _, h := range hs {
			if len(h) != 64 {
				t.Fatalf("accepted hash %q", h)
			}
		}
	})
}
