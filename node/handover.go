package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/invite"
	"parley/node/store"
)

// The company node archives every session: it takes part as a silent
// member when it is online. For when it was not, each interviewer's node
// hands the session's final documents over when the session ends, with
// its control records (so the company node learns of the start and end)
// and who attended, over /parley/archive/1 from the same outbox as
// feedback. The company node merges them into its own copy; handing over
// what it already has changes nothing.

// handoverHeader comes before a handover's documents.
type handoverHeader struct {
	Session    string             `json:"session"`
	Credential string             `json:"credential"`
	Records    []json.RawMessage  `json:"records,omitempty"`
	Attendance []store.Attendance `json:"attendance,omitempty"`
	Name       string             `json:"name"`           // the sender's name in the session
	Since      time.Time          `json:"since,omitzero"` // and when it joined
	Kinds      []crdt.Kind        `json:"kinds"`
}

// Handover bounds.
const (
	maxHandoverRecords    = 16
	maxHandoverAttendance = 256
)

// queueHandover puts a session's final documents in the outbox, on an
// interviewer's node.
func (n *Node) queueHandover(id string) {
	_, err := n.db.UpdateHandover(id, func(h *store.Handover) error {
		if h.State == "" {
			h.State, h.Queued = store.MineOutbox, n.now().UTC()
		}
		return nil
	})
	if err != nil {
		n.log.Error("queueing the documents for the company node", "session", id, "err", err)
		return
	}
	n.wakeOutbox()
}

// deliverHandovers tries every handover in the outbox and reports whether
// one must be tried again.
func (n *Node) deliverHandovers() (failed bool) {
	all, err := n.db.Handovers()
	if err != nil {
		n.log.Error("reading the outbox", "err", err)
		return true
	}
	for _, h := range all {
		if h.State != store.MineOutbox {
			continue
		}
		failed = !n.attempt("documents", h.Session, 2*time.Minute, func(ctx context.Context) error { return n.handOver(ctx, h) },
			func(err error) {
				n.db.UpdateHandover(h.Session, func(h *store.Handover) error {
					h.Tries, h.LastError = h.Tries+1, err.Error()
					return nil
				})
			}) || failed
	}
	return failed
}

// handOver sends a session's final documents to the company node.
func (n *Node) handOver(ctx context.Context, h store.Handover) error {
	r, err := n.db.Session(h.Session)
	if err != nil {
		return err
	}
	inv, err := invite.Parse(r.Token)
	if err != nil {
		return err
	}
	role, tok, _, err := n.roleFor(inv)
	if err != nil || role != RoleInterviewer {
		_, err := n.db.UpdateHandover(h.Session, func(h *store.Handover) error {
			h.State, h.Reason = store.MineRefused, "only an interviewer's node hands documents over"
			return nil
		})
		return err
	}
	docs := map[crdt.Kind][]byte{}
	for _, kind := range docKinds(RoleInterviewer) {
		err := n.withDoc(h.Session, kind, func(d *sessionDoc, _ store.Session) error {
			b, err := n.worker.Save(d.id)
			if err != nil {
				return n.workerFailed(err)
			}
			docs[kind] = b
			return nil
		})
		if err != nil {
			return err
		}
	}
	hdr := handoverHeader{Session: r.ID, Credential: tok, Records: r.Records, Attendance: r.Attendance, Name: r.Name, Since: r.Since}
	for _, k := range docKinds(RoleInterviewer) {
		hdr.Kinds = append(hdr.Kinds, k)
	}
	send := func(w io.Writer) error {
		for _, k := range hdr.Kinds {
			b := docs[k]
			if _, err := w.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...)); err != nil {
				return err
			}
		}
		return nil
	}
	id, reply, err := n.toCompany(ctx, inv, h.Company, func(id peer.ID) (archiveReply, error) {
		return n.askCompanyThen(ctx, inv.CompanyKey, id, archiveRequest{Docs: &hdr}, send)
	})
	if err != nil {
		return err
	}
	_, err = n.db.UpdateHandover(h.Session, func(h *store.Handover) error {
		h.Company, h.Answered, h.LastError = id.String(), n.now().UTC(), ""
		h.State = store.MineRecorded
		if reply.Status == archiveRefused {
			h.State, h.Reason = store.MineRefused, reply.Reason
		}
		return nil
	})
	if err == nil {
		n.log.Info("documents handed over to the company node", "session", h.Session, "status", reply.Status, "reason", reply.Reason)
	}
	return err
}

