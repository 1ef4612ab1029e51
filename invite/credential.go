package invite

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

// MaxCredentialLen bounds a credential token, in characters.
const MaxCredentialLen = 2048

// Role is what a team member may do.
type Role string

// Roles. Both take part in interviews as interviewers; an admin may also
// manage sessions.
const (
	RoleInterviewer Role = "interviewer"
	RoleAdmin       Role = "admin"
)

var roleCodes = map[Role]uint64{RoleInterviewer: 1, RoleAdmin: 2}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if _, ok := roleCodes[r]; !ok {
		return "", fmt.Errorf("unknown role %q: want interviewer or admin", s)
	}
	return r, nil
}

// CredentialID names one issued credential, for revocation.
type CredentialID [8]byte

// NewCredentialID returns a random ID.
func NewCredentialID() CredentialID {
	var id CredentialID
	rand.Read(id[:])
	return id
}

func (id CredentialID) String() string { return hex.EncodeToString(id[:]) }

// ParseCredentialID parses the String form of an ID.
func ParseCredentialID(s string) (CredentialID, error) {
	var id CredentialID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("credential id %q is not 16 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// MarshalText implements encoding.TextMarshaler.
func (id CredentialID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *CredentialID) UnmarshalText(b []byte) error {
	v, err := ParseCredentialID(string(b))
	*id = v
	return err
}

// Credential is a team membership: the company key vouches that the node
// with peer ID Peer belongs to Name <Email> with Role, until Expires.
type Credential struct {
	ID         CredentialID
	CompanyKey ed25519.PublicKey
	Org        string
	Peer       peer.ID
	Name       string
	Email      string
	Role       Role
	Issued     time.Time
	Expires    time.Time
}

const (
	fCredCompanyKey protowire.Number = iota + 1
	fCredOrg
	fCredID
	fCredPeer
	fCredName
	fCredEmail
	fCredRole
	fCredIssued
	fCredExpires
)

var credentialFields = map[protowire.Number]protowire.Type{
	fCredCompanyKey: protowire.BytesType, fCredOrg: protowire.BytesType, fCredID: protowire.BytesType,
	fCredPeer: protowire.BytesType, fCredName: protowire.BytesType, fCredEmail: protowire.BytesType,
	fCredRole: protowire.VarintType, fCredIssued: protowire.VarintType, fCredExpires: protowire.VarintType,
}

// CheckEmail reports whether s is a plain email address.
func CheckEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return fmt.Errorf("%q is not an email address", s)
	}
	return nil
}

func (c *Credential) validate() error {
	switch {
	case len(c.CompanyKey) != ed25519.PublicKeySize:
		return fmt.Errorf("company key is %d bytes, want %d", len(c.CompanyKey), ed25519.PublicKeySize)
	case c.Org == "":
		return fmt.Errorf("no organisation name")
	case c.Name == "":
		return fmt.Errorf("no name")
	case c.Peer == "":
		return fmt.Errorf("no peer ID")
	case !c.Expires.After(c.Issued):
		return fmt.Errorf("expires (%v) is not after issued (%v)", c.Expires, c.Issued)
	}
	if err := c.Peer.Validate(); err != nil {
		return fmt.Errorf("peer ID: %w", err)
	}
	if _, ok := roleCodes[c.Role]; !ok {
		return fmt.Errorf("unknown role %q", c.Role)
	}
	for name, s := range map[string]string{"organisation": c.Org, "name": c.Name, "email": c.Email} {
		if len(s) > maxString {
			return fmt.Errorf("%s is %d bytes, over the limit of %d", name, len(s), maxString)
		}
	}
	return CheckEmail(c.Email)
}

// Sign returns c's token signed with key, whose public half must be
// c.CompanyKey.
func (c *Credential) Sign(key ed25519.PrivateKey) (string, error) {
	if err := c.validate(); err != nil {
		return "", fmt.Errorf("credential: sign: %w", err)
	}
	if !key.Public().(ed25519.PublicKey).Equal(c.CompanyKey) {
		return "", fmt.Errorf("credential: sign: key does not match CompanyKey")
	}
	e := encoder{b: []byte{version1, kindCredential}}
	e.bytes(fCredCompanyKey, c.CompanyKey)
	e.string(fCredOrg, c.Org)
	e.bytes(fCredID, c.ID[:])
	e.bytes(fCredPeer, []byte(c.Peer))
	e.string(fCredName, c.Name)
	e.string(fCredEmail, c.Email)
	e.uint(fCredRole, roleCodes[c.Role])
	e.int(fCredIssued, c.Issued.Unix())
	e.int(fCredExpires, c.Expires.Unix())
	return encodeToken(e.b, ed25519.Sign(key, signedMessage(kindCredential, e.b))), nil
}

