package crasher

// Relabel returns crafted input b with the author of each change it holds
// replaced by actor, each change's length and checksum made to match: b
// is changes (chunks one after another; a compressed one comes out
// uncompressed) or a sync message (its changes are relabelled). ok is
// false when b is neither, or holds no change.
//
// A node takes a change from its own page only under its own actor (the
// page's actors start with it), and from the candidate's node only the
// candidate's own: relabelled, the committed inputs reach the worker that
// way too.
func Relabel(b, actor []byte) (out []byte, ok bool) {
	if cs, err := splitChunks(b); err == nil {
		for _, c := range cs {
			rc, ok := relabel(c, actor)
			if !ok {
				return nil, false
			}
			out = append(out, rc.encode()...)
		}
		return out, true
	}
	m, err := parseSync(b)
	if err != nil || len(m.changes) == 0 {
		return nil, false
	}
	for i, c := range m.changes {
		cs, err := splitChunks(c)
		if err != nil || len(cs) != 1 {
			return nil, false
		}
		rc, ok := relabel(cs[0], actor)
		if !ok {
			return nil, false
		}
		m.changes[i] = rc.encode()
	}
	return m.encode(), true
}

// relabel replaces a change's author.
func relabel(c chunk, actor []byte) (chunk, bool) {
	if c.typ == chunkCompressed {
		b, err := inflate(c.body)
		if err != nil {
			return c, false
		}
		c = chunk{typ: chunkChange, body: b}
	}
	if c.typ != chunkChange {
		return c, false
	}
	// Only the start of the body is read (its dependencies, then the
	// author), so that a body that does not parse beyond is relabelled too.
	r := &reader{b: c.body}
	n := r.count(32)
	r.bytes(32 * n)
	start := len(c.body) - len(r.b)
	r.bytes(r.uleb())
	if r.err != nil {
		return c, false
	}
	body := append([]byte{}, c.body[:start]...)
	body = appendUleb(body, uint64(len(actor)))
	body = append(body, actor...)
	return chunk{typ: chunkChange, body: append(body, r.b...)}, true
}

// SyncMessageWith returns a sync message (type 0x42, no heads, needs or
// haves) that carries changes (chunks one after another), each as one of
// its changes. ok is false when changes are not chunks.
func SyncMessageWith(changes []byte) ([]byte, bool) {
	cs, err := splitChunks(changes)
	if err != nil {
		return nil, false
	}
	m := &syncMessage{typ: 0x42}
	for _, c := range cs {
		m.changes = append(m.changes, c.encode())
	}
	return m.encode(), true
}
