package crdt

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// WorkerArg is the hidden subcommand that makes the parley binary a worker.
const WorkerArg = "__crdt-worker"

// ErrWorkerDied is returned when the worker process died (or overran its
// deadline and was killed) serving a request: what the request carried may
// be poison. The Worker starts afresh on the next call; the documents it
// held are gone and must be opened again.
var ErrWorkerDied = errors.New("crdt worker died")

// WorkerConfig configures a Worker. The zero value works in the parley
// binary.
type WorkerConfig struct {
	// Command makes the worker process. If nil, the worker binary beside the
	// running executable (WorkerBinary) if it was built from the same
	// source, or else the running executable with WorkerArg. Tests
	// re-execute the test binary (see TestMain).
	Command func() *exec.Cmd
	// Deadline bounds one request; a worker that overruns it is killed. If
	// zero, 30 s (a sync message for a 260k-change history takes seconds).
	Deadline time.Duration
	// Mem is the worker's address-space limit in bytes. If zero,
	// DefaultWorkerMem.
	Mem uint64
}

// Worker is the node's handle on its Automerge worker process. Calls are
// serialized: one request is in flight at a time.
type Worker struct {
	cfg WorkerConfig

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  *os.File // requests to the worker
	out    *os.File // its responses, read through stdout
	stdout *bufio.Reader
	gen    int // incremented at every start: documents belong to one
	closed bool
	stderr *tailBuffer // the end of what the worker wrote on stderr
}

// tailBuffer keeps the first line a process writes, which for a panic of
// the core names its site, and little else.
type tailBuffer struct {
	mu    sync.Mutex
	first []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.first) < 512 {
		b.first = append(b.first, p[:min(len(p), 512-len(b.first))]...)
	}
	return len(p), nil
}

// cause returns the worker's last words, if any.
func (b *tailBuffer) cause() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := string(b.first)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// NewWorker returns a worker handle; the process starts on first use.
func NewWorker(cfg WorkerConfig) *Worker {
	if cfg.Deadline == 0 {
		cfg.Deadline = 30 * time.Second
	}
	if cfg.Mem == 0 {
		cfg.Mem = DefaultWorkerMem
	}
	return &Worker{cfg: cfg}
}

func (w *Worker) start() error {
	var cmd *exec.Cmd
	if w.cfg.Command != nil {
		cmd = w.cfg.Command()
	} else {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("crdt: worker: %w", err)
		}
		if own := ownWorker(exe); own != "" {
			cmd = exec.Command(own)
		} else {
			cmd = exec.Command(exe, WorkerArg)
		}
	}
	cmd.Env = append(cmd.Environ(), fmt.Sprintf("%s=%d", WorkerMemEnv, w.cfg.Mem))
	w.stderr = &tailBuffer{}
	cmd.Stderr = w.stderr
	// Pipes of our own rather than exec's: a request is written and its
	// response read by the caller, bounded by the pipes' deadlines, with
	// no goroutine, channel or timer between (each hand-off between
	// goroutines costs a wake-up, and a keystroke makes a request on
	// each node it crosses).
	inR, inW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("crdt: starting the worker: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return fmt.Errorf("crdt: starting the worker: %w", err)
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	inR.Close() // the worker's ends: its own now
	outW.Close()
	if err == nil {
		err = errors.Join(inW.SetWriteDeadline(time.Time{}), outR.SetReadDeadline(time.Time{}))
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	if err != nil {
		inW.Close()
		outR.Close()
		return fmt.Errorf("crdt: starting the worker: %w", err)
	}
	w.cmd, w.stdin, w.out, w.stdout = cmd, inW, outR, bufio.NewReaderSize(outR, 64<<10)
	w.gen++
	return nil
}

// Generation identifies the current worker process; it changes when a
// worker died and another started, which loses every open document.
func (w *Worker) Generation() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gen
}

// kill ends the worker process, waits for it, and returns what it said as
// it died. Call with w.mu held.
func (w *Worker) kill() string {
	if w.cmd == nil {
		return ""
	}
	w.cmd.Process.Kill()
	w.stdin.Close()
	w.cmd.Wait()
	w.out.Close()
	w.cmd = nil
	if c := w.stderr.cause(); c != "" {
		return " (" + c + ")"
	}
	return ""
}

// Close stops the worker.
func (w *Worker) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("crdt: worker: %w", net.ErrClosed)
	}
	w.closed = true
	if w.cmd != nil {
		w.stdin.Close()
		done := make(chan struct{})
		go func() { w.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			w.cmd.Process.Kill()
			<-done
		}
		w.out.Close()
		w.cmd = nil
	}
	return nil
}

