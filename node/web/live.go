package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"parley/crdt"
	"parley/invite"
	"parley/node"
)

// The session page talks to its node over one WebSocket per session,
// GET /api/v1/sessions/{id}/live (PROTOCOL.md, "The session page"):
//
//   - binary frames carry the Automerge sync protocol between the page's
//     copies of the documents and the node's: a first byte naming the
//     document (0 shared, 1 private), then the sync message;
//   - text frames carry JSON messages typed by "type": from the node,
//     "hello" and "state" (the session, who is present, their carets),
//     and "run" (a run of the code started, printed, ended); from the
//     page, "cursor".
//
// Positions on the WebSocket count UTF-16 code units, as the browser does;
// the node converts them to and from code points, which Automerge and the
// peers use.

// maxWSMessage bounds a message from the page, by default (Live.MaxMessage);
// maxWSText a text one (an SDP answer is the largest). Twice maxWSMessage
// may wait for the loop.
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
	// run: the file to run (File), its language and input; run-stop: the
	// run to stop.
	Lang  string `json:"lang,omitempty"`
	Stdin string `json:"stdin,omitempty"`
	Run   string `json:"run,omitempty"`
}

// wsOut is a text message to the page.
type wsOut struct {
	Type  string      `json:"type"`
	You   *node.Info  `json:"you,omitempty"`
	Role  string      `json:"role,omitempty"`
	Docs  []crdt.Kind `json:"docs,omitempty"`
	Actor string      `json:"actor,omitempty"` // hello: the page's actor prefix
	// Saved, in a hello to a page that takes saved documents, names the
	// documents whose saved form follows at once.
	Saved []crdt.Kind `json:"saved,omitempty"`
	// Doc and View are a preview: a document as it reads, while this node
	// loads it.
	Doc     crdt.Kind        `json:"doc,omitempty"`
	View    json.RawMessage  `json:"view,omitempty"`
	Session *node.Session    `json:"session,omitempty"`
	Cursors []wsCursor       `json:"cursors,omitempty"`
	Media   []node.MediaSlot `json:"media,omitempty"`
	SDP     string           `json:"sdp,omitempty"` // media-offer
	Error   string           `json:"error,omitempty"`
	Run     *node.RunEvent   `json:"run,omitempty"`
	// ICEServers, with a media offer to a page in a browser on another
	// machine (a guest of the company's gateway), are the link's STUN and
	// TURN servers, for the page's RTCPeerConnection.
	ICEServers []wsICEServer `json:"ice_servers,omitempty"`
	// Reset, with an error, says the page's copy of the document holds a
	// change its node refused: the page drops it and syncs afresh.
	Reset string `json:"reset,omitempty"`
}

// wsICEServer is an RTCIceServer of the browser's API.
type wsICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

var docCodes = []crdt.Kind{crdt.Shared, crdt.Private}

func docCode(k crdt.Kind) byte {
	return byte(slices.Index(docCodes, k))
}

// savedFlag marks a binary frame to the page that carries a document saved
// whole (Automerge's save format), not a sync message.
const savedFlag = 0x80

// changesFlag marks a binary frame, either way, that carries changes in
// Automerge's incremental format (one or more, as Automerge's
// saveIncremental writes them), not a sync message: on a socket opened
// with ?changes=1, what a document gains travels so, without a sync round.
const changesFlag = 0x40

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
	case "run":
		if len(m.File) > 256 || len(m.Lang) > 32 {
			return m, fmt.Errorf("bad run: a file name of at most 256 bytes and a language of at most 32")
		}
	case "run-stop":
		if m.Run == "" || len(m.Run) > 64 {
			return m, fmt.Errorf("run-stop names the run to stop")
		}
	default:
		return m, fmt.Errorf("unknown message type %q", m.Type)
	}
	return m, nil
}

// parseWSBinary splits a binary frame into its document and its data: a
// sync message, or changes if the frame says so.
func parseWSBinary(b []byte) (kind crdt.Kind, data []byte, changes bool, err error) {
	if len(b) < 2 {
		return "", nil, false, fmt.Errorf("binary frame of %d bytes: a document byte and a sync message or changes", len(b))
	}
	code := b[0] &^ changesFlag
	if int(code) >= len(docCodes) {
		return "", nil, false, fmt.Errorf("unknown document %d", b[0])
	}
	return docCodes[code], b[1:], b[0]&changesFlag != 0, nil
}

