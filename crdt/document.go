package crdt

import (
	"bytes"
	"fmt"
)

// maxDocActors bounds the actors a saved document's header may list: a
// session has a handful of participants, each with an actor per run and per
// page.
const maxDocActors = 1 << 16

// DocumentHeads reads the heads a saved document (Doc.Save) names in its
// header, which lists its actors, then its heads, before its columns: a few
// hundred bytes read, where loading the document takes seconds for a long
// history. Nothing is checked beyond the header: the heads say what the
// document claims to hold, to decide whether it is worth loading.
func DocumentHeads(b []byte) ([]ChangeHash, error) {
	if len(b) < 9 {
		return nil, fmt.Errorf("%d bytes, too short for a chunk header", len(b))
	}
	if !bytes.Equal(b[:4], chunkMagic[:]) {
		return nil, fmt.Errorf("not an Automerge chunk (it starts %x, not %x)", b[:4], chunkMagic)
	}
	if b[8] != chunkDocument {
		return nil, fmt.Errorf("chunk type %d, not a saved document (%d)", b[8], chunkDocument)
	}
	r := reader{b: b, off: 9}
	n, err := r.uint()
	if err != nil {
		return nil, fmt.Errorf("chunk length: %w", err)
	}
	body, err := r.bytes(n)
	if err != nil {
		return nil, fmt.Errorf("chunk body: %w", err)
	}
	r = reader{b: body}
	actors, err := r.uint()
	if err != nil {
		return nil, fmt.Errorf("actors: %w", err)
	}
	if actors > maxDocActors {
		return nil, fmt.Errorf("%d actors, over the limit of %d", actors, maxDocActors)
	}
	for i := range actors {
		if _, err := readActor(&r); err != nil {
			return nil, fmt.Errorf("actor %d: %w", i, err)
		}
	}
	nh, err := r.uint()
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	if nh > uint64(r.left()/len(ChangeHash{})) {
		return nil, fmt.Errorf("%d heads in %d bytes", nh, r.left())
	}
	heads := make([]ChangeHash, nh)
	for i := range heads {
		h, _ := r.bytes(uint64(len(heads[i])))
		copy(heads[i][:], h)
	}
	return heads, nil
}
