package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/invite"
	"parley/node/store"
)

// ArchiveProtocol carries an interviewer's feedback to the company node.
//
// The interviewer's node opens the stream and sends a hello with a nonce;
// the company node proves it holds the company key by signing a transcript
// of both peer IDs and the nonce; the interviewer's node then sends its
// signed submission and the company node answers: recorded, refused (final:
// not retried) or retry. The company node announces itself in the DHT under
// a key derived from the company key, so that an interviewer's node finds
// it after the session, too.
const ArchiveProtocol = "/parley/archive/1"

// Archive message bounds.
const (
	maxArchiveRequest = 128 << 10
	maxArchiveReply   = 8 << 10
)

// Archive answers.
const (
	archiveRecorded = "recorded"
	archiveRefused  = "refused"
	archiveRetry    = "retry"
	archiveSend     = "send" // a handover's header was accepted: send the documents
)

type archiveHello struct {
	V     int    `json:"v"`
	Nonce []byte `json:"nonce"`
}

type archiveProof struct {
	Sig []byte `json:"sig"`
}

// archiveRequest is feedback, or the header of a handover of a session's
// final documents (see handover.go).
type archiveRequest struct {
	Feedback *signedFeedback `json:"feedback,omitempty"`
	Docs     *handoverHeader `json:"docs,omitempty"`
}

