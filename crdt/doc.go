package crdt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/automerge/automerge-go"
)

// Kind says which of a session's documents a Doc is.
type Kind string

const (
	// Shared is the document every participant has: the files, the active
	// file, their languages, the question.
	Shared Kind = "shared"
	// Private is the interviewers' document: notes and the feedback
	// recorder. It never reaches the candidate.
	Private Kind = "private"
)

// Limits on what a document may hold.
const (
	MaxFiles     = 64
	MaxNameLen   = 128
	MaxTextBytes = 4 << 20 // per file
	maxBatch     = 4096    // edits in one request
)

// Edit is one change a user makes. Positions and counts are Unicode code
// points.
type Edit struct {
	// Op is splice, add, rename, delete, language, active or recorder.
	Op string `json:"op"`
	// Target is what a splice edits: "file:NAME", "question" or "notes".
	Target string `json:"target,omitempty"`
	Pos    int    `json:"pos,omitempty"`
	Del    int    `json:"del,omitempty"`
	Text   string `json:"text,omitempty"` // splice: inserted; add: initial text
	Name   string `json:"name,omitempty"` // add, rename (from), delete, language, active
	To     string `json:"to,omitempty"`   // rename: new name
	Lang   string `json:"lang,omitempty"` // add, language
	Value  string `json:"value,omitempty"`
}

// View is a document's content.
type View struct {
	Files     map[string]string `json:"files,omitempty"`
	Languages map[string]string `json:"languages,omitempty"`
	Active    string            `json:"active,omitempty"`
	Question  string            `json:"question,omitempty"`
	Notes     string            `json:"notes,omitempty"`
	Recorder  string            `json:"recorder,omitempty"`
}

// ChangeInfo describes one change of a document's history.
type ChangeInfo struct {
	Hash  string    `json:"hash"`
	Actor string    `json:"actor"`
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Edits []Tally   `json:"edits,omitempty"`
}

// Tally is what one change did to one text: code points inserted and
// deleted. Changes record it in their message, for replay.
type Tally struct {
	Target string `json:"t"`
	Ins    int    `json:"i,omitempty"`
	Del    int    `json:"d,omitempty"`
}

// doc is a document in the worker.
type doc struct {
	kind Kind
	am   *automerge.Doc
	// genesis is the ID of the document whose genesis this one shares (its
	// own, or the live one's for a copy): it names the genesis objects the
	// rules speak of.
	genesis string
	// texts caches the Text objects of splice targets: looking one up costs
	// tens of microseconds, more than the splice. Anything that may replace
	// or remove a text (a file added, renamed or deleted, changes merged)
	// empties it.
	texts map[string]*automerge.Text
	// numbers indexes the document's changes by actor and sequence
	// number (see numbered); actors holds each actor's ID once.
	numbers map[actorSeq]automerge.ChangeHash
	actors  map[string]string
	indexed map[automerge.ChangeHash]bool // the heads at the last lookup
	// queued are changes taken whose dependencies had not come: Automerge
	// holds them out of sight, and applies them when those come, unjudged
	// against what came meanwhile; so a second version of one must be
	// refused while it waits (see judge).
	queued map[actorSeq]ChangeHash
	// lastOps is, by actor, its latest change looked up or applied (see
	// maxOpOf).
	lastOps map[string]actorOps
}

type actorSeq struct {
	actor string
	seq   uint64
}

// numbered returns the document's change numbered seq by actor, if it has
// one. The index follows the document: the first call reads every change,
// later ones only those it has not seen, walking back from the heads.
func (d *doc) numbered(actor string, seq uint64) (automerge.ChangeHash, bool) {
	key := func(c *automerge.Change) actorSeq {
		a := c.ActorID()
		if x, ok := d.actors[a]; ok {
			a = x
		} else {
			d.actors[a] = a
		}
		return actorSeq{a, c.ActorSeq()}
	}
	if d.numbers == nil {
		d.numbers, d.actors, d.indexed = map[actorSeq]automerge.ChangeHash{}, map[string]string{}, map[automerge.ChangeHash]bool{}
		for _, h := range d.am.Heads() {
			d.indexed[h] = true
		}
		chs, _ := d.am.Changes()
		for _, c := range chs {
			d.numbers[key(c)] = c.Hash()
		}
	} else {
		heads := d.am.Heads()
		seen := map[automerge.ChangeHash]bool{}
		for todo := slices.Clone(heads); len(todo) > 0; {
			h := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			if seen[h] || d.indexed[h] {
				continue // the walk ends at what the last lookup had
			}
			seen[h] = true
			c, err := d.am.Change(h)
			if err != nil {
				continue
			}
			if k := key(c); d.numbers[k] != c.Hash() {
				d.numbers[k] = c.Hash()
				todo = append(todo, c.Dependencies()...)
			}
		}
		clear(d.indexed)
		for _, h := range heads {
			d.indexed[h] = true
		}
	}
	h, ok := d.numbers[actorSeq{actor, seq}]
	return h, ok
}

