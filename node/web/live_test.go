package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
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

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 15*time.Second, what, cond)
}

func waitWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		<-time.After(10 * time.Millisecond)
	}
}

// up starts a node on loopback with its web server.
func up(t testing.TB, opts node.InitOptions) (*node.Node, *Server) {
	t.Helper()
	return upWith(t, opts, Config{})
}

// upWith is up with a web server configured by cfg.
func upWith(t testing.TB, opts node.InitOptions, cfg Config) (*node.Node, *Server) {
	t.Helper()
	return upNode(t, opts, node.Config{}, cfg)
}

// upNode is upWith with the node's own settings (its data directory,
// logger and addresses are the test's).
func upNode(t testing.TB, opts node.InitOptions, ncfg node.Config, cfg Config) (*node.Node, *Server) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := node.Init(dir, opts); err != nil {
		t.Fatal(err)
	}
	ncfg.Dir, ncfg.Logger, ncfg.ListenAddrs, ncfg.JoinWait = dir, nodeLogger(filepath.Base(filepath.Dir(filepath.Dir(dir)))), []string{"/ip4/127.0.0.1/tcp/0"}, 5*time.Second
	n, err := node.New(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	cfg.Logger = discard()
	s, _ := startServer(t, n, "127.0.0.1:0", cfg)
	return n, s
}

// interview is a relay, the company node (with companyCfg), Ana, an
// interviewer, and Sam's node, each of the last two with its web server,
// both joined to a session of the company's.
type interview struct {
	company, ana, sam *node.Node
	anaWeb, samWeb    *Server
	id                string
}

