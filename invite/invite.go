// Package invite holds Parley's signed tokens: interview links (Invite), team
// credentials (Credential) and revocation lists (Revocations), with the key
// derivations a session needs and the invite email.
//
// Everything here is pure: no files, no network, no clock but the time given.
// A company signs tokens with its ed25519 key; a token names that key, so a
// link verifies on its own, and an interviewer's credential must name the same
// key as the link to count. Parsing is strict and bounded, never panics, and
// every failure is a *CheckError wrapping one of the sentinel errors.
package invite

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"
)

// Limits on what an invite may hold.
const (
	MaxLinkLen         = 4096 // characters in a link or bare token
	MaxBlocks          = 20   // blocks of one interview loop
	MaxInterviewers    = 16   // the largest --max-interviewers
	MaxBootstrap       = 8    // bootstrap addresses in one link
	MaxRevokedInInvite = 100  // revoked credential IDs carried in one link
	// ClockSkew is how far a node's clock may run behind the issuer's
	// before a fresh link counts as not yet valid.
	ClockSkew = 2 * time.Minute
)

// Link prefixes: the app scheme, and the path of the web form. A web link is
// https://HOST/join#TOKEN so that the token, in the fragment, never reaches
// a server's log.
const (
	AppLinkPrefix = "parley://join/"
	webJoinPath   = "/join"
)

// Invite is the content of an interview link, signed by the company key.
type Invite struct {
	Org        string            // company name, as shown to participants
	CompanyKey ed25519.PublicKey // the trust root: signs the link and credentials
	SessionID  string            // see NewSessionID
	Secret     [32]byte          // known only to those holding the link

	Title     string
	Candidate string // display name
	Block     int    // 1-based; Block of Blocks
	Blocks    int
	Starts    time.Time
	Duration  time.Duration

	ValidFrom  time.Time // the link may be used from ValidFrom
	ValidUntil time.Time // until ValidUntil

	Bootstrap       []multiaddr.Multiaddr // peers to dial first; each ends in /p2p/ID
	TURN            string                // TURN server URL for media, if any: see CheckTURNURL
	Conference      string                // external conferencing URL; empty means built-in
	MaxInterviewers int
	Recorder        string         // email of the interviewer preset to record feedback
	Criteria        []string       // what the feedback rates, 1 to 4 each; see CheckCriteria
	Revoked         []CredentialID // credentials revoked when the link was made

	// TURNUser and TURNCredential are the TURN server's time-limited
	// credentials for this session (see TURNCredential); both or neither,
	// and only with TURN.
	TURNUser       string
	TURNCredential string

	// Language is the programming language the session starts with (see
	// CheckLanguage): its first file is main.EXT in it. Empty: the session
	// starts with no file (links made before the field existed).
	Language string

	// Interviewers are the credentials of the interviewers the session
	// names: when any are, only they are let in as interviewers (at most
	// MaxInterviewersNamed). Credential IDs, not emails: the candidate holds
	// the link too.
	Interviewers []CredentialID
}

// MaxInterviewersNamed bounds the interviewers a link names.
const MaxInterviewersNamed = 32

// Names reports whether the link lets the credential id in as an
// interviewer: it names it, or names nobody.
func (inv *Invite) Names(id CredentialID) bool {
	return len(inv.Interviewers) == 0 || slices.Contains(inv.Interviewers, id)
}

// Invite field numbers. Never reuse a number; add new ones at the end.
const (
	fInvOrg protowire.Number = iota + 1
	fInvCompanyKey
	fInvSessionID
	fInvSecret
	fInvTitle
	fInvCandidate
	fInvBlock
	fInvBlocks
	fInvStarts
	fInvDuration
	fInvValidFrom
	fInvValidUntil
	fInvBootstrap
	fInvTURN
	fInvConference
	fInvMaxInterviewers
	fInvRecorder
	fInvRevoked
	fInvTURNUser
	fInvTURNCredential
	fInvCriteria
	fInvLanguage
	fInvInterviewers
)

