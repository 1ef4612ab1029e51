package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"parley/gateway"
	"parley/node"
)

// selfSigned makes a certificate for 127.0.0.1 and returns the server's
// TLS configuration and the base64 SHA-256 of its public key, which
// Chromium's --ignore-certificate-errors-spki-list trusts.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}},
		base64.StdEncoding.EncodeToString(sum[:])
}

// startGatewayFor serves the demo company's public gateway on loopback,
// over TLS, and returns its https:// address and the certificate's key
// hash.
func startGatewayFor(t *testing.T, d *demo, cfg gateway.Config) (*gateway.Gateway, string, string) {
	t.Helper()
	tlsCfg, spki := selfSigned(t)
	cfg.Company, cfg.TLS = d.Company, tlsCfg
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Node = node.Config{ListenAddrs: []string{demoLoopback}}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Serve(l) }()
	t.Cleanup(func() {
		gw.Close()
		<-done
	})
	return gw, "https://" + l.Addr().String(), spki
}

// clickJS clicks an element once it is there, from the page's script: the
// room redraws its buttons at each change of the session, so that one found
// a moment ago may be gone by the time a click through the protocol lands.
func clickJS(tb *tab, what, selector string) {
	tb.t.Helper()
	tb.waitJS(what, `(() => { const b = document.querySelector(`+jsString(selector)+`); if (b) b.click(); return !!b; })()`)
}