// deadlineWriter is the part of a stream receiveHandover writes to.
type deadlineWriter interface {
	io.Writer
	SetDeadline(time.Time) error
}

// receiveHandover takes a session's final documents on the company node.
func (n *Node) receiveHandover(remote peer.ID, hdr *handoverHeader, s deadlineWriter, r *bufio.Reader) archiveReply {
	refuse := func(format string, a ...any) archiveReply {
		return archiveReply{Status: archiveRefused, Reason: fmt.Sprintf(format, a...)}
	}
	sess, _, bad := n.sessionInterviewer(remote, hdr.Session, hdr.Credential)
	if bad != nil {
		return *bad
	}
	switch {
	case len(hdr.Records) > maxHandoverRecords:
		return refuse("%d control records; a session has at most %d", len(hdr.Records), maxHandoverRecords)
	case len(hdr.Attendance) > maxHandoverAttendance:
		return refuse("%d attendance entries; at most %d are taken", len(hdr.Attendance), maxHandoverAttendance)
	case len(hdr.Kinds) == 0 || len(hdr.Kinds) > 2 || slices.ContainsFunc(hdr.Kinds, func(k crdt.Kind) bool { return k != crdt.Shared && k != crdt.Private }) ||
		len(hdr.Kinds) == 2 && hdr.Kinds[0] == hdr.Kinds[1]:
		return refuse("documents %v: the shared and the private one are handed over", hdr.Kinds)
	}
	inv, err := invite.Parse(sess.Token)
	if err != nil {
		return archiveReply{Status: archiveRetry, Reason: err.Error()}
	}
	if err := writeFrame(s, archiveReply{Status: archiveSend}); err != nil {
		return archiveReply{Status: archiveRetry, Reason: err.Error()}
	}
	s.SetDeadline(time.Now().Add(2 * time.Minute))
	// The records first: they say what the documents may hold (an end's
	// heads, who the candidate was).
	n.archiveControl(inv, remote, hdr)
	for _, kind := range hdr.Kinds {
		size, err := binary.ReadUvarint(r)
		if err != nil || size == 0 || size > maxDocFrame {
			return refuse("the %s document's length is missing or out of bounds (1 to %d bytes)", kind, maxDocFrame)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return refuse("the %s document is cut short", kind)
		}
		if err := n.archiveDoc(sess.ID, kind, remote, b); err != nil {
			return refuse("the %s document: %v", kind, err)
		}
	}
	n.log.Info("documents handed over", "session", sess.ID, "by", remote)
	return archiveReply{Status: archiveRecorded}
}

// archiveDoc merges a session's document, saved in full by a peer, into
// the company node's copy: the live one, or the stored one.
func (n *Node) archiveDoc(id string, kind crdt.Kind, from peer.ID, b []byte) error {
	if l, err := n.lookupLive(id); err == nil {
		d, err := l.doc(kind)
		if err != nil {
			return err
		}
		_, err = n.applyRemote(d, from, b)
		return err
	}
	n.docMu.Lock()
	defer n.docMu.Unlock()
	r, err := n.db.Session(id)
	if err != nil {
		return err
	}
	inv, err := invite.Parse(r.Token)
	if err != nil {
		return err
	}
	var st controlState
	for _, raw := range r.Records {
		var sr signedRecord
		if json.Unmarshal(raw, &sr) != nil {
			continue
		}
		if rec, err := verifyStoredRecord(sr, inv, n.now()); err == nil {
			st.merge(&verifiedRecord{record: rec, signed: sr})
		}
	}
	d, err := n.loadCopyLocked(id, kind)
	if err != nil {
		return err
	}
	defer n.worker.CloseDoc(d.id)
	res, err := n.worker.Apply(d.id, b, guardStored(r, &st, kind, from))
	if errors.Is(err, crdt.ErrWorkerDied) {
		n.recoverLocked()
		return fmt.Errorf("it crashes the Automerge worker")
	}
	if err != nil && !errors.Is(err, crdt.ErrQueued) {
		return err
	}
	if len(res.Gained) > 0 {
		if err := n.storeLocked(d, res.Gained, from); err != nil {
			return err
		}
	}
	if res.Settled {
		n.snapshotLocked(d)
	}
	return nil
}