var inviteFields = map[protowire.Number]protowire.Type{
	fInvOrg: protowire.BytesType, fInvCompanyKey: protowire.BytesType, fInvSessionID: protowire.BytesType,
	fInvSecret: protowire.BytesType, fInvTitle: protowire.BytesType, fInvCandidate: protowire.BytesType,
	fInvBlock: protowire.VarintType, fInvBlocks: protowire.VarintType, fInvStarts: protowire.VarintType,
	fInvDuration: protowire.VarintType, fInvValidFrom: protowire.VarintType, fInvValidUntil: protowire.VarintType,
	fInvBootstrap: protowire.BytesType, fInvTURN: protowire.BytesType, fInvConference: protowire.BytesType,
	fInvMaxInterviewers: protowire.VarintType, fInvRecorder: protowire.BytesType, fInvRevoked: protowire.BytesType,
	fInvTURNUser: protowire.BytesType, fInvTURNCredential: protowire.BytesType, fInvCriteria: protowire.BytesType,
	fInvLanguage: protowire.BytesType, fInvInterviewers: protowire.BytesType,
}

var inviteRepeated = map[protowire.Number]bool{fInvBootstrap: true, fInvRevoked: true, fInvCriteria: true, fInvInterviewers: true}

const sessionIDLen = 10

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSessionID returns a fresh random session ID: 16 lowercase base32
// characters.
func NewSessionID() string {
	var b [sessionIDLen]byte
	rand.Read(b[:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

func decodeSessionID(id string) ([]byte, error) {
	b, err := idEncoding.DecodeString(strings.ToUpper(id))
	if err != nil || len(b) != sessionIDLen {
		return nil, fmt.Errorf("session id %q is not 16 base32 characters", id)
	}
	return b, nil
}

// NewSecret returns 32 random bytes for Invite.Secret.
func NewSecret() [32]byte {
	var s [32]byte
	rand.Read(s[:])
	return s
}

// Fingerprint returns a short, readable digest of a company key, for people
// to compare out of band: six groups of four base32 characters.
func Fingerprint(key ed25519.PublicKey) string {
	sum := sha256.Sum256(key)
	s := idEncoding.EncodeToString(sum[:15])
	var groups []string
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:i+4])
	}
	return strings.Join(groups, "-")
}

// Sign checks inv and returns its token signed with key, whose public half
// must be inv.CompanyKey.
func (inv *Invite) Sign(key ed25519.PrivateKey) (string, error) {
	if err := inv.validate(); err != nil {
		return "", fmt.Errorf("invite: sign: %w", err)
	}
	if !key.Public().(ed25519.PublicKey).Equal(inv.CompanyKey) {
		return "", fmt.Errorf("invite: sign: key does not match CompanyKey")
	}
	body := inv.encode()
	sig := ed25519.Sign(key, signedMessage(kindInvite, body))
	tok := encodeToken(body, sig)
	if len(tok) > MaxLinkLen {
		return "", fmt.Errorf("invite: sign: token is %d characters, over the limit of %d (too many bootstrap addresses or revoked credentials?)", len(tok), MaxLinkLen)
	}
	return tok, nil
}

// encode returns the token's header and fields, without checking them.
func (inv *Invite) encode() []byte {
	sid, _ := decodeSessionID(inv.SessionID)
	e := encoder{b: []byte{version1, kindInvite}}
	e.string(fInvOrg, inv.Org)
	e.bytes(fInvCompanyKey, inv.CompanyKey)
	e.bytes(fInvSessionID, sid)
	e.bytes(fInvSecret, inv.Secret[:])
	e.string(fInvTitle, inv.Title)
	e.string(fInvCandidate, inv.Candidate)
	e.uint(fInvBlock, uint64(inv.Block))
	e.uint(fInvBlocks, uint64(inv.Blocks))
	e.int(fInvStarts, inv.Starts.Unix())
	e.uint(fInvDuration, uint64(inv.Duration/time.Second))
	e.int(fInvValidFrom, inv.ValidFrom.Unix())
	e.int(fInvValidUntil, inv.ValidUntil.Unix())
	for _, a := range inv.Bootstrap {
		e.bytes(fInvBootstrap, a.Bytes())
	}
	e.string(fInvTURN, inv.TURN)
	e.string(fInvConference, inv.Conference)
	e.uint(fInvMaxInterviewers, uint64(inv.MaxInterviewers))
	e.string(fInvRecorder, inv.Recorder)
	for _, id := range inv.Revoked {
		e.bytes(fInvRevoked, id[:])
	}
	e.string(fInvTURNUser, inv.TURNUser)
	e.string(fInvTURNCredential, inv.TURNCredential)
	for _, c := range inv.Criteria {
		e.string(fInvCriteria, c)
	}
	e.string(fInvLanguage, inv.Language)
	for _, id := range inv.Interviewers {
		e.bytes(fInvInterviewers, id[:])
	}
	return e.b
}

