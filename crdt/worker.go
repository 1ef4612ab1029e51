package crdt

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/automerge/automerge-go"
)

// The worker speaks frames over its stdin and stdout, one request and then
// its response:
//
//	total length (u32, big endian) | header length (u32) | header (JSON) | blob
//
// The header says what to do (request) or how it went (response); the blob
// carries Automerge bytes: a change, a saved document, a sync message.

// maxFrame bounds a frame either way. A sync message for a long history
// (260k changes) is about 30 MB.
const maxFrame = 256 << 20

// request is what the node asks of the worker.
type request struct {
	Op    string    `json:"op"`
	Doc   string    `json:"doc,omitempty"`
	Of    string    `json:"of,omitempty"` // new: whose genesis, if not Doc's
	Kind  Kind      `json:"kind,omitempty"`
	Actor string    `json:"actor,omitempty"`
	Peer  string    `json:"peer,omitempty"`
	Edits []Edit    `json:"edits,omitempty"`
	Time  time.Time `json:"time,omitzero"`
	// Guard, on requests that merge a peer's data, says what the document
	// may take (guard.go).
	Guard *Guard `json:"guard,omitempty"`
	// Hashes and FilesOnly are an eviction's (evict.go).
	Hashes    []string `json:"hashes,omitempty"`
	FilesOnly bool     `json:"files_only,omitempty"`
}

// response is how it went.
type response struct {
	Err     string       `json:"err,omitempty"`
	Heads   []string     `json:"heads,omitempty"`
	Changed bool         `json:"changed,omitempty"`
	Queued  bool         `json:"queued,omitempty"` // changes lacking dependencies were dropped, or (holdsback) are held back
	View    *View        `json:"view,omitempty"`
	History []ChangeInfo `json:"history,omitempty"`
	Replay  *Replay      `json:"replay,omitempty"`
	// Rule is, for a guarded request refused, the rule a change broke.
	Rule    *RuleError `json:"rule,omitempty"`
	Skipped int        `json:"skipped,omitempty"`
	Reset   bool       `json:"reset,omitempty"`
	Settled bool       `json:"settled,omitempty"`
	// LeftOut are the changes a guarded request left out for good (see
	// Result.LeftOut); Evicted counts the changes an eviction dropped.
	LeftOut []string `json:"left_out,omitempty"`
	Evicted int      `json:"evicted,omitempty"`
	Lacking []string `json:"lacking,omitempty"`
}

func writeFrame(w io.Writer, hdr any, blob []byte) error {
	h, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	if 4+len(h)+len(blob) > maxFrame {
		return fmt.Errorf("frame of %d bytes is over the limit of %d", 4+len(h)+len(blob), maxFrame)
	}
	// One write: a frame split across writes to a pipe wakes the reader
	// for each part.
	buf := make([]byte, 8, 8+len(h)+len(blob))
	binary.BigEndian.PutUint32(buf[0:], uint32(4+len(h)+len(blob)))
	binary.BigEndian.PutUint32(buf[4:], uint32(len(h)))
	buf = append(append(buf, h...), blob...)
	_, err = w.Write(buf)
	return err
}

func readFrame(r io.Reader, hdr any) ([]byte, error) {
	var lens [8]byte
	if _, err := io.ReadFull(r, lens[:4]); err != nil {
		return nil, err
	}
	total := binary.BigEndian.Uint32(lens[:4])
	if total < 4 || total > maxFrame {
		return nil, fmt.Errorf("bad frame length %d", total)
	}
	if _, err := io.ReadFull(r, lens[4:]); err != nil {
		return nil, err
	}
	hl := binary.BigEndian.Uint32(lens[4:])
	if hl > total-4 {
		return nil, fmt.Errorf("bad header length %d", hl)
	}
	body := make([]byte, total-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body[:hl], hdr); err != nil {
		return nil, fmt.Errorf("bad frame header: %w", err)
	}
	if int(hl) == len(body) {
		return nil, nil // no blob
	}
	return body[hl:], nil
}

// WorkerMemEnv names the environment variable that sets the worker's memory
// limit (RLIMIT_AS) in bytes.
const WorkerMemEnv = "PARLEY_WORKER_MEM"

// DefaultWorkerMem is the worker's address-space limit: Automerge asked to
// allocate 16 GiB by a crafted sync message fails instead of swapping the
// machine to death, and the worker exits.
const DefaultWorkerMem = 4 << 30

