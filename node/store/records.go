package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"parley/invite"
)

// Member is a member of the company's team, kept on the company node.
type Member struct {
	Email      string              `json:"email"`
	Name       string              `json:"name"`
	Peer       string              `json:"peer"`
	Role       invite.Role         `json:"role"`
	Credential invite.CredentialID `json:"credential"`
	Token      string              `json:"token"` // the signed credential, to hand out again
	Issued     time.Time           `json:"issued"`
	Expires    time.Time           `json:"expires"`
}

// Credential is a team credential this node accepted.
type Credential struct {
	Token    string    `json:"token"`
	Accepted time.Time `json:"accepted"`
}

// Revoked is a revoked credential.
type Revoked struct {
	ID      invite.CredentialID `json:"id"`
	Email   string              `json:"email"`
	Expires time.Time           `json:"expires"` // the credential's own expiry
	At      time.Time           `json:"at"`
}

// Session states as stored. "expired" is not stored: a pending session whose
// link has expired is reported as expired by the node.
const (
	StatePending = "pending"
	StateLobby   = "lobby"
	StateLive    = "live"
	StateEnded   = "ended"
)

// Session is an interview session.
type Session struct {
	ID              string        `json:"id"`
	Token           string        `json:"token"` // the signed invite
	Title           string        `json:"title"`
	Candidate       string        `json:"candidate"`
	CandidateEmail  string        `json:"candidate_email,omitempty"`
	Block           int           `json:"block"`
	Blocks          int           `json:"blocks"`
	Starts          time.Time     `json:"starts"`
	Duration        time.Duration `json:"duration"`
	Expires         time.Time     `json:"expires"`
	Interviewers    []string      `json:"interviewers,omitempty"`
	MaxInterviewers int           `json:"max_interviewers"`
	Conference      string        `json:"conference,omitempty"`
	Recorder        string        `json:"recorder,omitempty"`
	Criteria        []string      `json:"criteria,omitempty"`
	Language        string        `json:"language,omitempty"` // of the starter file, as the link names it
	Zone            string        `json:"zone,omitempty"`     // the recruiter's time zone (IANA), for emails
	Created         time.Time     `json:"created"`
	State           string        `json:"state"`
	EndedAt         time.Time     `json:"ended_at,omitzero"`
	EndedBy         string        `json:"ended_by,omitempty"`
	EndReason       string        `json:"end_reason,omitempty"`
	StartedAt       time.Time     `json:"started_at,omitzero"`

	// Company is set when this node's company created the session.
	Company bool `json:"company,omitempty"`
	// Role is this node's role in the session: company, interviewer or
	// candidate.
	Role string `json:"role,omitempty"`
	// Name is this node's name in the session.
	Name string `json:"name,omitempty"`
	// Joined is set while this node takes part; a restarted node rejoins.
	Joined bool `json:"joined,omitempty"`
	// Since is when this node first joined.
	Since time.Time `json:"since,omitzero"`
	// Records are the signed control records: seat, start, end.
	Records []json.RawMessage `json:"records,omitempty"`
	// Attendance is who took part and when, as this node saw it.
	Attendance []Attendance `json:"attendance,omitempty"`
}

// Attendance is one participant's presence in a session.
type Attendance struct {
	Peer   string    `json:"peer"`
	Name   string    `json:"name"`
	Role   string    `json:"role"`
	Joined time.Time `json:"joined"`
	Left   time.Time `json:"left,omitzero"`
}

// PutSession stores s, replacing a session with the same ID.
func (s *DB) PutSession(sess Session) error {
	return s.update(func(txn *badger.Txn) error { return put(txn, sessionKey(sess.ID), sess) })
}

func memberKey(email string) string { return "team/" + strings.ToLower(email) }

