package web

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"parley/crdt"
	"parley/internal/crasher"
	"parley/node"
)

// A hostile script on an interviewer's page sends crafted sync messages
// through the live WebSocket: every committed input, the committed changes
// relabelled under the page's actor (the only ones its node takes from it),
// and a message that Automerge refuses half way. The page's node refuses
// each, tells the page to start again (an error with reset) and keeps the
// socket open; nothing of it reaches the company node, nobody is
// quarantined anywhere, and the page, synced afresh, edits on.
// (node.TestCrashersFromPage does the same with mutants, below the socket.)
// Once as sync messages, once as change frames (as the web app sends its
// changes).
func TestLiveCrashers(t *testing.T) {
	t.Run("sync", func(t *testing.T) { liveCrashers(t, false) })
	t.Run("changes", func(t *testing.T) { liveCrashers(t, true) })
}

func liveCrashers(t *testing.T, changes bool) {
	ctx := context.Background()
	company, _, ana, anaWeb, id := anaInterview(t, "Loop")
	p := openPage(t, anaWeb, id)
	// frame wraps a change or a sync message as the page sends it.
	frame := func(b []byte) []byte {
		if !changes {
			return append([]byte{0}, b...)
		}
		return append([]byte{changesFlag}, b...)
	}
	if changes {
		p = openAppPage(t, anaWeb, id)
	}
	waitFor(t, "the page has the code", func() bool { return p.file("main.go") == "package main\n" })
	waitFor(t, "the company node has the code", func() bool {
		text, _, _ := company.Code(ctx, id, "main.go")
		return text == "package main\n"
	})

	var inputs [][]byte
	ins, err := crasher.All()
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	prefix := p.actor
	base := p.docs[crdt.Shared]
	p.mu.Unlock()
	mine, _ := hex.DecodeString(prefix + "6d616c6c6f727921")
	for _, in := range ins {
		inputs = append(inputs, in.Bytes)
		if b, ok := crasher.Relabel(in.Bytes, mine); ok {
			if msg, ok := crasher.SyncMessageWith(b); ok && !changes {
				b = msg
			}
			inputs = append(inputs, b)
		}
	}
	// Half way: a valid change, then another by an actor that already has
	// a change with its sequence number.
	p.mu.Lock()
	change := func(actor, file string) []byte {
		d, err := base.Fork()
		if err != nil {
			t.Fatal(err)
		}
		d.SetActorID(prefix + actor)
		if err := d.Path("files").Map().Set(file, automerge.NewText(strings.ToUpper(file))); err != nil {
			t.Fatal(err)
		}
		c, err := d.Commit("")
		if err != nil {
			t.Fatal(err)
		}
		ch, err := d.Change(c)
		if err != nil {
			t.Fatal(err)
		}
		return ch.Save()
	}
	taken, clash, half := change("7365636f6e642121", "taken.txt"), change("7365636f6e642121", "clash.txt"), change("6669727374212121", "half.txt")
	p.mu.Unlock()
	takenMsg, _ := crasher.SyncMessageWith(taken)
	halfMsg, _ := crasher.SyncMessageWith(append(append([]byte{}, half...), clash...))
	if changes {
		takenMsg, halfMsg = taken, append(append([]byte{}, half...), clash...)
	}
	p.c.Write(ctx, websocket.MessageBinary, frame(takenMsg))
	waitFor(t, "the valid change is taken", func() bool {
		text, _, _ := company.Code(ctx, id, "taken.txt")
		return text == "TAKEN.TXT"
	})
	inputs = append(inputs, halfMsg)

	errorsBefore := p.count("error")
	for _, in := range inputs {
		p.c.Write(ctx, websocket.MessageBinary, frame(in))
	}
	waitWithin(t, 30*time.Second, "an error for each input", func() bool { return p.count("error") >= errorsBefore+len(inputs) })
	p.mu.Lock()
	for _, m := range p.texts {
		if m.Type == "error" && m.Reset != "shared" {
			t.Errorf("the page is told %q, without a reset", m.Error)
		}
	}
	p.mu.Unlock()
	if gone, err := p.closed(); gone {
		t.Fatalf("the socket closed: %v", err)
	}

	// The page edits on, from its node's copy.
	waitFor(t, "the page has the code again", func() bool { return strings.HasPrefix(p.file("main.go"), "package main\n") })
	p.splice("main.go", 0, 0, "// after\n")
	waitFor(t, "the page's edit reaches the company node", func() bool {
		text, _, _ := company.Code(ctx, id, "main.go")
		return strings.HasPrefix(text, "// after\n")
	})
	for _, n := range []*node.Node{ana, company} {
		v, err := n.View(ctx, id, crdt.Shared)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := v.Files["half.txt"]; ok {
			t.Errorf("%s took part of a message its page's node refused", n.ID().ShortString())
		}
		s, _ := n.Session(ctx, id)
		if len(s.Quarantined) != 0 || len(s.RefusedBy) != 0 {
			t.Errorf("%s: quarantined %+v, refused by %+v", n.ID().ShortString(), s.Quarantined, s.RefusedBy)
		}
	}
}

// count returns how many text messages of a type the page got.
func (p *page) count(typ string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.texts {
		if m.Type == typ {
			n++
		}
	}
	return n
}
