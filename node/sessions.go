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

	"github.com/multiformats/go-multiaddr"

	"parley/invite"
	"parley/node/store"
)

// Session defaults and limits.
const (
	DefaultDuration        = time.Hour
	DefaultLinkValidity    = 7 * 24 * time.Hour
	DefaultMaxInterviewers = 3
	MinDuration            = time.Minute    // of a block
	MaxDuration            = 24 * time.Hour // of a block
)

// Session statuses as users see them. A pending session whose link expired
// unused is "expired".
const (
	StatusPending = store.StatePending
	StatusLobby   = store.StateLobby
	StatusLive    = store.StateLive
	StatusEnded   = store.StateEnded
	StatusExpired = "expired"
)

// Session is an interview session as users see one.
type Session struct {
	ID              string    `json:"id"`
	Link            string    `json:"link"`
	Status          string    `json:"status"`
	Title           string    `json:"title"`
	Candidate       string    `json:"candidate"`
	CandidateEmail  string    `json:"candidate_email,omitempty"`
	Block           int       `json:"block"`
	Blocks          int       `json:"blocks"`
	Starts          time.Time `json:"starts"`
	Duration        string    `json:"duration"`
	Expires         time.Time `json:"expires"`
	Interviewers    []string  `json:"interviewers"`
	MaxInterviewers int       `json:"max_interviewers"`
	Conference      string    `json:"conference,omitempty"`
	Recorder        string    `json:"recorder,omitempty"`
	Criteria        []string  `json:"criteria,omitempty"`
	Language        string    `json:"language,omitempty"` // the starter file's (see Languages)
	Zone            string    `json:"zone,omitempty"`     // the recruiter's time zone, on the company node
	Created         time.Time `json:"created"`
	StartedAt       time.Time `json:"started_at,omitzero"`
	StartedBy       string    `json:"started_by,omitempty"` // who started it, as this node saw the start
	EndedAt         time.Time `json:"ended_at,omitzero"`
	EndedBy         string    `json:"ended_by,omitempty"`
	EndReason       string    `json:"end_reason,omitempty"`

	// Role is this node's role: company, interviewer or candidate.
	Role string `json:"role,omitempty"`
	// Participants are those present now, as this node sees them (the
	// company node is never among them).
	Participants []Participant `json:"participants"`
	// CandidateWaiting is set while the candidate waits in the lobby.
	CandidateWaiting bool `json:"candidate_waiting"`
	// Attendance is who took part and when.
	Attendance []store.Attendance `json:"attendance,omitempty"`
	// Feedback says, on the company node, who recorded the session's
	// feedback and when (see Feedback for all of it).
	Feedback *FeedbackMark `json:"feedback,omitempty"`
	// MyFeedback is, on an interviewer's node, where its own feedback is:
	// draft, outbox, recorded or refused.
	MyFeedback string `json:"my_feedback,omitempty"`
	// Quarantined are peers whose document data this node refuses, because
	// it crashed the Automerge worker (shown to interviewers).
	Quarantined []Quarantine `json:"quarantined,omitempty"`
	// Refusals are what this node refused from participants (records,
	// changes, peers), newest last, and Refused how many in all (shown to
	// interviewers).
	Refusals []Refusal `json:"refusals,omitempty"`
	Refused  int       `json:"refused,omitempty"`
	// RefusedBy are the nodes that refuse this node's document data (its
	// user's edits reach them no more), as they said: shown in its room.
	RefusedBy []RefusedBy `json:"refused_by,omitempty"`
	// Execution says whether and where the session's code can run (see
	// StartRun), while this node takes part.
	Execution *Execution `json:"execution,omitempty"`
}

