package media

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// BenchmarkForwarding measures what a node adds by forwarding video, as
// it does in a call of n participants: its own participant's stream (from
// the browser) out to n-1 peers, and each peer's stream in to the browser,
// 2(n-1) streams of 2.5 Mbit/s. Every packet carries its send time; the
// same streams also go once directly, source to destination, in the same
// run, so that the latency and CPU the hop adds are the differences.
// Reports p50/p99 of the added latency and the CPU per forwarded stream, in
// percent of one core.
func BenchmarkForwarding(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(map[int]string{3: "participants=3", 5: "participants=5"}[n], func(b *testing.B) {
			for b.Loop() {
				hop := runForwarding(b, n, true)
				direct := runForwarding(b, n, false)
				b.ReportMetric(ms(pct(hop.lat, 0.5)-pct(direct.lat, 0.5)), "added-p50-ms")
				b.ReportMetric(ms(pct(hop.lat, 0.99)-pct(direct.lat, 0.99)), "added-p99-ms")
				streams := float64(2 * (n - 1))
				b.ReportMetric(100*(hop.cpu-direct.cpu).Seconds()/hop.wall.Seconds()/streams, "cpu-%core/stream")
				b.ReportMetric(float64(hop.lost)/float64(hop.sent)*100, "lost-%")
			}
		})
	}
}

type fwdResult struct {
	lat        []time.Duration
	cpu, wall  time.Duration
	sent, lost int
}

// runForwarding runs 2(n-1) streams for a few seconds, through a forwarder
// (hop) or directly.
func runForwarding(b *testing.B, n int, hop bool) fwdResult {
	api, err := NewAPI(Config{Loopback: true})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	received := 0
	recv := Handler{Packet: func(k Kind, p *rtp.Packet) {
		if k != Video || len(p.Payload) < 8 {
			return
		}
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(p.Payload)))
		d := time.Since(sent)
		mu.Lock()
		lat = append(lat, d)
		received++
		mu.Unlock()
	}}
	pair := func(slots int, ha, hb Handler) (*Leg, *Leg) {
		a, err := api.NewLeg(slots, ha)
		if err != nil {
			b.Fatal(err)
		}
		c, err := api.NewLeg(1, hb)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		offer, err := a.Offer(ctx)
		if err != nil {
			b.Fatal(err)
		}
		answer, err := c.Answer(ctx, offer)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Accept(answer); err != nil {
			b.Fatal(err)
		}
		return a, c
	}
	var legs []*Leg
	defer func() {
		for _, l := range legs {
			l.Close()
		}
	}()
	// write sends a stream's packets: who writes where.
	var sources []func(p *rtp.Packet)
	if hop {
		// The forwarder F: a leg to the browser (n-1 slots), a leg to each
		// peer. The browser's stream goes to every peer; each peer's to
		// the browser's slot of it.
		var toPeers []*Leg
		var browserSide *Leg
		var fwdBrowser *Leg
		fwdBrowser, browserSide = pair(n-1, Handler{Packet: func(k Kind, p *rtp.Packet) {
			for _, l := range toPeers {
				l.WriteRTP(0, k, p)
			}
		}}, recv)
		legs = append(legs, fwdBrowser, browserSide)
		for i := range n - 1 {
			fwdPeer, peerSide := pair(1, Handler{Packet: func(k Kind, p *rtp.Packet) { fwdBrowser.WriteRTP(i, k, p) }}, recv)
			toPeers = append(toPeers, fwdPeer)
			legs = append(legs, fwdPeer, peerSide)
			sources = append(sources, func(p *rtp.Packet) { peerSide.WriteRTP(0, Video, p) })
		}
		sources = append(sources, func(p *rtp.Packet) { browserSide.WriteRTP(0, Video, p) })
	} else {
		// The same number of streams, each straight to its destination.
		for range 2 * (n - 1) {
			src, dst := pair(1, Handler{}, recv)
			legs = append(legs, src, dst)
			sources = append(sources, func(p *rtp.Packet) { src.WriteRTP(0, Video, p) })
		}
	}
	// Let ICE and DTLS settle: every source sends for a second first.
	warmTick := time.NewTicker(20 * time.Millisecond)
	for range 50 {
		<-warmTick.C
		for _, src := range sources {
			src(stamped(0))
		}
	}
	warmTick.Stop()
	mu.Lock()
	warm := received
	lat, received = nil, 0
	mu.Unlock()
	if warm == 0 {
		b.Fatal("nothing arrived while warming up")
	}

	// 2.5 Mbit/s a stream: a 1200-byte packet every 4 ms (250 a second),
	// evenly paced, so that what is measured is the path, not a queue.
	const run = 4 * time.Second
	var cpu0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
	start := time.Now()
	sent := 0
	seq := uint16(0)
	tick := time.NewTicker(4 * time.Millisecond)
	for time.Since(start) < run {
		<-tick.C
		seq++
		for _, src := range sources {
			src(stamped(seq))
			sent++
		}
	}
	tick.Stop()
	wall := time.Since(start)
	var cpu1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)
	want := sent
	if hop {
		// Each of the n sources' packets arrives n-1 times in all: the
		// browser's at every peer, the peers' at the browser.
		want = sent/n*(n-1) + sent/n*(n-1)
	}
	// What is still in flight arrives, or is lost: wait until all did, or
	// nothing more came for 100 ms.
	last, quiet := -1, time.NewTicker(100*time.Millisecond)
	for range quiet.C {
		mu.Lock()
		r := received
		mu.Unlock()
		if r >= want || r == last {
			break
		}
		last = r
	}
	quiet.Stop()
	mu.Lock()
	defer mu.Unlock()
	return fwdResult{lat: slices.Clone(lat), cpu: rusageTime(cpu1) - rusageTime(cpu0), wall: wall, sent: want, lost: max(want-received, 0)}
}

func stamped(seq uint16) *rtp.Packet {
	payload := make([]byte, 1200)
	binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
	return &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: payload}
}

func rusageTime(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(int(float64(len(s))*p), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
