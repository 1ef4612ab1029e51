package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/time/rate"

	"parley/invite"
)

// startTURNRelay starts a relay with a TURN server configured by cfg (on
// 127.0.0.1:0 unless cfg.Listen says otherwise), serving metrics.
func startTURNRelay(t *testing.T, cfg TURNConfig) *Relay {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	r, err := NewRelay(RelayConfig{
		Dir: filepath.Join(t.TempDir(), "relay"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Metrics: "127.0.0.1:0", TURN: cfg, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// turnSecretOf reads a relay's TURN secret, checking its file.
func turnSecretOf(t *testing.T, r *Relay) []byte {
	t.Helper()
	fi, err := os.Stat(r.TURNSecretFile())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("TURN secret file: %v, %v", fi, err)
	}
	secret, err := readKey(r.TURNSecretFile(), parseTURNSecret)
	if err != nil || len(secret) != 64 {
		t.Fatalf("TURN secret %q: %v", secret, err)
	}
	return secret
}

// allocate asks the TURN server at url for a relayed address with the given
// credentials, from a fresh UDP socket on loopback.
func allocate(t *testing.T, url, user, pass string) (net.PacketConn, error) {
	t.Helper()
	u, err := invite.ParseTURNURL(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelDisabled
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: user, Password: pass, LoggerFactory: logs,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	relayed, err := c.AllocateWithContext(ctx)
	if err == nil {
		t.Cleanup(func() { relayed.Close() })
	}
	return relayed, err
}

// turnCode returns the STUN error code of a refused TURN request.
func turnCode(err error) stun.ErrorCode {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return te.ErrorCodeAttr.Code
	}
	return 0
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

func metricsText(t *testing.T, r *Relay) string {
	t.Helper()
	resp, err := http.Get("http://" + r.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// The company node puts credentials made with a copy of the relay's secret
// in its links; with them a participant gets a relayed address on the
// relay, through which packets reach a peer and come back. Bad or expired
// credentials get nothing.
func TestTURNAllocation(t *testing.T) {
	r := startTURNRelay(t, TURNConfig{})
	if !strings.HasPrefix(r.TURNURL(), "turn:127.0.0.1:") {
		t.Fatalf("TURN URL %q", r.TURNURL())
	}
	secret := turnSecretOf(t, r)

	clk := newClock()
	clk.t = time.Now()
	company := openNode(t, clk, InitOptions{Org: "Acme Inc", TURN: r.TURNURL(), TURNSecretFile: r.TURNSecretFile()})
	ss, err := company.CreateSessions(context.Background(), NewSessions{Candidate: "Sam", Title: "Loop", Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := invite.Parse(ss[0].Link)
	if err != nil {
		t.Fatal(err)
	}
	servers := inv.ICEServers()
	if len(servers) != 2 || servers[1].URLs[0] != r.TURNURL() || servers[0].URLs[0] != "stun:"+strings.TrimPrefix(r.TURNURL(), "turn:") {
		t.Fatalf("ICE servers of the link: %+v", servers)
	}
	ice := servers[1]

	relayed, err := allocate(t, r.TURNURL(), ice.Username, ice.Credential)
	if err != nil {
		t.Fatalf("allocation with the link's credentials: %v", err)
	}
	ra := relayed.LocalAddr().(*net.UDPAddr)
	if !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) || ra.Port < DefaultTURNMinPort {
		t.Fatalf("relayed address %v", ra)
	}

	// A packet through the relay reaches a plain UDP socket, and its answer
	// comes back.
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := relayed.WriteTo([]byte("ping"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || from.String() != ra.String() {
		t.Fatalf("peer read %q from %v, %v; want ping from %v", buf[:n], from, err, ra)
	}
	if _, err := peer.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	relayed.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err = relayed.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "pong" || from.String() != peer.LocalAddr().String() {
		t.Fatalf("client read %q from %v, %v", buf[:n], from, err)
	}
	// The relay counts a packet once its write returned, which may be after
	// the packet arrived: wait for the counters.
	for _, want := range []string{"parley_turn_allocations 1", "parley_turn_allocations_total 1", `parley_turn_relayed_bytes_total{direction="to_peer"} 4`, `parley_turn_relayed_bytes_total{direction="to_client"} 4`} {
		waitFor(t, 5*time.Second, "metrics show "+want, func() bool { return strings.Contains(metricsText(t, r), want) })
	}

	// Refused: credentials of another secret, expired ones, an altered
	// username, a username that is no credential at all.
	sid := inv.SessionID
	wrongUser, wrongPass := invite.TURNCredential(bytes.Repeat([]byte("x"), 64), sid, time.Now().Add(time.Hour))
	oldUser, oldPass := invite.TURNCredential(secret, sid, time.Now().Add(-invite.TURNClockSkew-time.Minute))
	later, _ := invite.TURNCredential(secret, sid, time.Now().Add(48*time.Hour))
	for _, tt := range []struct{ name, user, pass string }{
		{"other secret", wrongUser, wrongPass},
		{"expired", oldUser, oldPass},
		{"altered username", later, ice.Credential},
		{"not ours", "alice", "password"},
	} {
		if _, err := allocate(t, r.TURNURL(), tt.user, tt.pass); turnCode(err) != stun.CodeUnauthorized {
			t.Errorf("%s: allocation error %v, want 401 Unauthorized", tt.name, err)
		}
	}
	m := metricsText(t, r)
	// (Counted per request: a retransmitted one counts again.)
	for _, want := range []string{`parley_turn_refused_total{reason="bad_credential"}`, `parley_turn_refused_total{reason="expired"}`, `parley_turn_refused_total{reason="malformed"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	relayed.Close()
	waitFor(t, 5*time.Second, "the allocation ends", func() bool { return strings.Contains(metricsText(t, r), "parley_turn_allocations 0") })
}

func TestTURNQuota(t *testing.T) {
	r := startTURNRelay(t, TURNConfig{MaxPerSession: 1})
	secret := turnSecretOf(t, r)
	user, pass := invite.TURNCredential(secret, invite.NewSessionID(), time.Now().Add(time.Hour))
	if _, err := allocate(t, r.TURNURL(), user, pass); err != nil {
		t.Fatal(err)
	}
	if _, err := allocate(t, r.TURNURL(), user, pass); turnCode(err) != stun.CodeAllocQuotaReached {
		t.Fatalf("second allocation of the session: %v, want 486", err)
	}
	other, otherPass := invite.TURNCredential(secret, invite.NewSessionID(), time.Now().Add(time.Hour))
	if _, err := allocate(t, r.TURNURL(), other, otherPass); err != nil {
		t.Fatalf("another session's allocation: %v", err)
	}
}

// A relay listening on every interface needs its public IP, and then
// relays to no loopback address.
func TestTURNPublicIP(t *testing.T) {
	_, err := NewRelay(RelayConfig{
		Dir: filepath.Join(t.TempDir(), "relay"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		TURN: TURNConfig{Listen: "0.0.0.0:0"}, Logger: discard(),
	})
	if err == nil || !strings.Contains(err.Error(), "--turn-public-ip") {
		t.Fatalf("NewRelay without a public IP: %v", err)
	}
	r := startTURNRelay(t, TURNConfig{Listen: "0.0.0.0:0", PublicIP: "127.0.0.1"})
	user, pass := invite.TURNCredential(turnSecretOf(t, r), invite.NewSessionID(), time.Now().Add(time.Hour))
	relayed, err := allocate(t, r.TURNURL(), user, pass)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := relayed.WriteTo([]byte("ping"), peer.LocalAddr()); err == nil {
		t.Fatal("relaying to loopback was permitted")
	}
	if !strings.Contains(metricsText(t, r), `parley_turn_refused_total{reason="peer_address"}`) {
		t.Error("the refused permission is not counted")
	}
	for _, bad := range []TURNConfig{{Listen: "localhost:0"}, {Listen: "127.0.0.1"}, {Listen: "127.0.0.1:0", PublicIP: "::1"}, {Listen: "127.0.0.1:0", MinPort: 2000, MaxPort: 1000}} {
		if _, err := NewRelay(RelayConfig{Dir: filepath.Join(t.TempDir(), "relay"), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, TURN: bad, Logger: discard()}); err == nil {
			t.Errorf("NewRelay(%+v) succeeded", bad)
		}
	}
}

// An allocation over its bitrate drops packets, each way.
func TestTURNBitrate(t *testing.T) {
	a, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := newTURNMetrics()
	c := &limitedConn{PacketConn: a, metrics: &m, in: rate.NewLimiter(1, 1000), out: rate.NewLimiter(1, 1000)}
	pkt := make([]byte, 600)
	for range 3 {
		if n, err := c.WriteTo(pkt, b.LocalAddr()); n != len(pkt) || err != nil {
			t.Fatal(n, err)
		}
	}
	if got := counterValue(m.dropped.WithLabelValues("to_peer")); got != 2 {
		t.Errorf("%v packets dropped to the peer, want 2", got)
	}
	for range 3 {
		b.WriteTo(pkt, a.LocalAddr())
	}
	b.WriteTo([]byte("last"), a.LocalAddr())
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	// The first packet fits; the next two do not; "last" does, by then
	// barely (4 bytes of the bucket's remaining 400).
	for _, want := range []int{600, 4} {
		if n, _, err := c.ReadFrom(buf); n != want || err != nil {
			t.Fatalf("read %d bytes, %v; want %d", n, err, want)
		}
	}
	if got := counterValue(m.dropped.WithLabelValues("to_client")); got != 2 {
		t.Errorf("%v packets dropped to the client, want 2", got)
	}
}

// The company node copies the relay's secret and names the TURN server in
// its links, with credentials until each link expires; links with an
// external conference, or made with TURNNone, carry none.
func TestTURNSettings(t *testing.T) {
	root := t.TempDir()
	secretFile := filepath.Join(root, "turn.secret")
	os.WriteFile(secretFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	clk := newClock()

	dir := filepath.Join(root, "company")
	for _, bad := range []struct {
		opts InitOptions
		want string
	}{
		{InitOptions{Org: "Acme", TURN: "turn:relay.acme.test:3478"}, "--turn-secret-file"},
		{InitOptions{Org: "Acme", TURN: "stun:relay.acme.test", TURNSecretFile: secretFile}, "not turn:HOST"},
		{InitOptions{Org: "Acme", TURN: "turn:relay.acme.test", TURNSecretFile: filepath.Join(root, "nope")}, "no such file"},
	} {
		if _, err := Init(dir, bad.opts); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Init(%+v) = %v, want %q", bad.opts, err, bad.want)
		}
	}
	if _, err := Init(filepath.Join(root, "ana"), InitOptions{TURN: "turn:relay.acme.test", TURNSecretFile: secretFile}); err == nil || !strings.Contains(err.Error(), "company node") {
		t.Errorf("TURN on a participant node: %v", err)
	}
	os.Chmod(secretFile, 0o644)
	if _, err := Init(dir, InitOptions{Org: "Acme", TURN: "turn:relay.acme.test", TURNSecretFile: secretFile}); err == nil || !strings.Contains(err.Error(), "chmod") {
		t.Errorf("a secret others can read: %v", err)
	}
	os.Chmod(secretFile, 0o600)

	res, err := Init(dir, InitOptions{Org: "Acme", TURN: "turn:relay.acme.test:3478", TURNSecretFile: secretFile, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if res.TURN != "turn:relay.acme.test:3478" || !strings.Contains(strings.Join(res.Created, " "), turnSecretFile) {
		t.Fatalf("Init: %+v", res)
	}
	if fi, err := os.Stat(filepath.Join(dir, turnSecretFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("copied secret: %v, %v", fi, err)
	}
	// Again with the same file: nothing to copy.
	if res, err := Init(dir, InitOptions{TURNSecretFile: secretFile}); err != nil || len(res.Created) != 0 || res.TURN == "" {
		t.Fatalf("second Init: %+v, %v", res, err)
	}

	n, err := New(Config{Dir: dir, Logger: discard(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	create := func(req NewSessions) *invite.Invite {
		t.Helper()
		req.Candidate, req.Title = "Sam", "Loop"
		ss, err := n.CreateSessions(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := invite.Parse(ss[0].Link)
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	inv := create(NewSessions{Validity: 2 * time.Hour})
	if inv.TURN != "turn:relay.acme.test:3478" || !inv.TURNExpiry().Equal(inv.ValidUntil) || strings.Contains(inv.TURNUser, inv.SessionID) {
		t.Fatalf("link's TURN: %q %q until %v", inv.TURN, inv.TURNUser, inv.TURNExpiry())
	}
	if err := invite.VerifyTURNCredential([]byte(strings.Repeat("ab", 32)), inv.TURNUser, inv.TURNCredential, clk.Now()); err != nil {
		t.Fatalf("the link's credentials: %v", err)
	}
	if inv := create(NewSessions{TURN: "turns:turn.acme.test"}); inv.TURN != "turns:turn.acme.test" || inv.TURNUser == "" {
		t.Fatalf("--turn override: %q", inv.TURN)
	}
	if inv := create(NewSessions{TURN: TURNNone}); inv.TURN != "" || inv.TURNUser != "" {
		t.Fatalf("no TURN: %q", inv.TURN)
	}
	if inv := create(NewSessions{Conference: "https://meet.acme.test/r"}); inv.TURN != "" {
		t.Fatalf("external conference with TURN %q", inv.TURN)
	}
	if _, err := n.CreateSessions(context.Background(), NewSessions{Candidate: "S", Title: "T", TURN: "http://x"}); err == nil {
		t.Fatal("a bad --turn URL was accepted")
	}
	os.Remove(filepath.Join(dir, turnSecretFile))
	if _, err := n.CreateSessions(context.Background(), NewSessions{Candidate: "S", Title: "T"}); err == nil || !strings.Contains(err.Error(), "--turn-secret-file") {
		t.Fatalf("no secret: %v", err)
	}
	n.Close()
	if _, err := Init(dir, InitOptions{TURN: TURNNone}); err != nil {
		t.Fatal(err)
	}
	if s, _ := loadSettings(dir); s.TURN != "" {
		t.Fatalf("TURN after --turn none: %q", s.TURN)
	}
}

// An allocation made before its credentials expired may be refreshed for a
// while after, so that an interview running past its link keeps its media;
// a new allocation needs credentials that have not expired.
func TestTURNGrace(t *testing.T) {
	secret := []byte(strings.Repeat("ab", 32))
	ts := &turnServer{log: discard(), secret: secret, metrics: newTURNMetrics()}
	src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	sid := invite.NewSessionID()
	tests := []struct {
		expired time.Duration // how long ago the credentials expired
		method  stun.Method
		ok      bool
	}{
		{-time.Hour, stun.MethodAllocate, true},
		{invite.TURNClockSkew / 2, stun.MethodAllocate, true},
		{invite.TURNClockSkew + time.Minute, stun.MethodAllocate, false},
		{invite.TURNClockSkew + time.Minute, stun.MethodRefresh, true},
		{turnGrace - time.Minute, stun.MethodCreatePermission, true},
		{turnGrace + invite.TURNClockSkew + time.Minute, stun.MethodRefresh, false},
	}
	for _, tt := range tests {
		user, pass := invite.TURNCredential(secret, sid, time.Now().Add(-tt.expired))
		id, key, ok := ts.auth(&turn.RequestAttributes{Username: user, Realm: turnRealm, SrcAddr: src, Method: tt.method})
		if ok != tt.ok {
			t.Errorf("%v after expiry, %v: ok = %v", tt.expired, tt.method, ok)
		}
		if ok && (id != user || !bytes.Equal(key, turn.GenerateAuthKey(user, turnRealm, pass))) {
			t.Errorf("%v after expiry, %v: key for %q is not the credential's", tt.expired, tt.method, id)
		}
	}
}
