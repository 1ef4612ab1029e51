package crdt

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The Replay page plays a session's code change by change. Asking
// Automerge for the text at each change costs a diff over the whole
// document each time (about 100 ms at rustcode's 37k changes, in the
// page's Automerge as here), so the worker works the history out once:
// each change as patches on the files' texts as they were just before it.
// It reads the changes' operations with this package's own decoder and
// replays the texts' sequence CRDT itself (RGA, as Automerge orders
// insertions): a first pass puts every character ever typed in its final
// order, a second walks the changes again and turns each insertion and
// deletion into a position in the text of that moment, counting only what
// is visible then (a Fenwick tree over the final order).

// Replay is a document's history as the Replay page plays it.
type Replay struct {
	// Actors are the Automerge actors (hex) that steps name by index.
	Actors []string `json:"actors"`
	// Steps are the changes in time order, each after the changes it
	// depends on.
	Steps []Step `json:"steps"`
}

// Step is one change: when, by whom, and what it did to the files.
type Step struct {
	Time    int64   `json:"t"` // milliseconds since 1970
	Actor   int     `json:"a"` // index in Replay.Actors
	Patches []Patch `json:"p,omitempty"`
}

// Patch is one edit of the files, applied in order. Positions and lengths
// count UTF-16 code units, as the editor does.
type Patch struct {
	Op   string `json:"o,omitempty"` // "" splice; "new" the file appears with Ins; "gone"; "active": File is shown
	File string `json:"f"`
	Pos  int    `json:"p,omitempty"`
	Del  int    `json:"d,omitempty"`
	Ins  string `json:"i,omitempty"`
}

// Patch operations other than a splice.
const (
	PatchNew    = "new"
	PatchGone   = "gone"
	PatchActive = "active"
)