// startRelay starts a relay on loopback, closed when the test ends.
func startRelay(t testing.TB) *node.Relay {
	t.Helper()
	r, err := node.NewRelay(node.RelayConfig{Dir: filepath.Join(t.TempDir(), "relay"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func startInterview(t testing.TB, companyCfg node.Config) interview {
	t.Helper()
	r := startRelay(t)
	ctx := context.Background()
	var iv interview
	iv.company, _ = upNode(t, node.InitOptions{Org: "Acme Inc", Bootstrap: r.Addrs()}, companyCfg, Config{})
	iv.ana, iv.anaWeb = up(t, node.InitOptions{})
	iv.sam, iv.samWeb = up(t, node.InitOptions{})
	res, err := iv.company.AddMember(ctx, node.NewMember{Name: "Ana", Email: "ana@acme.test", Peer: iv.ana.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iv.ana.AcceptCredential(ctx, res.Member.Token); err != nil {
		t.Fatal(err)
	}
	ss, err := iv.company.CreateSessions(ctx, node.NewSessions{Candidate: "Sam", Title: "Loop"})
	if err != nil {
		t.Fatal(err)
	}
	iv.id = ss[0].ID
	for _, n := range []*node.Node{iv.ana, iv.sam} {
		if _, err := n.Join(ctx, ss[0].Link, ""); err != nil {
			t.Fatal(err)
		}
	}
	return iv
}

// page is a test stand-in for the session page: automerge-go documents
// synced with a node over the live WebSocket. Like a browser, whose network
// code answers pings whatever the page's script is doing, it reads (and
// answers pings) while it handles what it read.
type page struct {
	t     testing.TB
	c     *websocket.Conn
	pings atomic.Int64  // pings from the node, answered
	done  chan struct{} // closed when the socket is gone
	err   error         // why, once done is closed

	qmu     sync.Mutex
	queue   []wsMessage // read, not handled yet
	arrived chan struct{}

	mu    sync.Mutex
	docs  map[crdt.Kind]*automerge.Doc
	syncs map[crdt.Kind]*automerge.SyncState
	texts []wsOut
	actor string // the node's actor prefix, from its hello
	// synced, when set, is called (with mu held) after each sync
	// message from the node is taken in.
	synced func()
	// What the node sent: JSON text messages, and sync messages.
	textBytes, syncBytes, savedBytes int
	syncIn, syncOut                  int // sync messages received and sent
	// changes is set for a page that takes change frames (?changes=1),
	// as the web app does: it sends its own changes so, and takes the
	// node's.
	changes               bool
	changesIn, changesOut int // change frames received and sent
}

type wsMessage struct {
	typ  websocket.MessageType
	data []byte
}

func liveURL(s *Server, session string) string {
	return strings.Replace(s.URL(), "http://", "ws://", 1) + "/api/v1/sessions/" + session + "/live?token=" + s.Token()
}

func openPage(t testing.TB, s *Server, session string) *page {
	t.Helper()
	return dialPage(t, liveURL(s, session))
}

// openSavedPage opens a page that takes saved documents, as the web app
// does (?saved=1).
func openSavedPage(t testing.TB, s *Server, session string) *page {
	t.Helper()
	return dialPage(t, liveURL(s, session)+"&saved=1")
}

// openAppPage opens a page that takes what the web app takes: saved
// documents and change frames (?saved=1&changes=1).
func openAppPage(t testing.TB, s *Server, session string) *page {
	t.Helper()
	return dialPage(t, liveURL(s, session)+"&saved=1&changes=1")
}

func dialPage(t testing.TB, url string) *page {
	t.Helper()
	p := &page{t: t, done: make(chan struct{}), arrived: make(chan struct{}, 1),
		docs: map[crdt.Kind]*automerge.Doc{}, syncs: map[crdt.Kind]*automerge.SyncState{},
		changes: strings.Contains(url, "changes=1")}
	c, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool { p.pings.Add(1); return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(64 << 20)
	p.c = c
	for _, k := range docCodes {
		p.docs[k] = automerge.New()
		p.syncs[k] = automerge.NewSyncState(p.docs[k])
	}
	var wg sync.WaitGroup
	wg.Go(func() { // the network
		defer close(p.done)
		for {
			typ, data, err := c.Read(context.Background())
			if err != nil {
				p.err = err
				return
			}
			p.qmu.Lock()
			p.queue = append(p.queue, wsMessage{typ, data})
			p.qmu.Unlock()
			signal(p.arrived)
		}
	})
	wg.Go(func() { // the script
		for {
			select {
			case <-p.done:
				return
			case <-p.arrived:
			}
			p.qmu.Lock()
			q := p.queue
			p.queue = nil
			p.qmu.Unlock()
			for _, m := range q {
				p.handle(m)
			}
		}
	})
	t.Cleanup(func() { c.Close(websocket.StatusNormalClosure, ""); wg.Wait() })
	return p
}

// handle takes a message from the node.
func (p *page) handle(m wsMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.typ == websocket.MessageText {
		p.textBytes += len(m.data)
		var out wsOut
		json.Unmarshal(m.data, &out)
		p.texts = append(p.texts, out)
		if out.Type == "hello" && len(out.Actor) == 16 {
			// As the page does: its actor starts with its node's.
			p.actor = out.Actor
			for _, d := range p.docs {
				d.SetActorID(out.Actor + "5a5a5a5a5a5a5a5a")
			}
		}
		if out.Type == "error" && out.Reset != "" {
			// As the page does: drop the copy, start again.
			kind := crdt.Kind(out.Reset)
			p.docs[kind] = automerge.New()
			p.docs[kind].SetActorID(p.actor + "6b6b6b6b6b6b6b6b")
			p.syncs[kind] = automerge.NewSyncState(p.docs[kind])
			p.flushLocked(kind)
		}
		return
	}
	if m.data[0]&savedFlag != 0 {
		// A document saved whole, in place of an empty copy.
		kind := docCodes[m.data[0]&^savedFlag]
		p.savedBytes += len(m.data)
		if len(p.docs[kind].Heads()) == 0 {
			d, err := automerge.Load(m.data[1:])
			if err != nil {
				p.t.Errorf("page: loading the saved %s document: %v", kind, err)
				return
			}
			d.SetActorID(p.actor + "7c7c7c7c7c7c7c7c")
			p.docs[kind] = d
		}
		p.syncs[kind] = automerge.NewSyncState(p.docs[kind])
		p.flushLocked(kind)
		return
	}
	if m.data[0]&changesFlag != 0 {
		// Changes the node fed: a sync round only if some wait for
		// changes this copy lacks.
		kind := docCodes[m.data[0]&^changesFlag]
		p.syncBytes += len(m.data)
		p.changesIn++
		chs, err := crdt.DecodeChanges(m.data[1:])
		if err != nil {
			p.t.Errorf("page: the node's change frame: %v", err)
			return
		}
		// An empty copy (the first exchange is not over) takes nothing
		// so, as the web app: the exchange brings these too.
		if len(p.docs[kind].Heads()) == 0 || p.docs[kind].LoadIncremental(m.data[1:]) != nil {
			p.flushLocked(kind)
			return
		}
		for _, c := range chs {
			if _, err := p.docs[kind].Change(automerge.ChangeHash(c.Hash)); err != nil {
				p.flushLocked(kind)
				break
			}
		}
		if p.synced != nil {
			p.synced()
		}
		return
	}
	p.syncBytes += len(m.data)
	p.syncIn++
	kind := docCodes[m.data[0]]
	if _, err := p.syncs[kind].ReceiveMessage(m.data[1:]); err != nil {
		p.t.Errorf("page: %v", err)
	}
	if p.synced != nil {
		p.synced()
	}
	p.flushLocked(kind)
}

// closed reports whether the socket is gone, and why.
func (p *page) closed() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// commitLocked commits what the page did to a document and sends it: as a
// change frame on a page that takes changes, else by the sync protocol.
func (p *page) commitLocked(kind crdt.Kind) (automerge.ChangeHash, error) {
	h, err := p.docs[kind].Commit("")
	if err != nil {
		return h, err
	}
	if !p.changes {
		p.flushLocked(kind)
		return h, nil
	}
	ch, err := p.docs[kind].Change(h)
	if err != nil {
		return h, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.changesOut++
	return h, p.c.Write(ctx, websocket.MessageBinary, append([]byte{docCode(kind) | changesFlag}, ch.Save()...))
}

// flushLocked sends what the page's sync state has to say, as the web app
// does: one message, which the node answers.
func (p *page) flushLocked(kind crdt.Kind) {
	msg, ok := p.syncs[kind].GenerateMessage()
	if !ok {
		return
	}
	// A node that stops reading fails the write, rather than holding the
	// page (and its lock) for ever.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	p.c.Write(ctx, websocket.MessageBinary, append([]byte{docCode(kind)}, msg.Bytes()...))
	cancel()
	p.syncOut++
}

func (p *page) file(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fileLocked(name)
}

func (p *page) fileLocked(name string) string {
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
	p.commitLocked(crdt.Shared)
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
	r := startRelay(t)
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
			gone, _ := p.closed()
			return gone
		})
		if _, err := p.closed(); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Fatalf("%s's socket closed with %v (%v), want 1000", name, websocket.CloseStatus(err), err)
		}
	}
	if d := time.Since(ended); d > 5*time.Second {
		t.Fatalf("the sockets closed %v after the end: the page waited for its node to leave", d)
	}
	_ = fmt.Sprint
}

// A page that types fast keeps its socket across pings: what it sends says
// it is there, and its pongs are read at once, however many of its messages
// the node has still to handle. A page that goes quiet, answering pings,
// keeps it too.
func TestLiveBusyPageStays(t *testing.T) {
	const every = 300 * time.Millisecond
	ctx := context.Background()
	company, web := upWith(t, node.InitOptions{Org: "Acme Inc"}, Config{PingInterval: every})
	ss, err := company.CreateSessions(ctx, node.NewSessions{Candidate: "Sam", Title: "Loop"})
	if err != nil {
		t.Fatal(err)
	}
	id := ss[0].ID
	// A file large enough (100 kB) that the node's work for a keystroke (a
	// caret is converted with the file's text, and so is every state
	// message) takes a good part of the time between two: the node often
	// has a backlog of the page's messages when it pings, as it has in a
	// session where two people type. (Before the reader stopped waiting for
	// the loop, this test lost the socket at the first or second ping.)
	want := "package main\n" + strings.Repeat("// filler\n", 10_000)
	if err := company.Edit(ctx, id, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go", Text: want}); err != nil {
		t.Fatal(err)
	}
	p := openPage(t, web, id)
	waitFor(t, "the page has the file", func() bool { return p.file("main.go") == want })

	// 30 keystrokes a second, each a sync message and a caret, for two
	// seconds and at least five pings.
	start := time.Now()
	pings := p.pings.Load()
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	keys := 0
	for ; keys < 60 || p.pings.Load() < pings+5; keys++ {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("%d pings in %d keystrokes", p.pings.Load()-pings, keys)
		}
		<-tick.C
		ch := string(rune('a' + keys%26))
		p.splice("main.go", len(want), 0, ch)
		want += ch
		p.sendText(map[string]any{"type": "cursor", "file": "main.go", "anchor": len(want), "head": len(want)})
		if gone, err := p.closed(); gone {
			t.Fatalf("the socket dropped after %d keystrokes, %d pings: %v", keys+1, p.pings.Load()-pings, err)
		}
	}
	t.Logf("%d keystrokes in %v across %d pings", keys, time.Since(start).Round(time.Millisecond), p.pings.Load()-pings)
	// The node catches up: at once, or (with -race, on a busy machine) in
	// many seconds.
	waitWithin(t, time.Minute, "the node has every keystroke", func() bool {
		text, _, _ := company.Code(ctx, id, "main.go")
		return text == want
	})
	// Quiet now: pongs alone keep the socket.
	pings = p.pings.Load()
	waitFor(t, "three more pings", func() bool { return p.pings.Load() >= pings+3 })
	if gone, err := p.closed(); gone {
		t.Fatalf("the socket of a quiet page dropped: %v", err)
	}
	p.splice("main.go", len(want), 0, "!")
	waitFor(t, "a keystroke after the quiet", func() bool {
		text, _, _ := company.Code(ctx, id, "main.go")
		return text == want+"!"
	})
}

// A page from which nothing comes, not even a pong, is dropped one ping
// interval after a ping.
func TestLiveSilentPageDropped(t *testing.T) {
	const every = 100 * time.Millisecond
	ctx := context.Background()
	company, web := upWith(t, node.InitOptions{Org: "Acme Inc"}, Config{PingInterval: every})
	ss, err := company.CreateSessions(ctx, node.NewSessions{Candidate: "Sam", Title: "Loop"})
	if err != nil {
		t.Fatal(err)
	}
	var pings atomic.Int64
	c, _, err := websocket.Dial(ctx, liveURL(web, ss[0].ID), &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool { pings.Add(1); return false }, // no pong
	})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				ended <- err
				return
			}
		}
	}()
	t.Cleanup(func() { c.CloseNow(); <-ended })
	select {
	case err := <-ended:
		ended <- err // for the cleanup
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("the socket ended with %v, want status %d", err, websocket.StatusPolicyViolation)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a silent page's socket is still open after 15 s")
	}
	if pings.Load() == 0 {
		t.Fatal("dropped before any ping")
	}
}