// NewSessions asks for an interview: one session per block.
type NewSessions struct {
	Candidate      string `json:"candidate"`
	CandidateEmail string `json:"candidate_email,omitempty"`
	Title          string `json:"title"`
	// Starts is when the first block starts; now if zero. Later blocks
	// follow back to back.
	Starts time.Time `json:"starts,omitzero"`
	// Duration of each block; DefaultDuration if zero.
	Duration time.Duration `json:"duration,omitempty"`
	// Validity is how long each link stays valid after its block starts;
	// DefaultLinkValidity if zero.
	Validity time.Duration `json:"validity,omitempty"`
	// Blocks is the number of sessions to make; 1 if zero.
	Blocks int `json:"blocks,omitempty"`
	// Interviewers are team members' emails.
	Interviewers []string `json:"interviewers,omitempty"`
	// MaxInterviewers in the session at once; DefaultMaxInterviewers if zero.
	MaxInterviewers int `json:"max_interviewers,omitempty"`
	// Conference is an external conferencing URL; empty for built-in calls.
	Conference string `json:"conference,omitempty"`
	// Recorder is the email of the interviewer who records feedback.
	Recorder string `json:"recorder,omitempty"`
	// Bootstrap multiaddrs for the links; the node's defaults if empty.
	Bootstrap []string `json:"bootstrap,omitempty"`
	// TURN is the TURN server URL for the links' media, instead of the
	// node's default (TURNNone for none). Each link carries credentials for
	// it, made with the node's TURN secret and valid until the link expires.
	// Links with an external Conference carry no TURN server.
	TURN string `json:"turn,omitempty"`
	// Criteria are what the feedback rates, 1 to 4 each; the node's
	// defaults (Settings.Criteria, else DefaultCriteria) if empty.
	Criteria []string `json:"criteria,omitempty"`
	// Language is the programming language the sessions start in (one of
	// Languages): each starts with one file in it, main.EXT, as CoderPad's
	// pads do. If empty, a session starts with no file (the command line
	// and the web form default to DefaultLanguage).
	Language string `json:"language,omitempty"`
	// Zone is the recruiter's time zone, an IANA name ("Europe/Paris"):
	// invite emails give times in it and in UTC. If empty, in UTC only.
	Zone string `json:"zone,omitempty"`
}

// Limits are what CreateSessions and AddMember accept and their defaults,
// for forms that say so before a request fails: the web app's New interview
// and Team pages, which then offer what the command line does. Durations
// are nanoseconds in JSON, as in requests.
type Limits struct {
	MinDuration     time.Duration `json:"min_duration"` // of a block
	MaxDuration     time.Duration `json:"max_duration"`
	MaxBlocks       int           `json:"max_blocks"`
	MaxInterviewers int           `json:"max_interviewers"`
	MaxCriteria     int           `json:"max_criteria"`
	MaxCriterionLen int           `json:"max_criterion_len"`
	Languages       []Language    `json:"languages"`
	Roles           []string      `json:"roles"` // of a team member
	Defaults        struct {
		Duration           time.Duration `json:"duration"`
		Validity           time.Duration `json:"validity"`
		MaxInterviewers    int           `json:"max_interviewers"`
		Criteria           []string      `json:"criteria"` // this node's
		Language           string        `json:"language"`
		CredentialLifetime time.Duration `json:"credential_lifetime"`
	} `json:"defaults"`
}

// Limits returns what session creation and team additions accept here.
func (n *Node) Limits() Limits {
	l := Limits{
		MinDuration: MinDuration, MaxDuration: MaxDuration, MaxBlocks: invite.MaxBlocks,
		MaxInterviewers: invite.MaxInterviewers, MaxCriteria: invite.MaxCriteria, MaxCriterionLen: invite.MaxCriterionLen,
		Languages: Languages, Roles: []string{string(invite.RoleInterviewer), string(invite.RoleAdmin)},
	}
	l.Defaults.Duration, l.Defaults.Validity, l.Defaults.MaxInterviewers = DefaultDuration, DefaultLinkValidity, DefaultMaxInterviewers
	l.Defaults.Criteria = n.settings.Criteria
	if len(l.Defaults.Criteria) == 0 {
		l.Defaults.Criteria = DefaultCriteria
	}
	l.Defaults.Language, l.Defaults.CredentialLifetime = DefaultLanguage, DefaultCredentialLifetime
	return l
}

// DefaultCriteria are the feedback criteria of a company node that set none.
var DefaultCriteria = []string{"Problem solving", "Code quality", "Communication"}

