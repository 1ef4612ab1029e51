package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/crdt"
	"parley/node"
)

// Pages that take change frames (?changes=1, as the web app) type to each
// other through two nodes without a sync round per keystroke: the
// interviewer's page sends each change as a change frame, the company's
// page gets each as one, and the sync messages either way are the first
// exchange's few, whatever the number of keystrokes, and whatever the
// carets that move with them (each changes the session's state, not the
// documents). A page of the sync
// protocol alone on the same node keeps up as before. A change whose
// dependency the node lacks (the page held one back) costs one sync
// round, which brings both.
func TestLiveChangeFrames(t *testing.T) {
	company, companyWeb, _, anaWeb, id := anaInterview(t, "Frames")
	typist, reader, old := openAppPage(t, anaWeb, id), openAppPage(t, companyWeb, id), openPage(t, anaWeb, id)
	for _, p := range []*page{typist, reader, old} {
		waitFor(t, "each page has the code", func() bool { return p.file("main.go") == "package main\n" })
	}
	counts := func(p *page) (syncIn, syncOut, changesIn, changesOut int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.syncIn, p.syncOut, p.changesIn, p.changesOut
	}
	// Let the first exchanges end before counting.
	settled := func(p *page) func() bool {
		last, _, _, _ := counts(p)
		at := time.Now()
		return func() bool {
			n, _, _, _ := counts(p)
			if n != last {
				last, at = n, time.Now()
			}
			return time.Since(at) > 500*time.Millisecond
		}
	}
	waitFor(t, "the typist's page is quiet", settled(typist))
	waitFor(t, "the reader's page is quiet", settled(reader))
	tIn0, tOut0, _, _ := counts(typist)
	rIn0, rOut0, rChIn0, _ := counts(reader)

	const keys = 200
	want := "package main\n"
	for i := range keys {
		c := string(rune('a' + i%26))
		typist.splice("main.go", len(want), 0, c)
		want += c
		// The caret after it, as the room sends it (here with every key:
		// the node passes carets on at most every 50 ms).
		typist.sendText(map[string]any{"type": "cursor", "file": "main.go", "anchor": len(want), "head": len(want)})
		if i%20 == 19 {
			// A typist's pace now and then, so that carets go out.
			waitFor(t, "the reader's page has the keystroke", func() bool { return reader.file("main.go") == want })
		}
	}
	for _, p := range []*page{reader, old} {
		waitWithin(t, 30*time.Second, "every keystroke reaches the other pages", func() bool { return p.file("main.go") == want })
	}
	tIn, tOut, _, tChOut := counts(typist)
	rIn, rOut, rChIn, _ := counts(reader)
	if tChOut < keys {
		t.Errorf("the typist's page sent %d change frames for %d keystrokes", tChOut, keys)
	}
	if rChIn-rChIn0 == 0 {
		t.Errorf("the reader's page got no change frame")
	}
	// A handful, not one or more per keystroke.
	if n := (tIn - tIn0) + (tOut - tOut0) + (rIn - rIn0) + (rOut - rOut0); n > 10 {
		t.Errorf("%d sync messages on the two pages' sockets for %d keystrokes (typist %d in, %d out; reader %d in, %d out)",
			n, keys, tIn-tIn0, tOut-tOut0, rIn-rIn0, rOut-rOut0)
	}

	heldBack(t, typist, company, id, reader)
}

// A page's change that depends on one its node lacks is repaired by a sync
// round even right after the page's first exchange, when the node's sync
// state says the page has what the node has (it heard nothing since: the
// change came as a change frame), and would say nothing.
func TestLiveGapAfterExchange(t *testing.T) {
	company, _, _, anaWeb, id := anaInterview(t, "Gap")
	typist := openAppPage(t, anaWeb, id)
	waitFor(t, "the page has the code", func() bool { return typist.file("main.go") == "package main\n" })
	waitFor(t, "the first exchange is over", func() bool {
		typist.mu.Lock()
		defer typist.mu.Unlock()
		_, ok := typist.syncs[crdt.Shared].GenerateMessage()
		return !ok
	})
	heldBack(t, typist, company, id)
}

// heldBack has the page make two changes and send only the second, as a
// change frame, and waits for both to reach the company node and the other
// pages.
func heldBack(t *testing.T, typist *page, company *node.Node, id string, others ...*page) {
	t.Helper()
	ctx := context.Background()
	typist.mu.Lock()
	d := typist.docs[crdt.Shared]
	if err := d.Path("files", "main.go").Text().Splice(0, 0, "// one\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit(""); err != nil { // held back
		t.Fatal(err)
	}
	if err := d.Path("files", "main.go").Text().Splice(0, 0, "// two\n"); err != nil {
		t.Fatal(err)
	}
	h, err := d.Commit("")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := d.Change(h)
	if err != nil {
		t.Fatal(err)
	}
	typist.c.Write(ctx, websocket.MessageBinary, append([]byte{docCode(crdt.Shared) | changesFlag}, ch.Save()...))
	typist.mu.Unlock()
	waitFor(t, "both changes reach the company node", func() bool {
		text, _, _ := company.Code(ctx, id, "main.go")
		return strings.HasPrefix(text, "// two\n// one\npackage main\n")
	})
	for _, p := range others {
		waitFor(t, "and the other pages", func() bool { return strings.HasPrefix(p.file("main.go"), "// two\n// one\n") })
	}
	if m, ok := typist.last("error", nil); ok {
		t.Errorf("the typist's page was told: %s", m.Error)
	}
}

// anaInterview starts a relay, the company node and Ana's (an interviewer),
// each with its web server, and a session Ana joined whose shared document
// holds main.go ("package main\n").
func anaInterview(t *testing.T, title string) (company *node.Node, companyWeb *Server, ana *node.Node, anaWeb *Server, id string) {
	t.Helper()
	r := startRelay(t)
	ctx := context.Background()
	company, companyWeb = up(t, node.InitOptions{Org: "Acme Inc", Bootstrap: r.Addrs()})
	ana, anaWeb = up(t, node.InitOptions{})
	res, err := company.AddMember(ctx, node.NewMember{Name: "Ana", Email: "ana@acme.test", Peer: ana.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	ana.AcceptCredential(ctx, res.Member.Token)
	ss, _ := company.CreateSessions(ctx, node.NewSessions{Candidate: "Sam", Title: title})
	id = ss[0].ID
	if _, err := ana.Join(ctx, ss[0].Link, ""); err != nil {
		t.Fatal(err)
	}
	if err := ana.Edit(ctx, id, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go", Text: "package main\n"}); err != nil {
		t.Fatal(err)
	}
	return company, companyWeb, ana, anaWeb, id
}