// validate checks the invariants every invite must hold.
func (inv *Invite) validate() error {
	switch {
	case inv.Org == "":
		return fmt.Errorf("no organisation name")
	case len(inv.CompanyKey) != ed25519.PublicKeySize:
		return fmt.Errorf("company key is %d bytes, want %d", len(inv.CompanyKey), ed25519.PublicKeySize)
	case inv.Title == "":
		return fmt.Errorf("no title")
	case inv.Candidate == "":
		return fmt.Errorf("no candidate name")
	case inv.Blocks < 1 || inv.Blocks > MaxBlocks:
		return fmt.Errorf("%d blocks; between 1 and %d are allowed", inv.Blocks, MaxBlocks)
	case inv.Block < 1 || inv.Block > inv.Blocks:
		return fmt.Errorf("block %d of %d", inv.Block, inv.Blocks)
	case inv.Starts.IsZero():
		return fmt.Errorf("no start time")
	case inv.Duration < time.Minute:
		return fmt.Errorf("duration %v is under a minute", inv.Duration)
	case !inv.ValidUntil.After(inv.ValidFrom):
		return fmt.Errorf("valid until (%v) is not after valid from (%v)", inv.ValidUntil, inv.ValidFrom)
	case inv.MaxInterviewers < 1 || inv.MaxInterviewers > MaxInterviewers:
		return fmt.Errorf("max interviewers %d; between 1 and %d are allowed", inv.MaxInterviewers, MaxInterviewers)
	case len(inv.Bootstrap) > MaxBootstrap:
		return fmt.Errorf("%d bootstrap addresses; at most %d are allowed", len(inv.Bootstrap), MaxBootstrap)
	case len(inv.Interviewers) > MaxInterviewersNamed:
		return fmt.Errorf("%d interviewers named; at most %d fit in a link", len(inv.Interviewers), MaxInterviewersNamed)
	case len(inv.Revoked) > MaxRevokedInInvite:
		return fmt.Errorf("%d revoked credentials; at most %d fit in a link", len(inv.Revoked), MaxRevokedInInvite)
	}
	for name, s := range map[string]string{"organisation": inv.Org, "title": inv.Title, "candidate": inv.Candidate, "TURN URL": inv.TURN, "conference URL": inv.Conference, "recorder": inv.Recorder} {
		if len(s) > maxString {
			return fmt.Errorf("%s is %d bytes, over the limit of %d", name, len(s), maxString)
		}
	}
	if _, err := decodeSessionID(inv.SessionID); err != nil {
		return err
	}
	if err := CheckCriteria(inv.Criteria); err != nil {
		return err
	}
	if inv.Language != "" {
		if err := CheckLanguage(inv.Language); err != nil {
			return err
		}
	}
	if inv.Conference != "" {
		if err := CheckConferenceURL(inv.Conference); err != nil {
			return err
		}
	}
	return inv.validateTURN()
}

// Feedback criteria limits.
const (
	MaxCriteria     = 12
	MaxCriterionLen = 60
)

// CheckCriteria reports whether cs are usable feedback criteria: at most
// MaxCriteria distinct names, each printable text of at most MaxCriterionLen
// bytes with no '=' (the command line writes ratings as NAME=N) or ','.
func CheckCriteria(cs []string) error {
	if len(cs) > MaxCriteria {
		return fmt.Errorf("%d feedback criteria; at most %d are allowed", len(cs), MaxCriteria)
	}
	seen := map[string]bool{}
	for _, c := range cs {
		switch {
		case strings.TrimSpace(c) != c || c == "":
			return fmt.Errorf("feedback criterion %q is empty or has spaces around it", c)
		case len(c) > MaxCriterionLen:
			return fmt.Errorf("feedback criterion %q is %d bytes, over the limit of %d", c, len(c), MaxCriterionLen)
		case strings.ContainsAny(c, "=,") || strings.IndexFunc(c, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
			return fmt.Errorf("feedback criterion %q has '=', ',' or a control character", c)
		case seen[strings.ToLower(c)]:
			return fmt.Errorf("feedback criterion %q is given twice", c)
		}
		seen[strings.ToLower(c)] = true
	}
	return nil
}

// MaxLanguageLen bounds a language name (the shared document allows no
// longer one).
const MaxLanguageLen = 32

// CheckLanguage reports whether s can name a session's language: 1 to
// MaxLanguageLen lowercase letters, digits, '+', '#' or '-'. Which languages
// a company offers is its node's choice; a link from a newer version may
// name one this version does not know, which its editor shows as text.
func CheckLanguage(s string) error {
	if s == "" || len(s) > MaxLanguageLen || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '#' || r == '-')
	}) >= 0 {
		return fmt.Errorf("language %q is not a language name (lowercase letters, digits, +, # or -; at most %d)", s, MaxLanguageLen)
	}
	return nil
}