// guestTab is a Chromium with no Parley node, trusting only the gateway's
// test certificate.
func guestTab(t *testing.T, name, spki string) *tab {
	return newTab(t, name, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
}

// A candidate with no Parley of their own opens the link in Chromium: the
// join page shows the interview, they join, wait in the lobby, the
// interviewer (her own node and page) sees them marked as joined through the
// gateway and starts; both type, accents and emoji included; the code is
// the same byte for byte in both pages and on the nodes; a reload resumes
// the seat; a second browser is refused the seat; the end reaches the
// guest's page; the ended and a tampered link are refused on the join page.
func TestGatewayBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	chromium(t)
	ctx := context.Background()
	d, err := startDemo(ctx, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ss, err := d.Company.CreateSessions(ctx, node.NewSessions{Candidate: "Zoë Quinn", Title: "Browser loop", Duration: time.Hour, Interviewers: []string{demoInterviewerMail}})
	if err != nil {
		t.Fatal(err)
	}
	id := ss[0].ID
	token := ss[0].Link[strings.LastIndex(ss[0].Link, "/")+1:]
	if _, err := d.Interviewer.Join(ctx, ss[0].Link, demoInterviewer); err != nil {
		t.Fatal(err)
	}
	// Every tab comes from 127.0.0.1: one client, as far as the rate
	// limits go.
	_, base, spki := startGatewayFor(t, d, gateway.Config{Limits: gateway.Limits{PageBurst: 1000, PageEvery: time.Millisecond, JoinBurst: 1000, JoinEvery: time.Millisecond, Clients: 10}})

	zoe := guestTab(t, "guest", spki)
	start := time.Now()
	zoe.run("open the link", chromedp.Navigate(base+"/join#"+token), chromedp.WaitVisible(`.facts`, chromedp.ByQuery))
	zoe.shot("join")
	var facts string
	zoe.eval(`document.querySelector(".facts").textContent + "|" + location.href`, &facts)
	for _, want := range []string{"Demo Company", "Browser loop", "Zoë Quinn", "|" + base + "/join"} {
		if !strings.Contains(facts, want) {
			t.Fatalf("the join page shows %q, without %q", facts, want)
		}
	}
	if strings.Contains(facts, "#") {
		t.Fatalf("the link stayed in the address: %s", facts)
	}
	shown := time.Since(start)
	zoe.run("name", chromedp.SetValue(`input[name="name"]`, "Zoë", chromedp.ByQuery))
	clicked := time.Now()
	zoe.run("join", chromedp.Click(`//button[text()="Join interview"]`, chromedp.BySearch))
	zoe.waitJS("the guest waits in the lobby", `location.pathname === "/guest/s/`+id+`" && !document.querySelector(".lobby").hidden`)
	t.Logf("the link opened to the join page shown: %v; Join clicked to the lobby shown: %v",
		shown.Round(time.Millisecond), time.Since(clicked).Round(time.Millisecond))
	zoe.shot("lobby")

	ana := newTab(t, "interviewer")
	ana.run("open the room", chromedp.Navigate(d.InterviewerWeb.PageURL("/s/"+id)))
	ana.waitJS("the interviewer sees the candidate waiting, through the gateway", `document.querySelector("#banner").textContent.includes("candidate is waiting") && document.querySelector(".via-gateway")`)
	ana.shot("candidate-via-gateway")
	ana.run("add a file", chromedp.Click(`#add-file`, chromedp.ByQuery), chromedp.WaitVisible(`#new-file-name`, chromedp.ByQuery),
		chromedp.SendKeys(`#new-file-name`, "main.py"+kb.Enter, chromedp.ByQuery))
	ana.waitJS("the file opens", `window.parleyRoom.file() === "main.py"`)
	ana.typeText("def greet():\n    return \"héllo\"\n")
	clickJS(ana, "start", "#start")
	zoe.waitJS("the editor opens for the guest", `window.parleyRoom && window.parleyRoom.text() === "def greet():\n    return \"héllo\"\n"`)

	zoe.typeText("# Zoë was here 🙂\n")
	ana.typeText("# 世界\n")
	want := "def greet():\n    return \"héllo\"\n# Zoë was here 🙂\n# 世界\n"
	alt := "def greet():\n    return \"héllo\"\n# 世界\n# Zoë was here 🙂\n"
	same := fmt.Sprintf(`[%s, %s].includes(window.parleyRoom.text())`, jsString(want), jsString(alt))
	ana.waitJS("the interviewer sees both", same)
	zoe.waitJS("the guest sees both", same)
	var final string
	ana.eval(`window.parleyRoom.text()`, &final)
	zoe.waitJS("identical text", `window.parleyRoom.text() === `+jsString(final))
	for _, n := range []*node.Node{d.Interviewer, d.Company} {
		waitFor(t, 10*time.Second, func() bool { text, _, _ := n.Code(ctx, id, "main.py"); return text == final })
	}
	zoe.waitJS("the guest sees the interviewer's named caret", `[...document.querySelectorAll(".cm-remote-name")].some(e => e.textContent === "Ana")`)
	ana.waitJS("the interviewer sees the guest's caret, without the mark", `[...document.querySelectorAll(".cm-remote-name")].some(e => e.textContent === "Zoë")`)
	zoe.shot("typing")

	// The call: each page decodes the other's video (Chromium's fake
	// camera), the guest's through the gateway's participant.
	videoPlays := `(() => {
		window.seen ||= {};
		const v = [...document.querySelectorAll("figure.tile")].filter(f => f.dataset.key !== "self").map(f => [f.dataset.key, f.querySelector("video")]);
		return v.length === 1 && v.every(([k, x]) => {
			if (!(k in window.seen)) window.seen[k] = x.currentTime;
			return x.videoWidth > 0 && x.currentTime > window.seen[k] + 0.5;
		});
	})()`
	zoe.waitJS("the guest sees the interviewer's video", videoPlays)
	ana.waitJS("the interviewer sees the guest's video", videoPlays)
	zoe.shot("call")

	// A reload resumes the same participant and seat.
	seat := func() []string {
		s, _ := d.Interviewer.Session(ctx, id)
		var peers []string
		for _, p := range s.Participants {
			if p.Role == node.RoleCandidate {
				peers = append(peers, p.Peer)
			}
		}
		return peers
	}
	before := seat()
	zoe.run("reload", chromedp.Reload())
	zoe.waitJS("the room again, with the code", `window.parleyRoom && window.parleyRoom.text() === `+jsString(final))
	zoe.waitJS("the call again, after the reload", videoPlays)
	if after := seat(); len(before) != 1 || !slices.Equal(before, after) {
		t.Fatalf("the candidate before the reload %v, after %v", before, after)
	}

	// A second browser with the same link: refused, the seat is taken.
	mal := guestTab(t, "second-browser", spki)
	mal.run("open the link", chromedp.Navigate(base+"/join#"+token), chromedp.WaitVisible(`input[name="name"]`, chromedp.ByQuery))
	mal.run("join", chromedp.Click(`//button[text()="Join interview"]`, chromedp.BySearch))
	mal.waitJS("the seat is taken", `[...document.querySelectorAll(".error, [role=alert]")].some(e => e.textContent.includes("seat is taken"))`)
	mal.shot("seat-taken")

	// The end reaches the guest's page.
	clickJS(ana, "end the interview", "#end")
	zoe.waitJS("the guest's page says it ended", `document.querySelector("#banner").textContent.includes("has ended")`)
	zoe.shot("ended")
	mal.run("open the ended link", chromedp.Navigate(base+"/join#"+token))
	mal.waitJS("the join page says it ended", `document.querySelector("[role=alert]") && document.querySelector("[role=alert]").textContent.includes("This interview has ended")`)
	tampered := token[:len(token)-6] + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, token[len(token)-6:])
	mal.run("open a tampered link", chromedp.Navigate(base+"/join#"+tampered))
	mal.waitJS("the join page says the link is broken", `document.querySelector("[role=alert]") && /signature|damaged|altered|malformed/i.test(document.querySelector("[role=alert]").textContent)`)
	mal.shot("tampered")
}
