package gateway

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// up warns when the links' host and the gateway's certificate disagree.
func TestDisagreement(t *testing.T) {
	c := newTestCert(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := c.server.Certificates[0]
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, _ := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	os.WriteFile(certFile, chain, 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	files, err := TLSFromFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, url, acme string
		files           bool
		want            string // in the warning; "" for none
	}{
		{"no public URL", "", "", true, "set the address guests reach"},
		{"ACME for another host", "https://interviews.acme.example", "other.acme.example", false, "certificate is for other.acme.example"},
		{"ACME for the host", "https://interviews.acme.example", "interviews.acme.example", false, ""},
		{"files for another host", "https://interviews.acme.example", "", true, "certificate is not for it"},
		{"files for the host", "https://127.0.0.1:8443", "", true, ""},
		{"files for the host by name", "https://localhost", "", true, ""},
	} {
		var cfg = files
		if !tt.files {
			cfg = nil
		}
		got := Disagreement(tt.url, tt.acme, cfg)
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if _, err := TLSFromFiles(keyFile, certFile); err == nil {
		t.Error("a key for a certificate was taken")
	}
}
