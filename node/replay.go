package node

import (
	"context"

	"parley/crdt"
	"parley/node/store"
)

// Replay: Automerge keeps every change of the code with its actor and
// time. `parley replay` lists them (Timeline) and prints the code at a
// moment (CodeAt); the Replay page gets the same history as the saved
// document (History) and steps through it in the browser.

// HistoryActor is who an Automerge actor of a session is.
type HistoryActor struct {
	Name string `json:"name"`
	Peer string `json:"peer"`
	Role string `json:"role,omitempty"`
}

// History is a session's shared document with its whole history, for the
// Replay page.
type History struct {
	Session string `json:"session"`
	Title   string `json:"title"`
	// Doc is the shared document saved in full (Automerge's format).
	Doc []byte `json:"doc"`
	// Actors names the Automerge actors of the session by the first 16 hex
	// digits of their ID, which a node's actor and its pages' share.
	Actors map[string]HistoryActor `json:"actors"`
	// Changes are the document's changes in order, as `parley replay`
	// lists them (without their tallies).
	Changes []crdt.ChangeInfo `json:"changes"`
}

// History returns a session's shared document with its history: on the
// company node and on the participants' nodes, during the interview and
// after it.
func (n *Node) History(ctx context.Context, id string) (History, error) {
	var h History
	err := n.withDoc(id, crdt.Shared, func(d *sessionDoc, r store.Session) error {
		doc, err := n.worker.Save(d.id)
		if err != nil {
			return n.workerFailed(err)
		}
		changes, err := n.worker.History(d.id)
		if err != nil {
			return n.workerFailed(err)
		}
		for i := range changes {
			changes[i].Edits = nil // the page diffs the document itself
		}
		h = History{Session: r.ID, Title: r.Title, Doc: doc, Actors: map[string]HistoryActor{}, Changes: changes}
		roles := map[string]string{n.id.String(): r.Role}
		for _, a := range r.Attendance {
			roles[a.Peer] = a.Role
		}
		for p, name := range n.namesIn(r, d.l) {
			h.Actors[actorKey(actorOf(p))] = HistoryActor{Name: name, Peer: p.String(), Role: roles[p.String()]}
		}
		return nil
	})
	return h, err
}
