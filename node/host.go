package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	tcp "github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multihash"
)

// DHTPrefix is the protocol prefix of Parley's private Kademlia DHT, on which
// session members announce themselves under rendezvous keys.
const DHTPrefix = "/parley"

// DefaultListenAddrs are the libp2p addresses a node listens on unless told
// otherwise: every interface, a random port, TCP and QUIC.
var DefaultListenAddrs = []string{
	"/ip4/0.0.0.0/tcp/0",
	"/ip4/0.0.0.0/udp/0/quic-v1",
	"/ip6/::/tcp/0",
	"/ip6/::/udp/0/quic-v1",
}

// hostOptions are the libp2p options every Parley host shares: TCP and QUIC,
// Noise, yamux (the default), the relay client, hole punching and AutoNAT.
func hostOptions(listen []string) []libp2p.Option {
	return []libp2p.Option{
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(),
		libp2p.EnableAutoNATv2(),
	}
}

// network is the running libp2p side of a node.
type p2p struct {
	host   host.Host
	ps     *pubsub.PubSub
	dht    *dht.IpfsDHT
	relays relayReservations

	addrEmitter event.Emitter
}

// startP2P starts the host, the DHT client and pubsub. filter admits peers
// to topic meshes.
func (n *Node) startP2P(ctx context.Context, filter pubsub.PeerFilter) (*p2p, error) {
	listen := n.cfg.ListenAddrs
	if len(listen) == 0 {
		listen = DefaultListenAddrs
	}
	p := &p2p{}
	opts := append(hostOptions(listen),
		libp2p.Identity(n.key),
		libp2p.AddrsFactory(p.relays.addrs),
		libp2p.DisableMetrics(),
	)
	if n.cfg.Gater != nil {
		opts = append(opts, libp2p.ConnectionGater(n.cfg.Gater))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("node: libp2p: %w", err)
	}
	p.host = h
	if p.addrEmitter, err = h.EventBus().Emitter(new(event.EvtAutoRelayAddrsUpdated)); err != nil {
		h.Close()
		return nil, fmt.Errorf("node: libp2p: %w", err)
	}
	p.dht, err = dht.New(h, dht.Mode(dht.ModeClient), dht.ProtocolPrefix(DHTPrefix))
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("node: dht: %w", err)
	}
	p.ps, err = pubsub.NewGossipSub(ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithPeerFilter(filter),
		// Sessions are small and every member connects to every other, so a
		// node sends its own messages to all of them at once rather than
		// through the mesh, which admits a newcomer only at the next heartbeat.
		pubsub.WithFloodPublish(true),
	)
	if err != nil {
		p.dht.Close()
		h.Close()
		return nil, fmt.Errorf("node: pubsub: %w", err)
	}
	return p, nil
}

func (p *p2p) close() error {
	p.addrEmitter.Close()
	err := p.dht.Close()
	if cerr := p.host.Close(); err == nil {
		err = cerr
	}
	return err
}

// rendezvousCID is the DHT key under which a session's members announce
// themselves.
func rendezvousCID(key string) cid.Cid {
	mh, _ := multihash.Sum([]byte(key), multihash.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, mh)
}

// relayReservations keeps this node reachable through relays: a reservation
// on each bootstrap relay, refreshed before it expires, and the circuit
// addresses it yields added to what the host advertises. Reserving by hand
// rather than through AutoRelay works for relays on private and loopback
// addresses too.
type relayReservations struct {
	mu      sync.Mutex
	circuit map[peer.ID][]multiaddr.Multiaddr
}

func (r *relayReservations) addrs(own []multiaddr.Multiaddr) []multiaddr.Multiaddr {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(own)
	for _, as := range r.circuit {
		out = append(out, as...)
	}
	return out
}

func (r *relayReservations) has(relay peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.circuit[relay]
	return ok
}

func (r *relayReservations) set(relay peer.ID, as []multiaddr.Multiaddr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.circuit == nil {
		r.circuit = make(map[peer.ID][]multiaddr.Multiaddr)
	}
	if as == nil {
		delete(r.circuit, relay)
	} else {
		r.circuit[relay] = as
	}
}

// keepReservation holds a reservation on relay until ctx ends.
func (p *p2p) keepReservation(ctx context.Context, relay peer.AddrInfo, log interface{ Debug(string, ...any) }) {
	retry := time.Second
	for {
		res, err := client.Reserve(ctx, p.host, relay)
		var wait time.Duration
		if err != nil {
			log.Debug("relay reservation failed", "relay", relay.ID, "err", err)
			wait, retry = retry, min(2*retry, time.Minute)
		} else {
			retry = time.Second
			var as []multiaddr.Multiaddr
			for _, a := range relay.Addrs {
				ca, err := multiaddr.NewMultiaddr(fmt.Sprintf("%s/p2p/%s/p2p-circuit", a, relay.ID))
				if err == nil {
					as = append(as, ca)
				}
			}
			changed := !p.relays.has(relay.ID)
			p.relays.set(relay.ID, as)
			if changed {
				// The host recomputes its addresses (through our
				// AddrsFactory) on this event; peers learn them by identify.
				p.addrEmitter.Emit(event.EvtAutoRelayAddrsUpdated{RelayAddrs: p.relays.addrs(nil)})
			}
			wait = max(time.Until(res.Expiration)/2, 10*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// connectedness reports whether h has a usable connection to id.
func connected(h host.Host, id peer.ID) bool {
	return h.Network().Connectedness(id) == network.Connected
}

// shortHash is a stable short tag for strings, for logs and wire tags.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", sum[:16])
}

// clearDialBackoff forgets failed dials to a peer, so that the next dial
// is tried at once.
func clearDialBackoff(h host.Host, id peer.ID) {
	if sw, ok := h.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(id)
	}
}
