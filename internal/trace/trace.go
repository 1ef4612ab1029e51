// Package trace reads real keystroke-by-keystroke editing histories, for
// replay tests and benchmarks. The traces are in testdata/ (their source and
// licence in testdata/README.md), built into the package so that a test
// reads them wherever it runs.
package trace

import (
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
)

//go:embed testdata/*.json.gz
var files embed.FS

// Patch deletes Del code points at Pos, then inserts Ins there.
type Patch struct {
	Pos int
	Del int
	Ins string
}

func (p *Patch) UnmarshalJSON(b []byte) error {
	var raw [3]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[0], &p.Pos); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[1], &p.Del); err != nil {
		return err
	}
	return json.Unmarshal(raw[2], &p.Ins)
}

// Txn is one transaction: patches in descending position order, applied one
// after another.
type Txn struct {
	Patches []Patch `json:"patches"`
}

// Trace is a whole editing history.
type Trace struct {
	Name       string
	EndContent string `json:"endContent"`
	Txns       []Txn  `json:"txns"`
}

// Load reads a trace by name (rustcode, sveltecomponent, automerge-paper).
func Load(name string) (*Trace, error) {
	f, err := files.Open("testdata/" + name + ".json.gz")
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", name, err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", name, err)
	}
	t := &Trace{Name: name}
	if err := json.NewDecoder(z).Decode(t); err != nil {
		return nil, fmt.Errorf("trace %s: %w", name, err)
	}
	return t, nil
}

// Apply replays the first n transactions on a string, in code points.
func (t *Trace) Apply(n int) string {
	var text []rune
	for _, tx := range t.Txns[:n] {
		for _, p := range tx.Patches {
			text = slices.Replace(text, p.Pos, p.Pos+p.Del, []rune(p.Ins)...)
		}
	}
	return string(text)
}
