package invite

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// MaxRevocationsLen bounds a revocation list token, in characters.
const MaxRevocationsLen = 256 << 10

// Revocations is the company's signed list of revoked credentials.
//
// Removing a member revokes their credential in two ways. Every link the
// company creates afterwards carries the revoked IDs (Invite.Revoked), so a
// session needs nobody online to refuse them. For links created earlier, the
// company node hands its latest list to the peers of a session; Seq orders
// lists so that an older one never replaces a newer one. An entry is kept
// until the credential would have expired anyway, so the list stays short.
type Revocations struct {
	CompanyKey ed25519.PublicKey
	Seq        uint64
	Issued     time.Time
	Entries    []Revoked
}

// Revoked is one revoked credential.
type Revoked struct {
	ID      CredentialID
	Expires time.Time // when the credential expires; the entry may go after
}

const (
	fRevCompanyKey protowire.Number = iota + 1
	fRevSeq
	fRevIssued
	fRevEntry
)

const (
	fEntryID protowire.Number = iota + 1
	fEntryExpires
)

var revocationFields = map[protowire.Number]protowire.Type{
	fRevCompanyKey: protowire.BytesType, fRevSeq: protowire.VarintType,
	fRevIssued: protowire.VarintType, fRevEntry: protowire.BytesType,
}

var entryFields = map[protowire.Number]protowire.Type{
	fEntryID: protowire.BytesType, fEntryExpires: protowire.VarintType,
}

// Contains reports whether id is revoked by r.
func (r *Revocations) Contains(id CredentialID) bool {
	for _, e := range r.Entries {
		if e.ID == id {
			return true
		}
	}
	return false
}

// Sign returns r's token signed with key.
func (r *Revocations) Sign(key ed25519.PrivateKey) (string, error) {
	if !key.Public().(ed25519.PublicKey).Equal(r.CompanyKey) {
		return "", fmt.Errorf("revocations: sign: key does not match CompanyKey")
	}
	e := encoder{b: []byte{version1, kindRevocations}}
	e.bytes(fRevCompanyKey, r.CompanyKey)
	e.uint(fRevSeq, r.Seq)
	e.int(fRevIssued, r.Issued.Unix())
	for _, ent := range r.Entries {
		sub := encoder{}
		sub.bytes(fEntryID, ent.ID[:])
		sub.int(fEntryExpires, ent.Expires.Unix())
		e.bytes(fRevEntry, sub.b)
	}
	tok := encodeToken(e.b, ed25519.Sign(key, signedMessage(kindRevocations, e.b)))
	if len(tok) > MaxRevocationsLen {
		return "", fmt.Errorf("revocations: sign: %d entries do not fit in %d characters", len(r.Entries), MaxRevocationsLen)
	}
	return tok, nil
}

// ParseRevocations decodes a revocation list and verifies that want signed
// it.
func ParseRevocations(token string, want ed25519.PublicKey) (*Revocations, error) {
	body, sig, err := decodeToken(trimToken(token), kindRevocations, MaxRevocationsLen, "revocation list")
	if err != nil {
		return nil, err
	}
	r, err := decodeRevocations(body[2:])
	if err != nil {
		return nil, damaged("revocation list", "%v", err)
	}
	if !r.CompanyKey.Equal(want) {
		return nil, checkErr(ErrWrongIssuer, "revocation list was issued by key %s, not by this company (key %s)", Fingerprint(r.CompanyKey), Fingerprint(want))
	}
	if !ed25519.Verify(r.CompanyKey, signedMessage(kindRevocations, body), sig) {
		return nil, checkErr(ErrBadSignature, "revocation list has a bad signature")
	}
	return r, nil
}

func decodeRevocations(b []byte) (*Revocations, error) {
	fields, err := decodeFields(b, revocationFields, map[protowire.Number]bool{fRevEntry: true})
	if err != nil {
		return nil, err
	}
	r := &Revocations{}
	for _, f := range fields {
		switch f.num {
		case fRevCompanyKey:
			if len(f.b) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("company key is %d bytes", len(f.b))
			}
			r.CompanyKey = ed25519.PublicKey(f.b)
		case fRevSeq:
			r.Seq = f.u
		case fRevIssued:
			if r.Issued, err = unixTime(f.int()); err != nil {
				return nil, err
			}
		case fRevEntry:
			ent, err := decodeEntry(f.b)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", len(r.Entries)+1, err)
			}
			r.Entries = append(r.Entries, ent)
		}
	}
	if r.CompanyKey == nil {
		return nil, fmt.Errorf("no company key")
	}
	return r, nil
}

func decodeEntry(b []byte) (Revoked, error) {
	var ent Revoked
	fields, err := decodeFields(b, entryFields, nil)
	if err != nil {
		return ent, err
	}
	var idSeen bool
	for _, f := range fields {
		switch f.num {
		case fEntryID:
			if len(f.b) != len(ent.ID) {
				return ent, fmt.Errorf("id is %d bytes", len(f.b))
			}
			copy(ent.ID[:], f.b)
			idSeen = true
		case fEntryExpires:
			if ent.Expires, err = unixTime(f.int()); err != nil {
				return ent, err
			}
		}
	}
	if !idSeen {
		return ent, fmt.Errorf("no id")
	}
	return ent, nil
}
