package node

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/invite"
	"parley/node/store"
)

// The run board is what a node knows of a session's runs: those going,
// with their output so far, and those ended, with the runner's signed
// result once it verified. Every node keeps one per session it takes part
// in; pages and the command line read it.

// Run states.
const (
	RunRunning = "running"
	RunDone    = "done"   // ended, with a result this node verified
	RunFailed  = "failed" // no verified result: the runner left, failed, or signed nothing that holds
)

// Bounds of what a node keeps of a run.
const (
	maxRunOutputKept   = 2 << 20   // output bytes per run, on the board
	maxRunOutputStored = 256 << 10 // output bytes per run, in the store
	maxRunsKept        = 64        // runs per session on the board
)

// CodeRun is a run of a session's code as this node saw it.
type CodeRun struct {
	ID      string `json:"id"`
	Session string `json:"session"`
	Lang    string `json:"lang"`
	Main    string `json:"main"`
	// Heads are the shared document's heads when Run was pressed: which
	// version of the code ran.
	Heads []string `json:"heads,omitempty"`
	// Command is what the runner ran: the compile step's command line, if
	// any, then the run step's.
	Command    []string  `json:"command,omitempty"`
	By         string    `json:"by"` // who pressed Run
	ByPeer     string    `json:"by_peer"`
	Runner     string    `json:"runner"` // whose node ran it
	RunnerPeer string    `json:"runner_peer"`
	Started    time.Time `json:"started"`
	State      string    `json:"state"`
	// Error says, for a failed run, what went wrong.
	Error string `json:"error,omitempty"`
	// Result is how it ended, from the runner's signed result.
	Result *RunResult `json:"result,omitempty"`
	// Output is what it printed, in order, as far as it reached this node.
	Output []RunChunk `json:"output,omitempty"`
	// Incomplete is set when output was lost on the way (or is more than
	// this node keeps): the result's digest does not match what it got.
	Incomplete bool `json:"incomplete,omitempty"`
}

// RunChunk is a piece of a run's output.
type RunChunk struct {
	Stream string `json:"stream"` // stdout or stderr
	Data   string `json:"data"`
}

// RunResult is how a run ended, as its runner signed it.
type RunResult struct {
	Exit       int       `json:"exit"`
	Reason     string    `json:"reason,omitempty"` // the limit that stopped it: time, memory, output, processes, file_size, stopped
	Stage      string    `json:"stage"`            // compile or run: where it ended
	WallMS     int64     `json:"wall_ms"`
	CompileMS  int64     `json:"compile_ms,omitempty"`
	CPUMS      int64     `json:"cpu_ms"`
	PeakMemory int64     `json:"peak_memory"`
	Output     int64     `json:"output"` // bytes
	Ended      time.Time `json:"ended"`
}

// RunEvent is a step of a run, for clients that follow it as it goes.
type RunEvent struct {
	Type   string   `json:"type"` // start, output, end
	ID     string   `json:"id"`
	Run    *CodeRun `json:"run,omitempty"` // start and end: the run, without its output
	Stream string   `json:"stream,omitempty"`
	Data   string   `json:"data,omitempty"`
}

// runBoard is a session's runs, on one node.
type runBoard struct {
	mu      sync.Mutex
	runs    map[string]*runEntry
	order   []string // IDs, oldest first
	changed chan struct{}
	// offers are the runners present peers announced (presence).
	offers map[peer.ID]runnerOffer
	// active are the runs this node executes, to stop them.
	active map[string]func()
}

type runEntry struct {
	view    CodeRun
	runner  peer.ID // who sends its frames
	kept    int64   // output bytes kept
	seq     int     // the last output frame's number
	gap     bool    // a frame was missed
	digest  hash.Hash
	signed  *signedRunResult
	started bool // a start frame came (not only a failure)
}

func newRunBoard() *runBoard {
	return &runBoard{runs: map[string]*runEntry{}, changed: make(chan struct{}), offers: map[peer.ID]runnerOffer{}, active: map[string]func(){}}
}

// stopAll stops every run this node executes.
func (b *runBoard) stopAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, stop := range b.active {
		stop()
	}
}

// notifyLocked wakes whoever follows the board. Call with b.mu held.
func (b *runBoard) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// wait returns a channel closed at the board's next change.
func (b *runBoard) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// addLocked puts a new run on the board, forgetting the oldest ended ones
// past the bound. Call with b.mu held.
func (b *runBoard) addLocked(e *runEntry) {
	b.runs[e.view.ID] = e
	b.order = append(b.order, e.view.ID)
	for len(b.order) > maxRunsKept {
		old := b.runs[b.order[0]]
		if old != nil && old.view.State == RunRunning {
			break
		}
		delete(b.runs, b.order[0])
		b.order = b.order[1:]
	}
}

// outputDigest hashes a run's output as the runner sends it: for each
// chunk, its stream (1 stdout, 2 stderr), its length (uvarint), its bytes.
func newOutputDigest() hash.Hash { return sha256.New() }

