package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"parley/invite"
	"parley/node/store"
)

// A data directory holds:
//
//	node.key      this node's libp2p identity (0600)
//	company.key   the company signing key, PKCS#8 PEM (0600); company nodes only
//	config.json   Settings (0600)
//	turn.secret   the secret shared with a TURN server (0600): made by a relay
//	              running one, copied to the company node by init
//	web.secret    the key of the web app's session cookies (0600), made on
//	              the first start of the web app
//	store/        the Badger store (files 0600)
//	api.json      the running node's local API address and token (0600)
const (
	nodeKeyFile    = "node.key"
	companyKeyFile = "company.key"
	settingsFile   = "config.json"
	turnSecretFile = "turn.secret"
	webSecretFile  = "web.secret"
	storeDir       = "store"
	// APIFile is the name, in the data directory, of the file a running node
	// writes with its local API's URL and token.
	APIFile = "api.json"
)

// ErrNotInitialized is returned when the data directory holds no node.
var ErrNotInitialized = errors.New("not initialized")

// Settings are the node's settings, kept in the data directory.
type Settings struct {
	Org          string    `json:"org,omitempty"`            // company name; company nodes only
	Bootstrap    []string  `json:"bootstrap,omitempty"`      // default bootstrap multiaddrs for links
	PublicURL    string    `json:"public_url,omitempty"`     // the company's public web address for links
	TURN         string    `json:"turn,omitempty"`           // TURN server URL for links; its secret is in turn.secret
	StoreKeyFile string    `json:"store_key_file,omitempty"` // key encrypting the store at rest
	Criteria     []string  `json:"criteria,omitempty"`       // what feedback rates; company nodes only
	Created      time.Time `json:"created"`
}

// DefaultDir returns the data directory used when none is given:
// $PARLEY_HOME, else ~/.parley.
func DefaultDir() (string, error) {
	if d := os.Getenv("PARLEY_HOME"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no data directory: set PARLEY_HOME or pass --data (%v)", err)
	}
	return filepath.Join(home, ".parley"), nil
}

func resolveDir(dir string) (string, error) {
	if dir == "" {
		return DefaultDir()
	}
	return dir, nil
}

// checkPrivate refuses a file or directory that other users may read.
func checkPrivate(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		want := 0o600
		if fi.IsDir() {
			want = 0o700
		}
		return fmt.Errorf("%s is accessible by other users (mode %04o); it holds private keys, so Parley refuses to use it: run chmod %o %s", path, perm, want, path)
	}
	return nil
}

// InitOptions configure Init.
type InitOptions struct {
	// Org, if set, makes this a company node: a company signing key is made
	// unless one exists, and Org becomes the company's name.
	Org string
	// Bootstrap, if set, replaces the default bootstrap multiaddrs for links.
	Bootstrap []string
	// PublicURL, if set, is the company's public web address; links are
	// then printed as PublicURL/join#TOKEN.
	PublicURL string
	// StoreKeyFile, if set, names a file with the key that encrypts the
	// store at rest; it is created (32 random bytes) if it does not exist.
	StoreKeyFile string
	// TURN, if set, is the TURN server URL links carry, with credentials
	// for each session (turn:HOST:PORT, as `parley relay` prints it), or
	// TURNNone to stop. Company nodes only; the node needs the TURN
	// server's secret, from TURNSecretFile now or before.
	TURN string
	// TURNSecretFile, if set, names a copy of the TURN server's secret (the
	// relay's turn.secret); it is copied into the data directory (0600),
	// replacing the one there.
	TURNSecretFile string
	// Criteria, if set, are the feedback criteria of new sessions (company
	// nodes only; see invite.CheckCriteria).
	Criteria []string
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
	// Logger receives the store's log. If nil, slog.Default() is used.
	Logger *slog.Logger
}

// InitResult says what Init found and made.
type InitResult struct {
	Dir         string
	Peer        peer.ID
	Org         string
	Fingerprint string // of the company key; empty on a participant node
	TURN        string // the TURN server links name, if any
	Criteria    []string
	Created     []string
}

