package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"parley/crdt"
	"parley/node"
)

func TestMain(m *testing.M) {
	crdt.MaybeServeWorker()
	os.Exit(m.Run())
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		<-time.After(10 * time.Millisecond)
	}
}

// up starts a node on loopback with its web server.
func up(t *testing.T, opts node.InitOptions) (*node.Node, *Server) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := node.Init(dir, opts); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Dir: dir, Logger: discard(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, JoinWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	s, _ := startServer(t, n, "127.0.0.1:0", Config{Logger: discard()})
	return n, s
}

// page is a test stand-in for the session page: automerge-go documents
// synced with a node over the live WebSocket.
type page struct {
	t     *testing.T
	c     *websocket.Conn
	mu    sync.Mutex
	docs  map[crdt.Kind]*automerge.Doc
	syncs map[crdt.Kind]*automerge.SyncState
	texts []wsOut
	actor string // the node's actor prefix, from its hello
	// closed is how the node closed the socket, once it did.
	closed error
}

func openPage(t *testing.T, s *Server, session string) *page {
	t.Helper()
	url := strings.Replace(s.URL(), "http://", "ws://", 1) + "/api/v1/sessions/" + session + "/live?token=" + s.Token()
	c, _, err := websocket.Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(64 << 20)
	p := &page{t: t, c: c, docs: map[crdt.Kind]*automerge.Doc{}, syncs: map[crdt.Kind]*automerge.SyncState{}}
	for _, k := range docCodes {
		p.docs[k] = automerge.New()
		p.syncs[k] = automerge.NewSyncState(p.docs[k])
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			typ, data, err := c.Read(context.Background())
			if err != nil {
				p.mu.Lock()
				p.closed = err
				p.mu.Unlock()
				return
			}
			p.mu.Lock()
			if typ == websocket.MessageText {
				var m wsOut
				json.Unmarshal(data, &m)
				p.texts = append(p.texts, m)
				if m.Type == "hello" && len(m.Actor) == 16 {
					// As the page does: its actor starts with its node's.
					p.actor = m.Actor
					for _, d := range p.docs {
						d.SetActorID(m.Actor + "5a5a5a5a5a5a5a5a")
					}
				}
				if m.Type == "error" && m.Reset != "" {
					// As the page does: drop the copy, start again.
					kind := crdt.Kind(m.Reset)
					p.docs[kind] = automerge.New()
					p.docs[kind].SetActorID(p.actor + "6b6b6b6b6b6b6b6b")
					p.syncs[kind] = automerge.NewSyncState(p.docs[kind])
					p.flushLocked(kind)
				}
			} else {
				kind := docCodes[data[0]]
				if _, err := p.syncs[kind].ReceiveMessage(data[1:]); err != nil {
					t.Errorf("page: %v", err)
				}
				p.flushLocked(kind)
			}
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(websocket.StatusNormalClosure, ""); <-done })
	return p
}

// flushLocked sends what the page's sync state has to say.
func (p *page) flushLocked(kind crdt.Kind) {
	for {
		msg, ok := p.syncs[kind].GenerateMessage()
		if !ok {
			return
		}
		p.c.Write(context.Background(), websocket.MessageBinary, append([]byte{docCode(kind)}, msg.Bytes()...))
	}
}

func (p *page) file(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, err := p.docs[crdt.Shared].Path("files", name).Get()
	if err != nil || v.Kind() != automerge.KindText {
		return ""
	}
	s, _ := v.Text().Get()
	return s
}

func (p *page) splice(name string, pos, del int, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.docs[crdt.Shared].Path("files", name).Text().Splice(pos, del, text); err != nil {
		p.t.Fatal(err)
	}
	p.docs[crdt.Shared].Commit("")
	p.flushLocked(crdt.Shared)
}

func (p *page) sendText(v any) {
	b, _ := json.Marshal(v)
	p.c.Write(context.Background(), websocket.MessageText, b)
}

