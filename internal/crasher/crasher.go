// Package crasher holds inputs crafted to abort the Rust core of
// automerge-go, and makes new ones, for the tests that check that such an
// abort stays inside a worker process and is blamed on whoever sent the
// bytes.
//
// The committed inputs are in testdata/ (what each hits, their source and
// licence in testdata/README.md), built into the package so that a test
// reads them wherever it runs. A Mutator makes more from valid Automerge
// data, as the fuzzer that found them did.
//
// Nothing here parses the bytes with Automerge: an input that aborts it
// would abort the test process too. Hand them to a worker.
package crasher

import (
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

//go:embed testdata/*.hex testdata/*.desc
var files embed.FS

// Input is one crafted input.
type Input struct {
	// Name is its file's name without .hex; its prefix names the entry point
	// it was found through (testdata/README.md).
	Name  string
	Bytes []byte
	// Desc says where it was found to abort, if its .desc says.
	Desc string
}

// All returns the committed inputs, in name order.
func All() ([]Input, error) {
	names, err := fs.Glob(files, "testdata/*.hex")
	if err != nil {
		return nil, err
	}
	var out []Input
	for _, name := range names { // fs.Glob sorts
		raw, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("crasher: %s: %w", name, err)
		}
		in := Input{Name: strings.TrimSuffix(path.Base(name), ".hex"), Bytes: b}
		if desc, err := files.ReadFile(strings.TrimSuffix(name, ".hex") + ".desc"); err == nil {
			in.Desc = strings.TrimSpace(string(desc))
		}
		out = append(out, in)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("crasher: no inputs in testdata")
	}
	return out, nil
}
