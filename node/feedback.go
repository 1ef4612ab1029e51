package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/invite"
	"parley/node/store"
)

// Feedback, once (see DESIGN.md): one interviewer of a session records its
// feedback. They agree who through `recorder` in the private document (or
// the link presets it); the recorder's node signs the scorecard with its
// node key and keeps it in its outbox until the company node, over
// /parley/archive/1 (archive.go), answers that it recorded it, or refused
// it. The company node keeps the first valid submission per session.

// maxFeedbackText bounds a scorecard's free text.
const maxFeedbackText = 32 << 10

// ErrRecorded is returned when a session's feedback is already recorded, by
// this node or by someone else.
var ErrRecorded = errors.New("feedback already recorded")

// checkScorecard checks a scorecard against a session's criteria; a draft
// may leave the recommendation empty.
func checkScorecard(sc store.Scorecard, criteria []string, draft bool) error {
	if sc.Recommendation == "" && !draft {
		return fmt.Errorf("feedback needs a recommendation: one of %s", strings.Join(store.Recommendations, ", "))
	}
	if sc.Recommendation != "" && !slices.Contains(store.Recommendations, sc.Recommendation) {
		return fmt.Errorf("recommendation %q is not one of %s", sc.Recommendation, strings.Join(store.Recommendations, ", "))
	}
	if len(sc.Ratings) > invite.MaxCriteria {
		return fmt.Errorf("%d ratings; the session has %d criteria", len(sc.Ratings), len(criteria))
	}
	for name, v := range sc.Ratings {
		if !slices.Contains(criteria, name) {
			return fmt.Errorf("%q is not one of this session's criteria (%s)", name, strings.Join(criteria, ", "))
		}
		if v < 1 || v > 4 {
			return fmt.Errorf("rating %s=%d: ratings are 1 to 4", name, v)
		}
	}
	if len(sc.Text) > maxFeedbackText || !utf8.ValidString(sc.Text) {
		return fmt.Errorf("the feedback text is UTF-8 of at most %d bytes", maxFeedbackText)
	}
	return nil
}

// criteriaOf returns a session's feedback criteria.
func criteriaOf(r store.Session) []string {
	if len(r.Criteria) == 0 {
		return DefaultCriteria
	}
	return r.Criteria
}

// me is who this node is in a session it interviews in.
type me struct {
	rec   store.Session
	inv   *invite.Invite
	cred  *invite.Credential
	token string
}

// interviewerIn returns this node's identity in a session where it is an
// interviewer, live or not; the candidate and the company node are refused.
func (n *Node) interviewerIn(id string) (me, error) {
	r, err := n.lookupSession(id)
	if err != nil {
		return me{}, err
	}
	inv, err := invite.Parse(r.Token)
	if err != nil {
		return me{}, fmt.Errorf("session %s: stored link: %w", r.ID, err)
	}
	role, tok, _, err := n.roleFor(inv)
	if err != nil {
		return me{}, err
	}
	switch role {
	case RoleCompany:
		return me{}, fmt.Errorf("the company node receives feedback; an interviewer records it from their node: %w", ErrNotInterviewer)
	case RoleCandidate:
		return me{}, fmt.Errorf("feedback is the interviewers' alone: %w", ErrNotInterviewer)
	}
	c, err := invite.ParseCredential(tok)
	if err != nil {
		return me{}, err
	}
	return me{rec: r, inv: inv, cred: c, token: tok}, nil
}

// startedEnded says whether a session started and ended, as the live
// session knows it (its store record follows a moment later) or as stored.
func (n *Node) startedEnded(r store.Session) (started, ended bool) {
	s := n.sessionView(r)
	ended = s.Status == StatusEnded
	return ended || s.Status == StatusLive || !s.StartedAt.IsZero(), ended
}

// FeedbackForm is what an interviewer's feedback form shows.
type FeedbackForm struct {
	Session         string   `json:"session"`
	Criteria        []string `json:"criteria"`
	Recommendations []string `json:"recommendations"`
	// Me is this node's team email; Recorder the email of who records the
	// feedback (preset in the link, or claimed), empty while nobody does.
	Me             string `json:"me"`
	Recorder       string `json:"recorder,omitempty"`
	RecorderName   string `json:"recorder_name,omitempty"` // when known: this node, or a present interviewer
	RecorderPreset bool   `json:"recorder_preset,omitempty"`
	// MayRecord is set when this node may submit: it is the recorder, or
	// nobody is yet.
	MayRecord bool `json:"may_record"`
	// Started and Ended say where the interview is: feedback is submitted
	// once it started, most often after it ended.
	Started bool `json:"started"`
	Ended   bool `json:"ended"`
	// Mine is this node's draft or submission, if any.
	Mine *store.Mine `json:"mine,omitempty"`
}

