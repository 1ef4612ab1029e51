package main

import (
	"errors"
	"strings"

	"parley/invite"
	"parley/node"
	"parley/node/store"
)

// labels are the sentinel errors that classify an error for errors.Is. The
// node wraps them under a message that already says the same for people
// ("only an interviewer can do that...: not an interviewer"), so errorText
// drops them from the end.
var labels = []error{
	node.ErrSessionEnded, node.ErrNotInterviewer, node.ErrNotJoined, node.ErrNotRunning,
	node.ErrNotCompany, node.ErrNotFound, node.ErrNoDoc, node.ErrRecorded, node.ErrNotInitialized,
	store.ErrLocked, store.ErrNotFound, store.ErrRecorded,
	invite.ErrMalformed, invite.ErrUnsupportedVersion, invite.ErrBadSignature, invite.ErrWrongIssuer,
	invite.ErrNotYetValid, invite.ErrExpired, invite.ErrWrongPeer, invite.ErrRevoked,
}

// errorText is an error as people read it: its message, without the
// sentinel labels that only repeat what the message says.
func errorText(err error) string {
	msg := err.Error()
	for trimmed := true; trimmed; {
		trimmed = false
		for _, l := range labels {
			if rest, ok := strings.CutSuffix(msg, ": "+l.Error()); ok && rest != "" && errors.Is(err, l) {
				msg, trimmed = rest, true
			}
		}
	}
	return msg
}
