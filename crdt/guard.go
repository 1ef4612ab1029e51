package crdt

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/automerge/automerge-go"
)

// Guard says what a document may take from a peer. The worker decodes every
// change the peer's bytes bring (change.go, in Go: nothing of it reaches
// the Automerge core before it is judged) and checks each new one against
// the rules (rules.go) for its author's role and the session's state; a
// change that breaks a rule refuses the whole request, and nothing is
// applied. A nil Guard trusts the bytes (this node's own store).
type Guard struct {
	// Sender is the actor key (the first 16 hex digits of the actors; see
	// ActorKey) of the node that sent the bytes, and SenderRole its role.
	Sender     string `json:"sender"`
	SenderRole Role   `json:"sender_role"`
	// Self is this node's own actor key: it knows its own changes, so a
	// second version of one is a forgery, whoever passes it on.
	Self string `json:"self,omitempty"`
	// Own is set for data from this node's own page: each of its changes
	// must be made under this node's actor key (a page's actor starts with
	// it), or the page is told so.
	Own bool `json:"own,omitempty"`
	// Candidates are the actor keys of the session's candidate nodes: their
	// changes follow the candidate's rules whoever passes them on.
	Candidates []string `json:"candidates,omitempty"`
	// Open is set while the candidate may edit: the interview started and
	// has not ended.
	Open bool `json:"open,omitempty"`
	// Final is set once the session ended; End are then the heads the end
	// names: the document takes only the changes those heads reach (none
	// when End is empty), and is cut back to them once it has them all.
	Final bool     `json:"final,omitempty"`
	End   []string `json:"end,omitempty"`
	// Poison are changes (hex hashes) the node refuses from this sender:
	// their data, sent by it, crashed the worker and names no author it
	// knows. They are left out without blame.
	Poison []string `json:"poison,omitempty"`
	// Refused are changes (hex hashes) the session's arbiter (the company
	// node) refused: this node dropped them (evict.go) and leaves them out
	// without blame, unless the arbiter itself sends them (Arbiter: it took
	// them after all, from their author).
	Refused []string `json:"refused,omitempty"`
	Arbiter bool     `json:"arbiter,omitempty"`
}

// ActorKey is the part of an actor that names its participant's node: the
// first 8 bytes (16 hex digits). A node's own actor and its pages' actors
// share it.
func ActorKey(actor string) string {
	if len(actor) < 16 {
		return actor
	}
	return actor[:16]
}

// Result is what a request that merges a peer's data did.
type Result struct {
	// Gained is what the document gained, in incremental format, to store.
	Gained []byte
	// Changed reports whether the document's heads moved.
	Changed bool
	// Skipped counts changes not taken, without blame: after the end, or
	// another's changes a candidate passed on (which cannot be told from
	// forgeries; they come from their author too).
	Skipped int
	// Reset is set when the sync state with the peer was started afresh:
	// the node sends a new first message.
	Reset bool
	// Settled is set when the document was cut back to the end's heads:
	// the node stores it whole.
	Settled bool
	// LeftOut are the hashes of the changes left out for a reason that
	// lasts (not the end): another's passed on by a candidate, a second
	// version, poison, or a change the arbiter refused. The company node
	// tells the sender (node/leftout.go).
	LeftOut []string
}

// errDecode marks bytes that do not decode as Automerge changes: no honest
// node sends them.
var errDecode = errors.New("does not decode")

// judge checks the changes of a peer's bytes under g. It returns the raw
// changes to apply in their place when some were skipped (nil: apply the
// bytes as they are), and how many were skipped. A broken rule is a
// *RuleError.
func (s *server) judge(d *doc, g *Guard, chs []*Change) (keep [][]byte, skipped int, err error) {
	v, err := s.judgeAll(d, g, chs)
	return v.keep, v.skipped, err
}

// verdict is what judgeAll found.
type verdict struct {
	keep    [][]byte // the raw changes to apply in place of the bytes; nil: all of them
	skipped int
	left    []string  // left out for a reason that lasts (Result.LeftOut)
	taken   []*Change // the changes new to the document that may be applied
	// candidateOnly is set when every change taken was judged by the
	// candidate's rules (see watchStaff).
	candidateOnly bool
}