// CheckConferenceURL reports whether s is an http(s) URL with a host, as an
// external conferencing link must be.
func CheckConferenceURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("conference URL %q is not an http(s) URL", s)
	}
	return nil
}

// Parse reads an interview link (parley://join/TOKEN, https://HOST/join#TOKEN
// or the bare token) and verifies its signature against the company key it
// names. It does not check the validity window: see Check.
func Parse(link string) (*Invite, error) {
	tok, err := TokenFromLink(link)
	if err != nil {
		return nil, err
	}
	body, sig, err := decodeToken(tok, kindInvite, MaxLinkLen, "interview link")
	if err != nil {
		return nil, err
	}
	inv, err := decodeInvite(body[2:])
	if err != nil {
		return nil, damaged("interview link", "%v", err)
	}
	if !ed25519.Verify(inv.CompanyKey, signedMessage(kindInvite, body), sig) {
		return nil, checkErr(ErrBadSignature, "interview link has a bad signature: it was altered or damaged; ask the company for the original link")
	}
	return inv, nil
}

// TokenFromLink returns the token of a link in any of its forms.
func TokenFromLink(link string) (string, error) {
	s := trimToken(link)
	if len(s) > MaxLinkLen+256 {
		return "", checkErr(ErrMalformed, "interview link is %d characters long, over the limit of %d; was something pasted twice?", len(s), MaxLinkLen)
	}
	switch {
	case strings.HasPrefix(s, AppLinkPrefix):
		return s[len(AppLinkPrefix):], nil
	case strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://"):
		u, err := url.Parse(s)
		if err != nil || u.Path != webJoinPath || u.Fragment == "" {
			return "", checkErr(ErrMalformed, "%q is not a Parley interview link (want https://HOST/join#TOKEN or parley://join/TOKEN)", truncate(s, 80))
		}
		return u.Fragment, nil
	case strings.Contains(s, "://"):
		return "", checkErr(ErrMalformed, "%q is not a Parley interview link (want https://HOST/join#TOKEN or parley://join/TOKEN)", truncate(s, 80))
	}
	return s, nil
}

