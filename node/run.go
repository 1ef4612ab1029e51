package node

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
	"parley/node/store"
	"parley/runner"
)

// Running code. A runner is a node started with a runner.Runner
// (`parley up --runner`) that takes part in a session as the company node
// or as an interviewer: it announces its languages in its presence, and
// runs the session's files for any participant over RunProtocol. A
// candidate's node never runs code for others, and nothing it says about a
// run is believed: the runner streams the output to everyone in the
// session who may see the code (the lobby gate), and ends with a result it
// signs as control records are signed, which every node checks. An
// interviewer can switch running off for the session (a "run" record).
// RunProtocol carries run requests to a runner, and a run's output from
// its runner to the other participants.
//
// Every stream opens with a runRequest from the side that opened it; Op
// says what follows. "run": a participant asks the runner to run; the
// runner answers with runFrames: start, output..., end (or refused, or
// failed). "stop": a participant asks the runner to stop a run; one frame
// answers. "watch": the runner, having opened the stream, sends a run's
// frames to a participant.
const RunProtocol = "/parley/run/1"

// ErrRunOff is returned when running code is switched off in a session.
var ErrRunOff = errors.New("running code is switched off in this session")

// ErrNoRunner is returned when no runner the session trusts offers the
// language.
var ErrNoRunner = errors.New("no runner")

// Bounds of the run protocol.
const (
	maxRunRequest = runner.MaxJobBytes + runner.MaxStdin*2 + 64<<10 // files, stdin in base64, the rest
	maxRunFrame   = runner.MaxChunk*2 + 16<<10
	maxRunResult  = 4 << 10
	runOpenWait   = 10 * time.Second
	runWriteWait  = 10 * time.Second
)

// Run frame types.
const (
	frameStart   = "start"
	frameOutput  = "output"
	frameEnd     = "end"
	frameFailed  = "failed"  // the runner could not run it; no result
	frameRefused = "refused" // the runner will not run it
	frameStopped = "stopped" // answer to a stop
)

type runRequest struct {
	V     int               `json:"v"`
	Op    string            `json:"op"` // run, stop, watch
	Tag   string            `json:"tag"`
	Run   string            `json:"run"`
	Lang  string            `json:"lang,omitempty"`
	Main  string            `json:"main,omitempty"`
	Files map[string]string `json:"files,omitempty"`
	Stdin []byte            `json:"stdin,omitempty"`
	Heads []string          `json:"heads,omitempty"`
}

type runFrame struct {
	Type   string           `json:"type"`
	Run    string           `json:"run"`
	Start  *runStart        `json:"start,omitempty"`
	Seq    int              `json:"seq,omitempty"`
	Stream string           `json:"stream,omitempty"`
	Data   []byte           `json:"data,omitempty"`
	Result *signedRunResult `json:"result,omitempty"`
	Error  string           `json:"error,omitempty"`
}

type runStart struct {
	Session    string    `json:"session"`
	Lang       string    `json:"lang"`
	Main       string    `json:"main"`
	Heads      []string  `json:"heads,omitempty"`
	Command    []string  `json:"command"`
	By         string    `json:"by"`
	ByName     string    `json:"by_name"`
	Runner     string    `json:"runner"`
	RunnerName string    `json:"runner_name"`
	At         time.Time `json:"at"`
}

// runResultBody is what a runner signs at the end of a run.
type runResultBody struct {
	V       int      `json:"v"`
	Session string   `json:"session"`
	Run     string   `json:"run"`
	Heads   []string `json:"heads,omitempty"`
	Lang    string   `json:"lang"`
	Main    string   `json:"main"`
	// Files and Stdin are hex SHA-256 digests of what ran (see jobDigest).
	Files        string    `json:"files"`
	Stdin        string    `json:"stdin"`
	Exit         int       `json:"exit"`
	Reason       string    `json:"reason,omitempty"`
	Stage        string    `json:"stage"`
	WallMS       int64     `json:"wall_ms"`
	CompileMS    int64     `json:"compile_ms,omitempty"`
	CPUMS        int64     `json:"cpu_ms"`
	PeakMemory   int64     `json:"peak_memory"`
	Output       int64     `json:"output"`
	OutputDigest string    `json:"output_digest"` // see digestChunk
	By           string    `json:"by"`
	Runner       string    `json:"runner"`
	RunnerName   string    `json:"runner_name"`
	At           time.Time `json:"at"`
}

