package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"parley/crdt"
	"parley/invite"
	"parley/node"
	"parley/node/store"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/info", s.info)
	mux.HandleFunc("GET /api/v1/limits", s.limits)
	mux.HandleFunc("GET /api/v1/team", s.team)
	mux.HandleFunc("POST /api/v1/team", s.addMember)
	mux.HandleFunc("POST /api/v1/team/accept", s.acceptCredential)
	mux.HandleFunc("DELETE /api/v1/team/{email}", s.removeMember)
	mux.HandleFunc("GET /api/v1/sessions", s.sessions)
	mux.HandleFunc("POST /api/v1/sessions", s.createSessions)
	mux.HandleFunc("GET /api/v1/sessions/{id}", s.session)
	mux.HandleFunc("POST /api/v1/sessions/{id}/cancel", s.sessionAction((*node.Node).CancelSession))
	mux.HandleFunc("POST /api/v1/sessions/{id}/start", s.sessionAction((*node.Node).StartSession))
	mux.HandleFunc("POST /api/v1/sessions/{id}/end", s.sessionAction((*node.Node).EndSession))
	mux.HandleFunc("POST /api/v1/sessions/{id}/leave", s.sessionAction((*node.Node).LeaveSession))
	mux.HandleFunc("POST /api/v1/sessions/{id}/release-seat", s.sessionAction((*node.Node).ReleaseSeat))
	mux.HandleFunc("POST /api/v1/sessions/{id}/email", s.inviteEmail)
	mux.HandleFunc("POST /api/v1/sessions/{id}/quarantine/{peer}/lift", s.liftQuarantine)
	mux.HandleFunc("POST /api/v1/join", s.join)
	mux.HandleFunc("POST /api/v1/inspect", s.inspect)
	mux.HandleFunc("GET /api/v1/sessions/{id}/live", s.live)
	mux.HandleFunc("GET /api/v1/sessions/{id}/code", s.code)
	mux.HandleFunc("PUT /api/v1/sessions/{id}/files/{name}", s.loadFile)
	mux.HandleFunc("GET /api/v1/sessions/{id}/timeline", s.timeline)
	mux.HandleFunc("POST /api/v1/sessions/{id}/media/check", s.mediaCheck)
	mux.HandleFunc("GET /api/v1/sessions/{id}/notes", s.notes)
	mux.HandleFunc("POST /api/v1/sessions/{id}/notes", s.appendNotes)
	mux.HandleFunc("GET /api/v1/sessions/{id}/feedback", s.feedback)
	mux.HandleFunc("POST /api/v1/sessions/{id}/feedback", s.scorecard((*node.Node).Submit))
	mux.HandleFunc("PUT /api/v1/sessions/{id}/feedback/draft", s.scorecard((*node.Node).SaveDraft))
	mux.HandleFunc("GET /api/v1/sessions/{id}/feedback/form", s.feedbackForm((*node.Node).Form))
	mux.HandleFunc("POST /api/v1/sessions/{id}/feedback/recorder", s.feedbackForm((*node.Node).ClaimRecorder))
	mux.HandleFunc("GET /api/v1/feedback", s.feedbackList)
	mux.HandleFunc("GET /api/v1/sessions/{id}/history", s.history)
	mux.HandleFunc("GET /api/v1/sessions/{id}/doc/{kind}", s.doc)
	mux.HandleFunc("POST /api/v1/sessions/{id}/doc/{kind}", s.edit)
	mux.HandleFunc("POST /api/v1/sessions/{id}/run", s.run)
	mux.HandleFunc("GET /api/v1/sessions/{id}/runs", s.runs)
	mux.HandleFunc("POST /api/v1/sessions/{id}/runs/{run}/stop", s.stopRun)
	mux.HandleFunc("PUT /api/v1/sessions/{id}/running", s.setRunning)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no API route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Error: msg, Code: code})
}

// errorCodes maps the node's sentinel errors to HTTP statuses and codes; the
// client maps the codes back.
var errorCodes = []struct {
	err    error
	status int
	code   string
}{
	{node.ErrNotFound, http.StatusNotFound, "not_found"},
	{node.ErrSessionEnded, http.StatusConflict, "ended"},
	{node.ErrNotCompany, http.StatusForbidden, "not_company"},
	{node.ErrNotInterviewer, http.StatusForbidden, "not_interviewer"},
	{node.ErrNotNamed, http.StatusForbidden, "not_named"},
	{node.ErrNotJoined, http.StatusConflict, "not_joined"},
	{node.ErrNotRunning, http.StatusServiceUnavailable, "not_running"},
	{node.ErrNoDoc, http.StatusNotFound, "no_document"},
	{node.ErrRecorded, http.StatusConflict, "recorded"},
	{node.ErrRunOff, http.StatusConflict, "run_off"},
	{node.ErrNoRunner, http.StatusConflict, "no_runner"},
	{invite.ErrExpired, http.StatusBadRequest, "expired"},
	{invite.ErrNotYetValid, http.StatusBadRequest, "not_yet_valid"},
	{invite.ErrBadSignature, http.StatusBadRequest, "bad_signature"},
	{invite.ErrMalformed, http.StatusBadRequest, "malformed"},
	{invite.ErrUnsupportedVersion, http.StatusBadRequest, "unsupported_version"},
	{invite.ErrWrongPeer, http.StatusBadRequest, "wrong_peer"},
	{invite.ErrWrongIssuer, http.StatusBadRequest, "wrong_issuer"},
	{invite.ErrRevoked, http.StatusBadRequest, "revoked"},
}

