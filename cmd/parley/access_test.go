package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"parley/node"
	"parley/node/web"
)

// In a browser: a page without access says how to get in; the address with
// the token opens the app and leaves no token in the address or the
// history; the access survives a restart of the node on the same port; and
// another loopback server the browser visits receives no token.
func TestBrowserAccess(t *testing.T) {
	tb := newTab(t, "access")
	dir := filepath.Join(t.TempDir(), "data")
	ok(t, dir, "init", "--org", "Acme Inc")
	// start runs the node and its web app on addr until stop.
	start := func(addr string) (s *web.Server, stop func()) {
		t.Helper()
		n, err := node.New(node.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		l, err := web.Listen(addr)
		if err != nil {
			n.Close()
			t.Fatal(err)
		}
		s, err = web.NewServer(n, l, web.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			n.Close()
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); s.Serve() }()
		stopped := false
		stop = func() {
			if !stopped {
				stopped = true
				s.Shutdown(context.Background())
				<-done
				n.Close()
			}
		}
		t.Cleanup(stop)
		return s, stop
	}
	s, stop := start("127.0.0.1:0")

	tb.run("open a room without access", chromedp.Navigate(s.URL()+"/s/abcd2345"))
	tb.waitJS("the no-access page", `document.querySelector(".no-access")`)
	var text string
	tb.eval(`document.querySelector(".no-access").innerText`, &text)
	if !strings.Contains(text, "parley open abcd2345") || !strings.Contains(text, "parley up") {
		t.Fatalf("the no-access page says:\n%s", text)
	}

	tb.run("open the address parley up prints", chromedp.Navigate(s.PageURL("/")))
	tb.waitJS("the dashboard", `document.querySelector("nav .brand") && !document.querySelector(".no-access")`)
	var where string
	tb.eval(`location.href`, &where)
	if strings.Contains(where, "token") {
		t.Fatalf("the token stayed in the address: %s", where)
	}

	// Another server on loopback: the browser sends it this host's cookies
	// (all ports share them), which must hold no token, and its page reads
	// none (HttpOnly).
	got := make(chan string, 1)
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("Cookie"):
		default:
		}
		io.WriteString(w, "<!doctype html><title>another server</title>")
	}))
	defer spy.Close()
	var script string
	tb.run("visit another loopback port", chromedp.Navigate(spy.URL+"/"), chromedp.Evaluate(`document.cookie`, &script))
	if sent := <-got; !strings.Contains(sent, "parley_") || strings.Contains(sent, s.Token()) || script != "" {
		t.Fatalf("another port received cookies %q, its page reads %q", sent, script)
	}

	addr := strings.TrimPrefix(s.URL(), "http://")
	token := s.Token()
	stop()
	s, _ = start(addr)
	if s.Token() == token {
		t.Fatal("the token did not change at the restart")
	}
	tb.run("reopen after a restart", chromedp.Navigate(s.URL()+"/"))
	tb.waitJS("the dashboard after a restart", `document.querySelector("nav .brand") && !document.querySelector(".no-access")`)
}