// recorderOf returns who records a session's feedback: the link's preset,
// else the private document's recorder (empty when nobody claimed it or
// the document is not at hand). A member the company revoked records
// nothing: their claim lapses, and another interviewer may claim it.
func (n *Node) recorderOf(ctx context.Context, m me) (string, bool) {
	rec, preset := m.inv.Recorder, m.inv.Recorder != ""
	if !preset {
		v, err := n.View(ctx, m.rec.ID, crdt.Private)
		if err != nil {
			return "", false
		}
		rec = v.Recorder
	}
	n.mu.Lock()
	l := n.lives[m.rec.ID]
	n.mu.Unlock()
	if rec != "" && l != nil && l.revokedEmail(rec) {
		return "", false
	}
	return rec, preset
}

// Form returns the feedback form of a session, for an interviewer.
func (n *Node) Form(ctx context.Context, id string) (FeedbackForm, error) {
	m, err := n.interviewerIn(id)
	if err != nil {
		return FeedbackForm{}, err
	}
	started, ended := n.startedEnded(m.rec)
	f := FeedbackForm{
		Session: m.rec.ID, Criteria: criteriaOf(m.rec), Recommendations: store.Recommendations, Me: m.cred.Email,
		Started: started, Ended: ended,
	}
	f.Recorder, f.RecorderPreset = n.recorderOf(ctx, m)
	f.MayRecord = f.Recorder == "" || strings.EqualFold(f.Recorder, f.Me)
	f.RecorderName = n.interviewerName(m, f.Recorder)
	if mine, err := n.db.Mine(m.rec.ID); err == nil {
		f.Mine = &mine
	} else if !errors.Is(err, store.ErrNotFound) {
		return f, err
	}
	return f, nil
}

// interviewerName names the interviewer with an email: this node's, or one
// present in the session (by their credential).
func (n *Node) interviewerName(m me, email string) string {
	if email == "" {
		return ""
	}
	if strings.EqualFold(email, m.cred.Email) {
		return cmp.Or(m.rec.Name, m.cred.Name)
	}
	n.mu.Lock()
	l := n.lives[m.rec.ID]
	n.mu.Unlock()
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.peers {
		if p.role == RoleInterviewer && strings.EqualFold(p.email, email) {
			return p.name
		}
	}
	return ""
}

// ClaimRecorder makes this node's interviewer the one who records the
// session's feedback, for all interviewers to see. Two claiming at once
// both see the same winner once their documents meet (the private
// document's last-writer-wins register decides).
func (n *Node) ClaimRecorder(ctx context.Context, id string) (FeedbackForm, error) {
	m, err := n.interviewerIn(id)
	if err != nil {
		return FeedbackForm{}, err
	}
	rec, preset := n.recorderOf(ctx, m)
	switch {
	case preset && !strings.EqualFold(rec, m.cred.Email):
		return FeedbackForm{}, fmt.Errorf("the link names %s to record this session's feedback", rec)
	case rec != "" && !strings.EqualFold(rec, m.cred.Email):
		return FeedbackForm{}, fmt.Errorf("%s already records this session's feedback", rec)
	case rec == "":
		if err := n.Edit(ctx, m.rec.ID, crdt.Private, crdt.Edit{Op: "recorder", Value: m.cred.Email}); err != nil {
			return FeedbackForm{}, err
		}
	}
	return n.Form(ctx, m.rec.ID)
}

// SaveDraft keeps this node's feedback for a session as a draft, before or
// after the interview; submitting is a separate step.
func (n *Node) SaveDraft(ctx context.Context, id string, sc store.Scorecard) (store.Mine, error) {
	m, err := n.interviewerIn(id)
	if err != nil {
		return store.Mine{}, err
	}
	if err := checkScorecard(sc, criteriaOf(m.rec), true); err != nil {
		return store.Mine{}, err
	}
	return n.db.UpdateMine(m.rec.ID, func(mine *store.Mine) error {
		if mine.State != "" && mine.State != store.MineDraft {
			return alreadySubmitted(*mine)
		}
		mine.State, mine.Scorecard, mine.Saved = store.MineDraft, sc, n.now().UTC()
		return nil
	})
}