// Link formats a token as a link: https://HOST/join#TOKEN when publicURL (the
// company's public web address) is set, parley://join/TOKEN otherwise.
func Link(publicURL, token string) string {
	if publicURL == "" {
		return AppLinkPrefix + token
	}
	return strings.TrimSuffix(publicURL, "/") + webJoinPath + "#" + token
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func decodeInvite(b []byte) (*Invite, error) {
	fields, err := decodeFields(b, inviteFields, inviteRepeated)
	if err != nil {
		return nil, err
	}
	inv := &Invite{}
	var sid, secret []byte
	for _, f := range fields {
		switch f.num {
		case fInvOrg:
			inv.Org, err = f.str("organisation")
		case fInvCompanyKey:
			inv.CompanyKey = ed25519.PublicKey(f.b)
		case fInvSessionID:
			sid = f.b
		case fInvSecret:
			secret = f.b
		case fInvTitle:
			inv.Title, err = f.str("title")
		case fInvCandidate:
			inv.Candidate, err = f.str("candidate")
		case fInvBlock:
			inv.Block = boundedInt(f.u)
		case fInvBlocks:
			inv.Blocks = boundedInt(f.u)
		case fInvStarts:
			inv.Starts, err = unixTime(f.int())
		case fInvDuration:
			if f.u > uint64(100*365*24*time.Hour/time.Second) {
				err = fmt.Errorf("duration out of range")
			}
			inv.Duration = time.Duration(f.u) * time.Second
		case fInvValidFrom:
			inv.ValidFrom, err = unixTime(f.int())
		case fInvValidUntil:
			inv.ValidUntil, err = unixTime(f.int())
		case fInvBootstrap:
			if len(inv.Bootstrap) == MaxBootstrap {
				return nil, fmt.Errorf("more than %d bootstrap addresses", MaxBootstrap)
			}
			var a multiaddr.Multiaddr
			a, err = multiaddr.NewMultiaddrBytes(f.b)
			inv.Bootstrap = append(inv.Bootstrap, a)
		case fInvTURN:
			inv.TURN, err = f.str("TURN URL")
		case fInvConference:
			inv.Conference, err = f.str("conference URL")
		case fInvMaxInterviewers:
			inv.MaxInterviewers = boundedInt(f.u)
		case fInvRecorder:
			inv.Recorder, err = f.str("recorder")
		case fInvRevoked:
			if len(inv.Revoked) == MaxRevokedInInvite {
				return nil, fmt.Errorf("more than %d revoked credentials", MaxRevokedInInvite)
			}
			if len(f.b) != len(CredentialID{}) {
				return nil, fmt.Errorf("revoked credential id is %d bytes", len(f.b))
			}
			inv.Revoked = append(inv.Revoked, CredentialID(f.b))
		case fInvTURNUser:
			inv.TURNUser, err = f.str("TURN username")
		case fInvTURNCredential:
			inv.TURNCredential, err = f.str("TURN credential")
		case fInvCriteria:
			if len(inv.Criteria) == MaxCriteria {
				return nil, fmt.Errorf("more than %d feedback criteria", MaxCriteria)
			}
			var c string
			c, err = f.str("feedback criterion")
			inv.Criteria = append(inv.Criteria, c)
		case fInvLanguage:
			inv.Language, err = f.str("language")
		case fInvInterviewers:
			if len(inv.Interviewers) == MaxInterviewersNamed {
				return nil, fmt.Errorf("more than %d interviewers named", MaxInterviewersNamed)
			}
			if len(f.b) != len(CredentialID{}) {
				return nil, fmt.Errorf("a named interviewer's credential id is %d bytes, want %d", len(f.b), len(CredentialID{}))
			}
			inv.Interviewers = append(inv.Interviewers, CredentialID(f.b))
		}
		if err != nil {
			return nil, err
		}
	}
	if len(sid) != sessionIDLen {
		return nil, fmt.Errorf("session id is %d bytes, want %d", len(sid), sessionIDLen)
	}
	inv.SessionID = strings.ToLower(idEncoding.EncodeToString(sid))
	if len(secret) != len(inv.Secret) {
		return nil, fmt.Errorf("session secret is %d bytes, want %d", len(secret), len(inv.Secret))
	}
	copy(inv.Secret[:], secret)
	if err := inv.validate(); err != nil {
		return nil, err
	}
	return inv, nil
}

// boundedInt converts a decoded count, mapping absurd values to -1 so that
// validation refuses them.
func boundedInt(u uint64) int {
	if u > 1<<20 {
		return -1
	}
	return int(u)
}

// unixTime converts seconds since the epoch, refusing years outside 1970-9999.
func unixTime(sec int64) (time.Time, error) {
	if sec < 0 || sec > 253402300799 {
		return time.Time{}, fmt.Errorf("time %d out of range", sec)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// Check reports whether the link may be used at now: ErrNotYetValid before
// ValidFrom (allowing ClockSkew), ErrExpired from ValidUntil on.
func (inv *Invite) Check(now time.Time) error {
	if now.Add(ClockSkew).Before(inv.ValidFrom) {
		return checkErr(ErrNotYetValid, "this interview link is not valid until %s; try again then (or check this computer's clock)", FormatTime(inv.ValidFrom))
	}
	if !now.Before(inv.ValidUntil) {
		return checkErr(ErrExpired, "this interview link expired on %s; ask the company for a new one", FormatTime(inv.ValidUntil))
	}
	return nil
}

// CheckIssuer reports whether inv was issued by the company whose key is want.
func (inv *Invite) CheckIssuer(want ed25519.PublicKey) error {
	if !inv.CompanyKey.Equal(want) {
		return checkErr(ErrWrongIssuer, "this interview link was issued by %q (key %s), not by the expected company (key %s)", inv.Org, Fingerprint(inv.CompanyKey), Fingerprint(want))
	}
	return nil
}

// IsRevoked reports whether the link names id as revoked.
func (inv *Invite) IsRevoked(id CredentialID) bool {
	for _, r := range inv.Revoked {
		if r == id {
			return true
		}
	}
	return false
}

// FormatTime formats t for people: "2026-11-20 14:00 UTC".
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 MST")
}