// LiveNode is what the session page's WebSocket talks to: the node that
// takes part in the session. *node.Node is one; the company's public gateway
// passes the participant it hosts for a guest.
type LiveNode interface {
	// Follow starts following a session the node takes part in.
	Follow(ctx context.Context, session string) (*node.Follower, error)
	// Info describes the node: the page's hello says who it is.
	Info(ctx context.Context) (node.Info, error)
}

var _ LiveNode = (*node.Node)(nil)

// Live serves the session page's WebSocket (PROTOCOL.md, "The session
// page"): the local server for its own node's pages, the public gateway for
// its guests'. The zero value works.
type Live struct {
	// Ping is how often the node pings the page; a socket from which
	// nothing at all was read for a whole interval after a ping is closed.
	// If zero, 30 s.
	Ping time.Duration
	// MaxMessage bounds one message from the page, in bytes; twice as much
	// may wait to be handled. If zero, 32 MiB: a page on this machine. The
	// public gateway's guests get less.
	MaxMessage int64
	// Rate, if set, is how many messages a second the page may send, Burst
	// at once: a page over it is closed (1008), and reconnects. Typing sends
	// a few dozen a second.
	Rate  rate.Limit
	Burst int
}

// live serves the session page's WebSocket of this server's node.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	Live{Ping: s.ping}.Serve(w, r, s.node, r.PathValue("id"))
}

