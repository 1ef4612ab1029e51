package node

import (
	"context"

	"parley/crdt"
	"parley/node/store"
)

// Replay: Automerge keeps every change of the code with its actor and
// time. `parley replay` lists them (Timeline) and prints the code at a
// moment (CodeAt); the Replay page gets the whole history worked out as
// patches on the files, change by change (History, crdt.Replay), and plays
// it without an Automerge of its own.

// HistoryActor is who an Automerge actor of a session is.
type HistoryActor struct {
	Name string `json:"name"`
	Peer string `json:"peer"`
	Role string `json:"role,omitempty"`
}

// History is a session's shared document's history, for the Replay page.
type History struct {
	Session string `json:"session"`
	Title   string `json:"title"`
	// Authors names the Automerge actors of the session by the first 16 hex
	// digits of their ID, which a node's actor and its pages' share.
	Authors map[string]HistoryActor `json:"authors"`
	// The changes in time order, each as patches on the files.
	crdt.Replay
}

// History returns a session's shared document's history: on the company
// node and on the participants' nodes, during the interview and after it.
func (n *Node) History(ctx context.Context, id string) (History, error) {
	var h History
	err := n.withDoc(id, crdt.Shared, func(d *sessionDoc, r store.Session) error {
		replay, err := n.worker.Replay(d.id)
		if err != nil {
			return n.workerFailed(err)
		}
		h = History{Session: r.ID, Title: r.Title, Authors: map[string]HistoryActor{}, Replay: replay}
		roles := map[string]string{n.id.String(): r.Role}
		for _, a := range r.Attendance {
			roles[a.Peer] = a.Role
		}
		for p, name := range n.namesIn(r, d.l) {
			h.Authors[actorKey(actorOf(p))] = HistoryActor{Name: name, Peer: p.String(), Role: roles[p.String()]}
		}
		return nil
	})
	return h, err
}
