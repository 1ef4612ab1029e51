package node

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/runner"
)

// The runner's side of RunProtocol (run.go): it checks a request, runs it
// in its sandbox, and sends the run's frames to the requester and to every
// other participant who may see the code; it stops a run on request.

// handleRun answers a stream of the run protocol.
func (n *Node) handleRun(s network.Stream) {
	remote := s.Conn().RemotePeer()
	r := bufio.NewReaderSize(s, 64<<10)
	s.SetReadDeadline(time.Now().Add(runOpenWait))
	var rq runRequest
	if err := readFrame(r, maxRunRequest, &rq); err != nil || rq.V != 1 || !validRunID(rq.Run) {
		s.Reset()
		return
	}
	s.SetReadDeadline(time.Time{})
	n.mu.Lock()
	l := n.byTag[rq.Tag]
	n.mu.Unlock()
	if l == nil || !l.waitAdmitted(remote, 5*time.Second) || !l.enter() {
		s.Reset()
		return
	}
	defer l.wg.Done()
	switch rq.Op {
	case "run":
		l.serveRun(s, remote, rq)
	case "stop":
		l.serveStop(s, remote, rq)
	case "watch":
		l.serveWatch(s, r, remote, rq)
	default:
		s.Reset()
	}
}

// serveRun runs a participant's request, if this node runs code for the
// session, answering on s.
func (l *live) serveRun(s network.Stream, from peer.ID, rq runRequest) {
	defer s.Close()
	refuse := func(format string, a ...any) {
		s.SetWriteDeadline(time.Now().Add(runWriteWait))
		writeFrame(s, runFrame{Type: frameRefused, Run: rq.Run, Error: fmt.Sprintf(format, a...)})
	}
	p := l.participant(from)
	switch {
	case l.n.cfg.Runner == nil:
		refuse("this node runs no code (it was started without --runner)")
		return
	case l.role == RoleCandidate:
		refuse("a candidate's node runs no code for others")
		return
	case p == nil:
		refuse("you are not in this session")
		return
	}
	if err := l.mayRun(from, p.role); err != nil {
		refuse("%v", err)
		return
	}
	if err := l.checkRunRequest(rq); err != nil {
		refuse("%v", err)
		return
	}
	reply := func(f runFrame) bool {
		s.SetWriteDeadline(time.Now().Add(runWriteWait))
		return writeFrame(s, f) == nil
	}
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() { // owned: serveRun waits for it below
		defer close(done)
		l.execute(rq, from, p.name, reply, started)
	}()
	if err := <-started; err != nil {
		refuse("%v", err)
	}
	<-done
}

// checkRunRequest checks a request's shape before it runs.
func (l *live) checkRunRequest(rq runRequest) error {
	if len(rq.Heads) > maxEndHeads || slices.ContainsFunc(rq.Heads, func(h string) bool { return len(h) != 64 }) {
		return fmt.Errorf("bad document heads")
	}
	if _, ok := l.n.cfg.Runner.Language(rq.Lang); !ok {
		return fmt.Errorf("this runner does not offer %q", rq.Lang)
	}
	l.runs.mu.Lock()
	defer l.runs.mu.Unlock()
	if len(l.runs.active) > 0 {
		return fmt.Errorf("a run of this session is going: stop it first")
	}
	if _, ok := l.runs.runs[rq.Run]; ok {
		return fmt.Errorf("run %s exists", rq.Run)
	}
	return nil
}

// execute runs rq on this node for the participant by (named byName),
// sends its frames to reply (the requester's stream, nil when this node
// asked) and to everyone else who may see the code, and puts them on the
// board. It says on started whether the run started.
func (l *live) execute(rq runRequest, by peer.ID, byName string, reply func(runFrame) bool, started chan<- error) {
	rn := l.n.cfg.Runner
	job := runner.Job{Lang: rq.Lang, Files: rq.Files, Main: rq.Main, Stdin: rq.Stdin}
	cmds, err := rn.Commands(job)
	if err != nil {
		started <- err
		return
	}
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	b := l.runs
	b.mu.Lock()
	if len(b.active) > 0 {
		b.mu.Unlock()
		started <- fmt.Errorf("a run of this session is going: stop it first")
		return
	}
	b.active[rq.Run] = cancel
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.active, rq.Run)
		b.mu.Unlock()
	}()

	st := &runStart{Session: l.inv.SessionID, Lang: rq.Lang, Main: rq.Main, Heads: rq.Heads, Command: cmds,
		By: by.String(), ByName: byName, Runner: l.n.id.String(), RunnerName: l.name, At: l.n.now().UTC()}
	if l.role == RoleCompany {
		st.RunnerName = "the company's runner"
	}
	fan := l.fanout(rq.Run, by)
	defer fan.close()
	send := func(f runFrame) {
		if err := l.applyRunFrame(l.n.id, f); err != nil {
			l.log.Error("run frame", "err", err)
		}
		fan.send(f)
		if reply != nil && !reply(f) {
			reply = nil // the requester left; the others still watch
		}
	}
	send(runFrame{Type: frameStart, Run: rq.Run, Start: st})
	started <- nil
	l.log.Info("running code", "run", rq.Run, "lang", rq.Lang, "by", byName)

	digest := newOutputDigest()
	seq := 0
	res, err := rn.Run(ctx, job, func(o runner.Output) {
		seq++
		data := slices.Clone(o.Data)
		digestChunk(digest, o.Stream.String(), data)
		send(runFrame{Type: frameOutput, Run: rq.Run, Seq: seq, Stream: o.Stream.String(), Data: data})
	})
	if err != nil {
		l.log.Warn("a run failed", "run", rq.Run, "err", err)
		send(runFrame{Type: frameFailed, Run: rq.Run, Error: err.Error()})
		return
	}
	body := runResultBody{
		V: 1, Session: l.inv.SessionID, Run: rq.Run, Heads: rq.Heads, Lang: rq.Lang, Main: rq.Main,
		Files: jobDigest(rq.Files), Stdin: hexSum(rq.Stdin),
		Exit: res.Exit, Reason: string(res.Reason), Stage: res.Stage,
		WallMS: res.Wall.Milliseconds(), CompileMS: res.Compile.Milliseconds(), CPUMS: res.CPU.Milliseconds(),
		PeakMemory: res.PeakMemory, Output: res.Output, OutputDigest: hex.EncodeToString(digest.Sum(nil)),
		By: by.String(), Runner: l.n.id.String(), RunnerName: st.RunnerName, At: l.n.now().UTC(),
	}
	signed, err := l.signRunResult(body)
	if err != nil {
		send(runFrame{Type: frameFailed, Run: rq.Run, Error: "signing the result: " + err.Error()})
		return
	}
	send(runFrame{Type: frameEnd, Run: rq.Run, Result: &signed})
}

