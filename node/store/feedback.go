package store

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Feedback keys:
//
//	feedback/<session>  Feedback: the session's recorded feedback (company node)
//	mine/<session>      Mine: this node's feedback for a session: the draft,
//	                    and once submitted, its delivery (the outbox)

// Recommendations, from worst to best.
var Recommendations = []string{"strong-no", "no", "yes", "strong-yes"}

// Scorecard is an interviewer's feedback on a session.
type Scorecard struct {
	// Recommendation is one of Recommendations.
	Recommendation string `json:"recommendation"`
	// Ratings are 1 to 4 per criterion of the session.
	Ratings map[string]int `json:"ratings,omitempty"`
	// Text is free text (Markdown).
	Text string `json:"text,omitempty"`
}

// Feedback is the feedback the company node recorded for a session: the
// first valid submission, signed by the recorder's node.
type Feedback struct {
	Session   string    `json:"session"`
	Scorecard Scorecard `json:"scorecard"`
	Name      string    `json:"name"`  // the recorder, from their credential
	Email     string    `json:"email"` // the recorder, from their credential
	Peer      string    `json:"peer"`  // the recorder's node, which signed it
	Written   time.Time `json:"written"`
	Recorded  time.Time `json:"recorded"` // when the company node took it
	// Signed is the submission as the recorder's node signed it, so that
	// anyone can check it again later.
	Signed json.RawMessage `json:"signed"`
}

// ErrRecorded is returned by RecordFeedback when the session's feedback is
// already recorded.
var ErrRecorded = errors.New("feedback already recorded")

func feedbackKey(session string) string { return "feedback/" + session }

// RecordFeedback stores f unless the session's feedback is already
// recorded: check and write are one transaction, so of two submissions
// racing, one wins. It returns the feedback recorded before, with
// ErrRecorded, when there is one.
func (s *DB) RecordFeedback(f Feedback) (Feedback, error) {
	var prior Feedback
	err := s.update(func(txn *badger.Txn) error {
		old, err := get[Feedback](txn, feedbackKey(f.Session))
		switch {
		case err == nil:
			prior = old
			return ErrRecorded
		case !errors.Is(err, ErrNotFound):
			return err
		}
		return put(txn, feedbackKey(f.Session), f)
	})
	return prior, err
}

// Feedback returns the feedback recorded for a session.
func (s *DB) Feedback(session string) (Feedback, error) {
	return view(s, func(txn *badger.Txn) (Feedback, error) { return get[Feedback](txn, feedbackKey(session)) })
}

// AllFeedback returns the feedback recorded for every session.
func (s *DB) AllFeedback() ([]Feedback, error) {
	return view(s, func(txn *badger.Txn) ([]Feedback, error) { return list[Feedback](txn, "feedback/") })
}

// States of this node's own feedback for a session.
const (
	MineDraft    = "draft"    // written, not submitted
	MineOutbox   = "outbox"   // submitted; waiting for the company node's answer
	MineRecorded = "recorded" // the company node recorded it
	MineRefused  = "refused"  // the company node (or this node) refused it
)

// Mine is this node's feedback for a session. While State is MineOutbox the
// signed submission waits to be delivered, across restarts.
type Mine struct {
	Session   string          `json:"session"`
	State     string          `json:"state"`
	Scorecard Scorecard       `json:"scorecard"`
	Saved     time.Time       `json:"saved"`            // the draft's last change
	Signed    json.RawMessage `json:"signed,omitempty"` // the submission, once submitted
	Submitted time.Time       `json:"submitted,omitzero"`
	// Company is the company node's peer ID, when known, to dial first.
	Company string `json:"company,omitempty"`
	// Tries counts delivery attempts; LastError says why the last failed.
	Tries     int    `json:"tries,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// The company node's answer.
	Answered time.Time `json:"answered,omitzero"`
	Reason   string    `json:"reason,omitempty"` // why it was refused
	By       string    `json:"by,omitempty"`     // who recorded the session's feedback
	At       time.Time `json:"at,omitzero"`      // and when
}

func mineKey(session string) string { return "mine/" + session }

// Mine returns this node's feedback for a session.
func (s *DB) Mine(session string) (Mine, error) {
	return view(s, func(txn *badger.Txn) (Mine, error) { return get[Mine](txn, mineKey(session)) })
}

// AllMine returns this node's feedback for every session.
func (s *DB) AllMine() ([]Mine, error) {
	return view(s, func(txn *badger.Txn) ([]Mine, error) { return list[Mine](txn, "mine/") })
}

// UpdateMine changes this node's feedback for a session in one transaction;
// f gets the zero Mine (with Session set) when there is none yet.
func (s *DB) UpdateMine(session string, f func(*Mine) error) (Mine, error) {
	var out Mine
	err := s.update(func(txn *badger.Txn) error {
		m, err := get[Mine](txn, mineKey(session))
		if errors.Is(err, ErrNotFound) {
			m, err = Mine{Session: session}, nil
		}
		if err != nil {
			return err
		}
		if err := f(&m); err != nil {
			return err
		}
		out = m
		return put(txn, mineKey(session), m)
	})
	return out, err
}

// Handover is a session's final documents waiting to reach the company
// node, on an interviewer's node: the company node archives every session,
// also one it was offline for.
type Handover struct {
	Session   string    `json:"session"`
	State     string    `json:"state"` // outbox, then recorded or refused
	Queued    time.Time `json:"queued"`
	Tries     int       `json:"tries,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	Company   string    `json:"company,omitempty"`
	Answered  time.Time `json:"answered,omitzero"`
	Reason    string    `json:"reason,omitempty"`
}

func handoverKey(session string) string { return "handover/" + session }

// Handovers returns every session's handover.
func (s *DB) Handovers() ([]Handover, error) {
	return view(s, func(txn *badger.Txn) ([]Handover, error) { return list[Handover](txn, "handover/") })
}

// UpdateHandover changes a session's handover in one transaction; f gets the
// zero Handover (with Session set) when there is none yet.
func (s *DB) UpdateHandover(session string, f func(*Handover) error) (Handover, error) {
	var out Handover
	err := s.update(func(txn *badger.Txn) error {
		h, err := get[Handover](txn, handoverKey(session))
		if errors.Is(err, ErrNotFound) {
			h, err = Handover{Session: session}, nil
		}
		if err != nil {
			return err
		}
		if err := f(&h); err != nil {
			return err
		}
		out = h
		return put(txn, handoverKey(session), h)
	})
	return out, err
}
