package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/crdt"
	"parley/node"
)

// hostedNode returns the participant hosted for a session, if it runs.
func (g *Gateway) hostedNode(session string) *node.Node {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gu := g.bySession[session]; gu != nil {
		return gu.n
	}
	return nil
}

// candidateOn returns the candidate present in a session as n sees it.
func candidateOn(n *node.Node, session string) (node.Participant, bool) {
	s, err := n.Session(context.Background(), session)
	if err != nil {
		return node.Participant{}, false
	}
	i := slices.IndexFunc(s.Participants, func(p node.Participant) bool { return p.Role == node.RoleCandidate })
	if i < 0 {
		return node.Participant{}, false
	}
	return s.Participants[i], true
}

// A guest joins from a browser: the gateway runs a participant for them,
// which the interviewer's node sees as an ordinary candidate, marked as
// joined through the gateway; the guest's page syncs the code both ways,
// accents and emoji included; a reload resumes the same participant and
// seat, and so does coming back after the participant stopped; a second
// browser is refused the seat; the end ends it all; and no log holds the
// link.
func TestGuestInterview(t *testing.T) {
	e := startEnv(t, envOptions{relayed: true, cfg: Config{Grace: time.Second}})
	ctx := context.Background()
	if _, err := e.ana.Join(ctx, e.link, "Ana"); err != nil {
		t.Fatal(err)
	}

	zoe := e.browser()
	res, v := e.post(zoe, "/guest/inspect", joinRequest{Token: e.token})
	if res.StatusCode != 200 || v["valid"] != true || v["title"] != "Backend loop" || v["candidate"] != "Zoë Quinn" || v["org"] != "Acme Inc" || v["joined"] != false {
		t.Fatalf("inspect: %d %v", res.StatusCode, v)
	}
	start := time.Now()
	res, v = e.post(zoe, "/guest/join", joinRequest{Token: e.token, Name: "Zoë"})
	if res.StatusCode != 200 || v["room"] != "/guest/s/"+e.session {
		t.Fatalf("join: %d %v", res.StatusCode, v)
	}
	t.Logf("joined through the gateway in %v", time.Since(start))
	cookie := res.Header.Get("Set-Cookie")
	for _, want := range []string{"parley_guest_" + e.session + "=v1.", "Path=/guest", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("the guest's cookie %q lacks %q", cookie, want)
		}
	}
	waitFor(t, 20*time.Second, "the interviewer sees the candidate, marked", func() bool {
		p, ok := candidateOn(e.ana, e.session)
		return ok && p.Name == "Zoë"+Mark
	})
	hosted := e.gw.hostedNode(e.session)
	if hosted == nil || hosted.ID() == e.company.ID() || !strings.HasPrefix(hosted.Dir(), filepath.Join(e.company.Dir(), "guests")+"/") {
		t.Fatalf("the hosted participant: %v", hosted)
	}
	peer := hosted.ID().String()
	if _, v = e.post(zoe, "/guest/inspect", joinRequest{Token: e.token}); v["joined"] != true {
		t.Fatalf("inspect after joining: %v", v)
	}

	page := e.openGuestPage(zoe, e.session)
	waitFor(t, 10*time.Second, "hello", func() bool {
		m, ok := page.last("hello", nil)
		return ok && m.Role == "candidate" && m.You.Peer == peer && m.You.Dir == ""
	})
	if _, err := e.ana.StartSession(ctx, e.session); err != nil {
		t.Fatal(err)
	}
	if err := e.ana.Edit(ctx, e.session, crdt.Shared, crdt.Edit{Op: "add", Name: "main.py", Text: "print('héllo')\n"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the guest's page has the file", func() bool { return page.file("main.py") == "print('héllo')\n" })
	page.splice("main.py", 15, 0, "# Zoë 🙂 漢字\n")
	if err := e.ana.Edit(ctx, e.session, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.py", Pos: 0, Text: "# Ana ✓\n"}); err != nil {
		t.Fatal(err)
	}
	want := "# Ana ✓\nprint('héllo')\n# Zoë 🙂 漢字\n"
	// Which copy differs, or "" when all four are the same.
	differs := func() string {
		for i, n := range []*node.Node{e.ana, e.company, hosted} {
			if text, _, err := n.Code(ctx, e.session, "main.py"); text != want {
				return fmt.Sprintf("%s node has %q (%v)", []string{"Ana's", "the company", "the guest's"}[i], text, err)
			}
		}
		if text := page.file("main.py"); text != want {
			return fmt.Sprintf("the guest's page has %q", text)
		}
		return ""
	}
	waitUntil(t, 15*time.Second, "the same code, byte for byte, everywhere", differs)

	// A reload: the same participant, the same seat.
	page.close()
	page = e.openGuestPage(zoe, e.session)
	waitFor(t, 10*time.Second, "hello again", func() bool {
		m, ok := page.last("hello", nil)
		return ok && m.You.Peer == peer
	})
	waitFor(t, 10*time.Second, "the code again", func() bool { return page.file("main.py") == want })

	// Another browser with the same link: the seat is taken.
	other := e.browser()
	res, v = e.post(other, "/guest/join", joinRequest{Token: e.token, Name: "Mallory"})
	if res.StatusCode != http.StatusConflict || v["code"] != "refused_seat_taken" || !strings.Contains(v["error"].(string), "seat is taken") {
		t.Fatalf("a second browser: %d %v", res.StatusCode, v)
	}
	// Its socket, without a cookie, says why and stops.
	op := e.openGuestPage(other, e.session)
	waitFor(t, 10*time.Second, "the second browser's socket is refused", func() bool {
		code, _, closed := op.closed()
		m, ok := op.last("error", nil)
		return closed && code == closeNoGuest && ok && m.Fatal && strings.Contains(m.Error, "open your interview link again")
	})

	// The guest goes; after the grace period the participant leaves, and
	// comes back, the same, when the guest does.
	page.close()
	waitFor(t, 15*time.Second, "the participant stops", func() bool { return e.gw.Guests() == 0 })
	waitFor(t, 15*time.Second, "the interviewer sees the candidate leave", func() bool {
		_, ok := candidateOn(e.ana, e.session)
		return !ok
	})
	page = e.openGuestPage(zoe, e.session)
	waitFor(t, 20*time.Second, "the guest is back, the same participant", func() bool {
		m, ok := page.last("hello", nil)
		p, present := candidateOn(e.ana, e.session)
		return ok && m.You.Peer == peer && present && p.Peer == peer
	})
	waitFor(t, 10*time.Second, "with the code", func() bool { return page.file("main.py") == want })

	// The end: the page is told, its participant goes, and the link is
	// refused from then on.
	if _, err := e.ana.EndSession(ctx, e.session); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the page sees the end", func() bool {
		_, ok := page.last("state", func(m pageMsg) bool { return m.Session != nil && m.Session.Status == "ended" })
		return ok
	})
	dir := hosted.Dir()
	waitFor(t, 30*time.Second, "the participant is retired", func() bool {
		_, err := os.Stat(dir)
		code, _, closed := page.closed()
		return os.IsNotExist(err) && closed && code == websocket.StatusNormalClosure
	})
	res, v = e.post(zoe, "/guest/join", joinRequest{Token: e.token})
	if res.StatusCode != http.StatusConflict || v["code"] != "ended" || !strings.Contains(v["error"].(string), "has ended") {
		t.Fatalf("joining an ended interview: %d %v", res.StatusCode, v)
	}

	// Nothing logged the link.
	logs := e.log.String()
	for i := 0; i+24 <= len(e.token); i += 12 {
		if strings.Contains(logs, e.token[i:i+24]) {
			t.Fatalf("the log holds part of the link: %q", e.token[i:i+24])
		}
	}
	if !strings.Contains(logs, "guest joined") {
		t.Fatal("the test's log capture saw nothing")
	}
}

