package node

import (
	"strings"

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

// pageMedia is the media configuration of the leg to this node's page.
func (l *live) pageMedia() media.Config {
	c := media.Config{Loopback: true}
	if pm := l.n.cfg.PageMedia; pm.Remote {
		c.ICEServers = iceServers(l)
		c.PublicIPs = pm.PublicIPs
	}
	return c
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

// browserAdvice adds, under an https link in an invite email (the company
// runs a public gateway), that it opens in a browser with nothing to
// install, unless the email says so already.
func browserAdvice(body, link string) string {
	if !strings.HasPrefix(link, "https://") || strings.Contains(body, "nothing to install") {
		return body
	}
	return strings.Replace(body, link, link+"\n  (open this link in your browser; nothing to install)", 1)
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
