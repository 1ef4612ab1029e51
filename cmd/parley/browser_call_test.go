package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"parley/node"
	"parley/node/web"
)

// flow is what a page received from one other participant so far: video
// frames shown by the tile and decoded, and audio samples played that were
// not concealment (the receiver's jitter buffer drops packets it finds out
// of order or too old, and plays concealment instead).
type flow struct {
	Frames  float64 `json:"frames"`  // shown by the participant's tile (video frame callbacks)
	Decoded float64 `json:"decoded"` // inbound-rtp framesDecoded
	Audio   float64 `json:"audio"`   // inbound-rtp totalSamplesReceived - concealedSamples
	Packets float64 `json:"packets"` // inbound-rtp audio packetsReceived
	// For the log: keyframes decoded, and keyframe requests sent.
	Keyframes float64 `json:"keyframes"`
	PLIs      float64 `json:"plis"`
}

// flowRecorder runs in every document of a tab, from its start: every 100
// ms it notes (in window.flowLog) what the page received so far from each
// other participant, by peer, with the time. Times are the page's, so a
// busy test process does not blur them.
const flowRecorder = `(() => {
	const probe = async () => {
		const c = window.parleyCall, out = {};
		if (!c || !c.pc) return out;
		const bySlot = {};
		for (const s of c.slots) if (s.slot >= 0 && s.peer !== c.me) bySlot[s.slot] = s.peer;
		const mids = {};
		for (const t of c.pc.getTransceivers()) if (t.receiver.track) mids[t.receiver.track.id] = t.mid;
		let report;
		try {
			report = await c.pc.getStats();
		} catch {
			return out; // closed
		}
		report.forEach((r) => {
			if (r.type !== "inbound-rtp") return;
			const peer = bySlot[Math.floor(Number(r.mid ?? mids[r.trackIdentifier]) / 2)];
			if (!peer) return;
			const o = (out[peer] ||= {frames: 0, decoded: 0, audio: 0, packets: 0, keyframes: 0, plis: 0});
			if (r.kind === "video") {
				o.decoded = r.framesDecoded || 0;
				o.keyframes = r.keyFramesDecoded || 0;
				o.plis = (r.pliCount || 0) + (r.firCount || 0);
			} else {
				o.audio = (r.totalSamplesReceived || 0) - (r.concealedSamples || 0);
				o.packets = r.packetsReceived || 0;
			}
		});
		for (const peer in out) out[peer].frames = 0;
		return out;
	};
	// Frames shown, by peer, whichever tile shows them (a tile is made
	// anew when its participant comes back).
	const shown = {};
	const hook = () => {
		for (const f of document.querySelectorAll("figure.tile")) {
			const v = f.querySelector("video");
			if (!v || v.hooked) continue;
			v.hooked = true;
			const frame = () => {
				const peer = f.dataset.peer;
				if (peer) shown[peer] = (shown[peer] || 0) + 1;
				v.requestVideoFrameCallback(frame);
			};
			v.requestVideoFrameCallback(frame);
		}
	};
	// Counts go on across the call's peer connections: what each sample
	// adds to the last of the same connection counts, a new connection
	// counting from nothing.
	window.flowLog = [];
	let busy = false, pc = null, prev = {};
	const total = {};
	setInterval(async () => {
		if (busy) return;
		busy = true;
		try {
			hook();
			const now = window.parleyCall && window.parleyCall.pc;
			const got = await probe();
			if (now !== pc) {
				pc = now;
				prev = {};
			}
			for (const peer in got) {
				const t = (total[peer] ||= {}), p = prev[peer] || {};
				for (const k in got[peer]) t[k] = (t[k] || 0) + Math.max(0, got[peer][k] - (p[k] || 0));
			}
			prev = {...prev, ...got};
			const f = {};
			for (const peer in total) f[peer] = {...total[peer], frames: shown[peer] || 0};
			window.flowLog.push({t: Date.now(), f});
			if (window.flowLog.length > 4000) window.flowLog.splice(0, 2000);
		} finally {
			busy = false;
		}
	}, 100);
})()`

// flowSample is what a page had received at a time (Unix milliseconds).
type flowSample struct {
	T int64           `json:"t"`
	F map[string]flow `json:"f"`
}

// record makes every document of the tab keep a flow log.
func (tb *tab) record() {
	tb.t.Helper()
	tb.run("record the flows", beforeScripts(flowRecorder))
}

// flowLog returns the page's samples since a time; none while it loads.
func (tb *tab) flowLog(since time.Time) []flowSample {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	var out []flowSample
	if err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(`(window.flowLog || []).filter(s => s.t >= %d)`, since.UnixMilli()), &out)); err != nil {
		return nil
	}
	return out
}

// More than this since the baseline is "flowing": 3 frames shown and
// decoded (at 20 frames a second) and 100 ms of audio (48 kHz) played.
const (
	flowFrames = 3
	flowAudio  = 4800
)

func (f flow) beyond(base flow) bool {
	return f.Frames >= base.Frames+flowFrames && f.Decoded >= base.Decoded+flowFrames && f.Audio >= base.Audio+flowAudio
}

