package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"parley/node"
	"parley/node/web"
)

// joinRequest is the body of POST /guest/inspect and /guest/join: the link's
// token (or the whole link), never in an address, and the guest's name.
type joinRequest struct {
	Token string `json:"token"`
	Name  string `json:"name,omitempty"`
}

// inspect says what a link holds, as `parley invite inspect` does, and
// whether this browser already has its seat.
func (g *Gateway) inspect(w http.ResponseWriter, r *http.Request) {
	if !g.sameOrigin(w, r) {
		return
	}
	var req joinRequest
	if !decode(w, r, &req) {
		return
	}
	in, err := g.check(r.Context(), req.Token)
	var inv *invalidLink
	switch {
	case errors.As(err, &inv):
		writeJSON(w, viewOf(in)) // valid: false, with the reason
		return
	case err != nil:
		g.refused(r, "inspect", err)
		fail(w, err)
		return
	}
	v := viewOf(in)
	v.Joined = g.hasGuest(in.Session, g.guestOf(r, in.Session))
	writeJSON(w, v)
}

// join admits the guest: a participant of its own joins the session as the
// candidate, and the browser gets the cookie that binds it to it.
func (g *Gateway) join(w http.ResponseWriter, r *http.Request) {
	if !g.sameOrigin(w, r) {
		return
	}
	var req joinRequest
	if !decode(w, r, &req) {
		return
	}
	var session string
	if in, err := g.company.Inspect(r.Context(), req.Token); err == nil {
		session = in.Session
	}
	gu, in, err := g.joinGuest(r.Context(), req.Token, req.Name, g.guestOf(r, session))
	if err != nil {
		g.refused(r, "join", err)
		fail(w, err)
		return
	}
	g.setCookie(w, gu.rec.Session, gu.id, cookieAge(in, g.now()))
	v := viewOf(in)
	v.Joined, v.Room = true, "/guest/s/"+gu.rec.Session
	writeJSON(w, v)
}

// refused logs a refusal by its code: never the error's text, which may
// quote the link.
func (g *Gateway) refused(r *http.Request, what string, err error) {
	_, code := errorCode(err)
	g.log.Info("guest refused", "what", what, "code", code, "client", g.clientIP(r))
}

// What a guest's page may send on its WebSocket: a message of at most 4 MiB
// (a file pasted whole fits, and the worker's limits are the node's), at
// most 1000 a second with bursts of 5000. Two people typing fast make a
// page send a few hundred a second (a sync message per change each way, and
// carets); a page over the limit reconnects, and syncs afresh.
const (
	maxMessage   = 4 << 20
	messageRate  = 1000
	messageBurst = 5000
)

// Close codes of a guest's WebSocket refused before the page protocol
// starts (4000-4999 are the application's): the page stops reconnecting
// and shows the reason.
const (
	closeNoGuest = 4401 // no participant for this browser: join again
	closeRefused = 4409 // ended, or the seat went to another device
	closeFull    = 4503 // the gateway is full
	closeTooMany = 4429 // too many sockets for one guest
)

// live serves a guest's WebSocket: the page protocol, served by the same
// code as a node's local server (web.Live), to the guest's participant.
func (g *Gateway) live(w http.ResponseWriter, r *http.Request) {
	session := r.PathValue("id")
	if !sessionPattern.MatchString(session) {
		writeError(w, http.StatusNotFound, "not_found", "no such interview")
		return
	}
	if !g.sameOrigin(w, r) {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	r = r.WithContext(ctx)
	guestID := g.guestOf(r, session)
	if guestID == "" {
		g.refuseSocket(w, r, closeNoGuest, g.noGuest(ctx, session))
		return
	}
	n, release, err := g.acquire(ctx, guestID, session, cancel)
	if err != nil {
		code := websocket.StatusCode(closeRefused)
		switch {
		case errors.Is(err, errNoGuest):
			code = closeNoGuest
		case errors.Is(err, errFull), errors.Is(err, errClosed):
			code = closeFull
		case errors.Is(err, errTooMany):
			code = closeTooMany
		}
		g.refused(r, "socket", err)
		g.refuseSocket(w, r, code, err)
		return
	}
	defer release()
	web.Live{Ping: g.cfg.PingInterval, MaxMessage: maxMessage, Rate: messageRate, Burst: messageBurst}.Serve(w, r, hosted{n}, session)
}

// refuseSocket accepts a WebSocket only to say why it cannot go on: a page
// cannot read an HTTP error answered to its WebSocket, only a close frame
// (its reason is at most 123 bytes, so the whole message goes first, as
// the page protocol's error).
func (g *Gateway) refuseSocket(w http.ResponseWriter, r *http.Request, code websocket.StatusCode, err error) {
	c, aerr := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // the origin was checked
	if aerr != nil {
		return
	}
	defer c.CloseNow()
	msg := err.Error()
	b, _ := json.Marshal(struct {
		Type  string `json:"type"`
		Error string `json:"error"`
		Fatal bool   `json:"fatal"`
	}{"error", msg, true})
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if c.Write(ctx, websocket.MessageText, b) == nil {
		c.Close(code, truncate(msg, 123))
	}
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.TrimSpace(s)
}

// hosted is a hosted participant as the page's WebSocket sees it: its
// hello names the participant, not where its files are on the company's
// machine.
type hosted struct{ n *node.Node }

var _ web.LiveNode = hosted{}

func (h hosted) Follow(ctx context.Context, session string) (*node.Follower, error) {
	return h.n.Follow(ctx, session)
}

func (h hosted) Info(context.Context) (node.Info, error) {
	return node.Info{Peer: h.n.ID().String(), Running: true}, nil
}