// archiveControl merges a handover's control records and attendance into
// the company node's session.
func (n *Node) archiveControl(inv *invite.Invite, from peer.ID, hdr *handoverHeader) {
	var srs []signedRecord
	for _, raw := range hdr.Records {
		var sr signedRecord
		if decodeStrict(raw, &sr) == nil {
			srs = append(srs, sr)
		}
	}
	if l, err := n.lookupLive(inv.SessionID); err == nil {
		l.mergeRecords(srs, from)
	} else if r, err := n.db.Session(inv.SessionID); err == nil {
		isRevoked, err := n.revokedCheck()
		if err != nil {
			n.log.Error("reading revocations", "err", err)
			return
		}
		var st controlState
		for _, raw := range r.Records {
			var sr signedRecord
			if json.Unmarshal(raw, &sr) == nil {
				srs = append(srs, sr)
			}
		}
		for _, sr := range srs {
			rec, err := verifyRecord(sr, inv, isRevoked, n.now())
			if err != nil {
				n.log.Info("dropped a handed-over control record", "from", from, "err", err)
				continue
			}
			st.merge(&verifiedRecord{record: rec, signed: sr})
		}
		if err := n.saveControl(inv.SessionID, &st); err != nil {
			n.log.Error("saving a handed-over session", "session", inv.SessionID, "err", err)
		}
	}
	// Who attended, as the interviewer's node saw it, for whom the company
	// node did not see itself.
	self := store.Attendance{Peer: from.String(), Name: hdr.Name, Role: RoleInterviewer, Joined: hdr.Since}
	n.db.UpdateSession(inv.SessionID, func(s *store.Session) error {
		for _, a := range append(hdr.Attendance, self) {
			if a.Name == "" || len(a.Name) > 100 || a.Role != RoleInterviewer && a.Role != RoleCandidate {
				continue
			}
			if _, err := peer.Decode(a.Peer); err != nil {
				continue
			}
			if !slices.ContainsFunc(s.Attendance, func(b store.Attendance) bool { return b.Peer == a.Peer }) {
				s.Attendance = append(s.Attendance, a)
			}
		}
		return nil
	})
}

// toCompany finds the company node of inv and asks it, trying each
// candidate until one answers for good (recorded or refused).
func (n *Node) toCompany(ctx context.Context, inv *invite.Invite, known string, ask func(id peer.ID) (archiveReply, error)) (peer.ID, archiveReply, error) {
	lastErr := errors.New("the company node was not found (it may be offline); trying again")
	for _, id := range n.findCompany(ctx, inv, known) {
		if !connected(n.p2p.host, id) {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := n.p2p.host.Connect(cctx, peer.AddrInfo{ID: id})
			cancel()
			if err != nil {
				lastErr = fmt.Errorf("company node %s unreachable: %w", id, err)
				continue
			}
		}
		reply, err := ask(id)
		if err != nil {
			lastErr = err
			continue
		}
		if reply.Status == archiveRetry {
			lastErr = errors.New(reply.Reason)
			continue
		}
		return id, reply, nil
	}
	return "", archiveReply{}, lastErr
}