// PutMember stores m, replacing any member with the same email. A replaced
// member's credential is revoked in the same transaction.
func (s *DB) PutMember(m Member, now time.Time) (replaced *Member, err error) {
	err = s.update(func(txn *badger.Txn) error {
		replaced = nil
		old, err := get[Member](txn, memberKey(m.Email))
		if err == nil {
			replaced = &old
			if err := revoke(txn, old, now); err != nil {
				return err
			}
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return put(txn, memberKey(m.Email), m)
	})
	if err != nil {
		return nil, fmt.Errorf("store: put member: %w", err)
	}
	return replaced, nil
}

// Member returns the member with the given email.
func (s *DB) Member(email string) (Member, error) {
	return view(s, func(txn *badger.Txn) (Member, error) { return get[Member](txn, memberKey(email)) })
}

// Members returns the team, ordered by email.
func (s *DB) Members() ([]Member, error) {
	return view(s, func(txn *badger.Txn) ([]Member, error) { return list[Member](txn, "team/") })
}

// RemoveMember removes the member with the given email and revokes their
// credential, in one transaction.
func (s *DB) RemoveMember(email string, now time.Time) (Member, error) {
	var m Member
	err := s.update(func(txn *badger.Txn) error {
		var err error
		if m, err = get[Member](txn, memberKey(email)); err != nil {
			return err
		}
		if err := revoke(txn, m, now); err != nil {
			return err
		}
		return txn.Delete([]byte(memberKey(email)))
	})
	return m, err
}

const revocationSeqKey = "meta/revocation-seq"

func revoke(txn *badger.Txn, m Member, now time.Time) error {
	seq, err := get[uint64](txn, revocationSeqKey)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := put(txn, revocationSeqKey, seq+1); err != nil {
		return err
	}
	r := Revoked{ID: m.Credential, Email: m.Email, Expires: m.Expires, At: now}
	return put(txn, "revoked/"+m.Credential.String(), r)
}

// Revocations returns the revoked credentials that have not expired by now,
// and the sequence number of the list they form.
func (s *DB) Revocations(now time.Time) ([]Revoked, uint64, error) {
	var seq uint64
	rs, err := view(s, func(txn *badger.Txn) ([]Revoked, error) {
		var err error
		if seq, err = get[uint64](txn, revocationSeqKey); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return list[Revoked](txn, "revoked/")
	})
	if err != nil {
		return nil, 0, err
	}
	rs = slices.DeleteFunc(rs, func(r Revoked) bool { return !now.Before(r.Expires) })
	return rs, seq, nil
}

func credentialKey(companyKey []byte) string { return fmt.Sprintf("cred/%x", companyKey) }

// PutCredential stores a credential this node accepted, replacing an earlier
// one from the same company.
func (s *DB) PutCredential(companyKey []byte, c Credential) error {
	return s.update(func(txn *badger.Txn) error { return put(txn, credentialKey(companyKey), c) })
}

// Credential returns the credential this node holds from the given company.
func (s *DB) Credential(companyKey []byte) (Credential, error) {
	return view(s, func(txn *badger.Txn) (Credential, error) { return get[Credential](txn, credentialKey(companyKey)) })
}

// Credentials returns every credential this node holds.
func (s *DB) Credentials() ([]Credential, error) {
	return view(s, func(txn *badger.Txn) ([]Credential, error) { return list[Credential](txn, "cred/") })
}

func sessionKey(id string) string { return "session/" + id }

// ErrExists is returned when creating something that is already there.
var ErrExists = errors.New("already exists")

// CreateSessions stores new sessions, all or none.
func (s *DB) CreateSessions(sessions []Session) error {
	return s.update(func(txn *badger.Txn) error {
		for _, sess := range sessions {
			if _, err := get[Session](txn, sessionKey(sess.ID)); err == nil {
				return fmt.Errorf("session %s: %w", sess.ID, ErrExists)
			}
			if err := put(txn, sessionKey(sess.ID), sess); err != nil {
				return err
			}
		}
		return nil
	})
}

// Session returns the session with the given ID.
func (s *DB) Session(id string) (Session, error) {
	return view(s, func(txn *badger.Txn) (Session, error) { return get[Session](txn, sessionKey(id)) })
}

// Sessions returns every session, ordered by ID.
func (s *DB) Sessions() ([]Session, error) {
	return view(s, func(txn *badger.Txn) ([]Session, error) { return list[Session](txn, "session/") })
}

// UpdateSession applies f to the stored session in one transaction and
// returns the result. If f fails, nothing changes.
func (s *DB) UpdateSession(id string, f func(*Session) error) (Session, error) {
	var sess Session
	err := s.update(func(txn *badger.Txn) error {
		var err error
		if sess, err = get[Session](txn, sessionKey(id)); err != nil {
			return err
		}
		if err := f(&sess); err != nil {
			return err
		}
		return put(txn, sessionKey(id), sess)
	})
	return sess, err
}