type signedRunResult struct {
	Body       []byte `json:"body"`
	Sig        []byte `json:"sig"`
	Credential string `json:"credential,omitempty"` // an interviewer runner's; absent when the company key signed
}

// runnerOffer is what a runner announces in its presence.
type runnerOffer struct {
	Languages []RunLanguage `json:"languages"`
}

// RunLanguage is a language a runner offers.
type RunLanguage struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	Main  string `json:"main"`
}

// Execution is, in a session's view, whether and where code can run.
type Execution struct {
	// Off is set when an interviewer switched running code off.
	Off   bool   `json:"off,omitempty"`
	OffBy string `json:"off_by,omitempty"`
	// Runners are the runners present that the session trusts, the one
	// tried first first.
	Runners []RunnerInfo `json:"runners"`
}

// RunnerInfo is a runner present in a session.
type RunnerInfo struct {
	Peer      string        `json:"peer"`
	Name      string        `json:"name"`
	Role      string        `json:"role"`
	Languages []RunLanguage `json:"languages"`
}

// RunRequest asks for a run of a session's code as it is now.
type RunRequest struct {
	// Main is the file to run. If empty, the session's active file (or
	// its only one).
	Main string `json:"main,omitempty"`
	// Lang is its language. If empty, the session's language for the
	// file, else one guessed from its name.
	Lang string `json:"lang,omitempty"`
	// Stdin is the program's input.
	Stdin string `json:"stdin,omitempty"`
}

// offer returns what this node offers as a runner in a session, or nil.
func (l *live) offer() *runnerOffer {
	rn := l.n.cfg.Runner
	if rn == nil || l.role == RoleCandidate {
		return nil
	}
	o := &runnerOffer{}
	for _, lang := range rn.Languages() {
		o.Languages = append(o.Languages, RunLanguage{Name: lang.Name, Title: lang.Title, Main: lang.Main})
	}
	return o
}

// noteOffer records what a peer's presence says it offers. Only the company
// node's and interviewers' offers are kept: a candidate runs nothing for
// others.
func (l *live) noteOffer(from peer.ID, o *runnerOffer) {
	if o != nil && (len(o.Languages) > 32 || slices.ContainsFunc(o.Languages, func(x RunLanguage) bool {
		return len(x.Name) > 32 || len(x.Title) > 64 || len(x.Main) > 64
	})) {
		o = nil
	}
	if r := l.roleOfPeer(from); r != RoleCompany && r != RoleInterviewer {
		o = nil
	}
	b := l.runs
	b.mu.Lock()
	old, had := b.offers[from]
	switch {
	case o == nil && had:
		delete(b.offers, from)
	case o != nil && (!had || !slices.Equal(old.Languages, o.Languages)):
		b.offers[from] = *o
	default:
		b.mu.Unlock()
		return
	}
	b.notifyLocked()
	b.mu.Unlock()
	// The session's view lists the runners.
	l.mu.Lock()
	l.notify()
	l.mu.Unlock()
}

// runnersFor returns the runners present that offer lang, the company
// node first, then interviewers by peer ID; this node among them if it is
// one.
func (l *live) runnersFor(lang string) []RunnerInfo {
	var out []RunnerInfo
	for _, r := range l.runnerList() {
		if lang == "" || slices.ContainsFunc(r.Languages, func(x RunLanguage) bool { return x.Name == lang }) {
			out = append(out, r)
		}
	}
	return out
}

// runnerList returns every runner present, in the order they are tried.
func (l *live) runnerList() []RunnerInfo {
	var out []RunnerInfo
	if o := l.offer(); o != nil {
		out = append(out, RunnerInfo{Peer: l.n.id.String(), Name: l.name, Role: l.role, Languages: o.Languages})
	}
	l.runs.mu.Lock()
	offers := maps.Clone(l.runs.offers)
	l.runs.mu.Unlock()
	l.mu.Lock()
	for id, o := range offers {
		if p, ok := l.peers[id]; ok && (p.role == RoleCompany || p.role == RoleInterviewer) {
			name := p.name
			if p.role == RoleCompany {
				name = "the company's runner"
			}
			out = append(out, RunnerInfo{Peer: id.String(), Name: name, Role: p.role, Languages: o.Languages})
		}
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b RunnerInfo) int {
		if (a.Role == RoleCompany) != (b.Role == RoleCompany) {
			if a.Role == RoleCompany {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Peer, b.Peer)
	})
	return out
}

