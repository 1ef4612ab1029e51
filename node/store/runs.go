package store

import (
	"encoding/json"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Run keys:
//
//	run/<session>/<id>  Run: a run of the session's code that this node saw
//	                    end (IDs begin with their start time, so a session's
//	                    runs list oldest first)

// Run is a run of a session's code, as this node saw it end: what people
// see of it, and the runner's signed result, so that anyone can check it
// again later.
type Run struct {
	Session string          `json:"session"`
	ID      string          `json:"id"`
	Started time.Time       `json:"started"`
	View    json.RawMessage `json:"view"`
	Signed  json.RawMessage `json:"signed,omitempty"`
}

func runKey(session, id string) string { return "run/" + session + "/" + id }

// PutRun stores a run, replacing what was stored under its ID.
func (s *DB) PutRun(r Run) error {
	return s.update(func(txn *badger.Txn) error { return put(txn, runKey(r.Session, r.ID), r) })
}

// Runs returns a session's runs, oldest first.
func (s *DB) Runs(session string) ([]Run, error) {
	return view(s, func(txn *badger.Txn) ([]Run, error) { return list[Run](txn, "run/"+session+"/") })
}