// call sends one request and reads its response. A dead or overrunning
// worker is killed and ErrWorkerDied returned.
func (w *Worker) call(req request, blob []byte) (response, []byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return response{}, nil, fmt.Errorf("crdt: worker: %w", net.ErrClosed)
	}
	if w.cmd == nil {
		if err := w.start(); err != nil {
			return response{}, nil, err
		}
	}
	deadline := time.Now().Add(w.cfg.Deadline)
	var resp response
	err := errors.Join(w.stdin.SetWriteDeadline(deadline), w.out.SetReadDeadline(deadline))
	if err == nil {
		err = writeFrame(w.stdin, req, blob)
	}
	if err == nil {
		blob, err = readFrame(w.stdout, &resp)
	}
	if err != nil {
		cause := w.kill()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return response{}, nil, fmt.Errorf("%w: %s overran its %v deadline", ErrWorkerDied, req.Op, w.cfg.Deadline)
		}
		return response{}, nil, fmt.Errorf("%w: %s: %v%s", ErrWorkerDied, req.Op, err, cause)
	}
	if resp.Rule != nil {
		return resp, blob, resp.Rule
	}
	if resp.Err != "" {
		return resp, blob, &RequestError{Op: req.Op, Msg: resp.Err}
	}
	return resp, blob, nil
}

// RequestError is a request the worker refused: bad input it caught.
type RequestError struct {
	Op  string
	Msg string
}

func (e *RequestError) Error() string { return "crdt: " + e.Op + ": " + e.Msg }

// DocID names a document in the worker: a session's shared or private one.
func DocID(session string, kind Kind) string { return session + "/" + string(kind) }

// New makes a document's genesis in the worker, with actor for this node's
// edits.
func (w *Worker) New(id string, kind Kind, actor string) error {
	return w.NewCopy(id, id, kind, actor)
}

// NewCopy makes, under id, the genesis of the document of: a second copy of
// it, which must share its genesis to make sense of its changes.
func (w *Worker) NewCopy(id, of string, kind Kind, actor string) error {
	_, _, err := w.call(request{Op: "new", Doc: id, Of: of, Kind: kind, Actor: actor}, nil)
	return err
}

// Load opens a saved document under id; of names the document whose
// genesis it has (id itself, or the live one for a copy).
func (w *Worker) Load(id, of string, kind Kind, actor string, saved []byte) error {
	_, _, err := w.call(request{Op: "load", Doc: id, Of: of, Kind: kind, Actor: actor}, saved)
	return err
}

// Close drops a document from the worker.
func (w *Worker) CloseDoc(id string) error {
	_, _, err := w.call(request{Op: "close", Doc: id}, nil)
	return err
}

// Apply merges changes (Automerge's incremental save format, or a saved
// document) into a document. Changes whose dependencies the document lacks
// are dropped, never held back: ErrQueued says so (the rest applied), and a
// sync round fetches them in order. With a guard, the changes are judged
// first (see Guard): a broken rule is a *RuleError, and nothing is applied.
func (w *Worker) Apply(id string, changes []byte, g *Guard) (Result, error) {
	resp, gained, err := w.call(request{Op: "apply", Doc: id, Guard: g}, changes)
	if err == nil && resp.Queued {
		err = ErrQueued
	}
	return resultOf(resp, gained), err
}

// ErrQueued is returned when changes lacked dependencies and were dropped.
var ErrQueued = errors.New("crdt: changes lack dependencies; sync to fetch them")

func resultOf(resp response, gained []byte) Result {
	return Result{Gained: gained, Changed: resp.Changed, Skipped: resp.Skipped, Reset: resp.Reset, Settled: resp.Settled, LeftOut: resp.LeftOut}
}

// Lacking returns those of hashes the document does not hold.
func (w *Worker) Lacking(id string, hashes []string) ([]string, error) {
	resp, _, err := w.call(request{Op: "lacking", Doc: id, Hashes: hashes}, nil)
	return resp.Lacking, err
}

// Evict drops the changes hashes names that the document holds, and all
// that depends on them, and types its texts again as they read, as one
// change by actor (a fresh one); with filesOnly, the files' texts only
// (evict.go). It returns how many changes it dropped.
func (w *Worker) Evict(id string, hashes []string, actor string, filesOnly bool, at time.Time) (int, error) {
	resp, _, err := w.call(request{Op: "evict", Doc: id, Hashes: hashes, Actor: actor, FilesOnly: filesOnly, Time: at}, nil)
	return resp.Evicted, err
}