// The company node's gateway restarts (`parley up` stopped and started
// again): a guest's page reconnects and the same participant comes back,
// with its seat.
//
// The company's store is encrypted at rest, and so are its guests'.
func TestGuestResumesAfterRestart(t *testing.T) {
	e := startEnv(t, envOptions{relayed: true, storeKey: true})
	ctx := context.Background()
	if _, err := e.ana.Join(ctx, e.link, "Ana"); err != nil {
		t.Fatal(err)
	}
	zoe := e.browser()
	e.joinAs(zoe, e.token, "Zoë")
	page := e.openGuestPage(zoe, e.session)
	var peer string
	waitFor(t, 10*time.Second, "hello", func() bool {
		m, ok := page.last("hello", nil)
		if ok {
			peer = m.You.Peer
		}
		return ok
	})
	settings, err := os.ReadFile(filepath.Join(e.gw.hostedNode(e.session).Dir(), "config.json"))
	if err != nil || !strings.Contains(string(settings), `"store_key_file": "`+e.company.StoreKeyFile()+`"`) || e.company.StoreKeyFile() == "" {
		t.Fatalf("the guest's store is not encrypted with the company's key: %s %v", settings, err)
	}
	cfg := e.gw.cfg
	if err := e.gw.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the page's socket drops, without a normal close", func() bool {
		code, _, closed := page.closed()
		return closed && code != websocket.StatusNormalClosure
	})
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	l, err := net.Listen("tcp", strings.TrimPrefix(e.url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	go gw.Serve(l)
	e.gw = gw
	page = e.openGuestPage(zoe, e.session)
	waitFor(t, 20*time.Second, "the same participant, back in its seat", func() bool {
		m, ok := page.last("hello", nil)
		p, present := candidateOn(e.ana, e.session)
		return ok && m.You.Peer == peer && present && p.Peer == peer
	})
}

// An interviewer releases the seat (the candidate moves to another
// device): the first browser's participant is turned away and retired, and
// another browser takes the seat with the same link.
func TestGuestSeatReleased(t *testing.T) {
	e := startEnv(t, envOptions{relayed: true})
	ctx := context.Background()
	if _, err := e.ana.Join(ctx, e.link, "Ana"); err != nil {
		t.Fatal(err)
	}
	first, second := e.browser(), e.browser()
	e.joinAs(first, e.token, "Zoë")
	waitFor(t, 15*time.Second, "the first browser's participant is seated", func() bool {
		p, ok := candidateOn(e.ana, e.session)
		return ok && p.Name == "Zoë"+Mark
	})
	firstPeer := e.gw.hostedNode(e.session).ID().String()
	if res, v := e.post(second, "/guest/join", joinRequest{Token: e.token, Name: "Zoë on her laptop"}); res.StatusCode != http.StatusConflict {
		t.Fatalf("the seat was given away: %d %v", res.StatusCode, v)
	}
	if _, err := e.ana.ReleaseSeat(ctx, e.session); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	waitFor(t, 15*time.Second, "the second browser takes the seat", func() bool {
		start := time.Now()
		res, v := e.post(second, "/guest/join", joinRequest{Token: e.token, Name: "Zoë on her laptop"})
		t.Logf("%v after the release, in %v: %d %v", time.Since(released), time.Since(start), res.StatusCode, v["code"])
		return res.StatusCode == 200
	})
	waitFor(t, 15*time.Second, "the interviewer sees the second browser's participant", func() bool {
		p, ok := candidateOn(e.ana, e.session)
		return ok && p.Name == "Zoë on her laptop"+Mark && p.Peer != firstPeer
	})
	if code := e.socketRefused(e.session, cookieName(e.session)+"="+e.cookieOf(first, e.session)); code != closeNoGuest {
		t.Fatalf("the first browser's socket: closed with %d, want %d", code, closeNoGuest)
	}
}
