package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/coder/websocket"

	"parley/crdt"
	"parley/node"
)

// The session page talks to its node over one WebSocket per session,
// GET /api/v1/sessions/{id}/live (PROTOCOL.md, "The session page"):
//
//   - binary frames carry the Automerge sync protocol between the page's
//     copies of the documents and the node's: a first byte naming the
//     document (0 shared, 1 private), then the sync message;
//   - text frames carry JSON messages typed by "type": from the node,
//     "hello" and "state" (the session, who is present, their carets);
//     from the page, "cursor".
//
// Positions on the WebSocket count UTF-16 code units, as the browser does;
// the node converts them to and from code points, which Automerge and the
// peers use.

// maxWSMessage bounds a message from the page; maxWSText a text one (an
// SDP answer is the largest).
const (
	maxWSMessage = 32 << 20
	maxWSText    = 64 << 10
)

// wsCursor is a caret on the WebSocket, in UTF-16 units.
type wsCursor struct {
	Peer   string `json:"peer,omitempty"`
	Name   string `json:"name,omitempty"`
	Role   string `json:"role,omitempty"`
	File   string `json:"file"`
	Anchor int    `json:"anchor"`
	Head   int    `json:"head"`
}

// wsIn is a text message from the page.
type wsIn struct {
	Type   string `json:"type"`
	File   string `json:"file,omitempty"`
	Anchor int    `json:"anchor,omitempty"`
	Head   int    `json:"head,omitempty"`
	SDP    string `json:"sdp,omitempty"` // media-answer
	Mic    *bool  `json:"mic,omitempty"` // media-state
	Cam    *bool  `json:"cam,omitempty"`
}

// wsOut is a text message to the page.
type wsOut struct {
	Type    string           `json:"type"`
	You     *node.Info       `json:"you,omitempty"`
	Role    string           `json:"role,omitempty"`
	Docs    []crdt.Kind      `json:"docs,omitempty"`
	Actor   string           `json:"actor,omitempty"` // hello: the page's actor prefix
	Session *node.Session    `json:"session,omitempty"`
	Cursors []wsCursor       `json:"cursors,omitempty"`
	Media   []node.MediaSlot `json:"media,omitempty"`
	SDP     string           `json:"sdp,omitempty"` // media-offer
	Error   string           `json:"error,omitempty"`
	// Reset, with an error, says the page's copy of the document holds a
	// change its node refused: the page drops it and syncs afresh.
	Reset string `json:"reset,omitempty"`
}

var docCodes = []crdt.Kind{crdt.Shared, crdt.Private}

func docCode(k crdt.Kind) byte {
	return byte(slices.Index(docCodes, k))
}

// parseWSIn decodes a text message from the page, strictly.
func parseWSIn(b []byte) (wsIn, error) {
	var m wsIn
	if len(b) > maxWSText {
		return m, fmt.Errorf("message of %d bytes is over the limit of %d", len(b), maxWSText)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("bad message: %w", err)
	}
	switch m.Type {
	case "cursor":
		if m.File == "" || m.Anchor < 0 || m.Head < 0 || len(m.File) > 256 {
			return m, fmt.Errorf("bad cursor")
		}
	case "media-start":
	case "media-answer":
		if !strings.HasPrefix(m.SDP, "v=0") {
			return m, fmt.Errorf("the media answer holds no session description")
		}
	case "media-state":
		if m.Mic == nil || m.Cam == nil {
			return m, fmt.Errorf("a media state says whether the microphone and the camera are on")
		}
	default:
		return m, fmt.Errorf("unknown message type %q", m.Type)
	}
	return m, nil
}

// parseWSBinary splits a binary frame into its document and sync message.
func parseWSBinary(b []byte) (crdt.Kind, []byte, error) {
	if len(b) < 2 {
		return "", nil, fmt.Errorf("binary frame of %d bytes: a document byte and a sync message", len(b))
	}
	if int(b[0]) >= len(docCodes) {
		return "", nil, fmt.Errorf("unknown document %d", b[0])
	}
	return docCodes[b[0]], b[1:], nil
}

// utf16ToCodePoints converts a UTF-16 offset into text to code points,
// clamped to the text.
func utf16ToCodePoints(text string, u int) int {
	cp := 0
	for _, r := range text {
		n := utf16.RuneLen(r)
		if n < 0 {
			n = 1
		}
		if u < n {
			break
		}
		u -= n
		cp++
	}
	return cp
}

// codePointsToUTF16 converts a code point offset into text to UTF-16 units,
// clamped to the text.
func codePointsToUTF16(text string, cp int) int {
	u := 0
	for _, r := range text {
		if cp == 0 {
			break
		}
		n := utf16.RuneLen(r)
		if n < 0 {
			n = 1
		}
		u += n
		cp--
	}
	return u
}