// execution returns whether and where code can run, for the session view.
func (l *live) execution() *Execution {
	e := &Execution{Runners: l.runnerList()}
	l.mu.Lock()
	if r := l.state.run; r != nil && r.Off {
		e.Off, e.OffBy = true, r.ByName
	}
	l.mu.Unlock()
	return e
}

// mayRun says why a participant may not run code now, or nil.
func (l *live) mayRun(id peer.ID, role string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.state.end != nil:
		return fmt.Errorf("%s: %w", endedMessage(l.state.end.record), ErrSessionEnded)
	case l.state.run != nil && l.state.run.Off:
		return fmt.Errorf("%s switched running code off for this interview: %w", l.state.run.ByName, ErrRunOff)
	case role == RoleCandidate && (l.state.start == nil || l.state.seatHolder() != id):
		return fmt.Errorf("the candidate can run code once the interview has started")
	}
	return nil
}

// newRunID makes a run ID: its start time, then random bytes, in hex (32
// digits), so that IDs sort by time.
func newRunID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

func validRunID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// langByExt guesses a file's language from its name.
var langByExt = map[string]string{
	".py": "python", ".js": "javascript", ".mjs": "javascript", ".go": "go", ".c": "c",
	".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".java": "java",
}

// StartRun runs a session's code as it is now on a runner the session
// trusts, and returns once a runner took it: the company node's first,
// then interviewers'; one that cannot be reached or refuses is passed
// over. Its output and end reach everyone in the session (WatchRun, Runs).
func (n *Node) StartRun(ctx context.Context, id string, req RunRequest) (CodeRun, error) {
	l, err := n.lookupLive(id)
	if err != nil {
		return CodeRun{}, err
	}
	if err := l.mayRun(n.id, l.role); err != nil {
		return CodeRun{}, err
	}
	if len(req.Stdin) > runner.MaxStdin {
		return CodeRun{}, fmt.Errorf("input of %d bytes is over the limit of %d", len(req.Stdin), runner.MaxStdin)
	}
	var v crdt.View
	var heads []string
	err = n.withDoc(id, crdt.Shared, func(d *sessionDoc, _ store.Session) error {
		var err error
		if v, err = n.worker.View(d.id); err != nil {
			return n.workerFailed(err)
		}
		if heads, err = n.worker.Heads(d.id); err != nil {
			return n.workerFailed(err)
		}
		return nil
	})
	if err != nil {
		return CodeRun{}, err
	}
	main := cmpOrString(req.Main, v.Active)
	if main == "" && len(v.Files) == 1 {
		for name := range v.Files {
			main = name
		}
	}
	if _, ok := v.Files[main]; !ok || main == "" {
		return CodeRun{}, fmt.Errorf("the session has no file %q to run (its files: %s)", main, strings.Join(slices.Sorted(maps.Keys(v.Files)), ", "))
	}
	lang := cmpOrString(req.Lang, cmpOrString(v.Languages[main], langByExt[path.Ext(main)]))
	if lang == "" {
		return CodeRun{}, fmt.Errorf("which language is %s in? The session does not say; choose one", main)
	}
	if lang == "cpp" || lang == "c++" {
		lang = "cpp"
	}
	runners := l.runnersFor(lang)
	if len(runners) == 0 {
		return CodeRun{}, fmt.Errorf("no runner in this session offers %s (a runner is the company node or an interviewer's node started with `parley up --runner`): %w", lang, ErrNoRunner)
	}
	rq := runRequest{V: 1, Op: "run", Tag: l.tag, Run: newRunID(n.now()), Lang: lang, Main: main, Files: v.Files, Stdin: []byte(req.Stdin), Heads: heads}
	var errs []error
	for _, r := range runners {
		if r.Peer == n.id.String() {
			if err := l.checkRunRequest(rq); err != nil {
				return CodeRun{}, err
			}
			started := make(chan error, 1)
			l.wg.Go(func() { l.execute(rq, n.id, l.name, nil, started) })
			if err := <-started; err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
				continue
			}
			return l.runView(rq.Run), nil
		}
		pid, _ := peer.Decode(r.Peer)
		if err := l.requestRun(ctx, pid, rq); err != nil {
			l.log.Info("runner did not take the run", "runner", r.Peer, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
			continue
		}
		return l.runView(rq.Run), nil
	}
	return CodeRun{}, fmt.Errorf("no runner took the run: %w", errors.Join(errs...))
}