// ParseCredential decodes a credential token and verifies its signature
// against the company key it names. See Check for the rest.
func ParseCredential(token string) (*Credential, error) {
	body, sig, err := decodeToken(trimToken(token), kindCredential, MaxCredentialLen, "team credential")
	if err != nil {
		return nil, err
	}
	c, err := decodeCredential(body[2:])
	if err != nil {
		return nil, damaged("team credential", "%v", err)
	}
	if !ed25519.Verify(c.CompanyKey, signedMessage(kindCredential, body), sig) {
		return nil, checkErr(ErrBadSignature, "team credential has a bad signature: it was altered or damaged; ask your admin for a new one")
	}
	return c, nil
}

func decodeCredential(b []byte) (*Credential, error) {
	fields, err := decodeFields(b, credentialFields, nil)
	if err != nil {
		return nil, err
	}
	c := &Credential{}
	var idSeen bool
	for _, f := range fields {
		switch f.num {
		case fCredCompanyKey:
			c.CompanyKey = ed25519.PublicKey(f.b)
		case fCredOrg:
			c.Org, err = f.str("organisation")
		case fCredID:
			if len(f.b) != len(c.ID) {
				return nil, fmt.Errorf("credential id is %d bytes, want %d", len(f.b), len(c.ID))
			}
			copy(c.ID[:], f.b)
			idSeen = true
		case fCredPeer:
			c.Peer, err = peer.IDFromBytes(f.b)
		case fCredName:
			c.Name, err = f.str("name")
		case fCredEmail:
			c.Email, err = f.str("email")
		case fCredRole:
			for r, code := range roleCodes {
				if code == f.u {
					c.Role = r
				}
			}
		case fCredIssued:
			c.Issued, err = unixTime(f.int())
		case fCredExpires:
			c.Expires, err = unixTime(f.int())
		}
		if err != nil {
			return nil, err
		}
	}
	if !idSeen {
		return nil, fmt.Errorf("no credential id")
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// CredentialCheck says what a credential must satisfy besides its signature.
type CredentialCheck struct {
	Company ed25519.PublicKey       // the issuer it must name; nil accepts any
	Peer    peer.ID                 // the peer presenting it; empty accepts any
	Now     time.Time               // the time of use
	Revoked func(CredentialID) bool // reports revoked IDs; nil means none
}

// Check reports whether c satisfies want: issuer, subject, validity and
// revocation, in that order.
func (c *Credential) Check(want CredentialCheck) error {
	if want.Company != nil && !c.CompanyKey.Equal(want.Company) {
		return checkErr(ErrWrongIssuer, "this credential was issued by %q (key %s), not by the company of this interview (key %s)", c.Org, Fingerprint(c.CompanyKey), Fingerprint(want.Company))
	}
	if want.Peer != "" && c.Peer != want.Peer {
		return checkErr(ErrWrongPeer, "this credential was issued for node %s, not for this node (%s); send your admin the output of `parley id` from this machine", c.Peer, want.Peer)
	}
	if want.Now.Add(ClockSkew).Before(c.Issued) {
		return checkErr(ErrNotYetValid, "this credential is not valid until %s (check this computer's clock)", FormatTime(c.Issued))
	}
	if !want.Now.Before(c.Expires) {
		return checkErr(ErrExpired, "this credential expired on %s; ask your admin for a new one", FormatTime(c.Expires))
	}
	if want.Revoked != nil && want.Revoked(c.ID) {
		return checkErr(ErrRevoked, "this credential (id %s) was revoked: %s is no longer on the %s team", c.ID, c.Email, c.Org)
	}
	return nil
}

// trimToken removes what copying from a terminal or an email adds.
func trimToken(s string) string { return strings.Trim(s, " \t\r\n<>") }
