package invite

import (
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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
//
// The signature covers a commitment to the email (SHA-256 over a random
// salt and the email), not the email itself; the token a member holds
// discloses the email and the salt after a dot (TOKEN.DISCLOSURE), and its
// public form (PublicCredential: the part before the dot) verifies all the
// same without them. A member's node shows the public form to everyone in a
// session and the whole token only to the company node and the other
// interviewers: the candidate learns names, not emails.
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

	// emailCommit is the signed commitment to Email; nil in credentials
	// that sign the email itself (made before commitments).
	emailCommit []byte
}

// Public reports whether c came from a public form: its email unknown.
func (c *Credential) Public() bool { return c.Email == "" }

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
	fCredEmailCommit
)

// The fields of a credential's disclosure.
const (
	fDiscEmail protowire.Number = iota + 1
	fDiscSalt
)

const saltSize = 16

func emailCommitment(salt []byte, email string) []byte {
	h := sha256.New()
	h.Write([]byte("parley/1 email\x00"))
	h.Write(salt)
	h.Write([]byte(email))
	return h.Sum(nil)
}

var credentialFields = map[protowire.Number]protowire.Type{
	fCredCompanyKey: protowire.BytesType, fCredOrg: protowire.BytesType, fCredID: protowire.BytesType,
	fCredPeer: protowire.BytesType, fCredName: protowire.BytesType, fCredEmail: protowire.BytesType,
	fCredRole: protowire.VarintType, fCredIssued: protowire.VarintType, fCredExpires: protowire.VarintType,
	fCredEmailCommit: protowire.BytesType,
}

var disclosureFields = map[protowire.Number]protowire.Type{fDiscEmail: protowire.BytesType, fDiscSalt: protowire.BytesType}

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
	if c.Email == "" && c.emailCommit != nil {
		return nil // a public form
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
	salt := make([]byte, saltSize)
	rand.Read(salt)
	e := encoder{b: []byte{version1, kindCredential}}
	e.bytes(fCredCompanyKey, c.CompanyKey)
	e.string(fCredOrg, c.Org)
	e.bytes(fCredID, c.ID[:])
	e.bytes(fCredPeer, []byte(c.Peer))
	e.string(fCredName, c.Name)
	e.uint(fCredRole, roleCodes[c.Role])
	e.int(fCredIssued, c.Issued.Unix())
	e.int(fCredExpires, c.Expires.Unix())
	e.bytes(fCredEmailCommit, emailCommitment(salt, c.Email))
	d := encoder{}
	d.string(fDiscEmail, c.Email)
	d.bytes(fDiscSalt, salt)
	return encodeToken(e.b, ed25519.Sign(key, signedMessage(kindCredential, e.b))) + "." + base64.RawURLEncoding.EncodeToString(d.b), nil
}

// PublicCredential returns the public form of a credential token: without
// the disclosure of the email. It verifies as the whole token does.
func PublicCredential(token string) string {
	pub, _, _ := strings.Cut(trimToken(token), ".")
	return pub
}

// ParseCredential decodes a credential token and verifies its signature
// against the company key it names. See Check for the rest.
func ParseCredential(token string) (*Credential, error) {
	token = trimToken(token)
	if len(token) > MaxCredentialLen {
		return nil, checkErr(ErrMalformed, "team credential is %d characters long, over the limit of %d; was something pasted twice?", len(token), MaxCredentialLen)
	}
	pub, disc, disclosed := strings.Cut(token, ".")
	body, sig, err := decodeToken(pub, kindCredential, MaxCredentialLen, "team credential")
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
	if disclosed {
		if c.emailCommit == nil {
			return nil, checkErr(ErrMalformed, "team credential is malformed: a disclosure after a credential that signs its email")
		}
		if err := c.disclose(disc); err != nil {
			return nil, checkErr(ErrMalformed, "team credential is malformed: %v; check that it was copied whole", err)
		}
	}
	return c, nil
}

// disclose checks a disclosure against the signed commitment and takes the
// email from it.
func (c *Credential) disclose(s string) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("the email disclosure is not valid base64url")
	}
	fields, err := decodeFields(b, disclosureFields, nil)
	if err != nil {
		return fmt.Errorf("email disclosure: %v", err)
	}
	var email string
	var salt []byte
	for _, f := range fields {
		switch f.num {
		case fDiscEmail:
			if email, err = f.str("email"); err != nil {
				return err
			}
		case fDiscSalt:
			salt = f.b
		}
	}
	if len(salt) != saltSize || subtle.ConstantTimeCompare(emailCommitment(salt, email), c.emailCommit) != 1 {
		return fmt.Errorf("the email disclosed does not match the signed credential")
	}
	if err := CheckEmail(email); err != nil {
		return err
	}
	c.Email = email
	return nil
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
		case fCredEmailCommit:
			if len(f.b) != sha256.Size {
				return nil, fmt.Errorf("email commitment is %d bytes, want %d", len(f.b), sha256.Size)
			}
			c.emailCommit = f.b
		}
		if err != nil {
			return nil, err
		}
	}
	if !idSeen {
		return nil, fmt.Errorf("no credential id")
	}
	if c.Email != "" && c.emailCommit != nil {
		return nil, fmt.Errorf("both an email and a commitment to one")
	}
	if c.Email == "" && c.emailCommit == nil {
		return nil, fmt.Errorf("no email")
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
		return checkErr(ErrRevoked, "this credential (id %s) was revoked: %s is no longer on the %s team", c.ID, cmp.Or(c.Email, c.Name), c.Org)
	}
	return nil
}

// trimToken removes what copying from a terminal or an email adds.
func trimToken(s string) string { return strings.Trim(s, " \t\r\n<>") }
