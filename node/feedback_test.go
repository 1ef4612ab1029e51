package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"parley/crdt"
	"parley/node/store"
)

func form(t testing.TB, n *Node, id string) FeedbackForm {
	t.Helper()
	f, err := n.Form(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mineState(t testing.TB, n *Node, id string) store.Mine {
	t.Helper()
	m, err := n.db.Mine(id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var goodCard = store.Scorecard{Recommendation: "yes", Ratings: map[string]int{"Problem solving": 3, "Communication": 4}, Text: "FEEDBACK-MARKER: clear thinking"}

// Two interviewers claim the recorder at once and both see the same
// winner; the other may not submit; the recorder's feedback reaches the
// company node, and a second submission is refused, by the recorder's own
// node (which knows) and by the company node (for a node that does not).
func TestFeedbackOnce(t *testing.T) {
	tm := startTeam(t, 2)
	i1, i2 := tm.interviewers[0], tm.interviewers[1]
	s := tm.create(t, NewSessions{Criteria: []string{"Problem solving", "Communication"}})
	join(t, i1, s.Link, "")
	join(t, i2, s.Link, "")
	waitRoster(t, s.ID, []string{"Interviewer 1/interviewer", "Interviewer 2/interviewer"}, i1, i2)
	ctx := context.Background()

	// A draft before the interview; no submission before it starts.
	if _, err := i1.SaveDraft(ctx, s.ID, store.Scorecard{Text: "prepared questions"}); err != nil {
		t.Fatal(err)
	}
	if _, err := i1.Submit(ctx, s.ID, goodCard); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Fatalf("submitted before the start: %v", err)
	}
	if _, err := i1.SaveDraft(ctx, s.ID, store.Scorecard{Ratings: map[string]int{"Charisma": 2}}); err == nil {
		t.Fatal("a rating on a criterion the session does not have was kept")
	}
	if _, err := i1.SaveDraft(ctx, s.ID, store.Scorecard{Ratings: map[string]int{"Communication": 5}}); err == nil {
		t.Fatal("a rating of 5 was kept")
	}

	var wg sync.WaitGroup
	for _, n := range []*Node{i1, i2} {
		wg.Go(func() {
			if _, err := n.ClaimRecorder(ctx, s.ID); err != nil && !strings.Contains(err.Error(), "already records") {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var winner string
	waitFor(t, 10*time.Second, "both interviewers see the same recorder", func() bool {
		a, b := form(t, i1, s.ID).Recorder, form(t, i2, s.ID).Recorder
		winner = a
		return a != "" && a == b
	})
	rec, other := i1, i2
	if winner == "i2@acme.test" {
		rec, other = i2, i1
	}
	recName := map[*Node]string{i1: "Interviewer 1", i2: "Interviewer 2"}[rec]
	if f := form(t, other, s.ID); f.MayRecord || f.RecorderName != recName {
		t.Fatalf("the other interviewer's form: %+v", f)
	}
	if _, err := other.ClaimRecorder(ctx, s.ID); err == nil {
		t.Fatal("the recorder was taken over")
	}

	if _, err := rec.StartSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.ID, StatusLive, i1, i2)
	if _, err := other.Submit(ctx, s.ID, goodCard); err == nil || !strings.Contains(err.Error(), "records this session's feedback, not you") {
		t.Fatalf("the other interviewer submitted: %v", err)
	}
	if _, err := rec.EndSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	// Submitted after the end.
	if m, err := rec.Submit(ctx, s.ID, goodCard); err != nil || m.State != store.MineOutbox {
		t.Fatalf("submit: %+v, %v", m, err)
	}
	waitFor(t, 20*time.Second, "the company node answers", func() bool { return mineState(t, rec, s.ID).State != store.MineOutbox })
	m := mineState(t, rec, s.ID)
	wantBy := map[*Node]string{i1: "Interviewer 1", i2: "Interviewer 2"}[rec]
	if m.State != store.MineRecorded || m.By != wantBy {
		t.Fatalf("the recorder's node: %+v", m)
	}
	f, err := tm.company.Feedback(ctx, s.ID)
	if err != nil || f.Scorecard.Text != goodCard.Text || f.Scorecard.Ratings["Communication"] != 4 || f.By != wantBy {
		t.Fatalf("the company node's feedback: %+v, %v", f, err)
	}
	list, err := tm.company.FeedbackList(ctx)
	if err != nil || len(list) != 1 || list[0].Session != s.ID {
		t.Fatalf("feedback list: %+v, %v", list, err)
	}

	// Again from the recorder's node: refused there, which knows.
	_, err = rec.Submit(ctx, s.ID, store.Scorecard{Recommendation: "no"})
	if !errors.Is(err, ErrRecorded) || !strings.Contains(err.Error(), "feedback for this session was already recorded by "+wantBy+" at ") {
		t.Fatalf("second submission: %v", err)
	}
	// From a node that does not know (its submission made by hand, as a
	// node that missed the claim would): refused by the company node.
	sf := signFor(t, other, s.ID, store.Scorecard{Recommendation: "strong-no"})
	reply, err := other.askCompany(ctx, tm.company.companyPublic(), tm.company.ID(), archiveRequest{Feedback: sf})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Status != archiveRefused || !strings.HasPrefix(reply.Reason, "feedback for this session was already recorded by "+wantBy+" at ") {
		t.Fatalf("the company node's answer to a second submission: %+v", reply)
	}
	// The recorder's submission delivered again (its answer lost on the
	// way) is not doubled.
	var again signedFeedback
	json.Unmarshal(m.Signed, &again)
	reply, err = rec.askCompany(ctx, tm.company.companyPublic(), tm.company.ID(), archiveRequest{Feedback: &again})
	if err != nil || reply.Status != archiveRecorded {
		t.Fatalf("a repeated delivery: %+v, %v", reply, err)
	}
	if all, _ := tm.company.db.AllFeedback(); len(all) != 1 || all[0].Scorecard.Recommendation != "yes" {
		t.Fatalf("the company node keeps %+v", all)
	}
}

// signFor makes n's signed submission by hand, past its own checks.
func signFor(t testing.TB, n *Node, id string, sc store.Scorecard) *signedFeedback {
	t.Helper()
	m, err := n.interviewerIn(id)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := n.signFeedback(feedbackBody{V: 1, Session: m.rec.ID, Peer: n.id.String(), Name: m.cred.Name, Email: m.cred.Email, Credential: m.token, Scorecard: sc, Written: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

// The company node is down when the feedback is submitted, and the
// recorder's node restarts before it comes back: the feedback waits in the
// outbox and is delivered exactly once.
func TestFeedbackOutbox(t *testing.T) {
	tm := startTeam(t, 1)
	i1 := tm.interviewers[0]
	s := tm.create(t, NewSessions{})
	join(t, i1, s.Link, "")
	ctx := context.Background()
	if _, err := i1.StartSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.ID, StatusLive, tm.company)
	companyDir := tm.company.Dir()
	tm.company.Close()

	if _, err := i1.Submit(ctx, s.ID, store.Scorecard{Recommendation: "strong-yes"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a delivery attempt fails", func() bool { return mineState(t, i1, s.ID).Tries > 0 })
	if m := mineState(t, i1, s.ID); m.State != store.MineOutbox || m.LastError == "" {
		t.Fatalf("with the company node down: %+v", m)
	}
	dir := i1.Dir()
	i1.Close()
	i1 = startNode(t, nodeOpts{dir: dir})
	company := startNode(t, nodeOpts{dir: companyDir})
	waitFor(t, 40*time.Second, "the feedback is delivered", func() bool { return mineState(t, i1, s.ID).State == store.MineRecorded })
	all, err := company.db.AllFeedback()
	if err != nil || len(all) != 1 || all[0].Scorecard.Recommendation != "strong-yes" || all[0].Name != "Interviewer 1" {
		t.Fatalf("the company node keeps %+v, %v", all, err)
	}
	// Nothing is left to send, after another restart either.
	i1.Close()
	i1 = startNode(t, nodeOpts{dir: dir})
	if m := mineState(t, i1, s.ID); m.State != store.MineRecorded {
		t.Fatalf("after a restart: %+v", m)
	}
	if all, _ := company.db.AllFeedback(); len(all) != 1 {
		t.Fatalf("doubled: %+v", all)
	}
}

// The candidate's node, even one that asks for them, never gets the notes
// or the feedback: nothing of the private document reaches it on the wire,
// its store holds neither, and the archive protocol tells it nothing.
func TestCandidateGetsNoFeedback(t *testing.T) {
	tm := startTeam(t, 1)
	i1 := tm.interviewers[0]
	cand := startNode(t, nodeOpts{})
	// Everything of the private document that reaches the candidate's
	// node, from its first connection on.
	var privateFrames sync.Map
	hook := func(from string, f docFrame) {
		if f.kind == crdt.Private {
			privateFrames.Store(from, true)
		}
	}
	cand.frameHook.Store(&hook)
	s := tm.create(t, NewSessions{})
	join(t, i1, s.Link, "Ana")
	edit(t, i1, s.ID, crdt.Private, crdt.Edit{Op: "splice", Target: "notes", Text: "NOTES-MARKER: strong on tests"})
	join(t, cand, s.Link, "Sam")
	waitRoster(t, s.ID, []string{"Sam/candidate", "Ana/interviewer"}, tm.company, cand, i1)
	ctx := context.Background()
	if _, err := i1.StartSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	// The candidate's node asks the interviewer and the company node for
	// the private document, as a modified node would.
	for _, to := range []*Node{i1, tm.company} {
		askPrivate(t, cand, to, s.ID)
	}
	if _, err := cand.Notes(ctx, s.ID); !errors.Is(err, ErrNotInterviewer) {
		t.Fatalf("notes on the candidate's node: %v", err)
	}
	if _, err := cand.Form(ctx, s.ID); !errors.Is(err, ErrNotInterviewer) {
		t.Fatalf("feedback form on the candidate's node: %v", err)
	}
	if _, err := i1.Submit(ctx, s.ID, goodCard); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the feedback is recorded", func() bool { return mineState(t, i1, s.ID).State == store.MineRecorded })
	// The candidate's node submits feedback itself: refused, and told
	// nothing of what was recorded.
	reply, err := cand.askCompany(ctx, tm.company.companyPublic(), tm.company.ID(), archiveRequest{Feedback: candidateSubmission(t, cand, s.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Status != archiveRefused || reply.By != "" || !reply.At.IsZero() || strings.Contains(reply.Reason, "Ana") || strings.Contains(reply.Reason, "recorded by") {
		t.Fatalf("the candidate's node learnt %+v", reply)
	}
	// A shared edit made after all that reaches the candidate, so the
	// interviewer's node has handled the asks by now.
	edit(t, i1, s.ID, crdt.Shared, crdt.Edit{Op: "add", Name: "after.go", Text: "AFTER"})
	waitFile(t, s.ID, "after.go", "AFTER", cand)
	privateFrames.Range(func(k, _ any) bool {
		t.Errorf("private document data reached the candidate's node from %v", k)
		return true
	})
	for _, marker := range []string{"NOTES-MARKER", "FEEDBACK-MARKER"} {
		if storeHolds(t, cand, []byte(marker)) {
			t.Fatalf("the candidate's store holds %s", marker)
		}
	}
	if !storeHolds(t, i1, []byte("FEEDBACK-MARKER")) || !storeHolds(t, tm.company, []byte("FEEDBACK-MARKER")) {
		t.Fatal("the test cannot see the feedback in a store at all")
	}
}

// candidateSubmission is a submission the candidate's node signs with its
// own key, with no credential to show.
func candidateSubmission(t testing.TB, n *Node, id string) *signedFeedback {
	sf, err := n.signFeedback(feedbackBody{V: 1, Session: id, Peer: n.id.String(), Name: "Sam", Email: "sam@example.com", Scorecard: store.Scorecard{Recommendation: "strong-yes"}, Written: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

// askPrivate sends, from n to the node to, what asks for a session's
// private document: a request for its snapshot and a first sync message.
func askPrivate(t testing.TB, n, to *Node, id string) {
	t.Helper()
	l, err := n.lookupLive(id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := n.p2p.host.NewStream(network.WithAllowLimitedConn(ctx, "test"), to.ID(), SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := writeFrame(s, syncHello{Tag: l.tag}); err != nil {
		t.Fatal(err)
	}
	const probe = "ask-private"
	if err := n.worker.New(probe, crdt.Private, n.actor()); err != nil {
		t.Fatal(err)
	}
	defer n.worker.CloseDoc(probe)
	msg, err := n.worker.SyncGenerate(probe, "x")
	if err != nil || len(msg) == 0 {
		t.Fatalf("sync message: %v", err)
	}
	for _, f := range []docFrame{{typ: frameNeed, kind: crdt.Private, data: []byte{0}}, {typ: frameSync, kind: crdt.Private, data: msg}} {
		if err := writeDocFrame(s, f); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzArchiveRequest feeds the company node's side of /parley/archive/1
// arbitrary requests, feedback and handovers: none is taken (nothing
// without the company's credential is), and none panics.
func FuzzArchiveRequest(f *testing.F) {
	clk := newClock()
	dir := filepath.Join(f.TempDir(), "data")
	if _, err := Init(dir, InitOptions{Org: "Acme", Now: clk.Now}); err != nil {
		f.Fatal(err)
	}
	n, err := New(Config{Dir: dir, Logger: discard(), Now: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close() })
	ss, err := n.CreateSessions(context.Background(), NewSessions{Candidate: "Sam", Title: "Loop"})
	if err != nil {
		f.Fatal(err)
	}
	id, key := newPeer(f)
	body, _ := json.Marshal(feedbackBody{V: 1, Session: ss[0].ID, Peer: id.String(), Name: "Ana", Email: "ana@acme.test", Scorecard: goodCard})
	sig, _ := key.Sign(feedbackMessage(body))
	for _, req := range []any{
		archiveRequest{Feedback: &signedFeedback{Body: body, Sig: sig}},
		archiveRequest{},
		map[string]any{"feedback": map[string]any{"body": json.RawMessage(`{"v":2}`), "sig": nil}},
	} {
		var seed bytes.Buffer
		writeFrame(&seed, req)
		f.Add(seed.Bytes())
	}
	f.Add([]byte{0})
	for _, req := range []archiveRequest{
		{Docs: &handoverHeader{Session: ss[0].ID, Credential: "x", Kinds: []crdt.Kind{crdt.Shared}}},
	} {
		var seed bytes.Buffer
		writeFrame(&seed, req)
		seed.Write([]byte{3, 1, 2, 3})
		f.Add(seed.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req archiveRequest
		r := bufio.NewReader(bytes.NewReader(data))
		if err := readFrame(r, maxArchiveRequest, &req); err != nil {
			return
		}
		reply := n.receiveFeedback(id, req.Feedback)
		if req.Docs != nil {
			reply = n.receiveHandover(id, req.Docs, discardStream{}, r)
		}
		if reply.Status == archiveRecorded {
			t.Fatalf("recorded: %+v", reply)
		}
	})
}

type discardStream struct{}

func (discardStream) Write(p []byte) (int, error) { return len(p), nil }
func (discardStream) SetDeadline(time.Time) error { return nil }
