// Package trace reads the editing traces of ../shared/data/traces: real
// keystroke-by-keystroke histories, for replay tests and benchmarks.
package trace

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

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

// Dir returns the traces' directory: ../shared/data/traces from the
// project's root.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data", "traces")
}

// Load reads a trace by name (rustcode, sveltecomponent, automerge-paper).
func Load(name string) (*Trace, error) {
	f, err := os.Open(filepath.Join(Dir(), name+".json.gz"))
	if err != nil {
		return nil, err
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
	text := []rune{}
	for _, tx := range t.Txns[:n] {
		for _, p := range tx.Patches {
			tail := append([]rune(p.Ins), text[p.Pos+p.Del:]...)
			text = append(text[:p.Pos], tail...)
		}
	}
	return string(text)
}