type archiveReply struct {
	Status string    `json:"status"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

func archiveTranscript(client, server peer.ID, nonce []byte) []byte {
	h := sha256.New()
	h.Write([]byte("parley/1 archive transcript\x00"))
	h.Write([]byte(client))
	h.Write([]byte{0})
	h.Write([]byte(server))
	h.Write(nonce)
	return h.Sum(nil)
}

// companyRendezvous is the DHT key under which a company node announces
// itself.
func companyRendezvous(key ed25519.PublicKey) string {
	return "parley/1 company\x00" + hex.EncodeToString(key)
}

// handleArchive answers an interviewer's node on the company node.
func (n *Node) handleArchive(s network.Stream) {
	defer s.Close()
	if n.company == nil {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(20 * time.Second))
	remote := s.Conn().RemotePeer()
	r := bufio.NewReader(s)
	var hello archiveHello
	if err := readFrame(r, 256, &hello); err != nil || hello.V != 1 || len(hello.Nonce) != nonceSize {
		s.Reset()
		return
	}
	tr := archiveTranscript(remote, n.id, hello.Nonce)
	if err := writeFrame(s, archiveProof{Sig: signCompany(n.company, tr, n.id)}); err != nil {
		return
	}
	var req archiveRequest
	var reply archiveReply
	switch err := readFrame(r, maxArchiveRequest, &req); {
	case err != nil:
		reply = archiveReply{Status: archiveRefused, Reason: err.Error()}
	case req.Docs != nil:
		reply = n.receiveHandover(remote, req.Docs, s, r)
	default:
		reply = n.receiveFeedback(remote, req.Feedback)
	}
	if reply.Status != archiveRecorded {
		n.log.Info("feedback not recorded", "peer", remote, "status", reply.Status, "reason", reply.Reason)
	}
	writeFrame(s, reply)
}

// receiveFeedback checks a submission and records it if it is the
// session's first valid one.
func (n *Node) receiveFeedback(remote peer.ID, sf *signedFeedback) archiveReply {
	refuse := func(format string, a ...any) archiveReply {
		return archiveReply{Status: archiveRefused, Reason: fmt.Sprintf(format, a...)}
	}
	if sf == nil {
		return refuse("no feedback in the request")
	}
	var body feedbackBody
	if err := decodeStrict(sf.Body, &body); err != nil {
		return refuse("feedback: %v", err)
	}
	if body.V != 1 {
		return refuse("feedback version %d is not known here", body.V)
	}
	if body.Peer != remote.String() {
		return refuse("the feedback was signed for %s, not this connection's peer", body.Peer)
	}
	pub, err := remote.ExtractPublicKey()
	if err != nil {
		return refuse("no public key in peer ID %s", remote)
	}
	if ok, err := pub.Verify(feedbackMessage(sf.Body), sf.Sig); err != nil || !ok {
		return refuse("bad signature on the feedback")
	}
	sess, c, bad := n.sessionInterviewer(remote, body.Session, body.Credential)
	if bad != nil {
		return *bad
	}
	if sess.Recorder != "" && !strings.EqualFold(sess.Recorder, c.Email) {
		return refuse("the link names %s to record this session's feedback", sess.Recorder)
	}
	if err := checkScorecard(body.Scorecard, criteriaOf(sess), false); err != nil {
		return refuse("%v", err)
	}
	signed, err := json.Marshal(sf)
	if err != nil {
		return archiveReply{Status: archiveRetry, Reason: err.Error()}
	}
	f := store.Feedback{
		Session: sess.ID, Scorecard: body.Scorecard, Name: c.Name, Email: c.Email, Peer: remote.String(),
		Written: body.Written, Recorded: n.now().UTC(), Signed: signed,
	}
	prior, err := n.db.RecordFeedback(f)
	switch {
	case errors.Is(err, store.ErrRecorded):
		var was signedFeedback
		if json.Unmarshal(prior.Signed, &was) == nil && bytes.Equal(was.Sig, sf.Sig) {
			// The same submission again: our answer was lost on the way.
			return archiveReply{Status: archiveRecorded, By: prior.Name, At: prior.Recorded}
		}
		return refuse("%s", strings.TrimSuffix(recordedError(prior.Name, prior.Recorded).Error(), ": "+ErrRecorded.Error()))
	case err != nil:
		return archiveReply{Status: archiveRetry, Reason: "the company node could not store it: " + err.Error()}
	}
	n.log.Info("feedback recorded", "session", sess.ID, "by", c.Email)
	return archiveReply{Status: archiveRecorded, By: c.Name, At: f.Recorded}
}

// sessionInterviewer checks, on the company node, that remote is an
// interviewer of one of its sessions, by the credential it shows.
func (n *Node) sessionInterviewer(remote peer.ID, session, credential string) (store.Session, *invite.Credential, *archiveReply) {
	refuse := func(format string, a ...any) *archiveReply {
		return &archiveReply{Status: archiveRefused, Reason: fmt.Sprintf(format, a...)}
	}
	sess, err := n.db.Session(session)
	if err != nil || !sess.Company {
		return sess, nil, refuse("this company node has no session %q", session)
	}
	c, err := invite.ParseCredential(credential)
	if err != nil {
		return sess, nil, refuse("credential: %v", err)
	}
	isRevoked, err := n.revokedCheck()
	if err != nil {
		return sess, nil, &archiveReply{Status: archiveRetry, Reason: err.Error()}
	}
	if err := c.Check(invite.CredentialCheck{Company: n.companyPublic(), Peer: remote, Now: n.now(), Revoked: isRevoked}); err != nil {
		return sess, nil, refuse("only the company's interviewers may: %v", err)
	}
	if len(sess.Interviewers) > 0 && !slices.Contains(sess.Interviewers, strings.ToLower(c.Email)) {
		return sess, nil, refuse("%s is not one of this session's interviewers", c.Email)
	}
	return sess, c, nil
}

// askCompany delivers a request to the company node at id, after it proved
// it holds the company key.
func (n *Node) askCompany(ctx context.Context, company ed25519.PublicKey, id peer.ID, req archiveRequest) (archiveReply, error) {
	return n.askCompanyThen(ctx, company, id, req, nil)
}

// askCompanyThen is askCompany; when the company node answers "send", then
// writes what follows the request (a handover's documents) and the final
// answer is read after it.
func (n *Node) askCompanyThen(ctx context.Context, company ed25519.PublicKey, id peer.ID, req archiveRequest, then func(w io.Writer) error) (archiveReply, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := n.p2p.host.NewStream(network.WithAllowLimitedConn(ctx, "archive"), id, ArchiveProtocol)
	if err != nil {
		return archiveReply{}, err
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	if err := writeFrame(s, archiveHello{V: 1, Nonce: nonce}); err != nil {
		return archiveReply{}, err
	}
	r := bufio.NewReader(s)
	var proof archiveProof
	if err := readFrame(r, 1024, &proof); err != nil {
		return archiveReply{}, fmt.Errorf("company proof: %w", err)
	}
	if !verifyCompany(company, archiveTranscript(n.id, id, nonce), id, proof.Sig) {
		s.Reset()
		return archiveReply{}, fmt.Errorf("peer %s does not hold the company key", id)
	}
	if err := writeFrame(s, req); err != nil {
		return archiveReply{}, err
	}
	var reply archiveReply
	if err := readFrame(r, maxArchiveReply, &reply); err != nil {
		return archiveReply{}, fmt.Errorf("company answer: %w", err)
	}
	if reply.Status == archiveSend && then != nil {
		if err := then(s); err != nil {
			return archiveReply{}, err
		}
		reply = archiveReply{}
		if err := readFrame(r, maxArchiveReply, &reply); err != nil {
			return archiveReply{}, fmt.Errorf("company answer: %w", err)
		}
	}
	switch reply.Status {
	case archiveRecorded, archiveRefused, archiveRetry:
		return reply, nil
	}
	return archiveReply{}, fmt.Errorf("company answer %q is not known here", reply.Status)
}

// findCompany lists the company node's candidate peer IDs: those in this
// node's live sessions, the one seen before, then what the DHT says.
func (n *Node) findCompany(ctx context.Context, inv *invite.Invite, known string) []peer.ID {
	out := n.companyPeers(inv)
	if id, err := peer.Decode(known); err == nil && !slices.Contains(out, id) {
		out = append(out, id)
	}
	dht := n.p2p.dht
	if dht.RoutingTable().Size() == 0 {
		infos, _ := peer.AddrInfosFromP2pAddrs(inv.Bootstrap...) // checked when the link was parsed
		for _, ai := range infos {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := n.p2p.host.Connect(cctx, ai); err == nil {
				n.useRelay(ai)
			}
			cancel()
		}
	}
	if dht.RoutingTable().Size() == 0 {
		return out
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for ai := range dht.FindProvidersAsync(fctx, rendezvousCID(companyRendezvous(inv.CompanyKey)), 4) {
		if ai.ID == n.id || slices.Contains(out, ai.ID) {
			continue
		}
		n.p2p.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, 10*time.Minute)
		out = append(out, ai.ID)
	}
	return out
}

// deliver sends one submission in the outbox to the company node and keeps
// its answer. It returns an error when the submission must be tried again.
func (n *Node) deliver(ctx context.Context, m store.Mine) error {
	r, err := n.db.Session(m.Session)
	if err != nil {
		return err
	}
	inv, err := invite.Parse(r.Token)
	if err != nil {
		return err
	}
	var sf signedFeedback
	if err := json.Unmarshal(m.Signed, &sf); err != nil {
		return fmt.Errorf("the stored submission does not parse: %w", err)
	}
	id, reply, err := n.toCompany(ctx, inv, m.Company, func(id peer.ID) (archiveReply, error) {
		return n.askCompany(ctx, inv.CompanyKey, id, archiveRequest{Feedback: &sf})
	})
	if err != nil {
		return err
	}
	_, err = n.db.UpdateMine(m.Session, func(mine *store.Mine) error {
		mine.Company, mine.Answered, mine.LastError = id.String(), n.now().UTC(), ""
		mine.By, mine.At = reply.By, reply.At
		mine.State = store.MineRecorded
		if reply.Status == archiveRefused {
			mine.State, mine.Reason = store.MineRefused, reply.Reason
		}
		return nil
	})
	if err == nil {
		n.log.Info("feedback delivered", "session", m.Session, "status", reply.Status, "reason", reply.Reason)
	}
	return err
}

// Outbox retry bounds.
const (
	outboxFirstRetry = time.Second
	outboxMaxRetry   = 30 * time.Second
)

// wakeOutbox makes the outbox try its deliveries now.
func (n *Node) wakeOutbox() {
	select {
	case n.outboxWake <- struct{}{}:
	default:
	}
}

// outboxLoop delivers submitted feedback and handed-over documents until
// the company node answers, trying again with backoff, and at once when a
// company node shows up in a session. The outbox is in the store, so a
// restart picks it up again.
func (n *Node) outboxLoop() {
	wait := outboxFirstRetry
	for {
		failed := n.deliverFeedback()
		failed = n.deliverHandovers() || failed
		var retry <-chan time.Time
		if failed {
			retry = time.After(wait)
			wait = min(wait*2, outboxMaxRetry)
		} else {
			wait = outboxFirstRetry
		}
		select {
		case <-n.runCtx.Done():
			return
		case <-n.outboxWake:
		case <-retry:
		}
	}
}

// deliverFeedback tries every submission in the outbox and reports whether
// one must be tried again.
func (n *Node) deliverFeedback() (failed bool) {
	all, err := n.db.AllMine()
	if err != nil {
		n.log.Error("reading the outbox", "err", err)
		return true
	}
	for _, m := range all {
		if m.State != store.MineOutbox {
			continue
		}
		failed = !n.attempt("feedback", m.Session, time.Minute, func(ctx context.Context) error { return n.deliver(ctx, m) },
			func(err error) {
				n.db.UpdateMine(m.Session, func(mine *store.Mine) error {
					mine.Tries, mine.LastError = mine.Tries+1, err.Error()
					return nil
				})
			}) || failed
	}
	return failed
}

// attempt runs one delivery of the outbox with a deadline, and notes why
// it failed for the next try. It reports whether it went through.
func (n *Node) attempt(what, session string, timeout time.Duration, deliver func(context.Context) error, note func(error)) bool {
	ctx, cancel := context.WithTimeout(n.runCtx, timeout)
	err := deliver(ctx)
	cancel()
	if err != nil && n.runCtx.Err() == nil {
		n.log.Debug("not delivered yet", "what", what, "session", session, "err", err)
		note(err)
	}
	return err == nil
}

// announceCompany keeps the company node findable in the DHT under its
// company rendezvous key, for interviewers' nodes delivering feedback.
func (n *Node) announceCompany() {
	key := rendezvousCID(companyRendezvous(n.companyPublic()))
	var infos []peer.AddrInfo
	for _, s := range n.settings.Bootstrap {
		if ai, err := peer.AddrInfoFromString(s); err == nil {
			infos = append(infos, *ai)
		}
	}
	var provided time.Time
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		dht := n.p2p.dht
		if dht.RoutingTable().Size() == 0 {
			for _, ai := range infos {
				ctx, cancel := context.WithTimeout(n.runCtx, 5*time.Second)
				if err := n.p2p.host.Connect(ctx, ai); err == nil {
					n.useRelay(ai)
				}
				cancel()
			}
		}
		if dht.RoutingTable().Size() > 0 && (time.Since(provided) > 5*time.Minute || n.addrsChangedSince(provided)) {
			ctx, cancel := context.WithTimeout(n.runCtx, 10*time.Second)
			if err := dht.Provide(ctx, key, true); err != nil {
				n.log.Debug("company announce failed", "err", err)
			} else {
				provided = time.Now()
			}
			cancel()
		}
		select {
		case <-n.runCtx.Done():
			return
		case <-t.C:
		}
	}
}
