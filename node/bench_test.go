package node

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"parley/crdt"
	"parley/internal/procstat"
)

// TestMain runs a relay instead of the tests when PARLEY_TEST_RELAY is set:
// BenchmarkRelayCircuits measures a relay in a process of its own.
func TestMain(m *testing.M) {
	crdt.MaybeServeWorker()
	if os.Getenv("PARLEY_TEST_RELAY") != "" {
		os.Exit(runTestRelay())
	}
	os.Exit(m.Run())
}

func runTestRelay() int {
	r, err := NewRelay(RelayConfig{
		Dir: os.Getenv("PARLEY_TEST_RELAY"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		MaxReservationsPerIP: 100000, Logger: discard(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer r.Close()
	fmt.Println(r.Addrs()[0])
	// Run until the parent closes stdin.
	bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkJoin measures a candidate's join, from the link to admitted and
// seen by every node, with 4 nodes in the session (the company node, two
// interviewers, the candidate) and a relay for discovery.
func BenchmarkJoin(b *testing.B) {
	tm := startTeam(b, 2)
	cand := startNode(b, nodeOpts{})
	ctx := context.Background()
	var times []time.Duration
	for b.Loop() {
		b.StopTimer()
		s := tm.create(b, NewSessions{})
		for _, i := range tm.interviewers {
			join(b, i, s.Link, "")
		}
		waitRoster(b, s.ID, []string{"Interviewer 1/interviewer", "Interviewer 2/interviewer"}, tm.company)
		b.StartTimer()
		start := time.Now()
		if _, err := cand.Join(ctx, s.Link, "Sam"); err != nil {
			b.Fatal(err)
		}
		want := []string{"Interviewer 1/interviewer", "Interviewer 2/interviewer", "Sam/candidate"}
		for _, n := range append([]*Node{tm.company, cand}, tm.interviewers...) {
			for !slices.Equal(roster(b, n, s.ID), want) {
				<-time.After(time.Millisecond)
			}
		}
		times = append(times, time.Since(start))
		b.StopTimer()
		for _, n := range append([]*Node{cand}, tm.interviewers...) {
			n.LeaveSession(ctx, s.ID)
		}
		b.StartTimer()
	}
	b.ReportMetric(ms(percentile(times, 0.5)), "p50-ms/join")
	b.ReportMetric(ms(percentile(times, 0.99)), "p99-ms/join")
}

// BenchmarkPresenceFanout measures how long an envelope published by one
// node takes to reach (and pass validation at) each of the 3 others.
func BenchmarkPresenceFanout(b *testing.B) {
	tm := startTeam(b, 2)
	cand := startNode(b, nodeOpts{})
	s := tm.create(b, NewSessions{})
	nodes := []*Node{tm.interviewers[0], tm.interviewers[1], cand}
	for _, n := range nodes {
		join(b, n, s.Link, "")
	}
	all := append([]*Node{tm.company}, nodes...)
	for _, n := range all {
		waitFor(b, 10*time.Second, "everyone admitted", func() bool { return len(roster(b, n, s.ID)) == 3 })
	}
	sender := liveOf(tm.interviewers[0], s.ID)
	var subs []chan time.Time
	for _, n := range []*Node{tm.company, tm.interviewers[1], cand} {
		l := liveOf(n, s.ID)
		sub, err := l.topic.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		ch := make(chan time.Time, 1024)
		subs = append(subs, ch)
		go func() {
			for {
				msg, err := sub.Next(context.Background())
				if err != nil {
					return
				}
				if msg.GetFrom() == sender.n.id {
					ch <- time.Now()
				}
			}
		}()
		b.Cleanup(sub.Cancel)
	}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := sender.publish(msgPresence, presence{State: "here"}); err != nil {
			b.Fatal(err)
		}
		for _, ch := range subs {
			select {
			case at := <-ch:
				lat = append(lat, at.Sub(start))
			case <-time.After(5 * time.Second):
				b.Fatal("an envelope did not arrive")
			}
		}
	}
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
}

// BenchmarkRelayCircuits measures a relay, in a process of its own, holding
// many relayed connections between participants that cannot reach each
// other directly, each carrying interview-like traffic (a 512-byte message
// every 100 ms each way, a little above what presence and typing send) for
// 10 seconds. It reports how many connections it held and how many broke,
// and the relay process's CPU and RSS.
func BenchmarkRelayCircuits(b *testing.B) {
	const hosts, perHost = 100, 10 // 500 relayed connections
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PARLEY_TEST_RELAY="+filepath.Join(b.TempDir(), "relay"))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	relayInfo, err := peer.AddrInfoFromString(strings.TrimSpace(line))
	if err != nil {
		b.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hs []host.Host
	for range hosts {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.EnableRelay(),
			libp2p.ConnectionGater(relayOnly{relay: relayInfo.ID}), libp2p.DisableMetrics())
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		if _, err := client.Reserve(ctx, h, *relayInfo); err != nil {
			b.Fatal(err)
		}
		var received atomic.Int64
		h.SetStreamHandler("/parley-bench/1", func(s network.Stream) {
			buf := make([]byte, 4096)
			for {
				n, err := s.Read(buf)
				received.Add(int64(n))
				if err != nil {
					return
				}
			}
		})
		hs = append(hs, h)
	}
	cpu0 := procCPU(b, cmd.Process.Pid)
	start := time.Now()
	var broken, held atomic.Int64
	var wg sync.WaitGroup
	for i, h := range hs {
		for k := 1; k <= perHost/2; k++ {
			to := hs[(i+k)%hosts]
			circuit, _ := ma.NewMultiaddr(fmt.Sprintf("%s/p2p/%s/p2p-circuit", relayInfo.Addrs[0], relayInfo.ID))
			wg.Go(func() {
				h.Peerstore().AddAddrs(to.ID(), []ma.Multiaddr{circuit}, time.Hour)
				s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "bench"), to.ID(), "/parley-bench/1")
				if err != nil {
					broken.Add(1)
					return
				}
				held.Add(1)
				defer s.Close()
				msg := make([]byte, 512)
				t := time.NewTicker(100 * time.Millisecond)
				defer t.Stop()
				deadline := time.After(10 * time.Second)
				for {
					select {
					case <-deadline:
						return
					case <-t.C:
					}
					s.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := s.Write(msg); err != nil {
						broken.Add(1)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := procCPU(b, cmd.Process.Pid) - cpu0
	// One run is the measurement; it outlasts the default -benchtime, so
	// the harness does not repeat it.
	b.ReportMetric(float64(held.Load()), "circuits")
	b.ReportMetric(float64(broken.Load()), "broken")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "relay-cpu-%")
	b.ReportMetric(float64(procRSS(b, cmd.Process.Pid))/(1<<20), "relay-rss-MB")
}

// procCPU returns the CPU time (user and system) a process used so far.
func procCPU(tb testing.TB, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// procRSS returns a process's resident set size in bytes.
func procRSS(tb testing.TB, pid int) int64 { return procMem(tb, pid).RSS }

func procMem(tb testing.TB, pid int) procstat.Memory {
	m, err := procstat.Read(pid)
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	return m
}
