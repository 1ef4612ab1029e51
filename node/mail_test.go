package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"parley/invite"
)

// mailbox is an in-process SMTP server that keeps what it receives.
type mailbox struct {
	mu       sync.Mutex
	messages []received
	user     string
	password string
}

type received struct {
	from, to, data string
	tls            bool
	authed         bool
}

type mailSession struct {
	box    *mailbox
	conn   *smtp.Conn
	msg    received
	authed bool
}

func (b *mailbox) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &mailSession{box: b, conn: c}, nil
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.box.user || pass != s.box.password {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error { s.msg.from = from; return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error   { s.msg.to = to; return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.msg.tls = s.conn.TLSConnectionState()
	s.msg.data, s.msg.authed = string(b), s.authed
	s.box.mu.Lock()
	s.box.messages = append(s.box.messages, s.msg)
	s.box.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// startSMTP serves box on loopback, with STARTTLS when withTLS is set, and
// returns its address and a client TLS config trusting it.
func startSMTP(t *testing.T, box *mailbox, withTLS bool) (string, *tls.Config) {
	t.Helper()
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	var client *tls.Config
	if withTLS {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		client = &tls.Config{RootCAs: pool, ServerName: "localhost"}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return l.Addr().String(), client
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestSendMail(t *testing.T) {
	box := &mailbox{user: "parley", password: "s3cret"}
	addr, tlsConf := startSMTP(t, box, true)
	e := invite.Email{Subject: "Acme Inc: your interview", Body: "Join: parley://join/TOKEN\n"}
	cfg := SMTP{Addr: addr, From: "hiring@acme.test", Username: "parley", Password: "s3cret", TLS: tlsConf}
	if err := SendMail(context.Background(), cfg, "sam@example.test", e); err != nil {
		t.Fatal(err)
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.messages) != 1 {
		t.Fatalf("%d messages received", len(box.messages))
	}
	m := box.messages[0]
	if m.from != "hiring@acme.test" || m.to != "sam@example.test" || !m.tls || !m.authed ||
		!strings.Contains(m.data, "Subject: Acme Inc: your interview") || !strings.Contains(m.data, "parley://join/TOKEN") {
		t.Fatalf("received %+v", m)
	}

	cfg.Password = "wrong"
	if err := SendMail(context.Background(), cfg, "sam@example.test", e); err == nil {
		t.Fatal("sent with a wrong password")
	}
}

// A server without STARTTLS never receives the link in the clear.
func TestSendMailRequiresTLS(t *testing.T) {
	box := &mailbox{}
	addr, _ := startSMTP(t, box, false)
	err := SendMail(context.Background(), SMTP{Addr: addr, From: "hiring@acme.test"}, "sam@example.test", invite.Email{Subject: "s", Body: "b"})
	if err == nil {
		t.Fatal("sent without TLS")
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.messages) != 0 {
		t.Fatal("message delivered in the clear")
	}
}

func TestSendMailBadInput(t *testing.T) {
	for _, cfg := range []SMTP{{Addr: "nohost", From: "a@b.test"}, {Addr: "h:99999", From: "a@b.test"}, {Addr: "h:25", From: "nope"}} {
		if err := SendMail(context.Background(), cfg, "sam@example.test", invite.Email{}); err == nil || !strings.HasPrefix(err.Error(), "smtp:") {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