func cmpOrString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// runView returns a run on the board.
func (l *live) runView(id string) CodeRun {
	l.runs.mu.Lock()
	defer l.runs.mu.Unlock()
	if e := l.runs.runs[id]; e != nil {
		v := e.view
		v.Output = slices.Clone(v.Output)
		return v
	}
	return CodeRun{ID: id, Session: l.inv.SessionID, State: RunRunning}
}

// requestRun asks runner to run rq, and once it took the run, follows its
// frames onto the board in the background.
func (l *live) requestRun(ctx context.Context, runner peer.ID, rq runRequest) error {
	ctx, cancel := context.WithTimeout(ctx, runOpenWait)
	defer cancel()
	s, err := l.n.p2p.host.NewStream(network.WithAllowLimitedConn(ctx, "run"), runner, RunProtocol)
	if err != nil {
		return err
	}
	s.SetDeadline(time.Now().Add(runOpenWait))
	if err := writeFrame(s, rq); err != nil {
		s.Reset()
		return err
	}
	r := bufio.NewReaderSize(s, 64<<10)
	var first runFrame
	if err := readFrame(r, maxRunFrame, &first); err != nil {
		s.Reset()
		return err
	}
	if first.Type == frameRefused {
		s.Close()
		return errors.New(oneLineText(first.Error, 300))
	}
	if first.Type != frameStart || first.Run != rq.Run {
		s.Reset()
		return fmt.Errorf("the runner answered %q", first.Type)
	}
	if err := l.applyRunFrame(runner, first); err != nil {
		s.Reset()
		return err
	}
	s.SetDeadline(time.Time{})
	l.wg.Go(func() { l.followRun(s, r, runner, rq.Run) })
	return nil
}

// followRun reads a run's frames from its runner until its end.
func (l *live) followRun(s network.Stream, r *bufio.Reader, runner peer.ID, id string) {
	defer s.Close()
	stop := context.AfterFunc(l.ctx, func() { s.Reset() })
	defer stop()
	for {
		var f runFrame
		if err := readFrame(r, maxRunFrame, &f); err != nil {
			name := runner.ShortString()
			if p := l.participant(runner); p != nil {
				name = p.name
			}
			l.failRun(id, runner, fmt.Sprintf("the runner (%s) stopped answering mid-run: %v", name, err))
			return
		}
		if f.Run != id {
			s.Reset()
			l.failRun(id, runner, "the runner sent another run's output")
			return
		}
		if err := l.applyRunFrame(runner, f); err != nil {
			l.refuse(runner, "", err.Error())
		}
		if f.Type == frameEnd || f.Type == frameFailed {
			return
		}
	}
}

// participant returns an admitted peer, or nil.
func (l *live) participant(id peer.ID) *participant {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peers[id]
}