// invalidate forgets cached objects.
func (d *doc) invalidate() { d.texts = nil }

// genesisActor is the actor of a document's first change, the same on
// every node, so that every node makes the very same change (same hash)
// and no two nodes create the root objects concurrently.
func genesisActor(id string) string {
	var a [32]byte
	genesisActorTo(&a, id)
	return string(a[:])
}

// genesisActorTo writes genesisActor(id) to a, allocating nothing (for
// short IDs): CheckChange runs on every keystroke.
func genesisActorTo(a *[32]byte, id string) {
	var buf [128]byte
	sum := sha256.Sum256(append(append(buf[:0], "parley/1 genesis\x00"...), id...))
	hex.Encode(a[:], sum[:16])
}

// newDoc makes a document's genesis: its root objects, committed by a
// fixed actor at time zero; then it takes actor for its own edits.
func newDoc(id string, kind Kind, actor string) (*doc, error) {
	am := automerge.New()
	if err := am.SetActorID(genesisActor(id)); err != nil {
		return nil, err
	}
	root := am.RootMap()
	var err error
	switch kind {
	case Shared:
		err = firstErr(root.Set("files", automerge.NewMap()), root.Set("languages", automerge.NewMap()),
			root.Set("question", automerge.NewText("")))
	case Private:
		err = root.Set("notes", automerge.NewText(""))
	default:
		return nil, fmt.Errorf("unknown document kind %q", kind)
	}
	if err != nil {
		return nil, err
	}
	if _, err := am.Commit("", automerge.CommitOptions{Time: &time.Time{}}); err != nil {
		return nil, err
	}
	if err := am.SetActorID(actor); err != nil {
		return nil, err
	}
	return &doc{kind: kind, am: am}, nil
}

// loadDoc loads a saved document.
func loadDoc(kind Kind, actor string, saved []byte) (*doc, error) {
	am, err := automerge.Load(saved)
	if err != nil {
		return nil, err
	}
	if err := am.SetActorID(actor); err != nil {
		return nil, err
	}
	// Automerge 0.5 starts a loaded document's incremental saves from
	// nothing: the first would hold the whole history, uncompressed (5.8
	// MB for rustcode's 37k changes, a 238 KB save), and it is what the
	// node stores, feeds its pages and sends its peers as the next edit's
	// change. A save moves the start to what was loaded (13 ms for 30k
	// changes, where the incremental save would take 42).
	am.Save()
	return &doc{kind: kind, am: am}, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// text returns the Text object of a splice target.
func (d *doc) text(target string) (*automerge.Text, error) {
	if t, ok := d.texts[target]; ok {
		return t, nil
	}
	t, err := d.lookupText(target)
	if err != nil {
		return nil, err
	}
	if d.texts == nil {
		d.texts = map[string]*automerge.Text{}
	}
	d.texts[target] = t
	return t, nil
}

func (d *doc) lookupText(target string) (*automerge.Text, error) {
	root := d.am.RootMap()
	var v *automerge.Value
	var err error
	switch {
	case target == "question" && d.kind == Shared:
		v, err = root.Get("question")
	case target == "notes" && d.kind == Private:
		v, err = root.Get("notes")
	case strings.HasPrefix(target, "file:") && d.kind == Shared:
		name := strings.TrimPrefix(target, "file:")
		files, ferr := d.files()
		if ferr != nil {
			return nil, ferr
		}
		v, err = files.Get(name)
		if err == nil && v.Kind() != automerge.KindText {
			return nil, fmt.Errorf("no file %q", name)
		}
	default:
		return nil, fmt.Errorf("no text %q in the %s document", target, d.kind)
	}
	if err != nil {
		return nil, err
	}
	if v.Kind() != automerge.KindText {
		return nil, fmt.Errorf("%q is not text", target)
	}
	return v.Text(), nil
}

func (d *doc) files() (*automerge.Map, error) {
	v, err := d.am.RootMap().Get("files")
	if err != nil {
		return nil, err
	}
	if v.Kind() != automerge.KindMap {
		return nil, fmt.Errorf("the document has no files")
	}
	return v.Map(), nil
}

func (d *doc) languages() (*automerge.Map, error) {
	v, err := d.am.RootMap().Get("languages")
	if err != nil {
		return nil, err
	}
	if v.Kind() != automerge.KindMap {
		return nil, fmt.Errorf("the document has no languages")
	}
	return v.Map(), nil
}

func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen || !utf8.ValidString(name) || strings.ContainsAny(name, "/\\\x00\n") {
		return fmt.Errorf("file name %q: 1 to %d bytes, no slashes or line breaks", name, MaxNameLen)
	}
	return nil
}

