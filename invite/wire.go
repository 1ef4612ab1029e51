package invite

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Every token is base64url (no padding) of
//
//	version byte | kind byte | fields | ed25519 signature (64 bytes)
//
// where fields are protobuf-style (tag, wire type, value) records written
// with protowire, in ascending field order. The signature covers
// "parley/" + kind + NUL + everything before it, so a token of one kind can
// never be passed off as another. Decoding is strict: unknown fields,
// duplicated scalars, wrong wire types, over-long strings and trailing bytes
// are all refused.

const (
	version1 = 1

	kindInvite      = 'I'
	kindCredential  = 'C'
	kindRevocations = 'R'

	sigSize = 64
)

// maxString bounds every string field; names, titles and URLs are far shorter.
const maxString = 512

func signedMessage(kind byte, body []byte) []byte {
	msg := make([]byte, 0, 10+len(body))
	msg = append(msg, "parley/"...)
	msg = append(msg, kind, 0)
	return append(msg, body...)
}

// encoder appends fields in the order they are written.
type encoder struct{ b []byte }

func (e *encoder) uint(num protowire.Number, v uint64) {
	if v == 0 {
		return
	}
	e.b = protowire.AppendTag(e.b, num, protowire.VarintType)
	e.b = protowire.AppendVarint(e.b, v)
}

func (e *encoder) int(num protowire.Number, v int64) {
	if v == 0 {
		return
	}
	e.b = protowire.AppendTag(e.b, num, protowire.VarintType)
	e.b = protowire.AppendVarint(e.b, protowire.EncodeZigZag(v))
}

func (e *encoder) bytes(num protowire.Number, v []byte) {
	if len(v) == 0 {
		return
	}
	e.b = protowire.AppendTag(e.b, num, protowire.BytesType)
	e.b = protowire.AppendBytes(e.b, v)
}

func (e *encoder) string(num protowire.Number, v string) { e.bytes(num, []byte(v)) }

// field is one decoded record.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

// decodeFields splits b into records, checking that numbers ascend (repeated
// fields may repeat their number) and that every number is one of known.
// repeated lists the numbers allowed more than once.
func decodeFields(b []byte, known map[protowire.Number]protowire.Type, repeated map[protowire.Number]bool) ([]field, error) {
	var out []field
	var last protowire.Number
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		want, ok := known[num]
		if !ok {
			return nil, fmt.Errorf("unknown field %d", num)
		}
		if typ != want {
			return nil, fmt.Errorf("field %d has wire type %d, want %d", num, typ, want)
		}
		if num < last || (num == last && !repeated[num]) {
			return nil, fmt.Errorf("field %d out of order or repeated", num)
		}
		last = num
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		}
		if n < 0 {
			return nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		out = append(out, f)
	}
	return out, nil
}

// str returns f's bytes as a string after checking length and UTF-8.
func (f field) str(name string) (string, error) {
	if len(f.b) > maxString {
		return "", fmt.Errorf("%s is %d bytes, over the limit of %d", name, len(f.b), maxString)
	}
	if !utf8.Valid(f.b) {
		return "", fmt.Errorf("%s is not valid UTF-8", name)
	}
	return string(f.b), nil
}

func (f field) int() int64 { return protowire.DecodeZigZag(f.u) }

// decodeToken undoes the base64 layer and splits off header and signature,
// checking the size bound, version and kind. It does not verify the signature.
func decodeToken(s string, kind byte, maxLen int, what string) (body, sig []byte, err error) {
	if len(s) > maxLen {
		return nil, nil, checkErr(ErrMalformed, "%s is %d characters long, over the limit of %d; was something pasted twice?", what, len(s), maxLen)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, nil, damaged(what, "not base64url: %v", err)
	}
	if len(raw) < 2+sigSize {
		return nil, nil, damaged(what, "%d bytes, too short", len(raw))
	}
	if raw[0] != version1 {
		return nil, nil, checkErr(ErrUnsupportedVersion, "%s has format version %d, this Parley understands version %d; update Parley or ask for a new one", what, raw[0], version1)
	}
	if raw[1] != kind {
		return nil, nil, checkErr(ErrMalformed, "this is not %s (it is a %s)", article(what), kindName(raw[1]))
	}
	n := len(raw) - sigSize
	return raw[:n], raw[n:], nil
}

// damaged is the error for a token that does not decode, which almost
// always means it was copied in part or changed on the way: it says what to
// do, and ends with the decoder's words for a bug report.
func damaged(what, format string, args ...any) error {
	advice := "copy the whole of it, from its first character to its last, and try again"
	switch what {
	case "interview link":
		advice = "copy the whole link, from its first character to its last, and paste it again; if that fails too, ask the company to send the link again"
	case "team credential":
		advice = "copy the whole token your admin sent, from its first character to its last, and run `parley team accept TOKEN` again; if that fails too, ask them to issue it again"
	}
	return checkErr(ErrMalformed, "%s is damaged (cut short or changed while being copied): %s (for a bug report: %s)", what, advice, fmt.Sprintf(format, args...))
}

func encodeToken(header []byte, sig []byte) string {
	return base64.RawURLEncoding.EncodeToString(append(header[:len(header):len(header)], sig...))
}

func kindName(k byte) string {
	switch k {
	case kindInvite:
		return "interview link"
	case kindCredential:
		return "team credential"
	case kindRevocations:
		return "revocation list"
	}
	return "token of unknown kind"
}

func article(what string) string {
	switch what[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + what
	}
	return "a " + what
}