func digestChunk(h hash.Hash, stream string, data []byte) {
	code := byte(1)
	if stream == "stderr" {
		code = 2
	}
	h.Write([]byte{code})
	h.Write(binary.AppendUvarint(nil, uint64(len(data))))
	h.Write(data)
}

// apply takes a frame of a run from peer from (this node's own frames
// included) and reports an error when the frame is refused.
func (l *live) applyRunFrame(from peer.ID, f runFrame) error {
	b := l.runs
	var store *store.Run
	b.mu.Lock()
	e := b.runs[f.Run]
	switch f.Type {
	case frameStart:
		st := f.Start
		if st == nil || st.Session != l.inv.SessionID || st.Runner != from.String() || len(st.Command) > 4 || len(st.Heads) > maxEndHeads {
			b.mu.Unlock()
			return fmt.Errorf("bad start of run %s", f.Run)
		}
		if e != nil {
			b.mu.Unlock()
			return nil // known: the requester and a watcher stream both bring it
		}
		e = &runEntry{runner: from, digest: newOutputDigest(), started: true, view: CodeRun{
			ID: f.Run, Session: st.Session, Lang: st.Lang, Main: st.Main, Heads: st.Heads, Command: st.Command,
			By: st.ByName, ByPeer: st.By, Runner: st.RunnerName, RunnerPeer: st.Runner, Started: st.At, State: RunRunning,
		}}
		b.addLocked(e)
	case frameOutput:
		if e == nil || e.runner != from || e.view.State != RunRunning {
			b.mu.Unlock()
			return nil // a run this node did not see start: nothing to add to
		}
		if f.Seq != e.seq+1 {
			e.gap = true
		}
		e.seq = f.Seq
		digestChunk(e.digest, f.Stream, f.Data)
		if e.kept+int64(len(f.Data)) > maxRunOutputKept {
			e.gap = true
			break
		}
		e.kept += int64(len(f.Data))
		if n := len(e.view.Output); n > 0 && e.view.Output[n-1].Stream == f.Stream && len(e.view.Output[n-1].Data) < 64<<10 {
			e.view.Output[n-1].Data += string(f.Data)
		} else {
			e.view.Output = append(e.view.Output, RunChunk{Stream: f.Stream, Data: string(f.Data)})
		}
	case frameEnd:
		if e == nil || e.runner != from || e.view.State != RunRunning || f.Result == nil {
			b.mu.Unlock()
			return nil
		}
		body, err := l.verifyRunResult(*f.Result, from)
		if err == nil && (body.Run != f.Run || body.Runner != e.view.RunnerPeer) {
			err = fmt.Errorf("the result is for run %s by %s", body.Run, body.Runner)
		}
		if err != nil {
			e.view.State, e.view.Error = RunFailed, "its result was refused: "+err.Error()
			b.notifyLocked()
			b.mu.Unlock()
			return fmt.Errorf("sent a run result that was refused: %w", err)
		}
		e.signed = f.Result
		e.view.State = RunDone
		e.view.Result = &RunResult{Exit: body.Exit, Reason: body.Reason, Stage: body.Stage, WallMS: body.WallMS, CompileMS: body.CompileMS,
			CPUMS: body.CPUMS, PeakMemory: body.PeakMemory, Output: body.Output, Ended: body.At}
		e.view.Incomplete = e.gap || hex.EncodeToString(e.digest.Sum(nil)) != body.OutputDigest
		store = e.stored()
	case frameFailed:
		if e == nil || e.runner != from || e.view.State != RunRunning {
			b.mu.Unlock()
			return nil
		}
		e.view.State, e.view.Error = RunFailed, oneLineText(f.Error, 300)
		store = e.stored()
	default:
		b.mu.Unlock()
		return fmt.Errorf("unknown run frame %q", f.Type)
	}
	b.notifyLocked()
	b.mu.Unlock()
	if store != nil {
		l.wg.Go(func() {
			if err := l.n.db.PutRun(*store); err != nil {
				l.log.Error("saving a run", "run", store.ID, "err", err)
			}
		})
	}
	return nil
}

// failRun marks a run that this node followed as failed, when its runner's
// stream ended before its result.
func (l *live) failRun(id string, runner peer.ID, why string) {
	b := l.runs
	b.mu.Lock()
	e := b.runs[id]
	if e == nil || e.runner != runner || e.view.State != RunRunning {
		b.mu.Unlock()
		return
	}
	e.view.State, e.view.Error = RunFailed, why
	st := e.stored()
	b.notifyLocked()
	b.mu.Unlock()
	l.wg.Go(func() { l.n.db.PutRun(*st) })
}

// stored returns what the store keeps of an ended run. Call with the
// board's lock held.
func (e *runEntry) stored() *store.Run {
	v := e.view
	var out []RunChunk
	left := maxRunOutputStored
	for _, c := range v.Output {
		if left <= 0 {
			v.Incomplete = true
			break
		}
		if len(c.Data) > left {
			c.Data = c.Data[:left]
			v.Incomplete = true
		}
		left -= len(c.Data)
		out = append(out, c)
	}
	v.Output = out
	view, _ := json.Marshal(v)
	var signed json.RawMessage
	if e.signed != nil {
		signed, _ = json.Marshal(e.signed)
	}
	return &store.Run{Session: v.Session, ID: v.ID, Started: v.Started, View: view, Signed: signed}
}