// fail writes err as an error response.
func fail(w http.ResponseWriter, err error) {
	var refused *node.RefusedError
	if errors.As(err, &refused) {
		writeError(w, http.StatusConflict, "refused_"+refused.Code, err.Error())
		return
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			writeError(w, e.status, e.code, err.Error())
			return
		}
	}
	writeError(w, http.StatusBadRequest, "bad_request", err.Error())
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// decode reads a bounded, strictly parsed JSON body into v.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeN(w, r, v, maxBody)
}

// decodeN is decode with a body of at most limit bytes.
func decodeN(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "bad request body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "bad request body: trailing data")
		return false
	}
	return true
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	i, err := s.node.Info(r.Context())
	reply(w, i, err)
}

func (s *Server) limits(w http.ResponseWriter, r *http.Request) {
	reply(w, s.node.Limits(), nil)
}

func (s *Server) team(w http.ResponseWriter, r *http.Request) {
	t, err := s.node.Team(r.Context())
	if t == nil {
		t = []node.Member{}
	}
	reply(w, t, err)
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request) {
	var req node.NewMember
	if decode(w, r, &req) {
		res, err := s.node.AddMember(r.Context(), req)
		reply(w, res, err)
	}
}

// AcceptRequest is the body of POST /api/v1/team/accept.
type AcceptRequest struct {
	Token string `json:"token"`
}

func (s *Server) acceptCredential(w http.ResponseWriter, r *http.Request) {
	var req AcceptRequest
	if decode(w, r, &req) {
		m, err := s.node.AcceptCredential(r.Context(), req.Token)
		reply(w, m, err)
	}
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	m, err := s.node.RemoveMember(r.Context(), r.PathValue("email"))
	reply(w, m, err)
}

func (s *Server) sessions(w http.ResponseWriter, r *http.Request) {
	ss, err := s.node.Sessions(r.Context(), r.URL.Query().Get("status"))
	reply(w, ss, err)
}

func (s *Server) createSessions(w http.ResponseWriter, r *http.Request) {
	var req node.NewSessions
	if decode(w, r, &req) {
		ss, err := s.node.CreateSessions(r.Context(), req)
		reply(w, ss, err)
	}
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	v, err := s.node.Session(r.Context(), r.PathValue("id"))
	reply(w, v, err)
}

// sessionAction serves a POST that acts on one session.
func (s *Server) sessionAction(act func(*node.Node, context.Context, string) (node.Session, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := act(s.node, r.Context(), r.PathValue("id"))
		reply(w, v, err)
	}
}

func (s *Server) liftQuarantine(w http.ResponseWriter, r *http.Request) {
	v, err := s.node.LiftQuarantine(r.Context(), r.PathValue("id"), r.PathValue("peer"))
	reply(w, v, err)
}

// EmailRequest is the body of POST /api/v1/sessions/{id}/email.
type EmailRequest struct {
	Template string `json:"template,omitempty"`
	// For is whom the email is for: "candidate" (the default) or
	// "interviewers".
	For string `json:"for,omitempty"`
}

func (s *Server) inviteEmail(w http.ResponseWriter, r *http.Request) {
	var req EmailRequest
	if !decode(w, r, &req) {
		return
	}
	render := s.node.InviteEmail
	switch req.For {
	case "", "candidate":
	case "interviewers":
		render = s.node.InterviewerEmail
	default:
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("an email is for the candidate or the interviewers, not %q", req.For))
		return
	}
	e, err := render(r.Context(), r.PathValue("id"), req.Template)
	reply(w, e, err)
}

// JoinRequest is the body of POST /api/v1/join.
type JoinRequest struct {
	Link string `json:"link"`
	Name string `json:"name,omitempty"`
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if decode(w, r, &req) {
		res, err := s.node.Join(r.Context(), strings.TrimSpace(req.Link), req.Name)
		reply(w, res, err)
	}
}

// InspectRequest is the body of POST /api/v1/inspect.
type InspectRequest struct {
	Link string `json:"link"`
}

func (s *Server) inspect(w http.ResponseWriter, r *http.Request) {
	var req InspectRequest
	if decode(w, r, &req) {
		res, err := s.node.Inspect(r.Context(), strings.TrimSpace(req.Link))
		reply(w, res, err)
	}
}