// judgeAll is judge, with all it found.
func (s *server) judgeAll(d *doc, g *Guard, chs []*Change) (v verdict, err error) {
	seen := map[ChangeHash]bool{}
	came := map[actorSeq]*Change{} // the first of each number among fresh
	var fresh []*Change
	for _, c := range chs {
		if seen[c.Hash] {
			continue
		}
		seen[c.Hash] = true
		if _, err := d.am.Change(automerge.ChangeHash(c.Hash)); err == nil {
			continue // the document has it
		}
		fresh = append(fresh, c)
		if _, ok := came[actorSeq{c.Actor, c.Seq}]; !ok {
			came[actorSeq{c.Actor, c.Seq}] = c
		}
	}
	if len(fresh) == 0 {
		return verdict{}, nil
	}
	var reach map[ChangeHash]bool
	if g.Final {
		reach = reachedBy(g.End, fresh)
	}
	take := make([]bool, len(fresh))
	lasting := make([]bool, len(fresh)) // left out for a reason that lasts
	v.candidateOnly = true
	numbers := map[actorSeq]ChangeHash{}
	b := batch{taken: map[actorSeq]uint64{}, came: came, hashes: seen}
	blame := func(c *Change, err error) (verdict, error) {
		var rule *RuleError
		if errors.As(err, &rule) && rule.Hash == "" {
			rule.Hash = c.Hash.String()
		}
		return verdict{}, err
	}
	for i, c := range fresh {
		lasting[i] = true
		if len(g.Poison) > 0 && slices.Contains(g.Poison, c.Hash.String()) {
			continue
		}
		if len(g.Refused) > 0 && !g.Arbiter && slices.Contains(g.Refused, c.Hash.String()) {
			continue
		}
		author := ActorKey(c.Actor)
		role := RoleStaff
		if g.Own && author != g.Sender {
			return blame(c, &RuleError{Actor: c.Actor, What: "is made by actor " + c.Actor + ", which does not start with this node's actor prefix " + g.Sender + " (the hello's \"actor\")"})
		}
		switch {
		case g.Final && !reach[c.Hash]:
			lasting[i] = false
			continue // after the end
		case g.SenderRole == RoleCandidate && author != g.Sender:
			continue // passed on by a candidate: it comes from its author too
		case g.SenderRole == RoleCandidate || slices.Contains(g.Candidates, author):
			role = RoleCandidate
		}
		if role == RoleCandidate && !g.Open && !g.Final {
			return blame(c, &RuleError{Actor: c.Actor, What: "edits the code before the interview started"})
		}
		if err := CheckChange(d.kind, d.genesis, role, c); err != nil {
			return blame(c, err)
		}
		// An actor numbers its changes once: a second version of a
		// numbered change is never taken (a node that took one could
		// never take the other, nor what depends on it, and Automerge
		// refuses such a pair when it loads a save). Nor is a change that
		// does not follow its actor's previous one (outOfOrder). But
		// actors are not authenticated: a modified node can forge an
		// interviewer's next change before she makes it, and her own is
		// then the second version, or out of order, wherever the forgery
		// came first. So one of an interviewer's, the company node's or
		// this node's own is left out without blame, whoever sends it: the
		// company node settles which version the session keeps
		// (leftout.go). A candidate's is blamed on the candidate: honest
		// nodes that took different versions agree sooner on refusing
		// its author (the crasher tests split less often so). A
		// colleague's modified node could frame the candidate so; an
		// interviewer can end the interview anyway. A node's own page is
		// told.
		forgeable := !g.Own && (role != RoleCandidate || author == g.Self)
		k := actorSeq{c.Actor, c.Seq}
		other, twice := numbers[k]
		if !twice {
			if h, ok := d.numbered(c.Actor, c.Seq); ok {
				other, twice = ChangeHash(h), true
			} else if h, ok := d.queued[k]; ok {
				other, twice = h, true
			}
		}
		if twice && other != c.Hash {
			if forgeable {
				continue
			}
			return blame(c, &RuleError{Actor: c.Actor, What: fmt.Sprintf("is a second version of change %d of actor %s (another has that number: %s)", c.Seq, c.Actor, other)})
		}
		if what := d.outOfOrder(c, b); what != "" {
			if forgeable {
				continue
			}
			return blame(c, &RuleError{Actor: c.Actor, What: what})
		}
		numbers[k] = c.Hash
		b.taken[k] = c.maxOp()
		take[i], lasting[i] = true, false
		if role != RoleCandidate {
			v.candidateOnly = false
		}
	}
	for i, c := range fresh {
		switch {
		case take[i]:
			v.taken = append(v.taken, c)
		case lasting[i]:
			v.left = append(v.left, c.Hash.String())
		}
	}
	if v.skipped = len(fresh) - len(v.taken); v.skipped == 0 {
		return v, nil
	}
	v.keep = [][]byte{}
	for _, c := range v.taken {
		v.keep = append(v.keep, c.Raw)
	}
	return v, nil
}

