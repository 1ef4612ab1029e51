package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/invite"
	"parley/node/store"
)

// DefaultCredentialLifetime is how long a team credential lasts unless the
// admin says otherwise.
const DefaultCredentialLifetime = 90 * 24 * time.Hour

// Member is a team member as users see one: on the company node, a member
// of its team; on an interviewer's node, a credential it holds.
type Member struct {
	Name       string    `json:"name"`
	Email      string    `json:"email"`
	Role       string    `json:"role"`
	Peer       string    `json:"peer"`
	Credential string    `json:"credential"` // credential ID
	Issued     time.Time `json:"issued"`
	Expires    time.Time `json:"expires"`
	Org        string    `json:"org"`
	CompanyKey string    `json:"company_key"` // fingerprint
	Token      string    `json:"token,omitempty"`
}

// NewMember is a request to add a member to the team.
type NewMember struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Peer  string `json:"peer"`
	// Role defaults to interviewer.
	Role string `json:"role,omitempty"`
	// Lifetime of the credential; DefaultCredentialLifetime if zero.
	Lifetime time.Duration `json:"lifetime,omitempty"`
}

// AddResult is the outcome of AddMember.
type AddResult struct {
	Member   Member  `json:"member"`
	Replaced *Member `json:"replaced,omitempty"` // an earlier member with the same email, now revoked
}

// AddMember adds a member to the company's team and issues their credential.
// A member with the same email is replaced and their old credential revoked.
func (n *Node) AddMember(ctx context.Context, req NewMember) (AddResult, error) {
	if err := n.requireCompany("adding a team member"); err != nil {
		return AddResult{}, err
	}
	req.Name = strings.TrimSpace(req.Name)
	req.Email = strings.TrimSpace(req.Email)
	if req.Name == "" {
		return AddResult{}, fmt.Errorf("a team member needs a name (--name)")
	}
	if err := checkAddress(req.Email); err != nil {
		return AddResult{}, fmt.Errorf("a team member needs an email address (--email): %v", err)
	}
	pid, err := peer.Decode(strings.TrimSpace(req.Peer))
	if err != nil {
		return AddResult{}, fmt.Errorf("%q is not a peer ID: ask %s to run `parley id` and send you what it prints", req.Peer, req.Name)
	}
	// A node keeps one credential per company: a second email for the same
	// node would leave one of the two members without theirs.
	ms, err := n.db.Members()
	if err != nil {
		return AddResult{}, err
	}
	for _, m := range ms {
		if m.Peer == pid.String() && !strings.EqualFold(m.Email, req.Email) {
			return AddResult{}, fmt.Errorf("peer %s is already on the team as %s <%s>, and a node holds one credential per company: to change the email, run `parley team remove %s` and add them again; if %s is someone else, ask them for their own node's peer ID (`parley id` on their machine)", req.Peer, m.Name, m.Email, m.Email, req.Name)
		}
	}
	role := invite.RoleInterviewer
	if req.Role != "" {
		if role, err = invite.ParseRole(req.Role); err != nil {
			return AddResult{}, err
		}
	}
	life := req.Lifetime
	if life == 0 {
		life = DefaultCredentialLifetime
	}
	if life < 0 {
		return AddResult{}, fmt.Errorf("credential lifetime %v is not positive", life)
	}
	now := n.now().UTC().Truncate(time.Second)
	c := &invite.Credential{
		ID:         invite.NewCredentialID(),
		CompanyKey: n.companyPublic(),
		Org:        n.settings.Org,
		Peer:       pid,
		Name:       req.Name,
		Email:      req.Email,
		Role:       role,
		Issued:     now,
		Expires:    now.Add(life),
	}
	tok, err := c.Sign(n.company)
	if err != nil {
		return AddResult{}, err
	}
	m := store.Member{
		Email: req.Email, Name: req.Name, Peer: pid.String(), Role: role,
		Credential: c.ID, Token: tok, Issued: c.Issued, Expires: c.Expires,
	}
	replaced, err := n.db.PutMember(m, now)
	if err != nil {
		return AddResult{}, err
	}
	res := AddResult{Member: n.memberView(m)}
	if replaced != nil {
		v := n.memberView(*replaced)
		v.Token = ""
		res.Replaced = &v
	}
	return res, nil
}

func (n *Node) memberView(m store.Member) Member {
	return Member{
		Name: m.Name, Email: m.Email, Role: string(m.Role), Peer: m.Peer, Credential: m.Credential.String(),
		Issued: m.Issued, Expires: m.Expires, Org: n.settings.Org,
		CompanyKey: invite.Fingerprint(n.companyPublic()), Token: m.Token,
	}
}

