package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/invite"
)

// Control records change a session for everyone: who holds the candidate
// seat, that the interview started, that it ended. An interviewer's node
// signs a record with its node key and attaches its team credential; the
// company node signs with the company key. Either way a record verifies on
// its own against the link, wherever it travels: on the topic, in an
// admission handshake, or from a store.

// Record kinds.
const (
	recordSeat  = "seat"
	recordStart = "start"
	recordEnd   = "end"
	recordRun   = "run" // running code on or off (see run.go)
)

// maxRecord bounds a record's body.
const maxRecord = 4 << 10

// record is the signed content of a control record.
type record struct {
	Kind    string `json:"kind"`
	Session string `json:"session"`
	Seq     uint64 `json:"seq,omitempty"`  // seat: version; the highest wins
	Peer    string `json:"peer,omitempty"` // seat: the candidate's peer ID; empty when released
	// Released is, in a release, the candidate node turned away: it may not
	// take the seat again until another release.
	Released string    `json:"released,omitempty"`
	Reason   string    `json:"reason,omitempty"` // end: why
	By       string    `json:"by"`               // the author's peer ID
	ByName   string    `json:"by_name"`          // the author's name, for people
	At       time.Time `json:"at"`
	// Off is, in a run record, that running code is switched off for the
	// session (absent: on).
	Off bool `json:"off,omitempty"`
	// Heads are, in an end, the heads of the documents on the author's node
	// when it ended the session, by document ("shared", "private"): the
	// final documents are what those heads reach, on every node, whatever
	// arrives after.
	Heads map[string][]string `json:"heads,omitempty"`
}

// maxEndHeads bounds the heads an end names per document.
const maxEndHeads = 64

// signedRecord is a record as it travels.
type signedRecord struct {
	Body       []byte `json:"body"`
	Sig        []byte `json:"sig"`
	Credential string `json:"credential,omitempty"` // the author's; absent when the company key signed
}

func recordMessage(body []byte) []byte {
	return append([]byte("parley/1 record\x00"), body...)
}

// signRecord signs r as the company (companyKey set) or as an interviewer
// (nodeKey and credential).
func signRecord(r record, companyKey ed25519.PrivateKey, nodeKey crypto.PrivKey, credential string) (signedRecord, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return signedRecord{}, err
	}
	if companyKey != nil {
		return signedRecord{Body: body, Sig: ed25519.Sign(companyKey, recordMessage(body))}, nil
	}
	sig, err := nodeKey.Sign(recordMessage(body))
	if err != nil {
		return signedRecord{}, err
	}
	return signedRecord{Body: body, Sig: sig, Credential: credential}, nil
}

// verifyRecord checks a signed record against the session's link and returns
// its content. An interviewer's record needs a credential valid now, when
// this node judges it, not only at the time the record claims: a credential
// that expired or was revoked signs nothing that counts, however it dates
// its record. A record is dated no earlier than the link's validity and no
// later than now (both within the clock skew). revoked reports revoked
// credentials.
func verifyRecord(sr signedRecord, inv *invite.Invite, revoked func(invite.CredentialID) bool, now time.Time) (record, error) {
	return checkRecord(sr, inv, revoked, now, false)
}

// verifyStoredRecord checks a record this node accepted before, from its
// own store: its credential is judged at the record's own time, since it
// was judged when it arrived.
func verifyStoredRecord(sr signedRecord, inv *invite.Invite, now time.Time) (record, error) {
	return checkRecord(sr, inv, inv.IsRevoked, now, true)
}

