package node

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Stream messages are JSON objects, each preceded by its length as a uvarint.
// Every read is bounded, and decoding is strict: unknown fields, trailing
// data and oversized frames are refused.

// maxFrame bounds one stream message.
const maxFrame = 256 << 10

// writeFrame writes v as one length-prefixed JSON message.
func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(body) > maxFrame {
		return fmt.Errorf("message of %d bytes is over the limit of %d", len(body), maxFrame)
	}
	buf := binary.AppendUvarint(make([]byte, 0, len(body)+binary.MaxVarintLen32), uint64(len(body)))
	_, err = w.Write(append(buf, body...))
	return err
}

// readFrame reads one length-prefixed JSON message of at most limit bytes
// into v.
func readFrame(r *bufio.Reader, limit int, v any) error {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return fmt.Errorf("bad frame length: %w", err)
	}
	if n > uint64(limit) {
		return fmt.Errorf("message of %d bytes is over the limit of %d", n, limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return fmt.Errorf("short message: %w", err)
	}
	return decodeStrict(body, v)
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad message: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("bad message: trailing data")
	}
	return nil
}
