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
//	store/        the Badger store
//	api.json      the running node's local API address and token (0600)
const (
	nodeKeyFile    = "node.key"
	companyKeyFile = "company.key"
	settingsFile   = "config.json"
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
	StoreKeyFile string    `json:"store_key_file,omitempty"` // key encrypting the store at rest
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
	Created     []string
}

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
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
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