// Settle cuts a finished document back to the heads its end names, once
// it has them all (see Guard); it reports whether it did.
func (w *Worker) Settle(id string, g *Guard) (bool, error) {
	resp, _, err := w.call(request{Op: "settle", Doc: id, Guard: g}, nil)
	return resp.Settled, err
}

// Edit makes edits as one change, stamped at, and returns its bytes (nil
// when nothing changed).
func (w *Worker) Edit(id string, edits []Edit, at time.Time) ([]byte, error) {
	_, change, err := w.call(request{Op: "edit", Doc: id, Edits: edits, Time: at}, nil)
	return change, err
}

// Save returns the whole document, saved.
func (w *Worker) Save(id string) ([]byte, error) {
	_, b, err := w.call(request{Op: "save", Doc: id}, nil)
	return b, err
}

// SaveIncremental returns the changes since the last save of either kind.
func (w *Worker) SaveIncremental(id string) ([]byte, error) {
	_, b, err := w.call(request{Op: "saveinc", Doc: id}, nil)
	return b, err
}

// Touch makes the worker do with a document what kills it when some
// crafted input was accepted (the next incremental save, and a lookup of
// every object and value a read makes), in one request that returns none
// of it. TestTouchFindsWhatKillsLater shows that what passes it survives a
// full read, a save, a snapshot's check, a sync message and typing.
func (w *Worker) Touch(id string) error {
	_, _, err := w.call(request{Op: "touch", Doc: id}, nil)
	return err
}

// Check saves the document, loads the save and reads it: a snapshot that
// passes is good. It returns the save.
func (w *Worker) Check(id string) ([]byte, error) {
	_, b, err := w.call(request{Op: "check", Doc: id}, nil)
	return b, err
}

// HoldsBack reports whether the document holds back changes it was given
// whose dependencies have not come.
func (w *Worker) HoldsBack(id string) (bool, error) {
	resp, _, err := w.call(request{Op: "holdsback", Doc: id}, nil)
	return resp.Queued, err
}

// Heads returns the document's heads.
func (w *Worker) Heads(id string) ([]string, error) {
	resp, _, err := w.call(request{Op: "heads", Doc: id}, nil)
	return resp.Heads, err
}

// View reads the document.
func (w *Worker) View(id string) (View, error) {
	resp, _, err := w.call(request{Op: "view", Doc: id}, nil)
	if resp.View == nil {
		return View{}, err
	}
	return *resp.View, err
}

// History lists the document's changes.
func (w *Worker) History(id string) ([]ChangeInfo, error) {
	resp, _, err := w.call(request{Op: "history", Doc: id}, nil)
	return resp.History, err
}

// Replay works out the document's history for the Replay page: each change
// as patches on the files (replay.go).
func (w *Worker) Replay(id string) (Replay, error) {
	resp, _, err := w.call(request{Op: "replay", Doc: id}, nil)
	if resp.Replay == nil {
		return Replay{}, err
	}
	return *resp.Replay, err
}

// At reads the document as it was at t.
func (w *Worker) At(id string, t time.Time) (View, error) {
	resp, _, err := w.call(request{Op: "at", Doc: id, Time: t}, nil)
	if resp.View == nil {
		return View{}, err
	}
	return *resp.View, err
}

// SyncGenerate returns the next sync message for peer, or nil when there is
// nothing to say.
func (w *Worker) SyncGenerate(id, peer string) ([]byte, error) {
	_, b, err := w.call(request{Op: "syncgen", Doc: id, Peer: peer}, nil)
	return b, err
}

// SyncReceive takes a sync message from peer. As with Apply, changes
// lacking dependencies are dropped (ErrQueued), and with them every sync
// state of the document; a guard judges the message's changes first.
func (w *Worker) SyncReceive(id, peer string, msg []byte, g *Guard) (Result, error) {
	resp, gained, err := w.call(request{Op: "syncrecv", Doc: id, Peer: peer, Guard: g}, msg)
	if err == nil && resp.Queued {
		err = ErrQueued
	}
	return resultOf(resp, gained), err
}

// SyncReset forgets what the sync with peer established.
func (w *Worker) SyncReset(id, peer string) error {
	_, _, err := w.call(request{Op: "syncreset", Doc: id, Peer: peer}, nil)
	return err
}

// Replace puts a saved document in the place of an empty one (the same
// document, from a peer), dropping its sync states. A guard judges its
// changes first; when some may not be taken, the rest are applied instead.
func (w *Worker) Replace(id string, saved []byte, g *Guard) (Result, error) {
	resp, _, err := w.call(request{Op: "replace", Doc: id, Guard: g}, saved)
	return resultOf(resp, nil), err
}
