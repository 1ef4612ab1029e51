package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/acme/autocert"
)

// acmeDir is where ACME certificates and the account key are cached, in the
// company's data directory (0700).
const acmeDir = "acme"

// TLSFromFiles returns a TLS configuration serving the certificate and key
// in two PEM files. The files are read again when they change (a renewal by
// certbot, say), checked at most once a minute, so that no restart is
// needed.
func TLSFromFiles(certFile, keyFile string) (*tls.Config, error) {
	c := &fileCert{certFile: certFile, keyFile: keyFile}
	if err := c.load(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}, nil
}

// fileCert is a certificate read from files, reloaded when they change.
type fileCert struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	mod     time.Time // of the files loaded
	checked time.Time
}

func (c *fileCert) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("gateway: TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("gateway: TLS certificate %s: %w", c.certFile, err)
		}
	}
	c.cert, c.mod = &cert, c.modTime()
	return nil
}

func (c *fileCert) modTime() time.Time {
	var latest time.Time
	for _, f := range []string{c.certFile, c.keyFile} {
		if fi, err := os.Stat(f); err == nil && fi.ModTime().After(latest) {
			latest = fi.ModTime()
		}
	}
	return latest
}

func (c *fileCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) > time.Minute {
		c.checked = now
		if !c.modTime().Equal(c.mod) {
			c.load() // on failure (a half-written file), the old one serves on
		}
	}
	return c.cert, nil
}

// Leaf returns the certificate a TLS configuration from TLSFromFiles serves.
func Leaf(cfg *tls.Config) *x509.Certificate {
	if cfg == nil || cfg.GetCertificate == nil {
		return nil
	}
	cert, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || cert == nil {
		return nil
	}
	return cert.Leaf
}

// ACME returns a TLS configuration whose certificate for domain comes from
// Let's Encrypt (or another ACME CA), renewed before it expires, with email
// as the account's contact. Certificates and the account key are cached in
// DATA/acme (0700). The CA checks the domain with the TLS-ALPN-01
// challenge, on this listener: DOMAIN must resolve to this machine and its
// port 443 reach the listener.
func ACME(dataDir, domain, email string) (*tls.Config, error) {
	dir := filepath.Join(dataDir, acmeDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: ACME cache: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: ACME cache: %w", err)
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(dir),
		HostPolicy: autocert.HostWhitelist(domain),
		Email:      email,
	}
	cfg := m.TLSConfig()
	cfg.MinVersion = tls.VersionTLS12
	return cfg, nil
}

// Disagreement says how a company's public URL (`parley init --public-url`)
// and its gateway disagree, or "" if they do not: the links the company
// sends name the public URL's host, which the gateway's certificate or ACME
// domain must serve. Where the gateway listens is for a port forward or a
// proxy to match, and is not checked.
func Disagreement(publicURL, acmeDomain string, cert *tls.Config) string {
	if publicURL == "" {
		return "links are printed as parley://join/TOKEN, which browsers do not open: set the address guests reach this gateway at with `parley init --public-url https://HOST`"
	}
	u, err := url.Parse(publicURL)
	if err != nil {
		return fmt.Sprintf("the public URL %q does not parse: %v", publicURL, err)
	}
	host := u.Hostname()
	switch {
	case acmeDomain != "" && acmeDomain != host:
		return fmt.Sprintf("links name %s (--public-url %s), but the gateway's certificate is for %s (--acme-domain): guests' browsers would refuse it", host, publicURL, acmeDomain)
	case cert != nil:
		if leaf := Leaf(cert); leaf != nil {
			if err := leaf.VerifyHostname(host); err != nil {
				return fmt.Sprintf("links name %s (--public-url %s), but the gateway's certificate is not for it (%v): guests' browsers would refuse it", host, publicURL, err)
			}
		}
	}
	return ""
}