// jobDigest is the hex SHA-256 of a job's files: name, NUL, length, NUL,
// text, by name.
func jobDigest(files map[string]string) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s\x00%d\x00%s", name, len(files[name]), files[name])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fanout sends a run's frames to the participants who may see the code,
// but the requester (who has them on its own stream): one stream each,
// opened by the runner.
type fanout struct {
	chans []chan runFrame
}

func (l *live) fanout(id string, skip peer.ID) *fanout {
	f := &fanout{}
	l.mu.Lock()
	ids := slices.Collect(maps.Keys(l.peers))
	l.mu.Unlock()
	for _, p := range ids {
		if p == skip || !l.mayReceiveContent(p) {
			continue
		}
		ch := make(chan runFrame, 256)
		f.chans = append(f.chans, ch)
		l.wg.Go(func() { l.pushRun(p, id, ch) })
	}
	return f
}

// send passes a frame on to every watcher. A watcher too slow to keep up
// misses output frames (its result shows the output incomplete), never the
// end.
func (f *fanout) send(fr runFrame) {
	for _, ch := range f.chans {
		if fr.Type == frameOutput {
			select {
			case ch <- fr:
			default:
			}
			continue
		}
		select {
		case ch <- fr:
		case <-time.After(runWriteWait):
		}
	}
}

func (f *fanout) close() {
	for _, ch := range f.chans {
		close(ch)
	}
}

// pushRun sends a run's frames to one participant.
func (l *live) pushRun(to peer.ID, id string, frames <-chan runFrame) {
	defer func() {
		for range frames { // let the sender go on
		}
	}()
	ctx, cancel := context.WithTimeout(l.ctx, runOpenWait)
	s, err := l.n.p2p.host.NewStream(network.WithAllowLimitedConn(ctx, "run"), to, RunProtocol)
	cancel()
	if err != nil {
		l.log.Debug("run output not sent", "peer", to, "err", err)
		return
	}
	defer s.Close()
	s.SetWriteDeadline(time.Now().Add(runWriteWait))
	if writeFrame(s, runRequest{V: 1, Op: "watch", Tag: l.tag, Run: id}) != nil {
		s.Reset()
		return
	}
	for f := range frames {
		if !l.mayReceiveContent(to) { // the lobby gate, at every frame
			s.Reset()
			return
		}
		s.SetWriteDeadline(time.Now().Add(runWriteWait))
		if writeFrame(s, f) != nil {
			s.Reset()
			return
		}
	}
}

// serveWatch takes a run's frames from its runner.
func (l *live) serveWatch(s network.Stream, r *bufio.Reader, from peer.ID, rq runRequest) {
	if role := l.roleOfPeer(from); role != RoleCompany && role != RoleInterviewer {
		l.refuse(from, "", "sent the output of a run, but only the company node and interviewers run code")
		s.Reset()
		return
	}
	l.followRun(s, r, from, rq.Run)
}

// serveStop stops a run this node executes, for any participant.
func (l *live) serveStop(s network.Stream, from peer.ID, rq runRequest) {
	defer s.Close()
	l.runs.mu.Lock()
	stop := l.runs.active[rq.Run]
	l.runs.mu.Unlock()
	f := runFrame{Type: frameStopped, Run: rq.Run}
	if stop != nil {
		l.log.Info("run stopped", "run", rq.Run, "by", from)
		stop()
	}
	s.SetWriteDeadline(time.Now().Add(runWriteWait))
	writeFrame(s, f)
}