// alreadySubmitted explains why a submitted scorecard cannot change.
func alreadySubmitted(m store.Mine) error {
	switch m.State {
	case store.MineRecorded:
		return recordedError(m.By, m.At)
	case store.MineOutbox:
		return fmt.Errorf("your feedback for this session was submitted at %s and waits for the company node; it cannot change: %w", invite.FormatTime(m.Submitted), ErrRecorded)
	}
	return fmt.Errorf("your feedback for this session was refused (%s)", m.Reason)
}

// recordedError is the refusal of a session's second feedback.
func recordedError(by string, at time.Time) error {
	return fmt.Errorf("feedback for this session was already recorded by %s at %s: %w", by, invite.FormatTime(at), ErrRecorded)
}

// feedbackBody is what the recorder's node signs.
type feedbackBody struct {
	V          int             `json:"v"`
	Session    string          `json:"session"`
	Peer       string          `json:"peer"`
	Name       string          `json:"name"`
	Email      string          `json:"email"`
	Credential string          `json:"credential"`
	Scorecard  store.Scorecard `json:"scorecard"`
	Written    time.Time       `json:"written"`
}

// signedFeedback is a submission: the body's bytes as signed, and the
// signature by the node key of body.Peer.
type signedFeedback struct {
	Body json.RawMessage `json:"body"`
	Sig  []byte          `json:"sig"`
}

func feedbackMessage(body []byte) []byte {
	return append([]byte("parley/1 feedback\x00"), body...)
}

// signFeedback signs a submission with this node's key.
func (n *Node) signFeedback(b feedbackBody) (*signedFeedback, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	sig, err := n.key.Sign(feedbackMessage(body))
	if err != nil {
		return nil, err
	}
	return &signedFeedback{Body: body, Sig: sig}, nil
}

// Submit signs this node's feedback for a session and puts it in the
// outbox, from which it goes to the company node (now, or when it can be
// reached). It is refused when someone else records the feedback, or it
// was recorded already.
func (n *Node) Submit(ctx context.Context, id string, sc store.Scorecard) (store.Mine, error) {
	m, err := n.interviewerIn(id)
	if err != nil {
		return store.Mine{}, err
	}
	if err := checkScorecard(sc, criteriaOf(m.rec), false); err != nil {
		return store.Mine{}, err
	}
	if started, _ := n.startedEnded(m.rec); !started {
		return store.Mine{}, fmt.Errorf("the interview has not started; save a draft and submit it afterwards")
	}
	if mine, err := n.db.Mine(m.rec.ID); err == nil && mine.State != store.MineDraft {
		return mine, alreadySubmitted(mine)
	}
	rec, _ := n.recorderOf(ctx, m)
	if rec != "" && !strings.EqualFold(rec, m.cred.Email) {
		return store.Mine{}, fmt.Errorf("%s records this session's feedback, not you (%s); add yours to the private notes", rec, m.cred.Email)
	}
	if rec == "" {
		// Nobody was chosen: the first to submit records. Claim it, so
		// that the others see who while the session runs.
		if err := n.Edit(ctx, m.rec.ID, crdt.Private, crdt.Edit{Op: "recorder", Value: m.cred.Email}); err != nil {
			n.log.Debug("claiming the recorder on submit", "session", m.rec.ID, "err", err)
		}
	}
	now := n.now().UTC()
	sf, err := n.signFeedback(feedbackBody{
		V: 1, Session: m.rec.ID, Peer: n.id.String(), Name: m.cred.Name, Email: m.cred.Email,
		Credential: m.token, Scorecard: sc, Written: now,
	})
	if err != nil {
		return store.Mine{}, err
	}
	signed, err := json.Marshal(sf)
	if err != nil {
		return store.Mine{}, err
	}
	mine, err := n.db.UpdateMine(m.rec.ID, func(mine *store.Mine) error {
		if mine.State != "" && mine.State != store.MineDraft {
			return alreadySubmitted(*mine)
		}
		mine.State, mine.Scorecard, mine.Saved = store.MineOutbox, sc, now
		mine.Signed, mine.Submitted = signed, now
		mine.Company = n.companyPeerOf(m.inv)
		return nil
	})
	if err != nil {
		return mine, err
	}
	n.wakeOutbox()
	return mine, nil
}

// companyPeerOf returns the company node's peer ID if a live session of
// this node has it among its peers.
func (n *Node) companyPeerOf(inv *invite.Invite) string {
	if ids := n.companyPeers(inv); len(ids) > 0 {
		return ids[0].String()
	}
	return ""
}