// reachedBy returns the changes of chs that the heads reach, through the
// dependencies of chs: a change the document lacks is in the final document
// only if an end head is that change or depends on it, and what depends on
// a change the document lacks is not in the document either.
func reachedBy(heads []string, chs []*Change) map[ChangeHash]bool {
	byHash := make(map[ChangeHash]*Change, len(chs))
	for _, c := range chs {
		byHash[c.Hash] = c
	}
	reach := map[ChangeHash]bool{}
	var stack []ChangeHash
	for _, h := range heads {
		if ch, err := ParseChangeHash(h); err == nil && byHash[ch] != nil && !reach[ch] {
			reach[ch] = true
			stack = append(stack, ch)
		}
	}
	for len(stack) > 0 {
		c := byHash[stack[len(stack)-1]]
		stack = stack[:len(stack)-1]
		for _, dep := range c.Deps {
			if byHash[dep] != nil && !reach[dep] {
				reach[dep] = true
				stack = append(stack, dep)
			}
		}
	}
	return reach
}

// changesOf decodes what a peer sent: changes, or a saved document (loaded
// here to list its changes; a crafted one may kill the worker, which blames
// its sender).
func changesOf(blob []byte) ([]*Change, error) {
	chs, err := DecodeChanges(blob)
	if err == nil {
		return chs, nil
	}
	if !isDocument(blob) {
		return nil, fmt.Errorf("document data %w: %v", errDecode, err)
	}
	am, err := automerge.Load(blob)
	if err != nil {
		return nil, err
	}
	all, err := am.Changes()
	if err != nil {
		return nil, err
	}
	out := make([]*Change, 0, len(all))
	for _, c := range all {
		dc, err := DecodeChanges(c.Save())
		if err != nil || len(dc) != 1 {
			return nil, fmt.Errorf("a change of the saved document %w: %v", errDecode, err)
		}
		out = append(out, dc[0])
	}
	return out, nil
}

// isDocument reports whether b starts with a document chunk.
func isDocument(b []byte) bool {
	return len(b) > 8 && b[0] == 0x85 && b[1] == 0x6f && b[2] == 0x4a && b[3] == 0x83 && b[8] == 0
}

// settle cuts a finished document back to the end's heads, once it has
// them all and holds more: every node's final copy is then the same, the
// one the interviewer who ended saw. It reports whether it did.
func (s *server) settle(id string, d *doc, g *Guard) (bool, error) {
	if g == nil || !g.Final || len(g.End) == 0 {
		return false, nil
	}
	want := make([]automerge.ChangeHash, 0, len(g.End))
	for _, h := range g.End {
		ch, err := automerge.NewChangeHash(h)
		if err != nil {
			return false, err
		}
		if _, err := d.am.Change(ch); err != nil {
			return false, nil // not all here yet
		}
		want = append(want, ch)
	}
	have := heads(d)
	ends := slices.Clone(g.End)
	slices.Sort(ends)
	slices.Sort(have)
	if slices.Equal(have, ends) {
		return false, nil
	}
	f, err := d.am.Fork(want...)
	if err != nil {
		return false, err
	}
	if err := f.SetActorID(d.am.ActorID()); err != nil {
		return false, err
	}
	s.docs[id] = &doc{kind: d.kind, am: f, genesis: d.genesis}
	s.dropSyncs(id)
	return true, nil
}

// dropSyncs forgets every sync state of a document.
func (s *server) dropSyncs(id string) {
	for k := range s.syncs {
		if k[0] == id {
			delete(s.syncs, k)
		}
	}
}

// maxQueued bounds the changes a document notes as held back; past it, the
// note starts again (a peer that sends that many changes without their
// dependencies is far behind or hostile, and sync rounds repair the rest).
const maxQueued = 1 << 16

// noteQueued notes which of the changes just given to Automerge it holds
// back, waiting for their dependencies (and the numbering of those it
// applied).
func (d *doc) noteQueued(taken []*Change) {
	for _, c := range taken {
		if _, err := d.am.Change(automerge.ChangeHash(c.Hash)); err == nil {
			d.noteOps(c)
			continue
		}
		if d.queued == nil || len(d.queued) >= maxQueued {
			d.queued = map[actorSeq]ChangeHash{}
		}
		d.queued[actorSeq{c.Actor, c.Seq}] = c.Hash
	}
}

// holdsBack reports whether any change noted as held back is still
// missing from the document, forgetting those Automerge has applied since.
func (d *doc) holdsBack() bool {
	for k, h := range d.queued {
		if _, err := d.am.Change(automerge.ChangeHash(h)); err == nil {
			delete(d.queued, k)
		}
	}
	return len(d.queued) > 0
}