// ServeWorker is the worker's main: it serves requests from r, answering on
// w, until r ends. Nothing here recovers from the core's aborts: they end
// the process, which is the point of running it apart.
func ServeWorker(r io.Reader, w io.Writer) error {
	limit := uint64(DefaultWorkerMem)
	if s := os.Getenv(WorkerMemEnv); s != "" {
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			limit = v
		}
	}
	syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit})
	s := &server{docs: map[string]*doc{}, syncs: map[[2]string]*automerge.SyncState{}}
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	var trim trimmer
	go trim.run()
	for {
		var req request
		blob, err := readFrame(br, &req)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		trim.begin()
		resp, out := s.handle(req, blob)
		trim.end()
		if err := writeFrame(bw, resp, out); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

// server is the worker's state: documents by ID, sync states by document
// and peer.
type server struct {
	docs  map[string]*doc
	syncs map[[2]string]*automerge.SyncState
}

func (s *server) handle(req request, blob []byte) (response, []byte) {
	out, resp, err := s.do(req, blob)
	if err != nil {
		resp.Err = err.Error()
		var rule *RuleError
		if errors.As(err, &rule) {
			resp.Rule = rule
		}
	}
	return resp, out
}

func heads(d *doc) []string {
	var out []string
	for _, h := range d.am.Heads() {
		out = append(out, h.String())
	}
	return out
}

func (s *server) do(req request, blob []byte) ([]byte, response, error) {
	var resp response
	if req.Op == "new" || req.Op == "load" {
		if _, ok := s.docs[req.Doc]; ok {
			return nil, resp, fmt.Errorf("document %s is open", req.Doc)
		}
		var d *doc
		var err error
		of := req.Doc
		if req.Of != "" {
			of = req.Of
		}
		if req.Op == "new" {
			d, err = newDoc(of, req.Kind, req.Actor)
		} else {
			d, err = loadDoc(req.Kind, req.Actor, blob)
		}
		if d != nil {
			d.genesis = of
		}
		if err != nil {
			return nil, resp, err
		}
		s.docs[req.Doc] = d
		resp.Heads = heads(d)
		return nil, resp, nil
	}
	d := s.docs[req.Doc]
	if d == nil {
		return nil, resp, fmt.Errorf("no open document %s", req.Doc)
	}
	switch req.Op {
	case "close":
		delete(s.docs, req.Doc)
		s.dropSyncs(req.Doc)
	case "apply":
		d.invalidate()
		var judged verdict // nothing judged: this node's own data
		if req.Guard != nil {
			chs, err := changesOf(blob)
			if err != nil {
				return nil, resp, &RuleError{What: "sent document data that " + errDecode.Error() + " (" + err.Error() + ")"}
			}
			v, err := s.judgeAll(d, req.Guard, chs)
			if err != nil {
				return nil, resp, err
			}
			resp.Skipped, resp.LeftOut, judged = v.skipped, v.left, v
			if v.keep != nil {
				blob = slices.Concat(v.keep...)
			}
		}
		if len(blob) == 0 {
			return nil, resp, nil
		}
		watch := watchStaff(d, judged.candidateOnly)
		if err := d.am.LoadIncremental(blob); err != nil {
			return nil, resp, err
		}
		watch()
		d.noteQueued(judged.taken)
		inc := d.am.SaveIncremental()
		// Changes whose dependencies have not come yet stay in Automerge's
		// queue, to apply when those come, rather than dropped: dropping
		// reloads the whole document, and while two people type such gaps
		// come often (an edit reaches a node by two ways): with a reload
		// each, two typists' 4000 changes took 13 s to converge instead
		// of 1-2 s, and a worker peaked at 445 MB instead of 120-220 MB.
		// Their bytes were judged above. A page's (Guard.Own) are said, so
		// that its node starts a sync round with it; between nodes, the
		// node asks the sender when a change frame changed nothing.
		if req.Guard != nil && req.Guard.Own {
			for _, h := range hashesIn(blob) {
				if _, err := d.am.Change(automerge.ChangeHash(h)); err != nil {
					resp.Queued = true
					break
				}
			}
		}
		var err error
		resp.Changed = len(inc) > 0
		if resp.Settled, err = s.settle(req.Doc, s.docs[req.Doc], req.Guard); err != nil {
			return nil, resp, err
		}
		return inc, resp, nil
	case "settle":
		var err error
		resp.Settled, err = s.settle(req.Doc, d, req.Guard)
		return nil, resp, err
	case "edit":
		committed, err := d.apply(req.Edits, req.Time)
		var change []byte
		if committed {
			change = d.am.SaveIncremental()
		}
		return change, resp, err
	case "replace":
		// An empty document takes a peer's whole saved one: loading is far
		// faster than replaying its history change by change.
		if req.Guard != nil {
			chs, err := changesOf(blob)
			if err != nil {
				return nil, resp, &RuleError{What: "sent a document that " + errDecode.Error() + " (" + err.Error() + ")"}
			}
			v, err := s.judgeAll(d, req.Guard, chs)
			if err != nil {
				return nil, resp, err
			}
			resp.LeftOut = v.left
			if resp.Skipped = v.skipped; v.keep != nil {
				// Not all of it may be taken: what may, change by change.
				if err := d.am.LoadIncremental(slices.Concat(v.keep...)); err != nil {
					return nil, resp, err
				}
				d.noteQueued(v.taken)
				d.invalidate()
				var err error
				resp.Settled, err = s.settle(req.Doc, d, req.Guard)
				return nil, resp, err
			}
		}
		fresh, err := loadDoc(d.kind, d.am.ActorID(), blob)
		if err != nil {
			return nil, resp, err
		}
		fresh.genesis = d.genesis
		s.docs[req.Doc] = fresh
		s.dropSyncs(req.Doc)
		resp.Settled, err = s.settle(req.Doc, fresh, req.Guard)
		return nil, resp, err
	case "touch":
		// What the next honest request might do with the document, its
		// results dropped: some crafted input is accepted and kills the
		// worker only then. An incremental save (the one that stored the
		// data leaves the next to walk from the new heads, which is where
		// a change with a broken actor table kills it), and a lookup of
		// every object and value a read would make (a map whose keys
		// Automerge cannot compare). The texts' characters are counted,
		// not rendered, and no sync message is made: rendering cost 15-19
		// ms a keystroke at 30k changes (BENCHMARKS.md), and
		// TestTouchFindsWhatKillsLater shows that the crafted inputs that
		// pass this survive a full read, a save, a snapshot's check, a
		// first sync message and typing.
		d.am.SaveIncremental()
		if _, err := d.read(false); err != nil {
			return nil, resp, err
		}
	case "save":
		return d.am.Save(), resp, nil
	case "saveinc":
		return d.am.SaveIncremental(), resp, nil
	case "holdsback":
		resp.Queued = d.holdsBack()
	case "heads":
		resp.Heads = heads(d)
	case "view":
		v, err := d.view()
		resp.View = &v
		return nil, resp, err
	case "check":
		// Save, load the save, read it, generate a first sync message from
		// it: what a snapshot must survive to count as good.
		saved := d.am.Save()
		c, err := loadDoc(d.kind, d.am.ActorID(), saved)
		if err != nil {
			return nil, resp, err
		}
		automerge.NewSyncState(c.am).GenerateMessage()
		v, err := c.view()
		resp.View = &v
		resp.Heads = heads(d)
		return saved, resp, err
	case "history":
		h, err := d.history()
		resp.History = h
		return nil, resp, err
	case "replay":
		r, err := d.replay()
		resp.Replay = &r
		return nil, resp, err
	case "at":
		f, err := d.at(req.Time)
		if err != nil {
			return nil, resp, err
		}
		v, err := f.view()
		resp.View = &v
		return nil, resp, err
	case "syncgen":
		ss := s.sync(req.Doc, req.Peer, d)
		msg, ok := ss.GenerateMessage()
		if !ok {
			return nil, resp, nil
		}
		return msg.Bytes(), resp, nil
	case "syncrecv":
		d.invalidate()
		before := heads(d)
		var judged verdict // nothing judged: this node's own data
		if req.Guard != nil {
			msg, err := DecodeSyncMessage(blob)
			if err != nil {
				return nil, resp, &RuleError{What: "sent a sync message that " + errDecode.Error() + " (" + err.Error() + ")"}
			}
			v, err := s.judgeAll(d, req.Guard, msg.Changes)
			if err != nil {
				return nil, resp, err
			}
			resp.LeftOut, judged = v.left, v
			if resp.Skipped = v.skipped; v.keep != nil {
				// Take what may be taken, and start the exchange with the
				// peer afresh: its sync state thinks it gave us the rest.
				if len(v.keep) > 0 {
					watch := watchStaff(d, v.candidateOnly)
					if err := d.am.LoadIncremental(slices.Concat(v.keep...)); err != nil {
						return nil, resp, err
					}
					watch()
					d.noteApplied(v.taken)
				}
				inc := d.am.SaveIncremental()
				hs := make([]ChangeHash, len(v.taken))
				for i, c := range v.taken {
					hs[i] = c.Hash
				}
				if resp.Queued, err = s.dropQueued(req.Doc, d, hs); err != nil {
					return nil, resp, err
				}
				delete(s.syncs, [2]string{req.Doc, req.Peer})
				resp.Reset = true
				resp.Heads = heads(s.docs[req.Doc])
				resp.Changed = !sameHeads(before, resp.Heads)
				if resp.Settled, err = s.settle(req.Doc, s.docs[req.Doc], req.Guard); err != nil {
					return nil, resp, err
				}
				return inc, resp, nil
			}
		}
		ss := s.sync(req.Doc, req.Peer, d)
		watch := watchStaff(d, judged.candidateOnly)
		msg, err := ss.ReceiveMessage(blob)
		if err != nil {
			return nil, resp, err
		}
		watch()
		d.noteApplied(judged.taken)
		inc := d.am.SaveIncremental()
		var hs []ChangeHash
		for _, c := range msg.Changes() {
			hs = append(hs, ChangeHash(c.Hash()))
		}
		if resp.Queued, err = s.dropQueued(req.Doc, d, hs); err != nil {
			return nil, resp, err
		}
		resp.Heads = heads(s.docs[req.Doc])
		resp.Changed = !sameHeads(before, resp.Heads)
		if resp.Settled, err = s.settle(req.Doc, s.docs[req.Doc], req.Guard); err != nil {
			return nil, resp, err
		}
		return inc, resp, nil
	case "syncreset":
		delete(s.syncs, [2]string{req.Doc, req.Peer})
	case "lacking":
		for _, h := range req.Hashes {
			ch, err := automerge.NewChangeHash(h)
			if err != nil {
				return nil, resp, fmt.Errorf("change hash %q: %w", h, err)
			}
			if _, err := d.am.Change(ch); err != nil {
				resp.Lacking = append(resp.Lacking, h)
			}
		}
	case "evict":
		n, err := s.evict(req.Doc, d, req.Hashes, req.Actor, req.FilesOnly, req.Time)
		if err != nil || n == 0 {
			return nil, resp, err
		}
		resp.Evicted = n
		resp.Heads = heads(s.docs[req.Doc])
	default:
		return nil, resp, fmt.Errorf("unknown request %q", req.Op)
	}
	return nil, resp, nil
}

// hashesIn lists the hashes of the changes in incremental-format bytes;
// nil for a saved document (which loads whole) or what does not decode.
// (automerge.LoadChanges cannot serve: it loads the changes into an empty
// document, so it refuses every change whose dependencies the bytes lack,
// the very ones to look for.)
func hashesIn(blob []byte) []ChangeHash {
	chs, err := DecodeChanges(blob)
	if err != nil {
		return nil
	}
	hs := make([]ChangeHash, len(chs))
	for i, c := range chs {
		hs[i] = c.Hash
	}
	return hs
}

// dropQueued makes sure the document holds back nothing: Automerge keeps a
// change whose dependencies it lacks out of sight, to apply when they come;
// such a change is neither saved nor checked, so poison could lurk there and
// kill the worker later on someone else's account. If any of chs is not in
// the document, it is reloaded from its own save (which leaves held-back
// changes out, and resets its sync states), and the caller syncs to fetch
// what was missing in order.
func (s *server) dropQueued(id string, d *doc, hs []ChangeHash) (bool, error) {
	queued := false
	for _, h := range hs {
		if _, err := d.am.Change(automerge.ChangeHash(h)); err != nil {
			queued = true
			break
		}
	}
	if !queued {
		return false, nil
	}
	fresh, err := loadDoc(d.kind, d.am.ActorID(), d.am.Save())
	if err != nil {
		return true, err
	}
	fresh.genesis = d.genesis
	s.docs[id] = fresh
	s.dropSyncs(id)
	return true, nil
}

func (s *server) sync(docID, peer string, d *doc) *automerge.SyncState {
	k := [2]string{docID, peer}
	ss := s.syncs[k]
	if ss == nil {
		ss = automerge.NewSyncState(d.am)
		s.syncs[k] = ss
	}
	return ss
}

func sameHeads(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// watchStaff, before a request merges changes that were all judged by the
// candidate's rules, notes what only interviewers may change, and returns
// what checks, once merged, that it did not change. The rules judge each
// operation's object; but an operation's element and predecessors name
// other operations by ID, and a crafted change whose IDs point into another
// object (the question) has made the core change that object. No honest
// change does, and Automerge cannot undo a merge: the worker stops, the
// node reloads the document as stored and blames the sender, as for any
// data that kills the worker.
func watchStaff(d *doc, candidateOnly bool) func() {
	if !candidateOnly || d.kind != Shared {
		return func() {}
	}
	before := d.staffPrint()
	return func() {
		if d.staffPrint() != before {
			panic("crdt: a change judged by the candidate's rules changed what only interviewers may change")
		}
	}
}