// last returns the last text message of a type matching cond.
func (p *page) last(typ string, cond func(wsOut) bool) (wsOut, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.texts) - 1; i >= 0; i-- {
		if p.texts[i].Type == typ && (cond == nil || cond(p.texts[i])) {
			return p.texts[i], true
		}
	}
	return wsOut{}, false
}

func TestLivePage(t *testing.T) {
	r, err := node.NewRelay(node.RelayConfig{Dir: filepath.Join(t.TempDir(), "relay"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	company, _ := up(t, node.InitOptions{Org: "Acme Inc", Bootstrap: r.Addrs()})
	ana, anaWeb := up(t, node.InitOptions{})
	sam, samWeb := up(t, node.InitOptions{})
	res, err := company.AddMember(ctx, node.NewMember{Name: "Ana", Email: "ana@acme.test", Peer: ana.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	ana.AcceptCredential(ctx, res.Member.Token)
	ss, _ := company.CreateSessions(ctx, node.NewSessions{Candidate: "Sam", Title: "Loop"})
	id := ss[0].ID
	if _, err := ana.Join(ctx, ss[0].Link, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := sam.Join(ctx, ss[0].Link, ""); err != nil {
		t.Fatal(err)
	}
	anaPage, samPage := openPage(t, anaWeb, id), openPage(t, samWeb, id)
	waitFor(t, "hellos", func() bool {
		a, ok1 := anaPage.last("hello", nil)
		s, ok2 := samPage.last("hello", nil)
		return ok1 && ok2 && a.Role == "interviewer" && len(a.Docs) == 2 && s.Role == "candidate" && len(s.Docs) == 1
	})
	// The interviewer prepares code; her page follows; the candidate's does
	// not, until the start.
	if err := ana.Edit(ctx, id, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go", Text: "package main\n"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the interviewer's page has the file", func() bool { return anaPage.file("main.go") == "package main\n" })
	if samPage.file("main.go") != "" {
		t.Fatal("the candidate's page has content in the lobby")
	}
	if _, err := ana.StartSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the candidate's page has the file", func() bool { return samPage.file("main.go") == "package main\n" })

	// Typing on one page reaches the other, through both nodes.
	anaPage.splice("main.go", 13, 0, "// héllo 🙂 漢字\n")
	want := "package main\n// héllo 🙂 漢字\n"
	waitFor(t, "the candidate's page sees the interviewer's typing", func() bool { return samPage.file("main.go") == want })
	samPage.splice("main.go", 0, 0, "// ✓\n")
	waitFor(t, "the interviewer's node sees the candidate's typing", func() bool {
		text, _, _ := ana.Code(ctx, id, "main.go")
		return text == "// ✓\n"+want
	})

	// A hostile page (a script in the candidate's developer tools) edits the
	// question through its own node: its node refuses it, tells the page to
	// start again, and nothing reaches the interviewer.
	samPage.mu.Lock()
	if err := samPage.docs[crdt.Shared].Path("question").Text().Splice(0, 0, "Write anything. "); err != nil {
		t.Fatal(err)
	}
	samPage.flushLocked(crdt.Shared)
	samPage.mu.Unlock()
	waitFor(t, "the candidate's page is told", func() bool {
		_, ok := samPage.last("error", func(m wsOut) bool { return m.Reset == "shared" && strings.Contains(m.Error, "question") })
		return ok
	})
	waitFor(t, "the candidate's page starts again from its node's copy", func() bool { return samPage.file("main.go") == "// ✓\n"+want })
	if v, _ := ana.View(ctx, id, crdt.Shared); v.Question != "" {
		t.Fatalf("the question reached the interviewer: %q", v.Question)
	}
	if v, _ := ana.Session(ctx, id); len(v.Quarantined) != 0 {
		t.Fatalf("the interviewer's node blamed someone for what never left the candidate's node: %+v", v.Quarantined)
	}

	// A caret after the emoji, in UTF-16 units: "// ✓\n" is 5, then
	// "package main\n" 13, "// héllo " 9, and "🙂" is 2 units but 1 code point.
	samPage.sendText(map[string]any{"type": "cursor", "file": "main.go", "anchor": 29, "head": 29})
	waitFor(t, "the interviewer's page sees the candidate's caret", func() bool {
		_, ok := anaPage.last("state", func(m wsOut) bool {
			for _, c := range m.Cursors {
				if c.Name == "Sam" && c.Anchor == 29 && c.Head == 29 && c.Role == "candidate" {
					return true
				}
			}
			return false
		})
		return ok
	})
	// Bad input gets an error message, not a closed socket.
	samPage.sendText(map[string]any{"type": "shout"})
	samPage.c.Write(ctx, websocket.MessageBinary, []byte{1, 0x42, 0x00})
	waitFor(t, "errors come back", func() bool {
		_, a := samPage.last("error", func(m wsOut) bool { return strings.Contains(m.Error, "unknown message type") })
		_, b := samPage.last("error", func(m wsOut) bool { return strings.Contains(m.Error, "private document") })
		return a && b
	})
	samPage.splice("main.go", 0, 0, "x")
	waitFor(t, "the socket still works", func() bool {
		text, _, _ := ana.Code(ctx, id, "main.go")
		return strings.HasPrefix(text, "x// ✓")
	})

	// The end: every page is told, with the session, and its socket closes
	// at once with 1000 ("do not reconnect"), not when its node leaves the
	// session some seconds later.
	if _, err := ana.EndSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	ended := time.Now()
	for name, p := range map[string]*page{"ana": anaPage, "sam": samPage} {
		waitFor(t, name+"'s page is told the interview ended", func() bool {
			_, ok := p.last("state", func(m wsOut) bool {
				return m.Session != nil && m.Session.Status == node.StatusEnded && strings.Contains(m.Error, "this interview has ended (by Ana")
			})
			return ok
		})
		waitFor(t, name+"'s socket closes", func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.closed != nil
		})
		if st := websocket.CloseStatus(p.closed); st != websocket.StatusNormalClosure {
			t.Fatalf("%s's socket closed with %v (%v), want 1000", name, st, p.closed)
		}
	}
	if d := time.Since(ended); d > 5*time.Second {
		t.Fatalf("the sockets closed %v after the end: the page waited for its node to leave", d)
	}
	_ = fmt.Sprint
}

func TestPositions(t *testing.T) {
	text := "a🙂é漢\n"
	for cp, u := range map[int]int{0: 0, 1: 1, 2: 3, 3: 4, 4: 5, 5: 6, 9: 6} {
		if got := codePointsToUTF16(text, cp); got != u {
			t.Errorf("codePointsToUTF16(%d) = %d, want %d", cp, got, u)
		}
	}
	for u, cp := range map[int]int{0: 0, 1: 1, 2: 1, 3: 2, 4: 3, 6: 5, 99: 5} {
		if got := utf16ToCodePoints(text, u); got != cp {
			t.Errorf("utf16ToCodePoints(%d) = %d, want %d", u, got, cp)
		}
	}
}

func FuzzWSMessages(f *testing.F) {
	f.Add([]byte(`{"type":"cursor","file":"main.go","anchor":3,"head":5}`), []byte{0, 1, 2})
	f.Add([]byte(`{"type":"x"}`), []byte{9})
	f.Add([]byte(`{`), []byte{})
	f.Fuzz(func(t *testing.T, text, binary []byte) {
		if m, err := parseWSIn(text); err == nil && (m.Type != "cursor" || m.Anchor < 0 || m.File == "") {
			t.Fatalf("accepted %+v", m)
		}
		if kind, msg, err := parseWSBinary(binary); err == nil && (len(msg) == 0 || (kind != crdt.Shared && kind != crdt.Private)) {
			t.Fatalf("accepted %q", binary)
		}
		s := string(text)
		for _, n := range []int{-1, 0, 3, 1 << 30} {
			if cp := utf16ToCodePoints(s, n); cp < 0 || cp > len([]rune(s)) {
				t.Fatalf("utf16ToCodePoints(%d) = %d", n, cp)
			}
			if u := codePointsToUTF16(s, n); u < 0 {
				t.Fatalf("codePointsToUTF16(%d) = %d", n, u)
			}
		}
	})
}