// watcher is one page that must see another participant's video and hear
// their audio again.
type watcher struct {
	tb   *tab
	peer string // whose
	base flow   // what it had when the other side went away
	at   flow   // what it had when it went on flowing
	done bool   // it flows again
	took time.Duration
	// When video and audio first came, each (for the log).
	video, audio time.Duration
}

func (w *watcher) String() string {
	return fmt.Sprintf("%v (video %v, audio %v; %.0f keyframes, %.0f PLIs)", w.took, w.video, w.audio, w.at.Keyframes-w.base.Keyframes, w.at.PLIs-w.base.PLIs)
}

// baseline is what the watcher's page had received from the peer at a
// time: its last sample before then.
func (w *watcher) baseline(at time.Time) {
	w.base = flow{}
	for _, s := range w.tb.flowLog(at.Add(-2 * time.Second)) {
		if s.T <= at.UnixMilli() {
			w.base = s.F[w.peer]
		}
	}
}

// waitFlowing waits until every watcher's page received fresh video and
// audio beyond its baseline, and went on receiving (as much again), and
// notes how long each took from since, by the pages' own clocks.
func waitFlowing(t *testing.T, since time.Time, limit time.Duration, ws ...*watcher) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for _, w := range ws {
			if w.done {
				continue
			}
			var first *flowSample
			w.video, w.audio = 0, 0
			for _, s := range w.tb.flowLog(since) {
				at := time.Duration(s.T-since.UnixMilli()) * time.Millisecond
				if f := s.F[w.peer]; w.video == 0 && f.Frames >= w.base.Frames+flowFrames && f.Decoded >= w.base.Decoded+flowFrames {
					w.video = at
				}
				if f := s.F[w.peer]; w.audio == 0 && f.Audio >= w.base.Audio+flowAudio {
					w.audio = at
				}
				switch {
				case first == nil && s.F[w.peer].beyond(w.base):
					first = &s
				case first != nil && s.F[w.peer].beyond(first.F[w.peer]):
					w.took = time.Duration(first.T-since.UnixMilli()) * time.Millisecond
					w.at, w.done = s.F[w.peer], true
				}
				if w.done {
					break
				}
			}
			if !w.done {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			var msg []string
			for _, w := range ws {
				log := w.tb.flowLog(since)
				var last flow
				if len(log) > 0 {
					last = log[len(log)-1].F[w.peer]
				}
				var state any
				ctx, cancel := context.WithTimeout(w.tb.ctx, 5*time.Second)
				chromedp.Run(ctx, chromedp.Evaluate(`(() => { const c = window.parleyCall; return {url: location.pathname, conn: document.querySelector(".conn")?.textContent, errors: document.querySelector("[aria-live=assertive]")?.textContent, call: c && {started: c.started, pc: c.pc?.connectionState, marks: c.marks, slots: c.slots}, at: performance.getEntriesByType("mark").map(m => m.name + "@" + Math.round(m.startTime)).join(" ")}; })()`, &state))
				cancel()
				msg = append(msg, fmt.Sprintf("%s from %.8s: had %+v, has %+v (%d samples), took %v; the page: %v", w.tb.name, w.peer, w.base, last, len(log), w.took, state))
				w.tb.shot("not-flowing")
			}
			t.Fatalf("the call did not come back within %v:\n%s", limit, strings.Join(msg, "\n"))
		}
		<-tick.C
	}
}

// callPair starts a demo interview with both pages in the call, seeing and
// hearing each other, each recording what it receives.
func callPair(t *testing.T) (d *demo, ana, sam *tab, anaID, samID string) {
	t.Helper()
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
	if _, err := d.Interviewer.StartSession(ctx, d.Session); err != nil {
		t.Fatal(err)
	}
	ana, sam = newTab(t, "ana"), newTab(t, "sam")
	ana.record()
	sam.record()
	anaID, samID = d.Interviewer.ID().String(), d.Candidate.ID().String()
	ana.run("open the room", chromedp.Navigate(d.InterviewerURL))
	sam.run("open the room", chromedp.Navigate(d.CandidateURL))
	waitFlowing(t, time.Now(), 30*time.Second, &watcher{tb: ana, peer: samID}, &watcher{tb: sam, peer: anaID})
	return d, ana, sam, anaID, samID
}

// recoveryLimit is how long a test waits for the call to come back, from
// when the page has loaded (or the node serves again), before it fails.
// The aim is 3 s from the reload (issue 15), and the tests log the times;
// a shared 2-core machine under a load of 30 and more slows a page's load
// alone to several seconds and its video to a few frames a second, and
// what the tests must catch is a call that does not come back for a
// minute.
const recoveryLimit = 15 * time.Second