// staffPrint sums up what only interviewers may change in a shared
// document: the root's keys and kinds, the question, the files' names and
// kinds, their languages and the active file.
func (d *doc) staffPrint() string {
	if d.kind != Shared {
		return ""
	}
	var b strings.Builder
	put := func(m *automerge.Map, text bool) {
		keys, _ := m.Keys()
		slices.Sort(keys)
		for _, k := range keys {
			v, err := m.Get(k)
			if err != nil {
				fmt.Fprintf(&b, "%q:error;", k)
				continue
			}
			fmt.Fprintf(&b, "%q:%v", k, v.Kind())
			switch {
			case v.Kind() == automerge.KindStr:
				fmt.Fprintf(&b, "=%q", v.Str())
			case text && v.Kind() == automerge.KindText:
				t, _ := v.Text().Get()
				fmt.Fprintf(&b, "=%q", t)
			}
			b.WriteByte(';')
		}
	}
	root := d.am.RootMap()
	put(root, true) // the question is a text; the files are a map
	for _, k := range []string{"files", "languages"} {
		if v, err := root.Get(k); err == nil && v.Kind() == automerge.KindMap {
			b.WriteString(k + "{")
			put(v.Map(), false)
			b.WriteString("}")
		}
	}
	return b.String()
}

// maxOp is the counter of a change's last operation (StartOp-1 when it has
// none), as Automerge orders an actor's changes by it.
func (c *Change) maxOp() uint64 { return c.StartOp + uint64(len(c.Ops)) - 1 }

// batch is what outOfOrder knows of the changes that came with the one it
// judges, as maps: a sync message may carry tens of thousands.
type batch struct {
	taken  map[actorSeq]uint64  // the last operation of those taken so far
	came   map[actorSeq]*Change // the first of each number, judged or not yet
	hashes map[ChangeHash]bool  // all of them
}

// outOfOrder says how change c breaks its actor's order, or "": a change
// numbered seq > 1 needs the actor's change seq-1, in the document or in
// the batch, with operations numbered no higher than its own. A change
// whose dependencies are not all here yet is not judged so: Automerge
// leaves it out until they come, and it is judged again then.
func (d *doc) outOfOrder(c *Change, b batch) string {
	if c.Seq <= 1 {
		return ""
	}
	prev := actorSeq{c.Actor, c.Seq - 1}
	max, ok := b.taken[prev]
	if !ok {
		max, ok = d.maxOpOf(prev)
	}
	if !ok {
		// Later in the batch (a second version there is judged then).
		if p := b.came[prev]; p != nil {
			max, ok = p.maxOp(), true
		}
	}
	if !ok {
		for _, dep := range c.Deps {
			if _, err := d.am.Change(automerge.ChangeHash(dep)); err != nil && !b.hashes[dep] {
				return "" // waits for what it depends on
			}
		}
		return fmt.Sprintf("is change %d of actor %s, and the actor's change %d is not among what it depends on", c.Seq, c.Actor, c.Seq-1)
	}
	if max > c.maxOp() {
		return fmt.Sprintf("numbers its operations (up to %d) below those of change %d of actor %s (up to %d)", c.maxOp(), c.Seq-1, c.Actor, max)
	}
	return ""
}

// maxOpOf returns the counter of the last operation of the document's
// change k.
func (d *doc) maxOpOf(k actorSeq) (uint64, bool) {
	if e, ok := d.lastOps[k.actor]; ok && e.seq == k.seq {
		return e.max, true
	}
	h, ok := d.numbered(k.actor, k.seq)
	if !ok {
		return 0, false
	}
	ch, err := d.am.Change(h)
	if err != nil {
		return 0, false
	}
	chs, err := DecodeChanges(ch.Save())
	if err != nil || len(chs) != 1 {
		return 0, false
	}
	d.noteOps(chs[0])
	return chs[0].maxOp(), true
}

// noteApplied notes the numbering of those of the changes taken that the
// document now holds.
func (d *doc) noteApplied(taken []*Change) {
	for _, c := range taken {
		if _, err := d.am.Change(automerge.ChangeHash(c.Hash)); err == nil {
			d.noteOps(c)
		}
	}
}

// actorOps is an actor's latest change a document holds: its number and
// the counter of its last operation.
type actorOps struct{ seq, max uint64 }

// noteOps notes a change the document holds, for maxOpOf: an actor's next
// change is judged against it.
func (d *doc) noteOps(c *Change) {
	if e, ok := d.lastOps[c.Actor]; ok && e.seq > c.Seq {
		return
	}
	if d.lastOps == nil {
		d.lastOps = map[string]actorOps{}
	}
	d.lastOps[c.Actor] = actorOps{c.Seq, c.maxOp()}
}