// replay works out the document's Replay.
func (d *doc) replay() (Replay, error) {
	ams, err := d.am.Changes()
	if err != nil {
		return Replay{}, err
	}
	raws := make([][]byte, len(ams))
	for i, c := range ams {
		raws[i] = c.Save()
	}
	// Decoding is most of the work: on every core.
	chs := make([]*Change, len(ams))
	errs := make([]error, len(ams))
	var wg sync.WaitGroup
	parts := runtime.GOMAXPROCS(0)
	for p := range parts {
		wg.Go(func() {
			for i := p; i < len(raws); i += parts {
				dec, err := DecodeChanges(raws[i])
				if err == nil && len(dec) != 1 {
					err = fmt.Errorf("%d changes in one", len(dec))
				}
				if err != nil {
					errs[i] = fmt.Errorf("change %s: %w", ams[i].Hash(), err)
					continue
				}
				chs[i] = dec[0]
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Replay{}, err
	}
	return replayChanges(chs)
}

// replayChanges works out the Replay of a whole history: chs holds every
// change each one depends on.
func replayChanges(chs []*Change) (Replay, error) {
	order, err := timeOrder(chs)
	if err != nil {
		return Replay{}, err
	}
	r := &replayer{texts: map[OpID]*rga{}, keys: map[string]*register{}, actorIDs: map[string]uint32{}}
	inserts := map[OpID]int{}
	for _, c := range chs {
		for _, op := range c.Ops {
			if op.Insert && !op.Obj.isRoot() {
				inserts[op.Obj]++
			}
		}
	}
	for obj, n := range inserts {
		r.texts[obj] = newRGA(r, n)
	}
	for _, i := range order {
		for _, op := range chs[i].Ops {
			if op.Insert && !op.Obj.isRoot() {
				r.texts[op.Obj].link(r.eid(op.Elem), r.eid(op.ID))
			}
		}
	}
	for _, t := range r.texts {
		t.rank()
	}
	out := Replay{Steps: make([]Step, 0, len(order))}
	actors := map[string]int{}
	for _, i := range order {
		c := chs[i]
		a, ok := actors[c.Actor]
		if !ok {
			a = len(out.Actors)
			actors[c.Actor] = a
			out.Actors = append(out.Actors, c.Actor)
		}
		r.patches = nil
		for _, op := range c.Ops {
			r.apply(op)
		}
		r.flush()
		out.Steps = append(out.Steps, Step{Time: millis(c.Time).UnixMilli(), Actor: a, Patches: r.patches})
	}
	return out, nil
}

func (id OpID) isRoot() bool { return id.Counter == 0 }

// after says whether id comes after o in Automerge's order of operations:
// by counter, then by actor.
func (id OpID) after(o OpID) bool {
	if id.Counter != o.Counter {
		return id.Counter > o.Counter
	}
	return id.Actor > o.Actor // hex of equal length orders as the bytes do
}

// timeOrder orders the changes by time, each after those it depends on
// (and, between equal times, as Automerge listed them).
func timeOrder(chs []*Change) ([]int, error) {
	index := make(map[ChangeHash]int, len(chs))
	for i, c := range chs {
		index[c.Hash] = i
	}
	waiting := make([]int, len(chs))
	dependents := make([][]int, len(chs))
	for i, c := range chs {
		for _, dep := range c.Deps {
			j, ok := index[dep]
			if !ok {
				return nil, fmt.Errorf("change %s depends on %s, which the history lacks", c.Hash, dep)
			}
			waiting[i]++
			dependents[j] = append(dependents[j], i)
		}
	}
	q := &readyQueue{at: make([]int64, len(chs))}
	for i, c := range chs {
		q.at[i] = millis(c.Time).UnixMilli()
	}
	for i := range chs {
		if waiting[i] == 0 {
			heap.Push(q, i)
		}
	}
	order := make([]int, 0, len(chs))
	for q.Len() > 0 {
		i := heap.Pop(q).(int)
		order = append(order, i)
		for _, k := range dependents[i] {
			if waiting[k]--; waiting[k] == 0 {
				heap.Push(q, k)
			}
		}
	}
	if len(order) != len(chs) {
		return nil, fmt.Errorf("the history's changes depend on each other in a cycle")
	}
	return order, nil
}

// readyQueue holds the changes whose dependencies are in the order,
// earliest first.
type readyQueue struct {
	at []int64 // each change's time, in milliseconds
	is []int
}

func (q *readyQueue) Len() int { return len(q.is) }
func (q *readyQueue) Less(a, b int) bool {
	i, j := q.is[a], q.is[b]
	if c := cmp.Compare(q.at[i], q.at[j]); c != 0 {
		return c < 0
	}
	return i < j
}
func (q *readyQueue) Swap(a, b int) { q.is[a], q.is[b] = q.is[b], q.is[a] }
func (q *readyQueue) Push(x any)    { q.is = append(q.is, x.(int)) }
func (q *readyQueue) Pop() any {
	i := q.is[len(q.is)-1]
	q.is = q.is[:len(q.is)-1]
	return i
}

// replayer replays a history's operations on the files.
type replayer struct {
	texts map[OpID]*rga
	// keys are the registers of the root ("files", "active") and of the
	// files map, by "/key" and "files/name".
	keys    map[string]*register
	patches []Patch
	ins     []byte
	insLen  int
	// actors interns the actors of operation IDs (eid).
	actors    []string
	actorIDs  map[string]uint32
	lastActor uint32
	// The text the last operation was on, and the file it is (if one):
	// operations come in runs on one text.
	lastObj  OpID
	lastText *rga
	lastFile string
	isFile   bool
}

// eid is an operation's ID with its actor interned: a cheaper map key.
type eid struct {
	counter uint64
	actor   uint32
}

func (r *replayer) eid(id OpID) eid {
	if len(r.actors) > 0 && id.Actor == r.actors[r.lastActor] {
		return eid{id.Counter, r.lastActor}
	}
	a, ok := r.actorIDs[id.Actor]
	if !ok {
		a = uint32(len(r.actors))
		r.actorIDs[id.Actor] = a
		r.actors = append(r.actors, id.Actor)
	}
	r.lastActor = a
	return eid{id.Counter, a}
}

// after says whether a comes after b in Automerge's order of operations.
func (r *replayer) after(a, b eid) bool {
	if a.counter != b.counter {
		return a.counter > b.counter
	}
	return r.actors[a.actor] > r.actors[b.actor]
}

// register is a map key's values: those no operation has overwritten; the
// last in Automerge's order is the one seen.
type register struct {
	live []regValue
}

type regValue struct {
	id   OpID
	text bool // a text object, whose ID is id
	str  string
}

func (g *register) put(op Op) {
	g.live = deleteIDs(g.live, op.Pred)
	if op.Action == ActDel {
		return
	}
	g.live = append(g.live, regValue{id: op.ID, text: op.Action == ActMakeText, str: op.Value.Str})
}

func deleteIDs(vs []regValue, ids []OpID) []regValue {
	out := vs[:0]
	for _, v := range vs {
		gone := false
		for _, id := range ids {
			if v.id == id {
				gone = true
			}
		}
		if !gone {
			out = append(out, v)
		}
	}
	return out
}

func (g *register) winner() (regValue, bool) {
	if g == nil || len(g.live) == 0 {
		return regValue{}, false
	}
	w := g.live[0]
	for _, v := range g.live[1:] {
		if v.id.after(w.id) {
			w = v
		}
	}
	return w, true
}

// filesMap returns the ID of the files map, if there is one.
func (r *replayer) filesMap() (OpID, bool) {
	w, ok := r.keys["/files"].winner()
	return w.id, ok
}

// fileOf returns the name of the file a text object is, if it is one.
func (r *replayer) fileOf(obj OpID) (string, bool) {
	for k, g := range r.keys {
		if len(k) > 6 && k[:6] == "files/" {
			if w, ok := g.winner(); ok && w.text && w.id == obj {
				return k[6:], true
			}
		}
	}
	return "", false
}

func (r *replayer) apply(op Op) {
	if op.MapKey {
		r.lastText = nil // which text is which file may change
	}
	switch {
	case op.Obj.isRoot() && op.MapKey:
		g := r.register("/" + op.Key)
		before, _ := g.winner()
		g.put(op)
		after, ok := g.winner()
		if op.Key == "active" && ok && !after.text && after.id != before.id {
			r.add(Patch{Op: PatchActive, File: after.str})
		}
	case op.MapKey:
		if files, ok := r.filesMap(); !ok || op.Obj != files {
			return
		}
		g := r.register("files/" + op.Key)
		before, had := g.winner()
		g.put(op)
		after, has := g.winner()
		had, has = had && before.text, has && after.text
		switch {
		case had && has && before.id == after.id, !had && !has:
		case !has:
			r.add(Patch{Op: PatchGone, File: op.Key})
		default:
			p := Patch{Op: PatchNew, File: op.Key}
			if t := r.texts[after.id]; t != nil { // a text with characters
				p.Ins = t.String()
			}
			r.add(p)
		}
	default:
		if r.lastText == nil || op.Obj != r.lastObj {
			t, ok := r.texts[op.Obj]
			if !ok {
				return // not a text: a list, or what the files map holds besides
			}
			r.lastObj, r.lastText = op.Obj, t
			r.lastFile, r.isFile = r.fileOf(op.Obj)
		}
		t := r.lastText
		var pos, del int
		var ins string
		switch {
		case op.Insert:
			pos, ins = t.show(op.ID, op.Value)
		case op.Action == ActDel:
			pos, del = t.hide(op.Elem)
		case op.Action == ActSet:
			pos, del = t.hide(op.Elem)
			if del > 0 {
				_, ins = t.show(op.Elem, op.Value)
			}
		default:
			return // marks
		}
		if del == 0 && ins == "" {
			return
		}
		if r.isFile {
			r.splice(r.lastFile, pos, del, ins)
		}
	}
}

func (r *replayer) register(key string) *register {
	g := r.keys[key]
	if g == nil {
		g = &register{}
		r.keys[key] = g
	}
	return g
}

// splice adds a splice, joined to the one before where it continues it (a
// string typed or deleted in one change). The last splice's insertion
// grows in r.ins (its UTF-16 length r.insLen) until another patch comes.
func (r *replayer) splice(file string, pos, del int, ins string) {
	if n := len(r.patches); n > 0 {
		last := &r.patches[n-1]
		if last.Op == "" && last.File == file {
			if del == 0 && pos == last.Pos+r.insLen {
				r.ins = append(r.ins, ins...)
				r.insLen += utf16Len(ins)
				return
			}
			if ins == "" && len(r.ins) == 0 && pos == last.Pos {
				last.Del += del
				return
			}
		}
	}
	r.add(Patch{File: file, Pos: pos, Del: del})
	r.ins = append(r.ins, ins...)
	r.insLen = utf16Len(ins)
}

// add adds a patch, after the last splice's insertion is written.
func (r *replayer) add(p Patch) {
	r.flush()
	r.patches = append(r.patches, p)
}

func (r *replayer) flush() {
	if n := len(r.patches); n > 0 && len(r.ins) > 0 {
		r.patches[n-1].Ins = string(r.ins)
	}
	r.ins, r.insLen = r.ins[:0], 0
}

func utf16Len(s string) int {
	n := 0
	for _, c := range s {
		n += utf16.RuneLen(c)
	}
	return n
}

// rga is one text's elements: every character ever inserted, in the
// text's final order once linked, deleted ones included.
type rga struct {
	r     *replayer
	index map[eid]int32
	elems []element // elems[0] is the head
	// After rank: the Fenwick tree of the visible elements' widths by
	// rank, and each element's value.
	tree []int
}

type element struct {
	id      eid
	next    int32 // in the final order while linking; -1 at the end
	rank    int32 // 1-based position in the final order
	visible bool
	value   string
}

func newRGA(r *replayer, inserts int) *rga {
	t := &rga{r: r, index: make(map[eid]int32, inserts), elems: make([]element, 1, inserts+1)}
	t.elems[0].next = -1
	return t
}

// link puts the element id, inserted after ref (the head if zero), in
// its place: after ref and after any element inserted after ref later in
// Automerge's order (which comes with what was inserted after it).
func (t *rga) link(ref, id eid) {
	p := int32(0)
	if ref.counter != 0 {
		var ok bool
		if p, ok = t.index[ref]; !ok {
			return // after nothing known: the guard refuses such changes
		}
	}
	for q := t.elems[p].next; q >= 0 && t.r.after(t.elems[q].id, id); q = t.elems[q].next {
		p = q
	}
	t.index[id] = int32(len(t.elems))
	t.elems = append(t.elems, element{id: id, next: t.elems[p].next})
	t.elems[p].next = int32(len(t.elems) - 1)
}

func (t *rga) rank() {
	r := int32(0)
	for q := t.elems[0].next; q >= 0; q = t.elems[q].next {
		r++
		t.elems[q].rank = r
	}
	t.tree = make([]int, r+1)
}

// add adds w to the width at rank k.
func (t *rga) add(k int32, w int) {
	for ; int(k) < len(t.tree); k += k & -k {
		t.tree[k] += w
	}
}

// before returns the width of what is visible before rank k.
func (t *rga) before(k int32) int {
	n := 0
	for k--; k > 0; k -= k & -k {
		n += t.tree[k]
	}
	return n
}

// show makes an element visible with a value, returning where it is and
// what it reads.
func (t *rga) show(id OpID, v Value) (int, string) {
	i, ok := t.index[t.r.eid(id)]
	if !ok || t.elems[i].visible {
		return 0, ""
	}
	e := &t.elems[i]
	e.value = v.Str
	if v.Kind != ValueStr || !utf8.ValidString(v.Str) {
		e.value = "\ufffc" // what Automerge shows for a non-character
	}
	e.visible = true
	t.add(e.rank, utf16Len(e.value))
	return t.before(e.rank), e.value
}

// hide makes an element invisible, returning where it was and its width.
func (t *rga) hide(id OpID) (int, int) {
	i, ok := t.index[t.r.eid(id)]
	if !ok || !t.elems[i].visible {
		return 0, 0
	}
	e := &t.elems[i]
	e.visible = false
	w := utf16Len(e.value)
	t.add(e.rank, -w)
	return t.before(e.rank), w
}

// String returns the visible text.
func (t *rga) String() string {
	var b []byte
	for q := t.elems[0].next; q >= 0; q = t.elems[q].next {
		if t.elems[q].visible {
			b = append(b, t.elems[q].value...)
		}
	}
	return string(b)
}

// millis reads a change's time as written. Nodes write milliseconds (as
// automerge-go does), but @automerge/automerge writes seconds by default:
// a time that makes sense only as seconds is read as seconds.
func millis(ms int64) time.Time {
	if ms > 0 && ms < 1e11 { // before 1973 as milliseconds; after 2000 as seconds
		return time.Unix(ms, 0).UTC()
	}
	return time.UnixMilli(ms).UTC()
}