// TURNNone, given as InitOptions.TURN or NewSessions.TURN, means links name
// no TURN server.
const TURNNone = "none"

// Init creates or completes the data directory dir: the directory (0700),
// the node key, the company key when opts.Org is set, and the settings. It
// never overwrites a key. Running it again updates the settings given.
func Init(dir string, opts InitOptions) (InitResult, error) {
	dir, err := resolveDir(dir)
	if err != nil {
		return InitResult{}, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	res := InitResult{Dir: dir}
	if err := validateSettings(opts.Bootstrap, opts.PublicURL); err != nil {
		return res, err
	}
	if opts.Org != "" && len(opts.Org) > 200 {
		return res, fmt.Errorf("organisation name is %d bytes; keep it under 200", len(opts.Org))
	}
	if opts.TURN != "" && opts.TURN != TURNNone {
		if err := invite.CheckTURNURL(opts.TURN); err != nil {
			return res, fmt.Errorf("%v; give the URL `parley relay` prints", err)
		}
	}
	var turnSecret []byte
	if opts.TURNSecretFile != "" {
		if turnSecret, err = readKey(opts.TURNSecretFile, parseTURNSecret); err != nil {
			return res, fmt.Errorf("TURN secret: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("init: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return res, fmt.Errorf("init: %w", err)
	}
	if err := checkPrivate(dir, fi); err != nil {
		return res, err
	}

	nodeKey, made, err := loadOrCreate(filepath.Join(dir, nodeKeyFile), newNodeKey, parseNodeKey)
	if err != nil {
		return res, err
	}
	if made {
		res.Created = append(res.Created, nodeKeyFile)
	}
	if res.Peer, err = peer.IDFromPrivateKey(nodeKey); err != nil {
		return res, fmt.Errorf("init: %w", err)
	}

	settings, err := loadSettings(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	if settings.Created.IsZero() {
		settings.Created = now().UTC()
	}
	if opts.Org != "" {
		key, made, err := loadOrCreate(filepath.Join(dir, companyKeyFile), newCompanyKey, parseCompanyKey)
		if err != nil {
			return res, err
		}
		if made {
			res.Created = append(res.Created, companyKeyFile)
		}
		settings.Org = opts.Org
		res.Fingerprint = invite.Fingerprint(key.Public().(ed25519.PublicKey))
	} else if key, err := loadCompanyKey(dir); err == nil {
		res.Fingerprint = invite.Fingerprint(key.Public().(ed25519.PublicKey))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	res.Org = settings.Org
	if (opts.TURN != "" || opts.TURNSecretFile != "") && res.Fingerprint == "" {
		return res, fmt.Errorf("TURN settings are for the company node, which puts them in links; this node (%s) has no company key (make one with --org NAME)", dir)
	}
	switch opts.TURN {
	case "":
	case TURNNone:
		settings.TURN = ""
	default:
		settings.TURN = opts.TURN
	}
	if opts.TURN != "" && settings.TURN != "" && turnSecret == nil {
		if _, err := readKey(filepath.Join(dir, turnSecretFile), parseTURNSecret); errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("links would name the TURN server %s, but this node has no copy of its secret: give --turn-secret-file (a copy of the relay's %s)", settings.TURN, turnSecretFile)
		} else if err != nil {
			return res, fmt.Errorf("TURN secret: %w", err)
		}
	}
	if turnSecret != nil {
		if copied, err := copyTURNSecret(opts.TURNSecretFile, filepath.Join(dir, turnSecretFile), turnSecret); err != nil {
			return res, fmt.Errorf("init: %w", err)
		} else if copied {
			res.Created = append(res.Created, turnSecretFile)
		}
	}
	res.TURN = settings.TURN
	if len(opts.Criteria) > 0 {
		if res.Fingerprint == "" {
			return res, fmt.Errorf("feedback criteria are the company node's, which puts them in links; this node (%s) has no company key (make one with --org NAME)", dir)
		}
		if err := invite.CheckCriteria(opts.Criteria); err != nil {
			return res, err
		}
		settings.Criteria = opts.Criteria
	}
	if res.Fingerprint != "" {
		res.Criteria = settings.Criteria
		if len(res.Criteria) == 0 {
			res.Criteria = DefaultCriteria
		}
	}
	if opts.Bootstrap != nil {
		settings.Bootstrap = opts.Bootstrap
	}
	if opts.PublicURL != "" {
		settings.PublicURL = strings.TrimSuffix(opts.PublicURL, "/")
	}
	if opts.StoreKeyFile != "" {
		abs, err := filepath.Abs(opts.StoreKeyFile)
		if err != nil {
			return res, fmt.Errorf("init: %w", err)
		}
		if _, made, err := loadOrCreate(abs, newStoreKey, parseStoreKey); err != nil {
			return res, err
		} else if made {
			res.Created = append(res.Created, abs)
		}
		settings.StoreKeyFile = abs
	}
	// Create the store now, so that a bad key or directory shows at once.
	var storeKey []byte
	if settings.StoreKeyFile != "" {
		if storeKey, err = readKey(settings.StoreKeyFile, parseStoreKey); err != nil {
			return res, fmt.Errorf("store key: %w", err)
		}
	}
	db, err := store.Open(filepath.Join(dir, storeDir), store.Options{EncryptionKey: storeKey, Logger: opts.Logger})
	if err != nil {
		return res, err
	}
	if err := db.Close(); err != nil {
		return res, err
	}
	if err := writeJSON(filepath.Join(dir, settingsFile), settings); err != nil {
		return res, fmt.Errorf("init: %w", err)
	}
	return res, nil
}

// validateSettings checks bootstrap addresses and the public URL.
func validateSettings(bootstrap []string, publicURL string) error {
	for _, s := range bootstrap {
		if err := CheckBootstrap(s); err != nil {
			return err
		}
	}
	if publicURL != "" {
		if err := invite.CheckConferenceURL(publicURL); err != nil || !strings.HasPrefix(publicURL, "https://") {
			return fmt.Errorf("public URL %q is not an https:// URL", publicURL)
		}
	}
	return nil
}

// CheckBootstrap reports whether s is a multiaddr with a /p2p/ peer ID, as a
// bootstrap address must be.
func CheckBootstrap(s string) error {
	a, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		return fmt.Errorf("bootstrap address %q is not a multiaddr: %v", s, err)
	}
	if _, err := peer.AddrInfoFromP2pAddr(a); err != nil {
		return fmt.Errorf("bootstrap address %q has no /p2p/PEERID part (copy the whole address `parley relay` prints)", s)
	}
	return nil
}

// loadOrCreate reads the key at path, or creates it with make if it does not
// exist. It never replaces an existing file.
func loadOrCreate[K any](path string, make func() (K, []byte, error), parse func([]byte) (K, error)) (K, bool, error) {
	var zero K
	k, err := readKey(path, parse)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, data, err := make()
	if err != nil {
		return zero, false, fmt.Errorf("init: %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return zero, false, fmt.Errorf("init: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return zero, false, fmt.Errorf("init: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return zero, false, fmt.Errorf("init: %w", err)
	}
	return k, true, f.Close()
}

// readKey reads and parses a private key file, refusing one that other users
// can read.
func readKey[K any](path string, parse func([]byte) (K, error)) (K, error) {
	var zero K
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return zero, err
	}
	if err := checkPrivate(path, fi); err != nil {
		return zero, err
	}
	if fi.Size() > 64<<10 {
		return zero, fmt.Errorf("%s is %d bytes, too large for a key file", path, fi.Size())
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	k, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%s is not a valid key file: %v", path, err)
	}
	return k, nil
}

func newNodeKey() (crypto.PrivKey, []byte, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	data, err := crypto.MarshalPrivateKey(k)
	return k, data, err
}

func parseNodeKey(data []byte) (crypto.PrivKey, error) { return crypto.UnmarshalPrivateKey(data) }

const companyKeyPEM = "PRIVATE KEY"

func newCompanyKey() (ed25519.PrivateKey, []byte, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: companyKeyPEM, Bytes: der}), nil
}

func parseCompanyKey(data []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != companyKeyPEM {
		return nil, fmt.Errorf("no %s PEM block", companyKeyPEM)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not ed25519", k)
	}
	return ek, nil
}

func loadCompanyKey(dir string) (ed25519.PrivateKey, error) {
	return readKey(filepath.Join(dir, companyKeyFile), parseCompanyKey)
}

// A TURN secret file holds the secret as text: 64 hex digits when a relay
// made it, or any 32 to 256 printable characters (a coturn
// static-auth-secret). The secret is that text, without surrounding space.
func newTURNSecret() ([]byte, []byte, error) {
	b := make([]byte, 32)
	rand.Read(b)
	k := []byte(hex.EncodeToString(b))
	return k, append(k, '\n'), nil
}

func parseTURNSecret(data []byte) ([]byte, error) {
	s := strings.TrimSpace(string(data))
	if len(s) < 32 || len(s) > 256 {
		return nil, fmt.Errorf("a TURN secret is 32 to 256 characters, not %d", len(s))
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return nil, fmt.Errorf("a TURN secret is printable ASCII without spaces")
		}
	}
	return []byte(s), nil
}

// copyTURNSecret writes secret, read from src, to dst (0600), unless dst is
// src or already holds it. It reports whether it wrote.
func copyTURNSecret(src, dst string, secret []byte) (bool, error) {
	if old, err := readKey(dst, parseTURNSecret); err == nil && string(old) == string(secret) {
		return false, nil
	}
	if a, err := os.Stat(src); err == nil {
		if b, err := os.Stat(dst); err == nil && os.SameFile(a, b) {
			return false, nil
		}
	}
	return true, writeAtomic(dst, append(secret, '\n'))
}

// turnSecret reads the secret of the TURN server url from the node's data
// directory.
func (n *Node) turnSecret(url string) ([]byte, error) {
	k, err := readKey(filepath.Join(n.dir, turnSecretFile), parseTURNSecret)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("links would name the TURN server %s, but %s has no copy of its secret (%s): run `parley init --turn-secret-file FILE` with a copy of the relay's", url, n.dir, turnSecretFile)
	}
	if err != nil {
		return nil, fmt.Errorf("TURN secret: %w", err)
	}
	return k, nil
}