// CreateSessions stores new pending sessions, one per block, and returns
// them with their links.
func (n *Node) CreateSessions(ctx context.Context, req NewSessions) ([]Session, error) {
	if err := n.requireCompany("creating an interview session"); err != nil {
		return nil, err
	}
	now := n.now().UTC().Truncate(time.Second)
	req.Candidate = strings.TrimSpace(req.Candidate)
	req.Title = strings.TrimSpace(req.Title)
	req.Duration = cmp.Or(req.Duration, DefaultDuration)
	req.Validity = cmp.Or(req.Validity, DefaultLinkValidity)
	req.Blocks = cmp.Or(req.Blocks, 1)
	req.MaxInterviewers = cmp.Or(req.MaxInterviewers, DefaultMaxInterviewers)
	if req.Starts.IsZero() {
		req.Starts = now
	}
	req.Starts = req.Starts.UTC().Truncate(time.Second)
	switch {
	case req.Candidate == "":
		return nil, fmt.Errorf("a session needs the candidate's name (--candidate)")
	case req.Title == "":
		return nil, fmt.Errorf("a session needs a title (--title)")
	case req.Duration < MinDuration || req.Duration > MaxDuration:
		return nil, fmt.Errorf("duration %s is out of range: between %s and %s", FormatLongDuration(req.Duration), FormatLongDuration(MinDuration), FormatLongDuration(MaxDuration))
	case req.Validity <= 0:
		return nil, fmt.Errorf("link validity %s is not positive", FormatLongDuration(req.Validity))
	case req.Blocks < 1 || req.Blocks > invite.MaxBlocks:
		return nil, fmt.Errorf("%d blocks: between 1 and %d are allowed", req.Blocks, invite.MaxBlocks)
	case req.MaxInterviewers < 1 || req.MaxInterviewers > invite.MaxInterviewers:
		return nil, fmt.Errorf("maximum interviewers %d is out of range: between 1 and %d", req.MaxInterviewers, invite.MaxInterviewers)
	case !req.Starts.Add(time.Duration(req.Blocks-1) * req.Duration).Add(req.Validity).After(now):
		return nil, fmt.Errorf("the link would already have expired: it starts %s and stays valid for %s; give a later --starts or a longer --expires", invite.FormatTime(req.Starts), FormatLongDuration(req.Validity))
	}
	if req.Language != "" {
		if _, ok := LanguageOf(req.Language); !ok {
			return nil, fmt.Errorf("language %q: a session starts in one of %s", req.Language, LanguageIDs())
		}
	}
	if req.Zone != "" {
		if _, err := time.LoadLocation(req.Zone); err != nil || req.Zone == "Local" {
			return nil, fmt.Errorf("time zone %q is not one this node knows: give an IANA name such as Europe/Paris or America/New_York", req.Zone)
		}
	}
	if req.CandidateEmail != "" {
		if err := checkAddress(req.CandidateEmail); err != nil {
			return nil, fmt.Errorf("candidate email: %v", err)
		}
	}
	if req.Conference != "" {
		if err := invite.CheckConferenceURL(req.Conference); err != nil {
			return nil, err
		}
	}
	interviewers, err := n.teamEmails(req.Interviewers)
	if err != nil {
		return nil, err
	}
	// The link names them by credential: only they are let in as
	// interviewers, by every node (the candidate's too, which must not
	// learn their emails).
	var named []invite.CredentialID
	for _, e := range interviewers {
		m, err := n.db.Member(e)
		if err != nil {
			return nil, err
		}
		named = append(named, m.Credential)
	}
	if len(interviewers) > req.MaxInterviewers {
		return nil, fmt.Errorf("%d interviewers named, but a session allows at most %d (raise it with --max-interviewers)", len(interviewers), req.MaxInterviewers)
	}
	if req.Recorder != "" {
		rec, err := n.teamEmails([]string{req.Recorder})
		if err != nil {
			return nil, fmt.Errorf("feedback recorder: %w", err)
		}
		req.Recorder = rec[0]
		if len(interviewers) > 0 && !slices.Contains(interviewers, req.Recorder) {
			return nil, fmt.Errorf("feedback recorder %s is not one of the session's interviewers (%s)", req.Recorder, strings.Join(interviewers, ", "))
		}
	}
	criteria := req.Criteria
	if len(criteria) == 0 {
		criteria = n.settings.Criteria
	}
	if len(criteria) == 0 {
		criteria = DefaultCriteria
	}
	if err := invite.CheckCriteria(criteria); err != nil {
		return nil, err
	}
	bootstrap := req.Bootstrap
	if len(bootstrap) == 0 {
		bootstrap = n.settings.Bootstrap
	}
	if len(bootstrap) > invite.MaxBootstrap {
		return nil, fmt.Errorf("%d bootstrap addresses: at most %d fit in a link", len(bootstrap), invite.MaxBootstrap)
	}
	var addrs []multiaddr.Multiaddr
	for _, s := range bootstrap {
		if err := CheckBootstrap(s); err != nil {
			return nil, err
		}
		addrs = append(addrs, multiaddr.StringCast(s))
	}
	turnURL := cmp.Or(req.TURN, n.settings.TURN)
	var turnSecret []byte
	switch {
	case turnURL == TURNNone || req.Conference != "":
		turnURL = ""
	case turnURL != "":
		if err := invite.CheckTURNURL(turnURL); err != nil {
			return nil, err
		}
		if turnSecret, err = n.turnSecret(turnURL); err != nil {
			return nil, err
		}
	}
	revoked, err := n.revokedForInvite(now)
	if err != nil {
		return nil, err
	}

	var records []store.Session
	for b := 1; b <= req.Blocks; b++ {
		starts := req.Starts.Add(time.Duration(b-1) * req.Duration)
		inv := &invite.Invite{
			Org:             n.settings.Org,
			CompanyKey:      n.companyPublic(),
			SessionID:       invite.NewSessionID(),
			Secret:          invite.NewSecret(),
			Title:           req.Title,
			Candidate:       req.Candidate,
			Block:           b,
			Blocks:          req.Blocks,
			Starts:          starts,
			Duration:        req.Duration,
			ValidFrom:       earliest(now, starts),
			ValidUntil:      starts.Add(req.Validity),
			Bootstrap:       addrs,
			Conference:      req.Conference,
			MaxInterviewers: req.MaxInterviewers,
			Recorder:        req.Recorder,
			Criteria:        criteria,
			Revoked:         revoked,
			Language:        req.Language,
			Interviewers:    named,
		}
		if turnURL != "" {
			inv.TURN = turnURL
			inv.TURNUser, inv.TURNCredential = invite.TURNCredential(turnSecret, inv.SessionID, inv.ValidUntil)
		}
		tok, err := inv.Sign(n.company)
		if err != nil {
			return nil, err
		}
		records = append(records, store.Session{
			ID: inv.SessionID, Token: tok, Title: inv.Title, Candidate: inv.Candidate,
			CandidateEmail: req.CandidateEmail, Block: b, Blocks: req.Blocks, Starts: starts,
			Duration: req.Duration, Expires: inv.ValidUntil, Interviewers: interviewers,
			MaxInterviewers: req.MaxInterviewers, Conference: req.Conference, Recorder: req.Recorder,
			Criteria: criteria, Language: req.Language, Zone: req.Zone,
			Created: now, State: store.StatePending, Company: true, Role: RoleCompany, Name: n.settings.Org,
		})
	}
	if err := n.db.CreateSessions(records); err != nil {
		return nil, err
	}
	if req.Language != "" {
		for _, r := range records {
			if err := n.storeStarter(r.ID, req.Language); err != nil {
				n.log.Warn("storing the starter file; interviewers' pages add it", "session", r.ID, "err", err)
			}
		}
	}
	n.mu.Lock()
	running := n.p2p != nil
	n.mu.Unlock()
	if running {
		for _, r := range records {
			inv, _ := invite.Parse(r.Token)
			if _, err := n.openLive(inv, RoleCompany, n.settings.Org, "", r.Created, nil); err != nil {
				n.log.Warn("joining a new session", "session", r.ID, "err", err)
			}
		}
	}
	out := make([]Session, len(records))
	for i, r := range records {
		out[i] = n.sessionView(r)
	}
	return out, nil
}