// companyPeers lists the company nodes of inv's company that this node's
// live sessions admitted.
func (n *Node) companyPeers(inv *invite.Invite) []peer.ID {
	n.mu.Lock()
	lives := make([]*live, 0, len(n.lives))
	for _, l := range n.lives {
		if l.inv.CompanyKey.Equal(inv.CompanyKey) {
			lives = append(lives, l)
		}
	}
	n.mu.Unlock()
	var out []peer.ID
	for _, l := range lives {
		l.mu.Lock()
		for id, p := range l.peers {
			if p.role == RoleCompany && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
		l.mu.Unlock()
	}
	return out
}

// FeedbackMark says that a session's feedback was recorded.
type FeedbackMark struct {
	By             string    `json:"by"`
	At             time.Time `json:"at"`
	Recommendation string    `json:"recommendation"`
}

// FeedbackView is a session's feedback as this node knows it: on the
// company node what it recorded; on an interviewer's node its own draft or
// submission and what became of it.
type FeedbackView struct {
	Session   string          `json:"session"`
	Title     string          `json:"title,omitempty"`
	Candidate string          `json:"candidate,omitempty"`
	Block     int             `json:"block,omitempty"`
	Blocks    int             `json:"blocks,omitempty"`
	State     string          `json:"state"` // draft, outbox, recorded or refused
	Scorecard store.Scorecard `json:"scorecard"`
	Criteria  []string        `json:"criteria,omitempty"`
	By        string          `json:"by,omitempty"`    // the recorder's name
	Email     string          `json:"email,omitempty"` // and email
	At        time.Time       `json:"at,omitzero"`     // when it was recorded
	Written   time.Time       `json:"written,omitzero"`
	Reason    string          `json:"reason,omitempty"` // why it was refused
	LastError string          `json:"last_error,omitempty"`
	Tries     int             `json:"tries,omitempty"`
}

// Feedback returns a session's feedback.
func (n *Node) Feedback(ctx context.Context, id string) (FeedbackView, error) {
	r, err := n.lookupSession(id)
	if err != nil {
		return FeedbackView{}, err
	}
	v := FeedbackView{Session: r.ID, Title: r.Title, Candidate: r.Candidate, Block: r.Block, Blocks: r.Blocks, Criteria: criteriaOf(r)}
	if r.Company {
		f, err := n.db.Feedback(r.ID)
		if errors.Is(err, store.ErrNotFound) {
			return v, fmt.Errorf("no feedback recorded for session %s yet: %w", r.ID, ErrNotFound)
		}
		if err != nil {
			return v, err
		}
		return recordedView(v, f), nil
	}
	if r.Role == RoleCandidate {
		return v, fmt.Errorf("feedback is the interviewers' alone: %w", ErrNotInterviewer)
	}
	mine, err := n.db.Mine(r.ID)
	if errors.Is(err, store.ErrNotFound) {
		return v, fmt.Errorf("this node has no feedback for session %s (write it with `parley feedback submit`): %w", r.ID, ErrNotFound)
	}
	if err != nil {
		return v, err
	}
	v.State, v.Scorecard, v.Reason, v.LastError, v.Tries = mine.State, mine.Scorecard, mine.Reason, mine.LastError, mine.Tries
	v.By, v.At, v.Written = mine.By, mine.At, mine.Submitted
	return v, nil
}

func recordedView(v FeedbackView, f store.Feedback) FeedbackView {
	v.State, v.Scorecard, v.By, v.Email, v.At, v.Written = store.MineRecorded, f.Scorecard, f.Name, f.Email, f.Recorded, f.Written
	return v
}

// FeedbackList returns the feedback the company node recorded, newest
// first.
func (n *Node) FeedbackList(ctx context.Context) ([]FeedbackView, error) {
	if err := n.requireCompany("listing recorded feedback"); err != nil {
		return nil, err
	}
	all, err := n.db.AllFeedback()
	if err != nil {
		return nil, err
	}
	out := make([]FeedbackView, 0, len(all))
	for _, f := range all {
		v := FeedbackView{Session: f.Session}
		if r, err := n.db.Session(f.Session); err == nil {
			v.Title, v.Candidate, v.Block, v.Blocks, v.Criteria = r.Title, r.Candidate, r.Block, r.Blocks, criteriaOf(r)
		}
		out = append(out, recordedView(v, f))
	}
	slices.SortFunc(out, func(a, b FeedbackView) int { return b.At.Compare(a.At) })
	return out, nil
}
