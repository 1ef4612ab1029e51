package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"parley/crdt"

	"parley/node"
	"parley/node/store"
)

// Client calls a running node's local API. Its methods mirror node.Node's.
type Client struct {
	URL   string
	Token string
	HTTP  *http.Client
}

// APIFile is what a running node writes to DATA/api.json (0600), for the
// command line to find it; it is removed on shutdown.
type APIFile struct {
	URL   string `json:"url"`
	Token string `json:"token"`
	PID   int    `json:"pid"`
	Peer  string `json:"peer"`
}

// PageURL returns the address of a page of the running node's web app
// (path like "/s/SESSION"), with its access token, as Server.PageURL does.
func (f APIFile) PageURL(path string) string {
	return PageURL(f.URL, path, f.Token)
}

// WriteAPIFile writes the API file into the data directory.
func WriteAPIFile(dir string, f APIFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, node.APIFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// RemoveAPIFile removes the API file, if it is the one this process wrote.
func RemoveAPIFile(dir string) {
	if f, err := ReadAPIFile(dir); err == nil && f.PID == os.Getpid() {
		os.Remove(filepath.Join(dir, node.APIFile))
	}
}

// ReadAPIFile reads the API file of a data directory.
func ReadAPIFile(dir string) (APIFile, error) {
	var f APIFile
	b, err := os.ReadFile(filepath.Join(dir, node.APIFile))
	if err != nil {
		return f, err
	}
	if len(b) > 4096 {
		return f, fmt.Errorf("%s is too large", node.APIFile)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", node.APIFile, err)
	}
	return f, nil
}

// NewClient returns a client of the API at url.
func NewClient(url, token string) *Client {
	return &Client{URL: url, Token: token, HTTP: &http.Client{Timeout: 2 * time.Minute}}
}

// APIError is an error the API answered with.
type APIError struct {
	Status int
	Code   string
	Msg    string
}

func (e *APIError) Error() string { return e.Msg }

// Is lets errors.Is match the node's sentinel errors by code.
func (e *APIError) Is(target error) bool {
	for _, c := range errorCodes {
		if c.code == e.Code && c.err == target {
			return true
		}
	}
	return e.Code == "refused_ended" && target == node.ErrSessionEnded
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("the node's local API at %s does not answer: %w", c.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			return &APIError{Status: resp.StatusCode, Msg: fmt.Sprintf("the node answered %s", resp.Status)}
		}
		return &APIError{Status: resp.StatusCode, Code: eb.Code, Msg: eb.Error}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Info describes the node.
func (c *Client) Info(ctx context.Context) (node.Info, error) {
	var v node.Info
	return v, c.do(ctx, "GET", "/api/v1/info", nil, &v)
}

// Team lists the team, or the node's credentials.
func (c *Client) Team(ctx context.Context) ([]node.Member, error) {
	var v []node.Member
	return v, c.do(ctx, "GET", "/api/v1/team", nil, &v)
}

// AddMember adds a team member.
func (c *Client) AddMember(ctx context.Context, req node.NewMember) (node.AddResult, error) {
	var v node.AddResult
	return v, c.do(ctx, "POST", "/api/v1/team", req, &v)
}

// AcceptCredential keeps a credential issued for the node.
func (c *Client) AcceptCredential(ctx context.Context, token string) (node.Member, error) {
	var v node.Member
	return v, c.do(ctx, "POST", "/api/v1/team/accept", AcceptRequest{Token: token}, &v)
}

// RemoveMember removes a team member.
func (c *Client) RemoveMember(ctx context.Context, email string) (node.Member, error) {
	var v node.Member
	return v, c.do(ctx, "DELETE", "/api/v1/team/"+url.PathEscape(email), nil, &v)
}

// Sessions lists sessions with a status.
func (c *Client) Sessions(ctx context.Context, status string) ([]node.Session, error) {
	var v []node.Session
	return v, c.do(ctx, "GET", "/api/v1/sessions?status="+url.QueryEscape(status), nil, &v)
}

// CreateSessions creates an interview.
func (c *Client) CreateSessions(ctx context.Context, req node.NewSessions) ([]node.Session, error) {
	var v []node.Session
	return v, c.do(ctx, "POST", "/api/v1/sessions", req, &v)
}

// Session returns one session.
func (c *Client) Session(ctx context.Context, id string) (node.Session, error) {
	var v node.Session
	return v, c.do(ctx, "GET", "/api/v1/sessions/"+url.PathEscape(id), nil, &v)
}

func (c *Client) sessionAction(ctx context.Context, id, action string) (node.Session, error) {
	var v node.Session
	return v, c.do(ctx, "POST", "/api/v1/sessions/"+url.PathEscape(id)+"/"+action, struct{}{}, &v)
}

// CancelSession cancels a session nobody started.
func (c *Client) CancelSession(ctx context.Context, id string) (node.Session, error) {
	return c.sessionAction(ctx, id, "cancel")
}

// StartSession starts the interview.
func (c *Client) StartSession(ctx context.Context, id string) (node.Session, error) {
	return c.sessionAction(ctx, id, "start")
}

// EndSession ends the interview for everyone.
func (c *Client) EndSession(ctx context.Context, id string) (node.Session, error) {
	return c.sessionAction(ctx, id, "end")
}

// LeaveSession leaves without ending.
func (c *Client) LeaveSession(ctx context.Context, id string) (node.Session, error) {
	return c.sessionAction(ctx, id, "leave")
}

// ReleaseSeat frees the candidate seat.
func (c *Client) ReleaseSeat(ctx context.Context, id string) (node.Session, error) {
	return c.sessionAction(ctx, id, "release-seat")
}

// InviteEmail renders a session's invite email.
func (c *Client) InviteEmail(ctx context.Context, id, tmpl string) (node.InviteEmail, error) {
	var v node.InviteEmail
	return v, c.do(ctx, "POST", "/api/v1/sessions/"+url.PathEscape(id)+"/email", EmailRequest{Template: tmpl}, &v)
}

// InterviewerEmail renders the email to a session's interviewers.
func (c *Client) InterviewerEmail(ctx context.Context, id, tmpl string) (node.InviteEmail, error) {
	var v node.InviteEmail
	return v, c.do(ctx, "POST", "/api/v1/sessions/"+url.PathEscape(id)+"/email", EmailRequest{Template: tmpl, For: "interviewers"}, &v)
}

// Join takes part in the session of a link.
func (c *Client) Join(ctx context.Context, link, name string) (node.JoinResult, error) {
	var v node.JoinResult
	return v, c.do(ctx, "POST", "/api/v1/join", JoinRequest{Link: link, Name: name}, &v)
}

// Code returns a file's text (the active file's when file is empty), and
// its name.
func (c *Client) Code(ctx context.Context, id, file string) (string, string, error) {
	var v CodeResponse
	err := c.do(ctx, "GET", "/api/v1/sessions/"+url.PathEscape(id)+"/code?file="+url.QueryEscape(file), nil, &v)
	return v.Text, v.File, err
}

// CodeAt returns a file's text as it was at t, and its name.
func (c *Client) CodeAt(ctx context.Context, id, file string, t time.Time) (string, string, error) {
	var v CodeResponse
	q := "/api/v1/sessions/" + url.PathEscape(id) + "/code?file=" + url.QueryEscape(file) + "&at=" + url.QueryEscape(t.Format(time.RFC3339Nano))
	err := c.do(ctx, "GET", q, nil, &v)
	return v.Text, v.File, err
}

// LoadFile replaces a file's text.
func (c *Client) LoadFile(ctx context.Context, id, file, text string) error {
	return c.do(ctx, "PUT", "/api/v1/sessions/"+url.PathEscape(id)+"/files/"+url.PathEscape(file), LoadRequest{Text: text}, &struct{}{})
}

// Timeline lists who changed which file when.
func (c *Client) Timeline(ctx context.Context, id string) ([]node.TimelineEntry, error) {
	var v []node.TimelineEntry
	return v, c.do(ctx, "GET", "/api/v1/sessions/"+url.PathEscape(id)+"/timeline", nil, &v)
}

// Notes returns a session's private notes.
func (c *Client) Notes(ctx context.Context, id string) (string, error) {
	var v NotesBody
	err := c.do(ctx, "GET", "/api/v1/sessions/"+url.PathEscape(id)+"/notes", nil, &v)
	return v.Text, err
}

// AppendNotes adds a paragraph to a session's private notes.
func (c *Client) AppendNotes(ctx context.Context, id, text string) error {
	return c.do(ctx, "POST", "/api/v1/sessions/"+url.PathEscape(id)+"/notes", NotesBody{Text: text}, nil)
}

// Form returns a session's feedback form.
func (c *Client) Form(ctx context.Context, id string) (node.FeedbackForm, error) {
	var v node.FeedbackForm
	return v, c.do(ctx, "GET", "/api/v1/sessions/"+url.PathEscape(id)+"/feedback/form", nil, &v)
}

// ClaimRecorder makes this node's interviewer the session's recorder.
func (c *Client) ClaimRecorder(ctx context.Context, id string) (node.FeedbackForm, error) {
	var v node.FeedbackForm
	return v, c.do(ctx, "POST", "/api/v1/sessions/"+url.PathEscape(id)+"/feedback/recorder", struct{}{}, &v)
}

// SaveDraft keeps a draft of this node's feedback.
func (c *Client) SaveDraft(ctx context.Context, id string, sc store.Scorecard) (store.Mine, error) {
	var v store.Mine
	return v, c.do(ctx, "PUT", "/api/v1/sessions/"+url.PathEscape(id)+"/feedback/draft", sc, &v)
}

// Submit submits this node's feedback.
func (c *Client) Submit(ctx context.Context, id string, sc store.Scorecard) (store.Mine, error) {
	var v store.Mine
	return v, c.do(ctx, "POST", "/api/v1/sessions/"+url.PathEscape(id)+"/feedback", sc, &v)
}

// Feedback returns a session's feedback.
func (c *Client) Feedback(ctx context.Context, id string) (node.FeedbackView, error) {
	var v node.FeedbackView
	return v, c.do(ctx, "GET", "/api/v1/sessions/"+url.PathEscape(id)+"/feedback", nil, &v)
}

// FeedbackList returns the feedback the company node recorded.
func (c *Client) FeedbackList(ctx context.Context) ([]node.FeedbackView, error) {
	var v []node.FeedbackView
	return v, c.do(ctx, "GET", "/api/v1/feedback", nil, &v)
}

// Inspect says what a link holds and what joining it would mean.
func (c *Client) Inspect(ctx context.Context, link string) (node.Inspection, error) {
	var v node.Inspection
	return v, c.do(ctx, "POST", "/api/v1/inspect", InspectRequest{Link: link}, &v)
}

// MediaCheck sends the generated test signal into a session's call for d
// and counts what arrives from each participant.
func (c *Client) MediaCheck(ctx context.Context, id string, d time.Duration) ([]node.MediaCount, error) {
	var v []node.MediaCount
	return v, c.do(ctx, "POST", "/api/v1/sessions/"+url.PathEscape(id)+"/media/check", MediaCheckRequest{Seconds: int(d / time.Second)}, &v)
}

// View reads a session's document.
func (c *Client) View(ctx context.Context, id string, kind crdt.Kind) (crdt.View, error) {
	var v crdt.View
	return v, c.do(ctx, "GET", "/api/v1/sessions/"+url.PathEscape(id)+"/doc/"+string(kind), nil, &v)
}

// Edit makes edits to a session's document.
func (c *Client) Edit(ctx context.Context, id string, kind crdt.Kind, edits ...crdt.Edit) error {
	return c.do(ctx, "POST", "/api/v1/sessions/"+url.PathEscape(id)+"/doc/"+string(kind), EditRequest{Edits: edits}, &struct{}{})
}
