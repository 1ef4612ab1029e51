// Package node is a running Parley node: its identity and data directory,
// its store, the company's team and interview sessions.
//
// A data directory is made by Init. New opens it; every operation a user can
// ask for (team, sessions, credentials) is a method of Node, which the
// command line calls directly when no node runs, and the local web API
// serves when one does.
package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/invite"
	"parley/node/store"
	"parley/runner"
)

// Config configures a Node. The zero value works.
type Config struct {
	// Dir is the data directory. If empty, $PARLEY_HOME is used, else
	// ~/.parley. It must have been made by Init.
	Dir string
	// StoreKeyFile names the file with the key that encrypts the store at
	// rest. If empty, the one recorded by Init is used, if any.
	StoreKeyFile string
	// Logger receives the node's log. If nil, slog.Default() is used.
	Logger *slog.Logger
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time

	// ListenAddrs are the libp2p multiaddrs to listen on. If empty,
	// DefaultListenAddrs.
	ListenAddrs []string
	// Gater, if set, filters the host's connections (tests use it to force
	// peers through a relay).
	Gater connmgr.ConnectionGater
	// IdleEnd is how long a live session may have nobody present before the
	// company node ends it. If zero, DefaultIdleEnd.
	IdleEnd time.Duration
	// Worker configures the Automerge worker process. The zero value runs
	// this executable with crdt.WorkerArg.
	Worker crdt.WorkerConfig
	// JoinWait is how long Join waits for another participant to admit this
	// node before it returns with nobody found yet. If zero,
	// DefaultJoinWait.
	JoinWait time.Duration
	// MediaRelayOnly makes audio and video go through the link's TURN
	// server only (tests of that path; networks that allow nothing else).
	MediaRelayOnly bool
	// Runner, if set, runs code for the sessions this node takes part in
	// as the company node or an interviewer (see run.go). If nil, this
	// node runs no code.
	Runner *runner.Runner
	// PageMedia configures the call's leg to this node's page. The zero
	// value suits a page on this machine.
	PageMedia PageMedia
}

// Node is a Parley node.
type Node struct {
	cfg      Config
	dir      string
	log      *slog.Logger
	now      func() time.Time
	key      crypto.PrivKey
	id       peer.ID
	actorID  string             // this run's Automerge actor (docs.go)
	company  ed25519.PrivateKey // nil on a participant node
	settings Settings
	db       *store.DB

	openMu       sync.Mutex // serializes joining and leaving topics
	mu           sync.Mutex // guards what follows; never held while calling pubsub
	p2p          *p2p       // nil until Start
	runCtx       context.Context
	runCancel    context.CancelFunc
	wg           sync.WaitGroup
	lives        map[string]*live // by session ID
	byTopic      map[string]*live
	byTag        map[string]*live
	relaysUsed   map[peer.ID]bool
	addrsChanged atomic.Int64  // unix nanoseconds
	outboxWake   chan struct{} // wakes the feedback outbox (see archive.go)

	worker  *crdt.Worker
	docMu   sync.Mutex             // serializes work with the worker (see docs.go)
	replays replayCache            // the Replay page's histories (replay.go)
	docs    map[string]*sessionDoc // open documents by worker ID

	// changeHook, if set (by benchmarks), is called after each change frame
	// from a peer is handled.
	changeHook func(session string, from peer.ID)
	// frameHook, if set (by tests), sees every document frame a peer sends
	// before it is judged. It must not keep or change the frame's bytes.
	frameHook atomic.Pointer[func(from string, f docFrame)]

	closeOnce sync.Once
	closing   atomic.Bool // Close has begun
}

