package gateway

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/crdt"
	"parley/node"
)

func TestMain(m *testing.M) {
	crdt.MaybeServeWorker()
	os.Exit(m.Run())
}

// logBuffer collects a logger's output, safe for concurrent writers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a company with its gateway on loopback, over TLS with a test
// certificate; with relayed, also a relay the company's links name, and an
// interviewer on the team (Ana) with a node of her own.
type env struct {
	t       testing.TB
	log     *logBuffer // everything the gateway and its participants logged
	relay   *node.Relay
	company *node.Node
	ana     *node.Node
	gw      *Gateway
	url     string // https://127.0.0.1:PORT
	cert    testCert
	session string
	link    string
	token   string
}

type envOptions struct {
	relayed  bool // a relay, and Ana
	storeKey bool // the company's store encrypted at rest
	cfg      Config
}

const loopback = "/ip4/127.0.0.1/tcp/0"

func startEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	e := &env{t: t, log: &logBuffer{}}
	quiet := slog.New(slog.DiscardHandler)
	var bootstrap []string
	if opts.relayed {
		r, err := node.NewRelay(node.RelayConfig{Dir: filepath.Join(t.TempDir(), "relay"), ListenAddrs: []string{loopback}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		e.relay, bootstrap = r, r.Addrs()
	}
	dir := filepath.Join(t.TempDir(), "company")
	var keyFile string
	if opts.storeKey {
		keyFile = filepath.Join(t.TempDir(), "store.key")
	}
	if _, err := node.Init(dir, node.InitOptions{Org: "Acme Inc", Bootstrap: bootstrap, Logger: quiet, StoreKeyFile: keyFile}); err != nil {
		t.Fatal(err)
	}
	e.company = startNode(t, dir, quiet)
	if opts.relayed {
		adir := filepath.Join(t.TempDir(), "ana")
		if _, err := node.Init(adir, node.InitOptions{Logger: quiet}); err != nil {
			t.Fatal(err)
		}
		e.ana = startNode(t, adir, quiet)
		added, err := e.company.AddMember(context.Background(), node.NewMember{Name: "Ana", Email: "ana@acme.test", Peer: e.ana.ID().String()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.ana.AcceptCredential(context.Background(), added.Member.Token); err != nil {
			t.Fatal(err)
		}
	}
	e.session, e.link = e.newSession("Zoë Quinn")
	e.token = e.link[strings.LastIndex(e.link, "/")+1:]

	e.cert = newTestCert(t)
	cfg := opts.cfg
	cfg.Company = e.company
	cfg.Logger = slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.TLS = e.cert.server
	cfg.Node = node.Config{ListenAddrs: []string{loopback}, JoinWait: cmp.Or(opts.cfg.Node.JoinWait, 10*time.Second)}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Serve(l) }()
	t.Cleanup(func() {
		gw.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	e.url = "https://" + l.Addr().String()
	return e
}

// newSession makes an interview of the company, with Ana on it.
func (e *env) newSession(candidate string) (id, link string) {
	e.t.Helper()
	req := node.NewSessions{Candidate: candidate, Title: "Backend loop", Duration: time.Hour}
	if e.ana != nil {
		req.Interviewers = []string{"ana@acme.test"}
	}
	ss, err := e.company.CreateSessions(context.Background(), req)
	if err != nil {
		e.t.Fatal(err)
	}
	return ss[0].ID, ss[0].Link
}

func startNode(t testing.TB, dir string, log *slog.Logger) *node.Node {
	t.Helper()
	n, err := node.New(node.Config{Dir: dir, Logger: log, ListenAddrs: []string{loopback}, JoinWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

// browser is an HTTP client with a cookie jar of its own, trusting the test
// certificate: one guest's browser.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:       jar,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.cert.pool}},
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// post sends a JSON body as the guest's page does (same origin).
func (e *env) post(c *http.Client, path string, body any) (*http.Response, map[string]any) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", e.url)
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(res.Body)
	json.Unmarshal(data, &out)
	return res, out
}

// testCert is a test CA and a certificate it signed for 127.0.0.1.
type testCert struct {
	server *tls.Config
	pool   *x509.CertPool
	spki   string // base64 SHA-256 of the leaf's public key (Chromium's --ignore-certificate-errors-spki-list)
	leaf   *x509.Certificate
}

func newTestCert(t testing.TB) testCert {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Parley test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return testCert{
		server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key, Leaf: leaf}}},
		pool:   pool, spki: base64.StdEncoding.EncodeToString(sum[:]), leaf: leaf,
	}
}

// waitFor polls cond until it holds, or fails the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	waitUntil(t, d, what, func() string {
		if cond() {
			return ""
		}
		return "no"
	})
}

// waitUntil is waitFor with a reason: check says what is still missing,
// or "" when done, and the failure quotes its last answer.
func waitUntil(t testing.TB, d time.Duration, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		missing := check()
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			if missing == "no" {
				t.Fatalf("%s: not within %v", what, d)
			}
			t.Fatalf("%s: not within %v: %s", what, d, missing)
		}
		<-poll.C
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