// FormatDuration formats d without zero units: 1h, 1h30m, 45m.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// FormatLongDuration formats d for people, in days from a day up: 7d,
// 1d12h, 1h, 1h30m, 45m. (Session.Duration keeps FormatDuration's form,
// which time.ParseDuration reads.)
func FormatLongDuration(d time.Duration) string {
	const day = 24 * time.Hour
	days, rest := d/day, d%day
	switch {
	case days == 0:
		return FormatDuration(d)
	case rest == 0:
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%s", days, FormatDuration(rest))
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// teamEmails checks that each email names a team member and returns the
// stored spellings, without duplicates.
func (n *Node) teamEmails(emails []string) ([]string, error) {
	var out []string
	for _, e := range emails {
		m, err := n.db.Member(strings.TrimSpace(e))
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%s is not on the team: add them first with `parley team add --email %s ...` (see `parley team list`)", e, e)
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, m.Email) {
			out = append(out, m.Email)
		}
	}
	return out, nil
}

// revokedForInvite returns the revoked credential IDs a new link carries: all
// of them, or the latest-expiring ones if there are more than fit.
func (n *Node) revokedForInvite(now time.Time) ([]invite.CredentialID, error) {
	rs, _, err := n.db.Revocations(now)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rs, func(a, b store.Revoked) int { return b.Expires.Compare(a.Expires) })
	var ids []invite.CredentialID
	for i, r := range rs {
		if i == invite.MaxRevokedInInvite {
			n.log.Warn("more revoked credentials than fit in a link; the oldest rely on the company node's revocation list", "revoked", len(rs))
			break
		}
		ids = append(ids, r.ID)
	}
	return ids, nil
}

