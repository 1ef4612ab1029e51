package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"parley/invite"
	"parley/node/store"
)

// Inspection is what a link holds and what joining it would mean here: the
// join page shows it before the user joins.
type Inspection struct {
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"` // why it is not valid: expired, not_yet_valid, ended, credential, invalid
	invite.Summary
	Role   string `json:"role,omitempty"` // the role this node would have
	Name   string `json:"name,omitempty"` // the name it would join under, by default
	Joined bool   `json:"joined"`         // this node already takes part
}

// Inspect checks a link and tells what joining it would mean for this node.
// A link that cannot be decoded at all is an error; one that decodes but
// is expired, not yet valid, or of an interview that ended comes back with
// Valid false and the reason.
func (n *Node) Inspect(ctx context.Context, link string) (Inspection, error) {
	inv, err := invite.Parse(link)
	if err != nil {
		return Inspection{}, err
	}
	in := Inspection{Summary: inv.Summary()}
	fail := func(code string, err error) (Inspection, error) {
		in.Code, in.Error = code, err.Error()
		return in, nil
	}
	rec, err := n.db.Session(inv.SessionID)
	switch {
	case err == nil:
		in.Joined = rec.Joined
		if rec.State == store.StateEnded {
			return fail("ended", fmt.Errorf("this interview has ended (%s at %s)", cmp.Or(rec.EndReason, "ended"), invite.FormatTime(rec.EndedAt)))
		}
	case !errors.Is(err, store.ErrNotFound):
		return Inspection{}, err
	}
	if err := inv.Check(n.now()); err != nil {
		code := "invalid"
		switch {
		case errors.Is(err, invite.ErrExpired):
			code = "expired"
		case errors.Is(err, invite.ErrNotYetValid):
			code = "not_yet_valid"
		}
		return fail(code, err)
	}
	role, _, name, err := n.roleFor(inv)
	if err != nil {
		return fail("credential", err)
	}
	in.Valid, in.Role, in.Name = true, role, name
	return in, nil
}