// apply makes edits and commits them as one change, whose message tallies
// what each text gained and lost. It reports whether there was anything to
// commit.
func (d *doc) apply(edits []Edit, at time.Time) (committed bool, err error) {
	if len(edits) > maxBatch {
		return false, fmt.Errorf("%d edits in one batch, over the limit of %d", len(edits), maxBatch)
	}
	var tallies []Tally
	tally := func(target string, ins, del int) {
		if i := slices.IndexFunc(tallies, func(t Tally) bool { return t.Target == target }); i >= 0 {
			tallies[i].Ins += ins
			tallies[i].Del += del
			return
		}
		tallies = append(tallies, Tally{Target: target, Ins: ins, Del: del})
	}
	// Check the whole batch first: the core cannot roll a transaction back
	// (Automerge 0.5 panics), so a batch is applied whole or not at all.
	if err := d.check(edits); err != nil {
		return false, err
	}
	var failed error
	for i, e := range edits {
		if e.Op == "add" || e.Op == "rename" || e.Op == "delete" {
			d.invalidate()
		}
		if err := d.edit(e, tally); err != nil {
			// Checked, so this is the core's own failure: keep what was
			// applied, committed, rather than leave it pending.
			failed = fmt.Errorf("edit %d (%s): %w", i+1, e.Op, err)
			break
		}
	}
	msg, _ := json.Marshal(tallies)
	defer func() {
		if failed != nil {
			err = failed
		}
	}()
	if _, err := d.am.Commit(string(msg), automerge.CommitOptions{Time: &at}); err != nil {
		if strings.Contains(err.Error(), "empty") {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// check plays a batch of edits against the lengths and names of the
// document's texts, without changing anything.
func (d *doc) check(edits []Edit) error {
	lengths := map[string]int{}
	var files map[string]bool // the file names, read only if needed
	loadFiles := func() error {
		if files != nil || d.kind != Shared {
			if files == nil {
				files = map[string]bool{}
			}
			return nil
		}
		files = map[string]bool{}
		fm, err := d.files()
		if err != nil {
			return err
		}
		names, err := fm.Keys()
		if err != nil {
			return err
		}
		for _, n := range names {
			files[n] = true
		}
		return nil
	}
	length := func(target string) (int, error) {
		if n, ok := lengths[target]; ok {
			return n, nil
		}
		t, err := d.text(target)
		if err != nil {
			return 0, err
		}
		lengths[target] = t.Len()
		return lengths[target], nil
	}
	for i, e := range edits {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("edit %d (%s): %s", i+1, e.Op, fmt.Sprintf(format, args...))
		}
		if e.Op != "splice" {
			if err := loadFiles(); err != nil {
				return err
			}
		}
		switch e.Op {
		case "splice":
			n, err := length(e.Target)
			if err != nil {
				return fail("%v", err)
			}
			if e.Pos < 0 || e.Del < 0 || e.Pos > n || e.Del > n-e.Pos {
				return fail("splice at %d deleting %d is outside a text of %d code points", e.Pos, e.Del, n)
			}
			if !utf8.ValidString(e.Text) {
				return fail("inserted text is not valid UTF-8")
			}
			lengths[e.Target] = n - e.Del + utf8.RuneCountInString(e.Text)
		case "add":
			if err := checkName(e.Name); err != nil {
				return fail("%v", err)
			}
			if files[e.Name] {
				return fail("file %q exists", e.Name)
			}
			if len(files) >= MaxFiles {
				return fail("at most %d files", MaxFiles)
			}
			files[e.Name] = true
			lengths["file:"+e.Name] = utf8.RuneCountInString(e.Text)
		case "rename":
			if err := checkName(e.To); err != nil {
				return fail("%v", err)
			}
			if !files[e.Name] {
				return fail("no file %q", e.Name)
			}
			if files[e.To] {
				return fail("file %q exists", e.To)
			}
			n, err := length("file:" + e.Name)
			if err != nil {
				return fail("%v", err)
			}
			delete(files, e.Name)
			delete(lengths, "file:"+e.Name)
			files[e.To] = true
			lengths["file:"+e.To] = n
		case "delete", "language", "active":
			if !files[e.Name] {
				return fail("no file %q", e.Name)
			}
			if e.Op == "delete" {
				delete(files, e.Name)
				delete(lengths, "file:"+e.Name)
			}
			if len(e.Lang) > 32 {
				return fail("language name too long")
			}
		case "recorder":
			if d.kind != Private || len(e.Value) > 256 {
				return fail("the recorder is a short value in the private document")
			}
		default:
			return fail("unknown edit")
		}
		if e.Op != "splice" && e.Op != "recorder" && d.kind != Shared {
			return fail("no files in the %s document", d.kind)
		}
	}
	for target, n := range lengths {
		if n*4 > MaxTextBytes && strings.HasPrefix(target, "file:") {
			return fmt.Errorf("%s would be over %d bytes", target, MaxTextBytes)
		}
	}
	return nil
}

// edit makes one edit.
func (d *doc) edit(e Edit, tally func(target string, ins, del int)) error {
	switch e.Op {
	case "splice":
		t, err := d.text(e.Target)
		if err != nil {
			return err
		}
		n := t.Len()
		if e.Pos < 0 || e.Del < 0 || e.Pos > n || e.Del > n-e.Pos {
			return fmt.Errorf("splice at %d deleting %d is outside a text of %d code points", e.Pos, e.Del, n)
		}
		if !utf8.ValidString(e.Text) {
			return fmt.Errorf("inserted text is not valid UTF-8")
		}
		if err := t.Splice(e.Pos, e.Del, e.Text); err != nil {
			return err
		}
		tally(e.Target, utf8.RuneCountInString(e.Text), e.Del)
	case "add":
		if d.kind != Shared {
			return fmt.Errorf("no files in the %s document", d.kind)
		}
		if err := checkName(e.Name); err != nil {
			return err
		}
		files, err := d.files()
		if err != nil {
			return err
		}
		if v, err := files.Get(e.Name); err == nil && !v.IsVoid() {
			return fmt.Errorf("file %q exists", e.Name)
		}
		if files.Len() >= MaxFiles {
			return fmt.Errorf("at most %d files", MaxFiles)
		}
		if err := files.Set(e.Name, automerge.NewText(e.Text)); err != nil {
			return err
		}
		if e.Lang != "" {
			langs, err := d.languages()
			if err != nil {
				return err
			}
			if err := langs.Set(e.Name, e.Lang); err != nil {
				return err
			}
		}
		tally("file:"+e.Name, utf8.RuneCountInString(e.Text), 0)
	case "rename":
		if err := checkName(e.To); err != nil {
			return err
		}
		files, err := d.files()
		if err != nil {
			return err
		}
		src, err := d.text("file:" + e.Name)
		if err != nil {
			return err
		}
		if v, err := files.Get(e.To); err == nil && !v.IsVoid() {
			return fmt.Errorf("file %q exists", e.To)
		}
		content, err := src.Get()
		if err != nil {
			return err
		}
		if err := firstErr(files.Set(e.To, automerge.NewText(content)), files.Delete(e.Name)); err != nil {
			return err
		}
		langs, err := d.languages()
		if err != nil {
			return err
		}
		if v, err := langs.Get(e.Name); err == nil && v.Kind() == automerge.KindStr {
			if err := firstErr(langs.Set(e.To, v.Str()), langs.Delete(e.Name)); err != nil {
				return err
			}
		}
		if active, _ := d.am.RootMap().Get("active"); active != nil && active.Kind() == automerge.KindStr && active.Str() == e.Name {
			if err := d.am.RootMap().Set("active", e.To); err != nil {
				return err
			}
		}
	case "delete":
		files, err := d.files()
		if err != nil {
			return err
		}
		if _, err := d.text("file:" + e.Name); err != nil {
			return err
		}
		if err := files.Delete(e.Name); err != nil {
			return err
		}
		langs, err := d.languages()
		if err != nil {
			return err
		}
		if v, err := langs.Get(e.Name); err == nil && !v.IsVoid() {
			if err := langs.Delete(e.Name); err != nil {
				return err
			}
		}
	case "language":
		if _, err := d.text("file:" + e.Name); err != nil {
			return err
		}
		if len(e.Lang) > 32 {
			return fmt.Errorf("language name too long")
		}
		langs, err := d.languages()
		if err != nil {
			return err
		}
		return langs.Set(e.Name, e.Lang)
	case "active":
		if _, err := d.text("file:" + e.Name); err != nil {
			return err
		}
		return d.am.RootMap().Set("active", e.Name)
	case "recorder":
		if d.kind != Private {
			return fmt.Errorf("the recorder is in the private document")
		}
		if len(e.Value) > 256 {
			return fmt.Errorf("recorder too long")
		}
		return d.am.RootMap().Set("recorder", e.Value)
	default:
		return fmt.Errorf("unknown edit %q", e.Op)
	}
	return nil
}

// view reads the whole document.
func (d *doc) view() (View, error) { return d.read(true) }

// read reads the document as view does, but renders its texts only with
// render: without, it looks up every object and value view would and takes
// each text's length (which Automerge keeps counted) instead of walking its
// characters, which costs in proportion to the text's whole history.
func (d *doc) read(render bool) (View, error) {
	var v View
	textGet := func(t *automerge.Text) (string, error) {
		if render {
			return t.Get()
		}
		t.Len()
		return "", nil
	}
	root := d.am.RootMap()
	str := func(key string) string {
		x, err := root.Get(key)
		if err != nil || x.Kind() != automerge.KindStr {
			return ""
		}
		return x.Str()
	}
	textOf := func(key string) (string, error) {
		x, err := root.Get(key)
		if err != nil {
			return "", err
		}
		if x.Kind() != automerge.KindText {
			return "", nil
		}
		return textGet(x.Text())
	}
	var err error
	switch d.kind {
	case Shared:
		v.Files, v.Languages = map[string]string{}, map[string]string{}
		files, err := d.files()
		if err != nil {
			return v, err
		}
		names, err := files.Keys()
		if err != nil {
			return v, err
		}
		for _, name := range names {
			x, err := files.Get(name)
			if err != nil {
				return v, err
			}
			if x.Kind() == automerge.KindText {
				if v.Files[name], err = textGet(x.Text()); err != nil {
					return v, err
				}
			}
		}
		if langs, err := d.languages(); err == nil {
			vals, err := langs.Values()
			if err != nil {
				return v, err
			}
			for k, x := range vals {
				if x.Kind() == automerge.KindStr {
					v.Languages[k] = x.Str()
				}
			}
		}
		v.Active = str("active")
		if _, ok := v.Files[v.Active]; !ok {
			v.Active = firstName(v.Files)
		}
		v.Question, err = textOf("question")
	case Private:
		v.Notes, err = textOf("notes")
		v.Recorder = str("recorder")
	}
	return v, err
}

func firstName(files map[string]string) string {
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// history lists every change, oldest first (in causal order).
func (d *doc) history() ([]ChangeInfo, error) {
	chs, err := d.am.Changes()
	if err != nil {
		return nil, err
	}
	out := make([]ChangeInfo, 0, len(chs))
	for _, c := range chs {
		ci := ChangeInfo{Hash: c.Hash().String(), Actor: c.ActorID(), Seq: c.ActorSeq(), Time: changeTime(c)}
		if msg := c.Message(); msg != "" {
			json.Unmarshal([]byte(msg), &ci.Edits)
		}
		out = append(out, ci)
	}
	return out, nil
}

// changeTime returns when a change was made (millis).
func changeTime(c *automerge.Change) time.Time { return millis(c.Timestamp().UnixMilli()) }

// at returns the document as it was at t: with every change made at or
// before t (and what those depend on).
func (d *doc) at(t time.Time) (*doc, error) {
	chs, err := d.am.Changes()
	if err != nil {
		return nil, err
	}
	var heads []automerge.ChangeHash
	seen := map[automerge.ChangeHash]bool{}
	for _, c := range chs {
		if changeTime(c).After(t) {
			continue
		}
		seen[c.Hash()] = true
		heads = append(heads, c.Hash())
	}
	// Keep only the changes no other kept change depends on.
	for _, c := range chs {
		if !seen[c.Hash()] {
			continue
		}
		for _, dep := range c.Dependencies() {
			if seen[dep] {
				heads = slices.DeleteFunc(heads, func(h automerge.ChangeHash) bool { return h == dep })
			}
		}
	}
	if len(heads) == 0 {
		return newDoc("", d.kind, d.am.ActorID())
	}
	f, err := d.am.Fork(heads...)
	if err != nil {
		return nil, err
	}
	return &doc{kind: d.kind, am: f}, nil
}

// Build makes a document in this process from trusted edits, one change
// per batch, stamped by at, and returns it saved: for benchmarks and tools
// that need a long history fast. Nothing from outside may go through it:
// outside bytes go to the worker.
func Build(id string, kind Kind, actor string, batches [][]Edit, at func(i int) time.Time) ([]byte, error) {
	d, err := newDoc(id, kind, actor)
	if err != nil {
		return nil, err
	}
	for i, b := range batches {
		if _, err := d.apply(b, at(i)); err != nil {
			return nil, fmt.Errorf("batch %d: %w", i, err)
		}
	}
	return d.am.Save(), nil
}
