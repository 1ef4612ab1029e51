package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"parley/invite"
)

// relayOnly is a connection gater that lets a node talk to the relay
// directly and to everyone else only through it.
type relayOnly struct{ relay peer.ID }

func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

func (g relayOnly) InterceptPeerDial(peer.ID) bool { return true }
func (g relayOnly) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return p == g.relay || isCircuit(a)
}
func (g relayOnly) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (g relayOnly) InterceptSecured(_ network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	return p == g.relay || isCircuit(c.RemoteMultiaddr())
}
func (g relayOnly) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// Two participants that cannot reach each other directly meet through the
// relay, and the session works as ever.
func TestThroughRelay(t *testing.T) {
	tm := startTeam(t, 0)
	relayID, _ := peer.Decode(tm.relay.ID())
	gate := relayOnly{relay: relayID}
	i1 := startNode(t, nodeOpts{cfg: Config{Gater: gate}})
	res, _ := tm.company.AddMember(context.Background(), NewMember{Name: "Ana", Email: "a@acme.test", Peer: i1.ID().String()})
	if _, err := i1.AcceptCredential(context.Background(), res.Member.Token); err != nil {
		t.Fatal(err)
	}
	cand := startNode(t, nodeOpts{cfg: Config{Gater: gate}})
	s := tm.create(t, NewSessions{})
	join(t, i1, s.Link, "")
	join(t, cand, s.Link, "Sam")
	waitRoster(t, s.ID, []string{"Sam/candidate", "Ana/interviewer"}, tm.company, i1, cand)
	for _, c := range i1.p2p.host.Network().ConnsToPeer(cand.ID()) {
		if !isCircuit(c.RemoteMultiaddr()) {
			t.Fatalf("direct connection %s despite the gater", c.RemoteMultiaddr())
		}
	}
	if _, err := i1.StartSession(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.ID, StatusLive, cand, tm.company)
}

// A peer that knows the topic name but not the secret reads nothing, and
// whatever it publishes is dropped by every member.
func TestStrangerOnTopic(t *testing.T) {
	tm, i1, cand, s := interview(t, "", "Sam Secretname")
	inv, _ := invite.Parse(s.Link)
	topicName := inv.Keys().Topic

	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithFloodPublish(true))
	if err != nil {
		t.Fatal(err)
	}
	topic, _ := ps.Join(topicName)
	sub, _ := topic.Subscribe()
	for _, n := range []*Node{i1, cand, tm.company} {
		if err := h.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.p2p.host.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	before := map[*Node]int64{}
	for _, n := range []*Node{i1, cand, tm.company} {
		before[n] = liveOf(n, s.ID).dropped.Load()
	}
	// Garbage, and an envelope sealed with a key of its own guessing.
	var wrongKey [32]byte
	rand.Read(wrongKey[:])
	forged := sealEnvelope(&wrongKey, topicName, h.ID(), envelope{typ: msgRecord, seq: 1, body: []byte(`{}`)})
	waitFor(t, 10*time.Second, "members drop the stranger's envelopes", func() bool {
		topic.Publish(ctx, []byte("garbage"))
		topic.Publish(ctx, forged)
		for _, n := range []*Node{i1, cand, tm.company} {
			if liveOf(n, s.ID).dropped.Load() == before[n] {
				return false
			}
		}
		return true
	})
	// Make members talk, and read what reaches the stranger.
	i1.StartSession(context.Background(), s.ID)
	got := 0
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	for got < 2 {
		msg, err := sub.Next(rctx)
		if err != nil {
			t.Fatalf("the stranger received %d messages: %v", got, err)
		}
		if msg.ReceivedFrom == h.ID() {
			continue
		}
		got++
		for _, word := range []string{"Secretname", "start", "interviewer"} {
			if bytes.Contains(msg.Data, []byte(word)) {
				t.Fatalf("the stranger read %q in a message", word)
			}
		}
		if _, err := openEnvelope(&wrongKey, topicName, msg.GetFrom(), msg.Data); err == nil {
			t.Fatal("an envelope opened without the session key")
		}
	}
	waitStatus(t, s.ID, StatusLive, cand)
	if r := roster(t, i1, s.ID); len(r) != 2 {
		t.Fatalf("the stranger changed the roster: %v", r)
	}
}

func liveOf(n *Node, id string) *live {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lives[id]
}