// StopRun stops a session's run, on whichever runner runs it.
func (n *Node) StopRun(ctx context.Context, id, runID string) error {
	l, err := n.lookupLive(id)
	if err != nil {
		return err
	}
	// The entry's fields change as its frames come: read under the lock.
	l.runs.mu.Lock()
	e := l.runs.runs[runID]
	stop := l.runs.active[runID]
	known, running := e != nil, e != nil && e.view.State == RunRunning
	var runnerPeer peer.ID
	if e != nil {
		runnerPeer = e.runner
	}
	l.runs.mu.Unlock()
	switch {
	case !known:
		return fmt.Errorf("session %s has no run %s", id, runID)
	case !running:
		return nil
	case stop != nil:
		stop()
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, runOpenWait)
	defer cancel()
	s, err := n.p2p.host.NewStream(network.WithAllowLimitedConn(ctx, "run"), runnerPeer, RunProtocol)
	if err != nil {
		return fmt.Errorf("the runner cannot be reached: %w", err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(runOpenWait))
	if err := writeFrame(s, runRequest{V: 1, Op: "stop", Tag: l.tag, Run: runID}); err != nil {
		return err
	}
	var f runFrame
	if err := readFrame(bufio.NewReader(s), maxRunFrame, &f); err != nil {
		return err
	}
	if f.Type != frameStopped {
		return errors.New(oneLineText(f.Error, 300))
	}
	return nil
}

// WatchRun passes a run's events to events as they come, from its start
// (output so far included) to its end, and returns it ended. If ctx ends
// first, it returns the run as it is, with ctx's error.
func (n *Node) WatchRun(ctx context.Context, id, runID string, events func(RunEvent)) (CodeRun, error) {
	l, err := n.lookupLive(id)
	if err != nil {
		return CodeRun{}, err
	}
	var cur runCursor
	for {
		changed := l.runs.wait()
		for _, ev := range l.runEvents(&cur, runID) {
			if events != nil {
				events(ev)
			}
			if ev.Type == frameEnd {
				return *ev.Run, nil
			}
		}
		if _, ok := cur.seen[runID]; !ok && l.runView(runID).Started.IsZero() {
			return CodeRun{}, fmt.Errorf("session %s has no run %s", id, runID)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return l.runView(runID), ctx.Err()
		case <-l.ctx.Done():
			return l.runView(runID), fmt.Errorf("this node left the session: %w", ErrNotJoined)
		}
	}
}

// Runs returns a session's runs, oldest first: those this node saw end
// (from its store, also after the session) and those going.
func (n *Node) Runs(ctx context.Context, id string) ([]CodeRun, error) {
	r, err := n.lookupSession(id)
	if err != nil {
		return nil, err
	}
	stored, err := n.db.Runs(r.ID)
	if err != nil {
		return nil, err
	}
	byID := map[string]CodeRun{}
	for _, s := range stored {
		var v CodeRun
		if json.Unmarshal(s.View, &v) == nil {
			byID[v.ID] = v
		}
	}
	if l, err := n.lookupLive(r.ID); err == nil {
		for _, v := range l.runList() {
			byID[v.ID] = v
		}
	}
	out := slices.Collect(maps.Values(byID))
	slices.SortFunc(out, func(a, b CodeRun) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// SetRunning switches running code on or off for a session, for everyone:
// an interviewer's (or the company node's) signed record.
func (n *Node) SetRunning(ctx context.Context, id string, on bool) (Session, error) {
	return n.act(ctx, id, record{Kind: recordRun, Session: id, Off: !on})
}

// RunCode starts a run of a session's code (StartRun) and follows it to its
// end (WatchRun). When ctx ends first, it stops the run.
func (n *Node) RunCode(ctx context.Context, id string, req RunRequest, events func(RunEvent)) (CodeRun, error) {
	r, err := n.StartRun(ctx, id, req)
	if err != nil {
		return r, err
	}
	v, err := n.WatchRun(ctx, id, r.ID, events)
	if ctx.Err() != nil && v.State == RunRunning {
		sctx, cancel := context.WithTimeout(context.Background(), runOpenWait)
		defer cancel()
		if err := n.StopRun(sctx, id, r.ID); err != nil {
			n.log.Info("stopping a run", "run", r.ID, "err", err)
		}
	}
	return v, err
}

// RunsChanged returns a channel closed at the next change of the session's
// runs: one started, printed, ended.
func (f *Follower) RunsChanged() <-chan struct{} { return f.l.runs.wait() }

// RunEvents returns what happened to the session's runs since the last
// call; the first call starts from the runs this node keeps for the
// session.
func (f *Follower) RunEvents() []RunEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.l.runEvents(&f.runs, "")
}

// StopRun stops a run of the session (see Node.StopRun).
func (f *Follower) StopRun(ctx context.Context, runID string) error {
	return f.n.StopRun(ctx, f.l.inv.SessionID, runID)
}

// StartRun starts a run of the session's code as this node's user (see
// Node.StartRun).
func (f *Follower) StartRun(ctx context.Context, req RunRequest) (CodeRun, error) {
	return f.n.StartRun(ctx, f.l.inv.SessionID, req)
}

// TimelineRun is a run in a session's timeline.
type TimelineRun struct {
	ID     string     `json:"id"`
	Runner string     `json:"runner"`
	State  string     `json:"state"`
	Result *RunResult `json:"result,omitempty"`
	Error  string     `json:"error,omitempty"`
}

// runEntries are a session's runs as timeline entries, at their starts.
func (n *Node) runEntries(ctx context.Context, id string) []TimelineEntry {
	runs, err := n.Runs(ctx, id)
	if err != nil {
		return nil
	}
	var out []TimelineEntry
	for _, r := range runs {
		out = append(out, TimelineEntry{Time: r.Started, Participant: r.By, Peer: r.ByPeer, File: r.Main,
			Run: &TimelineRun{ID: r.ID, Runner: r.Runner, State: r.State, Result: r.Result, Error: r.Error}})
	}
	return out
}