// live serves the session page's WebSocket.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	f, err := s.node.Follow(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	defer f.Close()
	// Host and Origin were checked by the guard.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(maxWSMessage)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	type frame struct {
		typ  websocket.MessageType
		data []byte
	}
	in := make(chan frame)
	done := make(chan struct{})
	go func() { // the reader
		defer close(done)
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			select {
			case in <- frame{typ, data}:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { cancel(); <-done }()

	write := func(typ websocket.MessageType, b []byte) error {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		return c.Write(wctx, typ, b)
	}
	writeJSON := func(m wsOut) error {
		b, _ := json.Marshal(m)
		return write(websocket.MessageText, b)
	}
	syncOut := func(kind crdt.Kind) error {
		msg, err := f.Generate(kind)
		if err != nil || msg == nil {
			return err
		}
		return write(websocket.MessageBinary, append([]byte{docCode(kind)}, msg...))
	}
	state := func() error {
		st, err := f.State(ctx)
		if err != nil {
			return err
		}
		out := wsOut{Type: "state", Session: &st.Session, Cursors: []wsCursor{}, Media: st.Media}
		texts := map[string]string{}
		for id, cur := range st.Cursors {
			text, ok := texts[cur.File]
			if !ok {
				text, _ = f.Text(ctx, cur.File)
				texts[cur.File] = text
			}
			role := ""
			for _, p := range st.Session.Participants {
				if p.Peer == id.String() {
					role = p.Role
				}
			}
			out.Cursors = append(out.Cursors, wsCursor{Peer: id.String(), Name: st.Names[id], Role: role, File: cur.File,
				Anchor: codePointsToUTF16(text, cur.Anchor), Head: codePointsToUTF16(text, cur.Head)})
		}
		slices.SortFunc(out.Cursors, func(a, b wsCursor) int { return strings.Compare(a.Peer, b.Peer) })
		return writeJSON(out)
	}

	// Taken before the state is read and kept until it fires, so that no
	// change is missed, even one made while a message is handled.
	changed := f.Changed()
	info, _ := s.node.Info(ctx)
	st, err := f.State(ctx)
	if err != nil {
		return
	}
	if err := writeJSON(wsOut{Type: "hello", You: &info, Role: st.Session.Role, Docs: f.Kinds(), Actor: f.ActorPrefix(), Session: &st.Session}); err != nil {
		return
	}
	for _, k := range f.Kinds() {
		if err := syncOut(k); err != nil {
			return
		}
	}
	if err := state(); err != nil {
		return
	}
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-done:
			return
		case <-f.Done():
			if f.Stopping() {
				// A restart: the page reconnects, and finds the session
				// again once the node is back.
				c.Close(websocket.StatusGoingAway, "the node is stopping")
				return
			}
			writeJSON(wsOut{Type: "state", Error: "this node left the session"})
			c.Close(websocket.StatusNormalClosure, "left the session")
			return
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.Ping(pctx)
			pcancel()
			if err != nil {
				return
			}
		case m := <-in:
			if err := s.fromPage(ctx, f, m.typ, m.data, syncOut, writeJSON); err != nil {
				out := wsOut{Type: "error", Error: err.Error()}
				if errors.Is(err, node.ErrRefusedChange) && m.typ == websocket.MessageBinary {
					out.Reset = string(docCodes[m.data[0]])
				}
				if writeJSON(out) != nil {
					return
				}
			}
		case <-changed:
			changed = f.Changed()
			for _, k := range f.Kinds() {
				if err := syncOut(k); err != nil && !errors.Is(err, node.ErrNoDoc) {
					return
				}
			}
			if err := state(); err != nil {
				return
			}
		}
	}
}

// fromPage handles one message from the page.
func (s *Server) fromPage(ctx context.Context, f *node.Follower, typ websocket.MessageType, data []byte, syncOut func(crdt.Kind) error, writeJSON func(wsOut) error) error {
	if typ == websocket.MessageBinary {
		kind, msg, err := parseWSBinary(data)
		if err != nil {
			return err
		}
		if !slices.Contains(f.Kinds(), kind) {
			return fmt.Errorf("this node does not keep the %s document", kind)
		}
		if err := f.Receive(kind, msg); err != nil {
			return err
		}
		return syncOut(kind)
	}
	m, err := parseWSIn(data)
	if err != nil {
		return err
	}
	switch m.Type {
	case "media-start":
		octx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		sdp, err := f.MediaOffer(octx)
		if err != nil {
			return err
		}
		return writeJSON(wsOut{Type: "media-offer", SDP: sdp})
	case "media-answer":
		return f.MediaAnswer(m.SDP)
	case "media-state":
		return f.SetMediaState(node.MediaState{Mic: *m.Mic, Cam: *m.Cam})
	}
	text, err := f.Text(ctx, m.File)
	if err != nil {
		return err
	}
	return f.SetCursor(node.Cursor{File: m.File, Anchor: utf16ToCodePoints(text, m.Anchor), Head: utf16ToCodePoints(text, m.Head)})
}