// runList returns the board's runs, oldest first, with their output.
func (l *live) runList() []CodeRun {
	b := l.runs
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]CodeRun, 0, len(b.order))
	for _, id := range b.order {
		if e := b.runs[id]; e != nil {
			v := e.view
			v.Output = slices.Clone(v.Output)
			out = append(out, v)
		}
	}
	return out
}

// runCursor is how far a client has followed the board.
type runCursor struct {
	seen map[string]runSeen
}

type runSeen struct {
	chunks int // output chunks passed on (the last one maybe in part)
	bytes  int // of the last chunk passed on
	ended  bool
}

// runEvents returns what happened on the board since cur, and moves cur
// on. only, if set, limits it to one run.
func (l *live) runEvents(cur *runCursor, only string) []RunEvent {
	if cur.seen == nil {
		cur.seen = map[string]runSeen{}
	}
	b := l.runs
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []RunEvent
	for _, id := range b.order {
		e := b.runs[id]
		if e == nil || only != "" && id != only {
			continue
		}
		s, known := cur.seen[id]
		if s.ended {
			continue
		}
		if !known {
			v := e.view
			v.Output = nil
			out = append(out, RunEvent{Type: frameStart, ID: id, Run: &v})
		}
		for i := s.chunks; i < len(e.view.Output); i++ {
			c := e.view.Output[i]
			from := 0
			if i == s.chunks {
				from = s.bytes
			}
			if from < len(c.Data) {
				out = append(out, RunEvent{Type: frameOutput, ID: id, Stream: c.Stream, Data: c.Data[from:]})
			}
		}
		if n := len(e.view.Output); n > 0 {
			s.chunks, s.bytes = n-1, len(e.view.Output[n-1].Data)
		}
		if e.view.State != RunRunning {
			v := e.view
			v.Output = nil
			out = append(out, RunEvent{Type: "end", ID: id, Run: &v})
			s.ended = true
		}
		cur.seen[id] = s
	}
	return out
}

// Run results are signed as control records are: by the company key on
// the company node, by the node key with the team credential attached on
// an interviewer's.

func runResultMessage(body []byte) []byte {
	return append([]byte("parley/1 run result\x00"), body...)
}

// signRunResult signs a result as this node.
func (l *live) signRunResult(body runResultBody) (signedRunResult, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return signedRunResult{}, err
	}
	if l.role == RoleCompany {
		return signedRunResult{Body: b, Sig: ed25519.Sign(l.n.company, runResultMessage(b))}, nil
	}
	sig, err := l.n.key.Sign(runResultMessage(b))
	if err != nil {
		return signedRunResult{}, err
	}
	return signedRunResult{Body: b, Sig: sig, Credential: invite.PublicCredential(l.cred)}, nil
}

// verifyRunResult checks a signed result: a runner the session trusts (the
// company node, or an interviewer with a credential valid now) signed it,
// for this session. A candidate's node signs nothing that holds.
func (l *live) verifyRunResult(sr signedRunResult, from peer.ID) (runResultBody, error) {
	var body runResultBody
	if len(sr.Body) > maxRunResult {
		return body, fmt.Errorf("result of %d bytes", len(sr.Body))
	}
	if err := decodeStrict(sr.Body, &body); err != nil {
		return body, err
	}
	if body.V != 1 || body.Session != l.inv.SessionID {
		return body, fmt.Errorf("the result is for session %q (version %d)", body.Session, body.V)
	}
	if sr.Credential == "" {
		if !ed25519.Verify(l.inv.CompanyKey, runResultMessage(sr.Body), sr.Sig) {
			return body, fmt.Errorf("bad company signature")
		}
		return body, nil
	}
	runner, err := peer.Decode(body.Runner)
	if err != nil {
		return body, fmt.Errorf("runner: %v", err)
	}
	c, err := invite.ParseCredential(sr.Credential)
	if err != nil {
		return body, err
	}
	l.mu.Lock()
	err = c.Check(invite.CredentialCheck{Company: l.inv.CompanyKey, Peer: runner, Now: l.n.now(), Revoked: l.revokedLocked})
	l.mu.Unlock()
	if err != nil {
		return body, fmt.Errorf("the runner is not an interviewer: %w", err)
	}
	pub, err := runner.ExtractPublicKey()
	if err != nil {
		return body, err
	}
	if ok, err := pub.Verify(runResultMessage(sr.Body), sr.Sig); err != nil || !ok {
		return body, fmt.Errorf("bad signature")
	}
	return body, nil
}

// oneLineText keeps at most n bytes of s, on one line: text from a peer
// shown to people.
func oneLineText(s string, n int) string {
	s = strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}