// CodeResponse is the answer of GET /api/v1/sessions/{id}/code.
type CodeResponse struct {
	File string `json:"file"`
	Text string `json:"text"`
}

// code serves a file's text; with ?at=RFC3339, as it was then.
func (s *Server) code(w http.ResponseWriter, r *http.Request) {
	file := r.URL.Query().Get("file")
	if at := r.URL.Query().Get("at"); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("at=%q is not an RFC3339 time", at))
			return
		}
		text, file, err := s.node.CodeAt(r.Context(), r.PathValue("id"), file, t)
		reply(w, CodeResponse{File: file, Text: text}, err)
		return
	}
	text, file, err := s.node.Code(r.Context(), r.PathValue("id"), file)
	reply(w, CodeResponse{File: file, Text: text}, err)
}

// LoadRequest is the body of PUT /api/v1/sessions/{id}/files/{name}.
type LoadRequest struct {
	Text string `json:"text"`
}

func (s *Server) loadFile(w http.ResponseWriter, r *http.Request) {
	var req LoadRequest
	if decode(w, r, &req) {
		err := s.node.LoadFile(r.Context(), r.PathValue("id"), r.PathValue("name"), req.Text)
		reply(w, struct{}{}, err)
	}
}

func (s *Server) timeline(w http.ResponseWriter, r *http.Request) {
	tl, err := s.node.Timeline(r.Context(), r.PathValue("id"))
	if tl == nil {
		tl = []node.TimelineEntry{}
	}
	reply(w, tl, err)
}

// NotesBody is the answer of GET and the body of POST
// /api/v1/sessions/{id}/notes (a paragraph to add).
type NotesBody struct {
	Text string `json:"text"`
}

func (s *Server) notes(w http.ResponseWriter, r *http.Request) {
	text, err := s.node.Notes(r.Context(), r.PathValue("id"))
	reply(w, NotesBody{Text: text}, err)
}

func (s *Server) appendNotes(w http.ResponseWriter, r *http.Request) {
	var req NotesBody
	if decode(w, r, &req) {
		err := s.node.AppendNotes(r.Context(), r.PathValue("id"), req.Text)
		reply(w, struct{}{}, err)
	}
}

func (s *Server) feedback(w http.ResponseWriter, r *http.Request) {
	v, err := s.node.Feedback(r.Context(), r.PathValue("id"))
	reply(w, v, err)
}

// scorecard serves a request whose body is a scorecard: a draft or a
// submission.
func (s *Server) scorecard(f func(*node.Node, context.Context, string, store.Scorecard) (store.Mine, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sc store.Scorecard
		if decode(w, r, &sc) {
			m, err := f(s.node, r.Context(), r.PathValue("id"), sc)
			reply(w, m, err)
		}
	}
}

func (s *Server) feedbackForm(f func(*node.Node, context.Context, string) (node.FeedbackForm, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := f(s.node, r.Context(), r.PathValue("id"))
		reply(w, v, err)
	}
}

func (s *Server) feedbackList(w http.ResponseWriter, r *http.Request) {
	v, err := s.node.FeedbackList(r.Context())
	if v == nil {
		v = []node.FeedbackView{}
	}
	reply(w, v, err)
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	h, err := s.node.History(r.Context(), r.PathValue("id"))
	reply(w, h, err)
}

// MediaCheckRequest is the body of POST /api/v1/sessions/{id}/media/check.
type MediaCheckRequest struct {
	Seconds int `json:"seconds"`
}

func (s *Server) mediaCheck(w http.ResponseWriter, r *http.Request) {
	var req MediaCheckRequest
	if decode(w, r, &req) {
		res, err := s.node.MediaCheck(r.Context(), r.PathValue("id"), time.Duration(req.Seconds)*time.Second)
		if res == nil {
			res = []node.MediaCount{}
		}
		reply(w, res, err)
	}
}

func docKind(w http.ResponseWriter, r *http.Request) (crdt.Kind, bool) {
	switch k := crdt.Kind(r.PathValue("kind")); k {
	case crdt.Shared, crdt.Private:
		return k, true
	}
	writeError(w, http.StatusNotFound, "not_found", "documents are shared and private")
	return "", false
}

func (s *Server) doc(w http.ResponseWriter, r *http.Request) {
	if kind, ok := docKind(w, r); ok {
		v, err := s.node.View(r.Context(), r.PathValue("id"), kind)
		reply(w, v, err)
	}
}

// EditRequest is the body of POST /api/v1/sessions/{id}/doc/{kind}.
type EditRequest struct {
	Edits []crdt.Edit `json:"edits"`
}

func (s *Server) edit(w http.ResponseWriter, r *http.Request) {
	kind, ok := docKind(w, r)
	var req EditRequest
	if ok && decode(w, r, &req) {
		err := s.node.Edit(r.Context(), r.PathValue("id"), kind, req.Edits...)
		reply(w, struct{}{}, err)
	}
}