func (n *Node) sessionView(r store.Session) Session {
	s := Session{
		ID: r.ID, Link: invite.Link(n.settings.PublicURL, r.Token), Status: r.State, Title: r.Title,
		Candidate: r.Candidate, CandidateEmail: r.CandidateEmail, Block: r.Block, Blocks: r.Blocks,
		Starts: r.Starts, Duration: FormatDuration(r.Duration), Expires: r.Expires,
		Interviewers: append([]string{}, r.Interviewers...), MaxInterviewers: r.MaxInterviewers,
		Conference: r.Conference, Recorder: r.Recorder, Criteria: r.Criteria, Language: r.Language, Zone: r.Zone,
		Created: r.Created, StartedAt: r.StartedAt,
		EndedAt: r.EndedAt, EndedBy: r.EndedBy, EndReason: r.EndReason, Role: r.Role,
		Participants: []Participant{}, Attendance: r.Attendance,
	}
	// This node took part too, though it records only the others it saw
	// come and go.
	me := n.id.String()
	if r.Role != RoleCompany && r.Role != "" && !r.Since.IsZero() && !slices.ContainsFunc(r.Attendance, func(a store.Attendance) bool { return a.Peer == me }) {
		s.Attendance = append([]store.Attendance{{Peer: me, Name: r.Name, Role: r.Role, Joined: r.Since}}, r.Attendance...)
	}
	if r.Company {
		if f, err := n.db.Feedback(r.ID); err == nil {
			s.Feedback = &FeedbackMark{By: f.Name, At: f.Recorded, Recommendation: f.Scorecard.Recommendation}
		}
	} else if r.Role == RoleInterviewer {
		if m, err := n.db.Mine(r.ID); err == nil {
			s.MyFeedback = m.State
		}
	}
	n.mu.Lock()
	l := n.lives[r.ID]
	n.mu.Unlock()
	if l != nil {
		s.Participants = l.participants()
		s.Execution = l.execution()
		if l.role != RoleCandidate {
			s.Quarantined = l.quarantines()
			s.Refusals, s.Refused = l.refusalsList()
		}
		s.RefusedBy = l.refusedByList()
		l.mu.Lock()
		start, ended := l.state.start, l.state.end
		l.mu.Unlock()
		if start != nil {
			s.StartedAt, s.StartedBy = start.At, start.ByName
		}
		switch {
		case ended != nil:
			s.Status = StatusEnded
			s.EndedAt, s.EndedBy, s.EndReason = ended.At, ended.ByName, ended.Reason
		case start != nil:
			s.Status = StatusLive
		case len(s.Participants) > 0:
			s.Status = StatusLobby
		}
		if s.Status == StatusLobby {
			s.CandidateWaiting = slices.ContainsFunc(s.Participants, func(p Participant) bool { return p.Role == RoleCandidate })
		}
	}
	if s.Status == StatusPending && !n.now().Before(r.Expires) {
		s.Status = StatusExpired
	}
	return s
}

