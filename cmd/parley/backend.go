package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"parley/node"
	"parley/node/store"
	"parley/node/web"
)

// backend is what commands ask of this machine's node: the node itself,
// opened in this process, or, while `parley up` runs (Badger allows one
// process), its local API.
type backend interface {
	Info(ctx context.Context) (node.Info, error)
	Team(ctx context.Context) ([]node.Member, error)
	AddMember(ctx context.Context, req node.NewMember) (node.AddResult, error)
	AcceptCredential(ctx context.Context, token string) (node.Member, error)
	RemoveMember(ctx context.Context, email string) (node.Member, error)
	Sessions(ctx context.Context, status string) ([]node.Session, error)
	CreateSessions(ctx context.Context, req node.NewSessions) ([]node.Session, error)
	Session(ctx context.Context, id string) (node.Session, error)
	CancelSession(ctx context.Context, id string) (node.Session, error)
	InviteEmail(ctx context.Context, id, tmpl string) (node.InviteEmail, error)
	InterviewerEmail(ctx context.Context, id, tmpl string) (node.InviteEmail, error)
	Join(ctx context.Context, link, name string) (node.JoinResult, error)
	StartSession(ctx context.Context, id string) (node.Session, error)
	EndSession(ctx context.Context, id string) (node.Session, error)
	LeaveSession(ctx context.Context, id string) (node.Session, error)
	ReleaseSeat(ctx context.Context, id string) (node.Session, error)
	Code(ctx context.Context, id, file string) (string, string, error)
	CodeAt(ctx context.Context, id, file string, t time.Time) (string, string, error)
	LoadFile(ctx context.Context, id, file, text string) error
	Timeline(ctx context.Context, id string) ([]node.TimelineEntry, error)
	Inspect(ctx context.Context, link string) (node.Inspection, error)
	MediaCheck(ctx context.Context, id string, d time.Duration) ([]node.MediaCount, error)
	Notes(ctx context.Context, id string) (string, error)
	AppendNotes(ctx context.Context, id, text string) error
	Form(ctx context.Context, id string) (node.FeedbackForm, error)
	ClaimRecorder(ctx context.Context, id string) (node.FeedbackForm, error)
	SaveDraft(ctx context.Context, id string, sc store.Scorecard) (store.Mine, error)
	Submit(ctx context.Context, id string, sc store.Scorecard) (store.Mine, error)
	Feedback(ctx context.Context, id string) (node.FeedbackView, error)
	FeedbackList(ctx context.Context) ([]node.FeedbackView, error)
	RunCode(ctx context.Context, id string, req node.RunRequest, events func(node.RunEvent)) (node.CodeRun, error)
}

var (
	_ backend = (*node.Node)(nil)
	_ backend = (*web.Client)(nil)
)

// withBackend runs f against the running node if there is one, else
// against the node opened here.
func (c *cli) withBackend(f func(b backend) error) error {
	dir, err := c.resolvedDir()
	if err != nil {
		return err
	}
	client, _, err := c.running(dir)
	if err != nil {
		return err
	}
	if client != nil {
		return f(client)
	}
	n, err := c.open()
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("a Parley node seems to be running in %s, but its local API does not answer; is it starting or stopping?", dir)
	}
	if err != nil {
		return err
	}
	err = f(n)
	if cerr := n.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, node.ErrNotRunning) {
		return fmt.Errorf("no node is running in %s: start it with `parley up` first", dir)
	}
	return err
}

// running finds the node running in dir through its API file, and returns
// a client of its local API and the file; a nil client if none answers (no
// file, or a stale one from a node that died: the store tells which).
func (c *cli) running(dir string) (*web.Client, web.APIFile, error) {
	api, err := web.ReadAPIFile(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, api, nil
	}
	if err != nil {
		return nil, api, err
	}
	client := web.NewClient(api.URL, api.Token)
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
	defer cancel()
	if _, err := client.Info(ctx); err != nil {
		return nil, api, nil
	}
	return client, api, nil
}

// resolvedDir returns the data directory in use.
func (c *cli) resolvedDir() (string, error) {
	if d := c.dir(); d != "" {
		return d, nil
	}
	return node.DefaultDir()
}

// requireRunning returns node.ErrNotRunning, which withBackend turns into
// advice, when the node is not on the network: before a command that needs
// it says anything else.
func (c *cli) requireRunning(n backend) error {
	info, err := n.Info(c.ctx)
	if err != nil {
		return err
	}
	if !info.Running {
		return node.ErrNotRunning
	}
	return nil
}