// WebSecret returns the key of the web app's session cookies, kept in
// DATA/web.secret (0600) and made on first use: a browser's cookie then
// outlives restarts of this node, and is worth nothing to any other.
// Removing the file ends every browser's access at the next start.
func (n *Node) WebSecret() ([]byte, error) {
	k, _, err := loadOrCreate(filepath.Join(n.dir, webSecretFile), newWebSecret, parseWebSecret)
	if err != nil {
		return nil, fmt.Errorf("web secret: %w", err)
	}
	return k, nil
}

// A web secret file holds 32 random bytes as 64 hex digits.
func newWebSecret() ([]byte, []byte, error) {
	k := make([]byte, 32)
	rand.Read(k)
	return k, []byte(hex.EncodeToString(k) + "\n"), nil
}

func parseWebSecret(data []byte) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(k) != 32 {
		return nil, errors.New("a web secret is 64 hex digits (remove the file to make a new one; browsers then need `parley open` again)")
	}
	return k, nil
}

// A store key file holds 32 random bytes, raw or as 64 hex digits.
func newStoreKey() ([]byte, []byte, error) {
	k := make([]byte, 32)
	rand.Read(k)
	return k, k, nil
}

func parseStoreKey(data []byte) ([]byte, error) {
	if s := strings.TrimSpace(string(data)); len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	if len(data) != 16 && len(data) != 24 && len(data) != 32 {
		return nil, fmt.Errorf("a store key is 16, 24 or 32 bytes (or 64 hex digits), not %d bytes", len(data))
	}
	return data, nil
}

func loadSettings(dir string) (Settings, error) {
	var s Settings
	data, err := os.ReadFile(filepath.Join(dir, settingsFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s: %v", filepath.Join(dir, settingsFile), err)
	}
	return s, nil
}

// writeJSON writes v to path (0600) atomically: a reader sees the old file or
// the new one, never a part.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(data, '\n'))
}

// writeAtomic writes data to path (0600) atomically.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