// Serve serves the session page's WebSocket for a session n takes part in:
// a reader, a keepalive and the loop, which owns the socket's state and does
// all the work. The caller has checked the request: its Host and Origin, and
// that it may use n.
func (lv Live) Serve(w http.ResponseWriter, r *http.Request, n LiveNode, session string) {
	f, err := n.Follow(r.Context(), session)
	if err != nil {
		fail(w, err)
		return
	}
	defer f.Close()
	ping := cmp.Or(lv.Ping, 30*time.Second)
	var heard atomic.Uint64 // frames read from the page, control frames too
	// Host and Origin were checked by the guard.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		// Control frames are read inside the reader's Read: a pong (or a
		// ping) never waits for the loop.
		OnPingReceived: func(context.Context, []byte) bool { heard.Add(1); return true },
		OnPongReceived: func(context.Context, []byte) { heard.Add(1) },
	})
	if err != nil {
		return
	}
	defer c.CloseNow()
	maxMessage := cmp.Or(lv.MaxMessage, maxWSMessage)
	c.SetReadLimit(maxMessage)
	ctx, cancel := context.WithCancel(r.Context())
	in := newInbox(int(2 * maxMessage))
	var limit *rate.Limiter
	if lv.Rate > 0 {
		limit = rate.NewLimiter(lv.Rate, max(lv.Burst, 1))
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the reader
		defer close(done)
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if limit != nil && !limit.Allow() {
				c.Close(websocket.StatusPolicyViolation, "too many messages from the page")
				return
			}
			heard.Add(1)
			if in.put(ctx, pageFrame{typ, data}) != nil {
				return
			}
		}
	})
	wg.Go(func() { keepalive(ctx, c, ping, &heard, in) })
	defer func() { cancel(); wg.Wait() }()

	write := func(typ websocket.MessageType, b []byte) error {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		return c.Write(wctx, typ, b)
	}
	writeJSON := func(m wsOut) error {
		b, _ := json.Marshal(m)
		return write(websocket.MessageText, b)
	}
	// A page that takes saved documents (?saved=1; the web app does) is
	// sent each document saved whole when its copy is empty, rather than
	// the history change by change, and a preview of a document this node
	// is still loading (node.Follower.Arriving).
	takesSaved := r.URL.Query().Get("saved") == "1"
	// A page that takes changes (?changes=1; the web app does) is sent
	// what the documents gain as changes (change frames), and a sync
	// message only when that cannot say it (node.Follower.Take).
	takesChanges := r.URL.Query().Get("changes") == "1"
	if takesChanges {
		f.FeedChanges()
	}
	sentView, sentSaved := map[crdt.Kind]bool{}, map[crdt.Kind]bool{}
	savedOut := func(kind crdt.Kind, b []byte) error {
		sentSaved[kind] = true
		return write(websocket.MessageBinary, append([]byte{docCode(kind) | savedFlag}, b...))
	}
	arrivingOut := func() error {
		if !takesSaved {
			return nil
		}
		for _, k := range f.Kinds() {
			view, saved := f.Arriving(k)
			if view != nil && !sentView[k] && !sentSaved[k] {
				sentView[k] = true
				if err := writeJSON(wsOut{Type: "preview", Doc: k, View: view}); err != nil {
					return err
				}
			}
			if saved != nil && !sentSaved[k] {
				if err := savedOut(k, saved); err != nil {
					return err
				}
			}
		}
		return nil
	}
	syncOut := func(kind crdt.Kind) error {
		msg, err := f.Generate(kind)
		if err != nil || msg == nil {
			return err
		}
		return write(websocket.MessageBinary, append([]byte{docCode(kind)}, msg...))
	}
	// syncReply answers the page's sync message (nil: its changes, some
	// of which wait for changes this node lacks). A page that takes
	// changes gets no answer that says nothing new to one that said
	// nothing new: while two people type, both copies' heads differ most
	// of the time, and the sync protocol would go on exchanging heads, a
	// walk of the history each, until the typing stops.
	syncReply := func(kind crdt.Kind, incoming []byte) error {
		if !takesChanges || incoming == nil {
			return syncOut(kind)
		}
		msg, err := f.Generate(kind)
		if err != nil || msg == nil {
			return err
		}
		if news(incoming) || news(msg) {
			return write(websocket.MessageBinary, append([]byte{docCode(kind)}, msg...))
		}
		return nil
	}
	// docOut brings the page's copy of a document up to what changed: the
	// changes fed to it, else a sync message.
	docOut := func(kind crdt.Kind) error {
		if !takesChanges {
			return syncOut(kind)
		}
		chs, resync, fed := f.Take(kind)
		if len(chs) > 0 {
			if err := write(websocket.MessageBinary, append([]byte{docCode(kind) | changesFlag}, chs...)); err != nil {
				return err
			}
		}
		if resync || !fed {
			return syncOut(kind)
		}
		return nil
	}
	// state sends the session's state; once the session has ended, it
	// says so and reports errEnded: the documents no longer change, and
	// the page closes its editors and shows the final code.
	errEnded := errors.New("the session ended")
	var sentSession []byte // the session as the page last had it
	state := func() error {
		st, err := f.State(ctx)
		if err != nil {
			return err
		}
		if st.Session.Status == node.StatusEnded {
			return errors.Join(writeJSON(wsOut{Type: "state", Session: &st.Session, Error: endedText(st.Session)}), errEnded)
		}
		out := wsOut{Type: "state", Session: &st.Session, Cursors: []wsCursor{}, Media: st.Media}
		for id, cur := range st.Cursors {
			role := ""
			for _, p := range st.Session.Participants {
				if p.Peer == id.String() {
					role = p.Role
				}
			}
			out.Cursors = append(out.Cursors, wsCursor{Peer: id.String(), Name: st.Names[id], Role: role, File: cur.File,
				Anchor: cur.Anchor, Head: cur.Head})
		}
		slices.SortFunc(out.Cursors, func(a, b wsCursor) int { return strings.Compare(a.Peer, b.Peer) })
		// A caret that moved is a small message: the session goes only
		// when it changed.
		if b, _ := json.Marshal(st.Session); bytes.Equal(b, sentSession) {
			out.Session = nil
		} else {
			sentSession = b
		}
		return writeJSON(out)
	}

	// left closes the socket once this node is out of the session: as
	// going away when the node stops (a restart: the page reconnects, and
	// finds the session again once the node is back), else for good. It
	// reports whether it did. Whatever fails while the node stops ends
	// here too, not with a connection dropped without a close frame.
	left := func() bool {
		select {
		case <-f.Done():
		default:
			return false
		}
		if f.Stopping() {
			c.Close(websocket.StatusGoingAway, "the node is stopping")
			return true
		}
		writeJSON(wsOut{Type: "state", Error: "this node left the session"})
		c.Close(websocket.StatusNormalClosure, "left the session")
		return true
	}

	// Taken before the state is read and kept until it fires, so that no
	// change is missed, even one made while a message is handled.
	changed := f.Changed()
	runsChanged := f.RunsChanged()
	// What the page was sent covers these counts: a change of one
	// document costs that document's sync message, not the others', nor
	// a state message (the session, carets, the call).
	sentDocs, sentState := f.Versions()
	// A document rebuilt from what the company node holds (node/leftout.go)
	// makes the page start again from the node's copy.
	rebuilt, _ := f.Rebuilt()
	info, _ := n.Info(ctx)
	st, err := f.State(ctx)
	if err != nil {
		left()
		return
	}
	sentSession, _ = json.Marshal(st.Session)
	saved := map[crdt.Kind][]byte{}
	hello := wsOut{Type: "hello", You: &info, Role: st.Session.Role, Docs: f.Kinds(), Actor: f.ActorPrefix(), Session: &st.Session}
	if takesSaved {
		for _, k := range f.Kinds() {
			if b, err := f.Saved(k); err == nil && b != nil {
				saved[k] = b
				hello.Saved = append(hello.Saved, k)
			}
		}
	}
	if err := writeJSON(hello); err != nil {
		return
	}
	// A document this node is still loading goes as its preview, then the
	// peer's document: the preview shows at once, where the page takes
	// seconds to load a long history.
	if err := arrivingOut(); err != nil {
		return
	}
	for _, k := range hello.Saved {
		if sentSaved[k] {
			continue
		}
		if err := savedOut(k, saved[k]); err != nil {
			return
		}
	}
	for _, k := range f.Kinds() {
		if err := syncOut(k); err != nil {
			left()
			return
		}
	}
	// ended closes the socket at once once the session ended: 1000 tells
	// the page not to reconnect. (The node itself stays in the session a
	// few seconds more, so that the end reaches everyone; the page has no
	// use for those.)
	ended := func(err error) {
		if errors.Is(err, errEnded) {
			c.Close(websocket.StatusNormalClosure, "the interview has ended")
			return
		}
		left()
	}
	if err := state(); err != nil {
		ended(err)
		return
	}
	runs := func() error {
		for _, ev := range f.RunEvents() {
			if err := writeJSON(wsOut{Type: "run", Run: &ev}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := runs(); err != nil {
		left()
		return
	}
	for {
		select {
		case <-done:
			return
		case <-f.Done():
			left()
			return
		case <-in.ready:
			m, ok := in.take()
			if !ok {
				continue
			}
			if err := fromPage(ctx, f, m.typ, m.data, syncReply, writeJSON); err != nil {
				out := wsOut{Type: "error", Error: err.Error()}
				if errors.Is(err, node.ErrRefusedChange) && m.typ == websocket.MessageBinary {
					out.Reset = string(docCodes[m.data[0]&^changesFlag])
				}
				if writeJSON(out) != nil {
					return
				}
			}
		case <-runsChanged:
			runsChanged = f.RunsChanged()
			if err := runs(); err != nil {
				left()
				return
			}
		case <-changed:
			changed = f.Changed()
			if r, kind := f.Rebuilt(); r != rebuilt {
				rebuilt = r
				if writeJSON(wsOut{Type: "error", Reset: string(kind),
					Error: "the company node refused data this copy held; this node dropped it and typed the texts again: the page starts again from its copy"}) != nil {
					return
				}
			}
			if err := arrivingOut(); err != nil {
				return
			}
			docs, st := f.Versions()
			for _, k := range f.Kinds() {
				// Only a document that changed: a caret moved, or anything
				// else of the session's state, says nothing new of the
				// documents, and for a page fed changes a sync message
				// then would start a round (the node's sync state does not
				// know what the feed gave the page): two worker requests
				// and a message each way per keystroke and page.
				if docs[k] == sentDocs[k] {
					continue
				}
				if err := docOut(k); err != nil && !errors.Is(err, node.ErrNoDoc) {
					left()
					return
				}
			}
			sentDocs = docs
			if st == sentState {
				continue
			}
			sentState = st
			if err := state(); err != nil {
				ended(err)
				return
			}
		}
	}
}

// endedText is the state message's error once a session ended: "this
// interview has ended (ended by Ana Li at 2026-11-25 15:02 UTC)".
func endedText(s node.Session) string {
	what := "this interview has ended"
	if s.EndReason == "canceled" {
		what = "this interview was cancelled"
	}
	var by []string
	if s.EndedBy != "" {
		by = append(by, "by "+s.EndedBy)
	}
	if !s.EndedAt.IsZero() {
		by = append(by, "at "+invite.FormatTime(s.EndedAt))
	}
	if len(by) > 0 {
		what += " (" + strings.Join(by, " ") + ")"
	}
	return what
}

// fromPage handles one message from the page.
func fromPage(ctx context.Context, f *node.Follower, typ websocket.MessageType, data []byte, syncReply func(crdt.Kind, []byte) error, writeJSON func(wsOut) error) error {
	if typ == websocket.MessageBinary {
		kind, msg, changes, err := parseWSBinary(data)
		if err != nil {
			return err
		}
		if !slices.Contains(f.Kinds(), kind) {
			return fmt.Errorf("this node does not keep the %s document", kind)
		}
		if changes {
			// A page's changes need no answer, unless some wait for
			// changes this node lacks: a sync round finds them. It
			// starts afresh: after the last round the node's sync state
			// holds that the page has the node's heads (the change
			// frames since bypassed it), so it would say nothing, and
			// the page would never be asked for what is missing.
			queued, err := f.ReceiveChanges(kind, msg)
			if err != nil || !queued {
				return err
			}
			f.Resync(kind)
			return syncReply(kind, nil)
		}
		if err := f.Receive(kind, msg); err != nil {
			return err
		}
		return syncReply(kind, msg)
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
		out := wsOut{Type: "media-offer", SDP: sdp}
		for _, s := range f.PageICEServers() {
			out.ICEServers = append(out.ICEServers, wsICEServer{URLs: []string{s.URL}, Username: s.Username, Credential: s.Credential})
		}
		return writeJSON(out)
	case "media-answer":
		return f.MediaAnswer(m.SDP)
	case "media-state":
		return f.SetMediaState(node.MediaState{Mic: *m.Mic, Cam: *m.Cam})
	case "run":
		// The run's start, output and end come as "run" messages, as
		// for a run anyone else started.
		_, err := f.StartRun(ctx, node.RunRequest{Main: m.File, Lang: m.Lang, Stdin: m.Stdin})
		return err
	case "run-stop":
		return f.StopRun(ctx, m.Run)
	}
	return f.SetCursor(node.Cursor{File: m.File, Anchor: m.Anchor, Head: m.Head})
}

// news reports whether a sync message asks for changes or carries some;
// one that does not only says its sender's heads. What does not decode
// counts as news: the worker judged it already.
func news(msg []byte) bool {
	m, err := crdt.DecodeSyncMessage(msg)
	return err != nil || len(m.Need) > 0 || len(m.Changes) > 0
}

// pageFrame is a message read from the page.
type pageFrame struct {
	typ  websocket.MessageType
	data []byte
}

// inbox holds the page's messages from the reader until the loop takes
// them. The reader does not wait for the loop, so it goes on reading, and
// reads the page's pongs in time, however long the loop takes over a
// message; it waits only once the backlog is over its bound.
type inbox struct {
	max   int
	ready chan struct{} // signalled when a message is queued
	room  chan struct{} // signalled when one is taken

	mu    sync.Mutex
	q     []pageFrame
	bytes int
}

func newInbox(max int) *inbox {
	return &inbox{max: max, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// put queues a message, waiting while the backlog is over its bound.
func (b *inbox) put(ctx context.Context, m pageFrame) error {
	for {
		b.mu.Lock()
		if len(b.q) == 0 || b.bytes+len(m.data) <= b.max {
			b.q = append(b.q, m)
			b.bytes += len(m.data)
			b.mu.Unlock()
			signal(b.ready)
			return nil
		}
		b.mu.Unlock()
		select {
		case <-b.room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// take returns the oldest queued message.
func (b *inbox) take() (pageFrame, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.q) == 0 {
		return pageFrame{}, false
	}
	m := b.q[0]
	b.q[0] = pageFrame{}
	b.q = b.q[1:]
	b.bytes -= len(m.data)
	if len(b.q) > 0 {
		signal(b.ready)
	}
	signal(b.room)
	return m, true
}

// backlog reports whether messages wait for the loop.
func (b *inbox) backlog() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.q) > 0
}

// keepalive pings the page every interval, and closes the socket when a
// whole interval after a ping brought no sign of life. Any frame read from
// the page is one, not only the pong: a page that types fast answers a ping
// after many messages of its own, all of which say it is there. So is a
// backlog of its messages that the node has not handled yet (the reader
// waits then, and reads nothing more).
func keepalive(ctx context.Context, c *websocket.Conn, every time.Duration, heard *atomic.Uint64, in *inbox) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		last := heard.Load()
		pctx, cancel := context.WithTimeout(ctx, every)
		c.Ping(pctx) // its pong is counted in heard, whenever it comes
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if heard.Load() == last && !in.backlog() {
			c.Close(websocket.StatusPolicyViolation, fmt.Sprintf("nothing heard from the page for %v after a ping", every))
			return
		}
	}
}