// The inbox takes messages without waiting up to its bound, then waits for
// the loop; in order, and one over the bound on its own.
func TestInbox(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := newInbox(10)
		if b.backlog() {
			t.Fatal("a new inbox has a backlog")
		}
		for _, n := range []int{4, 6} {
			if err := b.put(ctx, pageFrame{data: make([]byte, n)}); err != nil {
				t.Fatal(err)
			}
		}
		if !b.backlog() {
			t.Fatal("no backlog")
		}
		// Over the bound: put waits until the loop takes one.
		put := make(chan error, 1)
		go func() { put <- b.put(ctx, pageFrame{data: make([]byte, 3)}) }()
		synctest.Wait()
		select {
		case err := <-put:
			t.Fatalf("put past the bound returned at once: %v", err)
		default:
		}
		if m, ok := b.take(); !ok || len(m.data) != 4 {
			t.Fatalf("took %d bytes, %v", len(m.data), ok)
		}
		if err := <-put; err != nil {
			t.Fatal(err)
		}
		for _, want := range []int{6, 3} {
			if m, ok := b.take(); !ok || len(m.data) != want {
				t.Fatalf("took %d bytes, %v; want %d", len(m.data), ok, want)
			}
		}
		if _, ok := b.take(); ok || b.backlog() {
			t.Fatal("took from an empty inbox")
		}
		// A message larger than the bound goes in when nothing waits.
		if err := b.put(ctx, pageFrame{data: make([]byte, 20)}); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := b.put(cctx, pageFrame{data: make([]byte, 1)}); err == nil {
			t.Fatal("put into a full inbox with a cancelled context")
		}
	})
}

func FuzzWSMessages(f *testing.F) {
	f.Add([]byte(`{"type":"cursor","file":"main.go","anchor":3,"head":5}`), []byte{0, 1, 2})
	f.Add([]byte(`{"type":"x"}`), []byte{9})
	f.Add([]byte(`{"type":"cursor"}`), []byte{changesFlag | 1, 0x85, 0x6f})
	f.Add([]byte(`{`), []byte{})
	f.Fuzz(func(t *testing.T, text, binary []byte) {
		if m, err := parseWSIn(text); err == nil && (m.Type != "cursor" || m.Anchor < 0 || m.File == "") {
			t.Fatalf("accepted %+v", m)
		}
		if kind, msg, _, err := parseWSBinary(binary); err == nil && (len(msg) == 0 || (kind != crdt.Shared && kind != crdt.Private)) {
			t.Fatalf("accepted %q", binary)
		}
	})
}