// New opens the node in cfg.Dir.
func New(cfg Config) (*Node, error) {
	dir, err := resolveDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, dir: dir, log: cfg.Logger, now: cfg.Now,
		lives: make(map[string]*live), byTopic: make(map[string]*live), byTag: make(map[string]*live),
		relaysUsed: make(map[peer.ID]bool), outboxWake: make(chan struct{}, 1),
		worker: crdt.NewWorker(cfg.Worker), docs: make(map[string]*sessionDoc),
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.now == nil {
		n.now = time.Now
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no Parley node in %s: run `parley init` (or `parley init --org NAME` for a company node) first: %w", dir, ErrNotInitialized)
	}
	if err != nil {
		return nil, err
	}
	if err := checkPrivate(dir, fi); err != nil {
		return nil, err
	}
	n.key, err = readKey(filepath.Join(dir, nodeKeyFile), parseNodeKey)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no Parley node in %s (no %s): run `parley init` first: %w", dir, nodeKeyFile, ErrNotInitialized)
	}
	if err != nil {
		return nil, err
	}
	if n.id, err = peer.IDFromPrivateKey(n.key); err == nil {
		n.actorID = newActor(n.id)
	}
	if err != nil {
		return nil, err
	}
	n.company, err = loadCompanyKey(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if n.settings, err = loadSettings(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if n.company != nil && n.settings.Org == "" {
		return nil, fmt.Errorf("%s has a company key but no organisation name: run `parley init --org NAME`", dir)
	}
	var storeKey []byte
	keyFile := cfg.StoreKeyFile
	if keyFile == "" {
		keyFile = n.settings.StoreKeyFile
	}
	if keyFile != "" {
		if storeKey, err = readKey(keyFile, parseStoreKey); err != nil {
			return nil, fmt.Errorf("store key: %w", err)
		}
	}
	n.db, err = store.Open(filepath.Join(dir, storeDir), store.Options{EncryptionKey: storeKey, Logger: n.log})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Close closes the node. Closing twice returns an error wrapping
// net.ErrClosed.
func (n *Node) Close() error {
	err := fmt.Errorf("node: close: %w", net.ErrClosed)
	n.closeOnce.Do(func() {
		n.closing.Store(true)
		n.mu.Lock()
		lives := slices.Collect(maps.Values(n.lives))
		p := n.p2p
		n.mu.Unlock()
		for _, l := range lives {
			n.closeLive(l, true)
		}
		err = nil
		if p != nil {
			n.runCancel()
			n.wg.Wait()
			err = p.close()
		}
		n.worker.Close()
		if cerr := n.db.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// ID returns this node's peer ID.
func (n *Node) ID() peer.ID { return n.id }

// Dir returns the data directory.
func (n *Node) Dir() string { return n.dir }

// Info describes a node.
type Info struct {
	Peer       string   `json:"peer"`
	Dir        string   `json:"dir"`
	Org        string   `json:"org,omitempty"`         // company nodes only
	CompanyKey string   `json:"company_key,omitempty"` // fingerprint; company nodes only
	PublicURL  string   `json:"public_url,omitempty"`
	Running    bool     `json:"running"`         // on the network
	Addrs      []string `json:"addrs,omitempty"` // libp2p addresses, when running
}

// Info describes this node.
func (n *Node) Info(ctx context.Context) (Info, error) {
	i := Info{Peer: n.id.String(), Dir: n.dir, PublicURL: n.settings.PublicURL}
	if n.company != nil {
		i.Org = n.settings.Org
		i.CompanyKey = invite.Fingerprint(n.companyPublic())
	}
	i.Addrs = n.Addrs()
	i.Running = i.Addrs != nil
	return i, nil
}

func (n *Node) companyPublic() ed25519.PublicKey {
	return n.company.Public().(ed25519.PublicKey)
}

// ErrNotCompany is returned for what only the company node may do.
var ErrNotCompany = errors.New("this is not the company node")

func (n *Node) requireCompany(what string) error {
	if n.company == nil {
		return fmt.Errorf("%s needs the company key, and this node (%s) has none: run this on the company node, the one made with `parley init --org NAME`: %w", what, n.dir, ErrNotCompany)
	}
	return nil
}