// A reload of either side's room mid-call: each side sees and hears the
// other again within moments, every time (issue 15 item 4: an interviewer's
// reload used to freeze the candidate's view of her for a minute and more).
// Each side reloads five times in a row.
func TestBrowserCallReload(t *testing.T) {
	_, ana, sam, anaID, samID := callPair(t)
	var worst time.Duration
	for i := range 10 {
		who, other, whoID, otherID := ana, sam, anaID, samID
		if i >= 5 {
			who, other, whoID, otherID = sam, ana, samID, anaID
		}
		start := time.Now()
		who.run("reload", chromedp.Reload())
		// The old page is gone (its call with it): what the other page had
		// then is the baseline.
		seen, heard := &watcher{tb: other, peer: whoID}, &watcher{tb: who, peer: otherID}
		seen.baseline(time.Now())
		heard.baseline(time.Now()) // nothing: a new page
		waitFlowing(t, start, recoveryLimit, seen, heard)
		var steps any
		who.eval(`({start: Math.round(window.parleyCall.startedAt), marks: window.parleyCall.marks, loaded: Math.round(performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd), at: performance.getEntriesByType("mark").map(m => m.name + "@" + Math.round(m.startTime)).join(" ")})`, &steps)
		t.Logf("reload %d of %s: %s sees and hears again after %v, %s after %v (the page, in ms from the navigation: %v)", i%5+1, who.name, other.name, seen, who.name, heard, steps)
		worst = max(worst, seen.took, heard.took)
	}
	t.Logf("worst recovery: %v", worst.Round(time.Millisecond))
}

// A page that loses its network for 10 s (its socket to the node and its
// call's connection drop; the socket cannot reconnect meanwhile) is back
// in the call moments after the network returns, on either side.
func TestBrowserCallNetworkDrop(t *testing.T) {
	_, ana, sam, anaID, samID := callPair(t)
	for i, who := range []*tab{ana, sam} {
		other, whoID, otherID := sam, anaID, samID
		if i == 1 {
			other, whoID, otherID = ana, samID, anaID
		}
		who.run("go offline", network.Enable(), network.EmulateNetworkConditions(true, 0, -1, -1))
		who.eval(`window.parleyChannel.ws.close(); window.parleyCall.pc.close(); true`, nil)
		who.waitJS("the page says it lost its node", `document.querySelector(".conn").textContent.includes("Reconnecting")`)
		// The network stays down for 10 s; meanwhile the socket keeps
		// failing to reconnect.
		down := time.After(10 * time.Second)
	outage:
		for {
			select {
			case <-down:
				break outage
			case <-time.After(500 * time.Millisecond):
				if who.isTrue(`window.parleyChannel.ws.readyState === WebSocket.OPEN`) {
					t.Fatalf("%s: the socket reconnected while the network was down", who.name)
				}
			}
		}
		seen, heard := &watcher{tb: other, peer: whoID}, &watcher{tb: who, peer: otherID}
		seen.baseline(time.Now())
		heard.baseline(time.Now())
		back := time.Now()
		who.run("go online", network.EmulateNetworkConditions(false, 0, -1, -1))
		waitFlowing(t, back, recoveryLimit, seen, heard)
		t.Logf("%s's network back: %s sees and hears again after %v, %s after %v", who.name, other.name, seen, who.name, heard)
	}
}

// restart stops one of the demo's nodes (1: the interviewer's, 2: the
// candidate's) with its web server, and starts both again from the same
// data directory, the web app at the same address and with the same token,
// as a restarted `parley up` does. It returns when the web app serves.
func (d *demo) restart(t *testing.T, i int) {
	d.restartWith(t, i, slog.New(slog.DiscardHandler), nil)
}

// restartWith restarts as restart does, the node logging to log, and runs
// between, if not nil, on the node's data directory while it is stopped.
func (d *demo) restartWith(t testing.TB, i int, log *slog.Logger, between func(dir string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	old, srv := d.nodes[i], d.servers[i]
	addr := strings.TrimPrefix(srv.URL(), "http://")
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if between != nil {
		between(old.Dir())
	}
	n, err := node.New(node.Config{Dir: old.Dir(), Logger: log, ListenAddrs: []string{demoLoopback}})
	if err != nil {
		t.Fatal(err)
	}
	d.nodes[i] = n
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := web.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	srv, err = web.NewServer(n, l, web.Config{Token: srv.Token(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	d.servers[i] = srv
	d.serving.Go(func() { srv.Serve() })
	d.Interviewer, d.Candidate = d.nodes[1], d.nodes[2]
	d.InterviewerWeb, d.CandidateWeb = d.servers[1], d.servers[2]
}

// A node restarted mid-call (each side's in turn) is back in the call with
// its page, which reconnects by itself: no reload.
func TestBrowserCallNodeRestart(t *testing.T) {
	d, ana, sam, anaID, samID := callPair(t)
	for i, who := range []*tab{ana, sam} {
		other, whoID, otherID := sam, anaID, samID
		if i == 1 {
			other, whoID, otherID = ana, samID, anaID
		}
		stop := time.Now()
		d.restart(t, i+1)
		back := time.Now()
		seen, heard := &watcher{tb: other, peer: whoID}, &watcher{tb: who, peer: otherID}
		seen.baseline(back)
		heard.baseline(back)
		waitFlowing(t, back, recoveryLimit, seen, heard)
		t.Logf("%s's node restarted (in %v): %s sees and hears again after %v, %s after %v", who.name, back.Sub(stop).Round(time.Millisecond), other.name, seen, who.name, heard)
	}
}
