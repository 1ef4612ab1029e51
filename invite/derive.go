package invite

import (
	"crypto/sha256"
	"encoding/hex"
	"io"

	"golang.org/x/crypto/hkdf"
)

// SessionKeys are the values derived from a session's secret. Each comes from
// HKDF-SHA256 over the secret, salted with the session ID, under a label of
// its own, so knowing one tells nothing of another or of the secret.
type SessionKeys struct {
	Topic      string   // gossipsub topic name: "/parley/1/" + 32 hex digits
	Envelope   [32]byte // XChaCha20-Poly1305 key sealing every pubsub payload
	Admission  [32]byte // HMAC key of the mutual admission proof
	Rendezvous string   // discovery key announced to bootstrap peers
}

// Keys derives the session's keys from its secret.
func (inv *Invite) Keys() SessionKeys {
	return DeriveKeys(inv.SessionID, inv.Secret)
}

// DeriveKeys derives the keys of the session with the given ID and secret.
func DeriveKeys(sessionID string, secret [32]byte) SessionKeys {
	derive := func(label string, n int) []byte {
		out := make([]byte, n)
		r := hkdf.New(sha256.New, secret[:], []byte(sessionID), []byte("parley/1 "+label))
		io.ReadFull(r, out)
		return out
	}
	var k SessionKeys
	k.Topic = "/parley/1/" + hex.EncodeToString(derive("topic", 16))
	copy(k.Envelope[:], derive("envelope", 32))
	copy(k.Admission[:], derive("admission", 32))
	k.Rendezvous = "/parley/1/rendezvous/" + hex.EncodeToString(derive("rendezvous", 16))
	return k
}