// Status filters for Sessions.
var statusFilters = map[string]func(status string) bool{
	StatusPending: func(s string) bool { return s == StatusPending },
	StatusLive:    func(s string) bool { return s == StatusLive || s == StatusLobby },
	StatusEnded:   func(s string) bool { return s == StatusEnded },
	StatusExpired: func(s string) bool { return s == StatusExpired },
	"all":         func(string) bool { return true },
}

// Sessions lists sessions with the given status (pending, live, which
// includes sessions with someone in the lobby, ended, expired, or all),
// ordered by start time. An empty status means pending.
func (n *Node) Sessions(ctx context.Context, status string) ([]Session, error) {
	keep, ok := statusFilters[cmp.Or(status, StatusPending)]
	if !ok {
		return nil, fmt.Errorf("unknown status %q: want pending, live, ended, expired or all", status)
	}
	rs, err := n.db.Sessions()
	if err != nil {
		return nil, err
	}
	out := []Session{}
	for _, r := range rs {
		if s := n.sessionView(r); keep(s.Status) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Session) int {
		return cmp.Or(a.Starts.Compare(b.Starts), cmp.Compare(a.Block, b.Block), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Session returns the session with the given ID, or the only one whose ID
// starts with it.
func (n *Node) Session(ctx context.Context, id string) (Session, error) {
	r, err := n.lookupSession(id)
	if err != nil {
		return Session{}, err
	}
	return n.sessionView(r), nil
}

// minIDPrefix is the shortest start of a session ID that picks a session:
// shorter ones would too often pick one by chance.
const minIDPrefix = 4

func (n *Node) lookupSession(id string) (store.Session, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	r, err := n.db.Session(id)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return r, err
	}
	var found []store.Session
	if len(id) >= minIDPrefix {
		all, err := n.db.Sessions()
		if err != nil {
			return r, err
		}
		for _, s := range all {
			if strings.HasPrefix(s.ID, id) {
				found = append(found, s)
			}
		}
	}
	switch len(found) {
	case 0:
		if len(id) < minIDPrefix {
			return r, fmt.Errorf("no session has the ID %q; to pick one by the start of its ID, give at least %d characters (see `parley session list --status all`): %w", id, minIDPrefix, ErrNotFound)
		}
		return r, fmt.Errorf("no session %q on this node (see `parley session list --status all`): %w", id, ErrNotFound)
	case 1:
		return found[0], nil
	}
	return r, fmt.Errorf("%q is the start of %d session IDs; give more of it", id, len(found))
}

// ErrSessionEnded is returned for a session that has ended.
var ErrSessionEnded = errors.New("this interview has ended")

// CancelSession ends a session nobody has started, so that its link is
// refused from then on.
func (n *Node) CancelSession(ctx context.Context, id string) (Session, error) {
	if err := n.requireCompany("cancelling a session"); err != nil {
		return Session{}, err
	}
	r, err := n.lookupSession(id)
	if err != nil {
		return Session{}, err
	}
	switch view := n.sessionView(r); view.Status {
	case StatusEnded:
		return Session{}, fmt.Errorf("session %s already ended on %s: %w", r.ID, invite.FormatTime(view.EndedAt), ErrSessionEnded)
	case StatusLive:
		return Session{}, fmt.Errorf("session %s is live: an interviewer ends it for everyone with `parley session end %s --yes`", r.ID, r.ID)
	}
	n.mu.Lock()
	l := n.lives[r.ID]
	n.mu.Unlock()
	end := record{Kind: recordEnd, Session: r.ID, Reason: "canceled"}
	if l != nil {
		// Everyone in the session hears of it at once.
		if err := l.act(end); err != nil {
			return Session{}, err
		}
		return n.Session(ctx, r.ID)
	}
	end.By, end.ByName, end.At = n.id.String(), n.settings.Org, n.now().UTC()
	sr, err := signRecord(end, n.company, nil, "")
	if err != nil {
		return Session{}, err
	}
	raw, _ := json.Marshal(sr)
	r, err = n.db.UpdateSession(r.ID, func(s *store.Session) error {
		if s.State == store.StateEnded {
			return fmt.Errorf("session %s already ended: %w", s.ID, ErrSessionEnded)
		}
		s.State = store.StateEnded
		s.EndedAt, s.EndedBy, s.EndReason = end.At, end.ByName, end.Reason
		s.Records = append(s.Records, raw)
		return nil
	})
	if err != nil {
		return Session{}, err
	}
	return n.sessionView(r), nil
}

// InviteEmail renders the invite email of a session to its candidate from a
// text/template (invite.DefaultEmailTemplate if tmpl is empty).
func (n *Node) InviteEmail(ctx context.Context, id, tmpl string) (InviteEmail, error) {
	return n.renderEmail(ctx, id, cmp.Or(tmpl, invite.DefaultEmailTemplate), false)
}

// InterviewerEmail renders the email to a session's interviewers from a
// text/template (invite.InterviewerEmailTemplate if tmpl is empty); its To
// lists their addresses.
func (n *Node) InterviewerEmail(ctx context.Context, id, tmpl string) (InviteEmail, error) {
	return n.renderEmail(ctx, id, cmp.Or(tmpl, invite.InterviewerEmailTemplate), true)
}

func (n *Node) renderEmail(ctx context.Context, id, tmpl string, interviewers bool) (InviteEmail, error) {
	r, err := n.lookupSession(id)
	if err != nil {
		return InviteEmail{}, err
	}
	s := n.sessionView(r)
	t, err := invite.ParseEmailTemplate(tmpl)
	if err != nil {
		return InviteEmail{}, err
	}
	f := invite.EmailFields{
		Link: s.Link, Candidate: s.Candidate, Title: s.Title, Org: n.settings.Org,
		Starts: invite.Time{Time: s.Starts}, Duration: invite.Duration(r.Duration),
		Block: s.Block, Blocks: s.Blocks, Conference: s.Conference, InBrowser: n.settings.PublicURL != "",
	}
	if r.Zone != "" {
		if loc, err := time.LoadLocation(r.Zone); err == nil {
			f.Starts.Zone = loc
		}
	}
	if l, ok := LanguageOf(r.Language); ok {
		f.Language, f.File = l.Name, l.File
	}
	var to []string
	for _, email := range r.Interviewers {
		name := email
		if m, err := n.db.Member(email); err == nil {
			name = m.Name
		}
		f.Interviewers = append(f.Interviewers, name)
		if email == r.Recorder {
			f.Recorder = name
		}
		to = append(to, email)
	}
	if f.Recorder == "" && r.Recorder != "" {
		f.Recorder = r.Recorder
		if m, err := n.db.Member(r.Recorder); err == nil {
			f.Recorder = m.Name
		}
	}
	e, err := invite.RenderEmail(t, f)
	if err != nil {
		return InviteEmail{}, err
	}
	out := InviteEmail{Subject: e.Subject, Body: e.Body, To: s.CandidateEmail}
	if interviewers {
		out.To = strings.Join(to, ", ")
	}
	return out, nil
}

// InviteEmail is a rendered invite email.
type InviteEmail struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
	// To is the candidate's email, if known; for the interviewers' email,
	// their addresses, comma-separated.
	To string `json:"to,omitempty"`
}