func credentialView(c *invite.Credential, token string) Member {
	return Member{
		Name: c.Name, Email: c.Email, Role: string(c.Role), Peer: c.Peer.String(), Credential: c.ID.String(),
		Issued: c.Issued, Expires: c.Expires, Org: c.Org, CompanyKey: invite.Fingerprint(c.CompanyKey), Token: token,
	}
}

// AcceptCredential checks a team credential (signed, issued for this node,
// valid now) and keeps it, replacing an earlier one from the same company.
func (n *Node) AcceptCredential(ctx context.Context, token string) (Member, error) {
	c, err := invite.ParseCredential(token)
	if err != nil {
		return Member{}, err
	}
	if err := c.Check(invite.CredentialCheck{Peer: n.id, Now: n.now()}); err != nil {
		return Member{}, err
	}
	if n.company != nil && c.CompanyKey.Equal(n.companyPublic()) {
		return Member{}, fmt.Errorf("this is the company node of %s: credentials are for interviewers' own nodes; run `parley team accept` on the interviewer's machine", c.Org)
	}
	tok := strings.TrimSpace(token)
	if err := n.db.PutCredential(c.CompanyKey, store.Credential{Token: tok, Accepted: n.now().UTC()}); err != nil {
		return Member{}, err
	}
	return credentialView(c, tok), nil
}

// Team lists the team on the company node, or the credentials this node
// holds on any other, ordered by name.
func (n *Node) Team(ctx context.Context) ([]Member, error) {
	var out []Member
	if n.company != nil {
		ms, err := n.db.Members()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			out = append(out, n.memberView(m))
		}
	} else {
		cs, err := n.db.Credentials()
		if err != nil {
			return nil, err
		}
		for _, sc := range cs {
			c, err := invite.ParseCredential(sc.Token)
			if err != nil {
				n.log.Warn("stored credential does not parse", "err", err)
				continue
			}
			out = append(out, credentialView(c, sc.Token))
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out, nil
}

// checkAddress checks an email address given for a new team member or
// invite: a plain address whose domain has a dot (acme.com), since an
// address like ana@acme reaches nobody outside one network. Addresses
// already in credentials are only held to invite.CheckEmail.
func checkAddress(s string) error {
	if err := invite.CheckEmail(s); err != nil {
		return err
	}
	_, domain, _ := strings.Cut(s, "@")
	if !strings.Contains(strings.Trim(domain, "."), ".") {
		return fmt.Errorf("%q has no full domain after the @ (like acme.com): check the address", s)
	}
	return nil
}

// ErrNotFound is returned for a member or session that does not exist.
var ErrNotFound = errors.New("not found")

// RemoveMember removes a member from the team and revokes their credential.
func (n *Node) RemoveMember(ctx context.Context, email string) (Member, error) {
	if err := n.requireCompany("removing a team member"); err != nil {
		return Member{}, err
	}
	m, err := n.db.RemoveMember(strings.TrimSpace(email), n.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return Member{}, fmt.Errorf("no team member has the email %q (see `parley team list`): %w", email, ErrNotFound)
	}
	if err != nil {
		return Member{}, err
	}
	n.spreadRevocations()
	v := n.memberView(m)
	v.Token = ""
	return v, nil
}

// revokedCheck returns what tells, on the company node, whether the company
// revoked a credential.
func (n *Node) revokedCheck() (func(invite.CredentialID) bool, error) {
	rs, _, err := n.db.Revocations(n.now())
	if err != nil {
		return nil, err
	}
	set := make(map[invite.CredentialID]bool, len(rs))
	for _, r := range rs {
		set[r.ID] = true
	}
	return func(id invite.CredentialID) bool { return set[id] }, nil
}

// Revocations returns the company's current revocation list, signed.
func (n *Node) Revocations() (*invite.Revocations, string, error) {
	if err := n.requireCompany("signing the revocation list"); err != nil {
		return nil, "", err
	}
	now := n.now().UTC()
	rs, seq, err := n.db.Revocations(now)
	if err != nil {
		return nil, "", err
	}
	r := &invite.Revocations{CompanyKey: n.companyPublic(), Seq: seq, Issued: now.Truncate(time.Second)}
	for _, e := range rs {
		r.Entries = append(r.Entries, invite.Revoked{ID: e.ID, Expires: e.Expires})
	}
	tok, err := r.Sign(n.company)
	return r, tok, err
}