func checkRecord(sr signedRecord, inv *invite.Invite, revoked func(invite.CredentialID) bool, now time.Time, stored bool) (record, error) {
	var r record
	if len(sr.Body) > maxRecord {
		return r, fmt.Errorf("record of %d bytes is over the limit of %d", len(sr.Body), maxRecord)
	}
	if err := decodeStrict(sr.Body, &r); err != nil {
		return r, err
	}
	switch {
	case r.Session != inv.SessionID:
		return r, fmt.Errorf("record is for session %q, not %q", r.Session, inv.SessionID)
	case r.Kind != recordSeat && r.Kind != recordStart && r.Kind != recordEnd && r.Kind != recordRun:
		return r, fmt.Errorf("unknown record kind %q", r.Kind)
	case r.At.After(now.Add(invite.ClockSkew)):
		return r, fmt.Errorf("record is dated %s, in the future", r.At)
	case r.At.Before(inv.ValidFrom.Add(-invite.ClockSkew)):
		return r, fmt.Errorf("record is dated %s, before the interview's link existed (%s)", invite.FormatTime(r.At), invite.FormatTime(inv.ValidFrom))
	case len(r.ByName) > 200 || len(r.Reason) > 200:
		return r, fmt.Errorf("record fields too long")
	case r.Heads != nil && r.Kind != recordEnd:
		return r, fmt.Errorf("only an end names document heads")
	case r.Off && r.Kind != recordRun:
		return r, fmt.Errorf("only a run record switches running code off")
	}
	for doc, hs := range r.Heads {
		if doc != "shared" && doc != "private" || len(hs) > maxEndHeads {
			return r, fmt.Errorf("end names %d heads of document %q", len(hs), doc)
		}
		for _, h := range hs {
			if len(h) != 64 {
				return r, fmt.Errorf("end names a bad head %q", h)
			}
		}
	}
	for _, p := range []string{r.Peer, r.Released} {
		if p == "" {
			continue
		}
		if _, err := peer.Decode(p); err != nil {
			return r, fmt.Errorf("seat record names a bad peer: %v", err)
		}
	}
	if sr.Credential == "" {
		if !ed25519.Verify(inv.CompanyKey, recordMessage(sr.Body), sr.Sig) {
			return r, fmt.Errorf("record has a bad company signature")
		}
		return r, nil
	}
	by, err := peer.Decode(r.By)
	if err != nil {
		return r, fmt.Errorf("record author: %v", err)
	}
	c, err := invite.ParseCredential(sr.Credential)
	if err != nil {
		return r, err
	}
	at := now
	if stored {
		at = r.At
	}
	check := invite.CredentialCheck{Company: inv.CompanyKey, Peer: by, Now: at, Revoked: revoked}
	if err := c.Check(check); err != nil {
		return r, fmt.Errorf("record author is not an interviewer: %w", err)
	}
	if !inv.Names(c.ID) {
		return r, fmt.Errorf("record author %s is not one of the interviewers this interview names", c.Name)
	}
	pub, err := by.ExtractPublicKey()
	if err != nil {
		return r, fmt.Errorf("record author: %v", err)
	}
	if ok, err := pub.Verify(recordMessage(sr.Body), sr.Sig); err != nil || !ok {
		return r, fmt.Errorf("record has a bad signature")
	}
	return r, nil
}

// controlState is what a session's records say, merged.
type controlState struct {
	seat, start, end *verifiedRecord
	run              *verifiedRecord // running code on or off: the latest
}

type verifiedRecord struct {
	record
	signed signedRecord
}

// merge folds in a verified record and reports whether anything changed.
// Seat: the highest Seq wins (ties: the later, then the greater author).
// Start and end: the earliest wins; an end is final. Run (running code on
// or off): the latest wins (ties: the greater author).
func (s *controlState) merge(v *verifiedRecord) bool {
	switch v.Kind {
	case recordSeat:
		if s.seat == nil || seatBefore(s.seat.record, v.record) {
			s.seat = v
			return true
		}
	case recordStart:
		if s.start == nil || v.At.Before(s.start.At) {
			s.start = v
			return true
		}
	case recordEnd:
		if s.end == nil || v.At.Before(s.end.At) {
			s.end = v
			return true
		}
	case recordRun:
		if s.run == nil || s.run.At.Before(v.At) || s.run.At.Equal(v.At) && s.run.By < v.By {
			s.run = v
			return true
		}
	}
	return false
}

func seatBefore(a, b record) bool {
	if a.Seq != b.Seq {
		return a.Seq < b.Seq
	}
	if !a.At.Equal(b.At) {
		return a.At.Before(b.At)
	}
	return a.By < b.By
}

// holds reports whether s holds exactly this signed record.
func (s *controlState) holds(sr signedRecord) bool {
	for _, v := range []*verifiedRecord{s.seat, s.start, s.end, s.run} {
		if v != nil && bytes.Equal(v.signed.Body, sr.Body) && bytes.Equal(v.signed.Sig, sr.Sig) {
			return true
		}
	}
	return false
}

// records returns the signed records of s.
func (s *controlState) records() []signedRecord {
	var out []signedRecord
	for _, v := range []*verifiedRecord{s.seat, s.start, s.end, s.run} {
		if v != nil {
			out = append(out, v.signed)
		}
	}
	return out
}

// seatHolder returns the candidate holding the seat, if any.
func (s *controlState) seatHolder() peer.ID {
	if s.seat == nil || s.seat.Peer == "" {
		return ""
	}
	id, _ := peer.Decode(s.seat.Peer)
	return id
}

func (s *controlState) seatSeq() uint64 {
	if s.seat == nil {
		return 0
	}
	return s.seat.Seq
}
