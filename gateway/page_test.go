package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"parley/crdt"
)

// pageMsg is a text message from the gateway to a guest's page.
type pageMsg struct {
	Type  string `json:"type"`
	Role  string `json:"role"`
	Actor string `json:"actor"`
	Error string `json:"error"`
	Fatal bool   `json:"fatal"`
	You   *struct {
		Peer string `json:"peer"`
		Dir  string `json:"dir"`
	} `json:"you"`
	Session *struct {
		Status       string `json:"status"`
		Participants []struct {
			Name string `json:"name"`
			Role string `json:"role"`
			Peer string `json:"peer"`
		} `json:"participants"`
	} `json:"session"`
	ICEServers []json.RawMessage `json:"ice_servers"`
	SDP        string            `json:"sdp"`
}

// guestPage stands in for a guest's page: the shared document in
// automerge-go, synced over the guest's WebSocket, as the browser's page
// does it.
type guestPage struct {
	t    testing.TB
	c    *websocket.Conn
	done chan struct{}

	mu     sync.Mutex
	doc    *automerge.Doc
	sync   *automerge.SyncState
	msgs   []pageMsg
	status websocket.StatusCode // the close status, once closed
	reason string
}

// openGuestPage opens the room's WebSocket with a browser's cookies.
func (e *env) openGuestPage(c *http.Client, session string) *guestPage {
	e.t.Helper()
	p := &guestPage{t: e.t, done: make(chan struct{}), doc: automerge.New()}
	p.sync = automerge.NewSyncState(p.doc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Origin", e.url)
	conn, res, err := websocket.Dial(ctx, strings.Replace(e.url, "https://", "wss://", 1)+"/guest/s/"+session+"/live",
		&websocket.DialOptions{HTTPClient: c, HTTPHeader: h})
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		e.t.Fatalf("opening the guest's socket: %v (HTTP %d)", err, status)
	}
	conn.SetReadLimit(64 << 20)
	p.c = conn
	go func() {
		defer close(p.done)
		for {
			typ, data, err := conn.Read(context.Background())
			if err != nil {
				p.mu.Lock()
				p.status, p.reason = websocket.CloseStatus(err), err.Error()
				p.mu.Unlock()
				return
			}
			p.handle(typ, data)
		}
	}()
	e.t.Cleanup(func() { p.close() })
	return p
}

func (p *guestPage) close() {
	p.c.Close(websocket.StatusGoingAway, "")
	<-p.done
}

func (p *guestPage) handle(typ websocket.MessageType, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if typ == websocket.MessageText {
		var m pageMsg
		json.Unmarshal(data, &m)
		p.msgs = append(p.msgs, m)
		if m.Type == "hello" && len(m.Actor) == 16 {
			p.doc.SetActorID(m.Actor + "5a5a5a5a5a5a5a5a")
		}
		return
	}
	if len(data) < 2 || data[0] != 0 {
		p.t.Errorf("guest page: a frame for document %d", data[0])
		return
	}
	if _, err := p.sync.ReceiveMessage(data[1:]); err != nil {
		p.t.Errorf("guest page: %v", err)
	}
	p.flushLocked()
}

func (p *guestPage) flushLocked() {
	for {
		msg, ok := p.sync.GenerateMessage()
		if !ok {
			return
		}
		p.c.Write(context.Background(), websocket.MessageBinary, append([]byte{0}, msg.Bytes()...))
	}
}

// last returns the last message of a type that cond accepts.
func (p *guestPage) last(typ string, cond func(pageMsg) bool) (pageMsg, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.msgs) - 1; i >= 0; i-- {
		if p.msgs[i].Type == typ && (cond == nil || cond(p.msgs[i])) {
			return p.msgs[i], true
		}
	}
	return pageMsg{}, false
}

// sessionStatus returns the session's status as the page last heard it: from the
// hello, or the newest state message that carried the session (a state
// message leaves it out when it did not change).
func (p *guestPage) sessionStatus() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.msgs) - 1; i >= 0; i-- {
		if m := p.msgs[i]; (m.Type == "state" || m.Type == "hello") && m.Session != nil {
			return m.Session.Status
		}
	}
	return ""
}

func (p *guestPage) closed() (websocket.StatusCode, string, bool) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.status, p.reason, true
	default:
		return 0, "", false
	}
}

func (p *guestPage) file(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, err := p.doc.Path("files", name).Get()
	if err != nil || v.Kind() != automerge.KindText {
		return ""
	}
	s, _ := v.Text().Get()
	return s
}

func (p *guestPage) splice(name string, pos, del int, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.doc.Path("files", name).Text().Splice(pos, del, text); err != nil {
		p.t.Fatal(err)
	}
	p.doc.Commit("")
	p.flushLocked()
}

func (p *guestPage) send(v any) {
	b, _ := json.Marshal(v)
	p.c.Write(context.Background(), websocket.MessageText, b)
}

var _ = crdt.Shared
