package node

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"parley/crdt"
)

// The interviewers' private notes (Markdown) live in the session's private
// document, which only interviewers' nodes and the company node keep: the
// candidate's node never receives it.

// maxNoteAppend bounds one paragraph added from the command line.
const maxNoteAppend = 64 << 10

// Notes returns a session's private notes.
func (n *Node) Notes(ctx context.Context, id string) (string, error) {
	if err := n.mayReadNotes(id); err != nil {
		return "", err
	}
	v, err := n.View(ctx, id, crdt.Private)
	return v.Notes, err
}

// AppendNotes adds a paragraph at the end of a session's private notes, as
// this node's own change (interviewers only).
func (n *Node) AppendNotes(ctx context.Context, id, text string) error {
	if err := n.mayReadNotes(id); err != nil {
		return err
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return fmt.Errorf("nothing to add")
	}
	if len(text) > maxNoteAppend || !utf8.ValidString(text) {
		return fmt.Errorf("a paragraph is UTF-8 text of at most %d bytes", maxNoteAppend)
	}
	v, err := n.View(ctx, id, crdt.Private)
	if err != nil {
		return err
	}
	switch {
	case v.Notes == "":
	case strings.HasSuffix(v.Notes, "\n\n"):
	case strings.HasSuffix(v.Notes, "\n"):
		text = "\n" + text
	default:
		text = "\n\n" + text
	}
	return n.Edit(ctx, id, crdt.Private, crdt.Edit{Op: "splice", Target: "notes", Pos: utf8.RuneCountInString(v.Notes), Text: text + "\n"})
}

// mayReadNotes refuses the candidate's node, which keeps no notes.
func (n *Node) mayReadNotes(id string) error {
	r, err := n.lookupSession(id)
	if err != nil {
		return err
	}
	if r.Role == RoleCandidate {
		return fmt.Errorf("the private notes are the interviewers' alone: %w", ErrNotInterviewer)
	}
	return nil
}
