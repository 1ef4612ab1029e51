package node

import (
	"context"
	"strings"
	"sync"

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
		heads, err := n.worker.Heads(d.id)
		if err != nil {
			return n.workerFailed(err)
		}
		key := r.ID + " " + strings.Join(heads, ",") // the heads say what it holds, whichever copy the worker has
		replay, ok := n.replays.get(key)
		if !ok {
			if replay, err = n.worker.Replay(d.id); err != nil {
				return n.workerFailed(err)
			}
			n.replays.put(key, replay)
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

// replayCache keeps the last few histories worked out, by document and
// heads: an ended session's does not change, and working one out takes a
// second or two on a long session (BenchmarkReplay in crdt).
type replayCache struct {
	mu      sync.Mutex
	entries []replayEntry // the most recent last
}

type replayEntry struct {
	key    string
	replay crdt.Replay
}

const replaysKept = 4

func (c *replayCache) get(key string) (crdt.Replay, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.key == key {
			return e.replay, true
		}
	}
	return crdt.Replay{}, false
}

func (c *replayCache) put(key string, r crdt.Replay) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == replaysKept {
		c.entries = c.entries[1:]
	}
	c.entries = append(c.entries, replayEntry{key, r})
}
