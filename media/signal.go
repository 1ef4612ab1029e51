package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Signal is one message of the offer/answer exchange between two nodes
// over /parley/media/1: a length (uvarint) and JSON, strict and bounded.
// The answering side (the larger peer ID) that has no connection with the
// offering side sends a "request" (no SDP) for an offer: after it
// restarted, or when its connection failed.
type Signal struct {
	Type string `json:"type"` // "offer", "answer" or "request"
	SDP  string `json:"sdp,omitempty"`
}

// MaxSignal bounds a signal: an SDP with every candidate gathered is a few
// KiB.
const MaxSignal = 64 << 10

// WriteSignal writes one signal.
func WriteSignal(w io.Writer, s Signal) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if len(b) > MaxSignal {
		return fmt.Errorf("media: signal of %d bytes is over the limit of %d", len(b), MaxSignal)
	}
	_, err = w.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...))
	return err
}

// ReadSignal reads one signal, refusing oversized, malformed and unknown
// ones with a message that says what was wrong.
func ReadSignal(r *bufio.Reader) (Signal, error) {
	var s Signal
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return s, fmt.Errorf("media: signal length: %w", err)
	}
	if n == 0 || n > MaxSignal {
		return s, fmt.Errorf("media: signal of %d bytes is out of bounds (1 to %d)", n, MaxSignal)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return s, fmt.Errorf("media: signal: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("media: bad signal: %w", err)
	}
	switch s.Type {
	case "offer", "answer":
	case "request":
		if s.SDP != "" {
			return s, fmt.Errorf("media: a request for an offer holds no session description")
		}
		return s, nil
	default:
		return s, fmt.Errorf("media: unknown signal type %q", s.Type)
	}
	if !strings.HasPrefix(s.SDP, "v=0") {
		return s, fmt.Errorf("media: the %s holds no session description", s.Type)
	}
	return s, nil
}
