package node

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/invite"
	"parley/media"
)

// What the company's public gateway (package gateway) needs of a node: it
// runs a participant node of its own for each browser guest, whose page is
// in a browser elsewhere, and asks the company node who holds a session's
// candidate seat.

// PageMedia configures the call's leg between a node and its page.
type PageMedia struct {
	// Remote is set when the page is in a browser on another machine (a
	// guest of the company's gateway) rather than on this one: the leg
	// then uses the link's STUN and TURN servers, and the page is told
	// them (Follower.PageICEServers), so that a guest behind NAT connects.
	Remote bool
	// PublicIPs, if set, are announced as the leg's host candidates besides
	// the interfaces' own addresses: the public addresses of a gateway
	// behind 1:1 NAT.
	PublicIPs []string
}

// pageMedia is the media configuration of the leg to this node's page: on
// this machine (media.Config.Local), or in a browser elsewhere.
func (l *live) pageMedia() media.Config {
	if pm := l.n.cfg.PageMedia; pm.Remote {
		return media.Config{Loopback: true, ICEServers: iceServers(l), PublicIPs: pm.PublicIPs}
	}
	return media.Config{Loopback: true, Local: true}
}

// PageICEServers are the STUN and TURN servers the page should use for its
// leg of the call: the link's when the page is remote (Config.PageMedia),
// none for a page on this machine.
func (f *Follower) PageICEServers() []media.ICEServer {
	if !f.n.cfg.PageMedia.Remote {
		return nil
	}
	return iceServers(f.l)
}

// SeatHolder returns the peer ID of the candidate who holds a session's
// seat, as this node sees it, or "" while the seat is free.
func (n *Node) SeatHolder(session string) (string, error) {
	l, err := n.lookupLive(session)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state.seatHolder().String(), nil
}

// InSession reports whether this node takes part in a session now: it
// joined, and has not left, been turned away (its seat released), or seen
// the session end and gone.
func (n *Node) InSession(session string) bool {
	_, err := n.lookupLive(session)
	return err == nil
}

// StoreKeyFile returns the file whose key encrypts this node's store at
// rest, or "" if it is not encrypted: the gateway encrypts its hosted
// participants' stores with the company's key.
func (n *Node) StoreKeyFile() string {
	if n.cfg.StoreKeyFile != "" {
		return n.cfg.StoreKeyFile
	}
	return n.settings.StoreKeyFile
}

// JoinVia is Join, with an introduction: as soon as this node has opened
// the session, it dials via (a member of the session whose addresses the
// caller knows) and asks it for admission, rather than waiting for
// discovery to find it through the link's bootstrap peers. The company's
// gateway introduces the participants it hosts to the company node, in the
// same process: the guest is in the lobby in a few milliseconds, not a
// second or two of DHT lookups.
func (n *Node) JoinVia(ctx context.Context, link, name string, via peer.AddrInfo) (JoinResult, error) {
	inv, err := invite.Parse(link)
	if err != nil {
		return JoinResult{}, err
	}
	ictx, cancel := context.WithCancel(ctx)
	t0 := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		// Join opens the session, then waits for an admission; no event
		// says when the first is done, so look often while it runs.
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ictx.Done():
				return
			case <-t.C:
			}
			n.mu.Lock()
			l, p := n.lives[inv.SessionID], n.p2p
			n.mu.Unlock()
			if l == nil || p == nil {
				continue
			}
			p.host.Peerstore().AddAddrs(via.ID, via.Addrs, 10*time.Minute)
			if err := p.host.Connect(ictx, via); err != nil {
				l.log.Debug("introduction failed; discovery goes on", "peer", via.ID, "err", err)
				return
			}
			l.log.Debug("introduced", "peer", via.ID, "after", time.Since(t0))
			l.maybeAdmit(via.ID)
			return
		}
	})
	defer func() { cancel(); wg.Wait() }()
	return n.Join(ctx, link, name)
}

// AddrInfo returns this node's peer ID and libp2p addresses, for JoinVia.
func (n *Node) AddrInfo() peer.AddrInfo {
	ai := peer.AddrInfo{ID: n.id}
	n.mu.Lock()
	p := n.p2p
	n.mu.Unlock()
	if p != nil {
		ai.Addrs = p.host.Addrs()
	}
	return ai
}
