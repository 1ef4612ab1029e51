package invite

import "time"

// Summary is what a link holds, as `parley invite inspect --json` and the
// web app's join page show it: never its secrets (the session secret, the
// TURN credential).
type Summary struct {
	Org             string    `json:"org"`
	CompanyKey      string    `json:"company_key"` // fingerprint
	Session         string    `json:"session"`
	Title           string    `json:"title"`
	Candidate       string    `json:"candidate"`
	Block           int       `json:"block"`
	Blocks          int       `json:"blocks"`
	Starts          time.Time `json:"starts"`
	Duration        string    `json:"duration"`
	ValidFrom       time.Time `json:"valid_from"`
	ValidUntil      time.Time `json:"valid_until"`
	Conference      string    `json:"conference,omitempty"`
	MaxInterviewers int       `json:"max_interviewers"`
	Recorder        string    `json:"recorder,omitempty"`
	Bootstrap       []string  `json:"bootstrap"`
	TURN            string    `json:"turn,omitempty"`
	TURNExpires     time.Time `json:"turn_expires,omitzero"` // when the link's TURN credentials expire
}

// Summary returns what the link holds.
func (inv *Invite) Summary() Summary {
	s := Summary{
		Org: inv.Org, CompanyKey: Fingerprint(inv.CompanyKey), Session: inv.SessionID,
		Title: inv.Title, Candidate: inv.Candidate, Block: inv.Block, Blocks: inv.Blocks,
		Starts: inv.Starts, Duration: inv.Duration.String(), ValidFrom: inv.ValidFrom, ValidUntil: inv.ValidUntil,
		Conference: inv.Conference, MaxInterviewers: inv.MaxInterviewers, Recorder: inv.Recorder,
		Bootstrap: []string{}, TURN: inv.TURN, TURNExpires: inv.TURNExpiry(),
	}
	for _, a := range inv.Bootstrap {
		s.Bootstrap = append(s.Bootstrap, a.String())
	}
	return s
}
