package web

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"parley/crdt"
	"parley/node"
)

// A page that takes saved documents (?saved=1, as the web app) is sent each
// document saved whole (unless it holds nothing yet) after the hello, which
// names them, and loads it,
// where the sync protocol would bring the history change by change; the
// sync that follows carries no history, and the page's edits go to the node
// as usual. A page that does not ask is sent no saved document.
func TestLiveSavedDocument(t *testing.T) {
	ctx := context.Background()
	iv := startInterview(t, node.Config{})
	ana, id := iv.ana, iv.id
	if err := ana.Edit(ctx, id, crdt.Shared, crdt.Edit{Op: "add", Name: "main.go", Text: "package main\n"}); err != nil {
		t.Fatal(err)
	}
	want := "package main\n"
	for i := range 200 { // a history, change by change
		line := fmt.Sprintf("// line %d\n", i)
		if err := ana.Edit(ctx, id, crdt.Shared, crdt.Edit{Op: "splice", Target: "file:main.go", Pos: len(want), Text: line}); err != nil {
			t.Fatal(err)
		}
		want += line
	}

	p := openSavedPage(t, iv.anaWeb, id)
	waitFor(t, "the hello names the saved documents", func() bool {
		h, ok := p.last("hello", nil)
		return ok && slices.Equal(h.Saved, []crdt.Kind{crdt.Shared}) // the notes are empty
	})
	waitFor(t, "the page has the code", func() bool { return p.file("main.go") == want })
	p.mu.Lock()
	saved, synced := p.savedBytes, p.syncBytes
	p.mu.Unlock()
	if saved == 0 || synced >= saved {
		t.Fatalf("the page got %d bytes of saved documents and %d of sync messages: the history came by sync", saved, synced)
	}

	// The page types; the node takes it.
	p.mu.Lock()
	if err := p.docs[crdt.Shared].Path("files", "main.go").Text().Splice(0, 0, "// typed\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.docs[crdt.Shared].Commit(""); err != nil {
		t.Fatal(err)
	}
	p.flushLocked(crdt.Shared)
	p.mu.Unlock()
	waitFor(t, "the node has the page's edit", func() bool {
		v, err := ana.View(ctx, id, crdt.Shared)
		return err == nil && strings.HasPrefix(v.Files["main.go"], "// typed\npackage main\n")
	})

	// A client that does not ask gets sync messages only.
	plain := openPage(t, iv.anaWeb, id)
	waitFor(t, "a plain page has the code", func() bool { return strings.HasSuffix(plain.file("main.go"), want) })
	h, _ := plain.last("hello", nil)
	plain.mu.Lock()
	defer plain.mu.Unlock()
	if plain.savedBytes != 0 || len(h.Saved) != 0 {
		t.Fatalf("a page that did not ask got saved documents: %d bytes, hello %v", plain.savedBytes, h.Saved)
	}
}
