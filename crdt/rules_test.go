package crdt

import (
	"errors"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
)

// checkWant runs CheckChange and compares: want "" is a pass, anything else
// the start of the RuleError's What.
func checkWant(t *testing.T, kind Kind, id string, role Role, c *Change, want string) {
	t.Helper()
	err := CheckChange(kind, id, role, c)
	var re *RuleError
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v", role, err)
	case want == "":
	case !errors.As(err, &re):
		t.Errorf("%s: error %v, want a RuleError %q", role, err, want)
	case re.Actor != c.Actor || !strings.HasPrefix(re.What, want):
		t.Errorf("%s: %q by %s, want %q by %s", role, re.What, re.Actor, want, c.Actor)
	}
}

// Changes made by crdt's own edits pass for the staff; for the candidate,
// only splices of files do.
func TestCheckHonestEdits(t *testing.T) {
	docs := map[Kind]*doc{}
	for _, kind := range []Kind{Shared, Private} {
		d, err := newDoc(DocID("rules", kind), kind, "5aff")
		must(t, err)
		docs[kind] = d
	}
	// One document of each kind, edited step by step.
	for _, tt := range []struct {
		kind      Kind
		edits     []Edit
		candidate string // what the candidate is refused for, "" if nothing
	}{
		{Shared, []Edit{{Op: "add", Name: "a.go", Text: "héllo 🙂", Lang: "go"}}, "changes the file list"},
		{Shared, []Edit{{Op: "add", Name: "b.py"}}, "changes the file list"},
		{Shared, []Edit{{Op: "splice", Target: "file:a.go", Pos: 1, Del: 1, Text: "e wörld 👍🏽"}}, ""},
		{Shared, []Edit{{Op: "splice", Target: "file:a.go", Pos: 0, Del: 3}, {Op: "splice", Target: "file:b.py", Text: "print()"}}, ""},
		{Shared, []Edit{{Op: "splice", Target: "question", Text: "Reverse a list 🔁"}}, "edits the question"},
		{Shared, []Edit{{Op: "splice", Target: "question", Pos: 2, Del: 5}}, "edits the question"},
		{Shared, []Edit{{Op: "language", Name: "b.py", Lang: "python"}}, "changes a file's language"},
		{Shared, []Edit{{Op: "active", Name: "b.py"}}, "changes the active file"},
		{Shared, []Edit{{Op: "rename", Name: "a.go", To: "main.go"}}, "changes the file list"},
		{Shared, []Edit{{Op: "active", Name: "main.go"}, {Op: "rename", Name: "main.go", To: "lib.go"}}, "changes the active file"},
		{Shared, []Edit{{Op: "delete", Name: "b.py"}}, "changes the file list"},
		{Shared, []Edit{{Op: "add", Name: "c.go", Text: "x", Lang: "go"}, {Op: "splice", Target: "file:c.go", Pos: 1, Text: "y"}, {Op: "delete", Name: "c.go"}}, "changes the file list"},
		{Private, []Edit{{Op: "splice", Target: "notes", Text: "Strong on **recursion** ✓"}}, "writes to the interviewers' private document"},
		{Private, []Edit{{Op: "splice", Target: "notes", Pos: 3, Del: 4}, {Op: "recorder", Value: "ana@acme.test"}}, "writes to the interviewers' private document"},
		{Private, []Edit{{Op: "recorder", Value: ""}}, "writes to the interviewers' private document"},
	} {
		d := docs[tt.kind]
		if _, err := d.apply(tt.edits, testTime); err != nil {
			t.Fatal(err)
		}
		c := lastChange(t, d)
		id := DocID("rules", tt.kind)
		checkWant(t, tt.kind, id, RoleStaff, c, "")
		checkWant(t, tt.kind, id, RoleCandidate, c, tt.candidate)
		// Another session's document has other genesis objects: its
		// question is not this one's.
		if tt.kind == Shared && tt.candidate == "" {
			checkWant(t, tt.kind, DocID("other", tt.kind), RoleCandidate, c, "")
		}
	}
	// The genesis is every node's own: nobody may send it.
	for kind, d := range docs {
		all, err := d.am.Changes()
		must(t, err)
		genesis := decodeOne(t, all[0])
		checkWant(t, kind, DocID("rules", kind), RoleStaff, genesis, "poses as the document's genesis")
	}
}

// The page's changes (see make-js.mjs).
func TestCheckJSChanges(t *testing.T) {
	const shared, private = "js/shared", "js/private"
	for _, tt := range []struct {
		name, id         string
		staff, candidate string
	}{
		{"genesis-shared", shared, "poses as the document's genesis", "poses as the document's genesis"},
		{"staff-add", shared, "", "changes the file list"},
		{"staff-question", shared, "", "edits the question"},
		{"staff-language-text", shared, `changes a file's language: sets "main.go" to a text`, "changes a file's language"},
		{"splice", shared, "", ""},
		{"splice-emoji", shared, "", ""},
		{"updatetext", shared, "", ""},
		{"default-time", shared, "", ""},
		{"paste", shared, "", ""},
		{"genesis-private", private, "poses as the document's genesis", "poses as the document's genesis"},
		{"staff-notes", private, "", "writes to the interviewers' private document"},
	} {
		kind := Shared
		if tt.id == private {
			kind = Private
		}
		c := decodeJS(t, tt.name)
		checkWant(t, kind, tt.id, RoleStaff, c, tt.staff)
		checkWant(t, kind, tt.id, RoleCandidate, c, tt.candidate)
	}
}

// Changes no edit makes, crafted with automerge-go, are refused for
// everyone.
func TestCheckCrafted(t *testing.T) {
	id := DocID("rules", Shared)
	g := genesisActor(id)
	// staffDoc has a file a.go (4@5aff), and takes edits by actor bad.
	staffDoc := func() *doc {
		d, err := newDoc(id, Shared, "5aff")
		must(t, err)
		if _, err := d.apply([]Edit{{Op: "add", Name: "a.go", Text: "ab", Lang: "go"}}, testTime); err != nil {
			t.Fatal(err)
		}
		must(t, d.am.SetActorID("bad0"))
		return d
	}
	crafted := func(f func(d *doc) error) *Change {
		t.Helper()
		d := staffDoc()
		must(t, f(d))
		return commit(t, d.am, "")
	}
	files := func(d *doc) *automerge.Map { return must2(d.files()) }
	for _, tt := range []struct {
		name      string
		c         *Change
		staff     string // "" passes
		candidate string
	}{
		{"files replaced", crafted(func(d *doc) error { return d.am.RootMap().Set("files", "x") }),
			`changes the file list: sets "files" to "x"`, "changes the file list"},
		{"question replaced", crafted(func(d *doc) error { return d.am.RootMap().Set("question", automerge.NewText("x")) }),
			`edits the question: sets "question" to a text`, "edits the question"},
		{"languages deleted", crafted(func(d *doc) error { return d.am.RootMap().Delete("languages") }),
			`changes a file's language: deletes "languages"`, "changes a file's language"},
		{"new root key", crafted(func(d *doc) error { return d.am.RootMap().Set("evil", automerge.NewMap()) }),
			`changes the document's structure: sets "evil" to a map`, "changes the document's structure"},
		{"active to a number", crafted(func(d *doc) error { return d.am.RootMap().Set("active", int64(3)) }),
			`changes the active file: sets "active" to the number 3`, "changes the active file"},
		{"active to a path", crafted(func(d *doc) error { return d.am.RootMap().Set("active", "../a.go") }),
			"changes the active file", "changes the active file"},
		{"a map in the files", crafted(func(d *doc) error { return files(d).Set("x", automerge.NewMap()) }),
			`changes the file list: sets "x" to a map`, "changes the file list"},
		{"a string in the files", crafted(func(d *doc) error { return files(d).Set("x", "y") }),
			`changes the file list: sets "x" to "y"`, "changes the file list"},
		{"a file named with a slash", crafted(func(d *doc) error { return files(d).Set("a/b", automerge.NewText("")) }),
			`changes the file list: sets "a/b" to a text`, "changes the file list"},
		{"a long language", crafted(func(d *doc) error { return must2(d.languages()).Set("a.go", strings.Repeat("x", 33)) }),
			"changes a file's language", "changes a file's language"},
		{"a text as language", crafted(func(d *doc) error { return must2(d.languages()).Set("a.go", automerge.NewText("go")) }),
			`changes a file's language: sets "a.go" to a text`, "changes a file's language"},
		{"a number into a text", crafted(func(d *doc) error { return listInPlaceOf(t, d, 4, "5aff", int64(42)) }),
			"edits a file with something other than text: inserts the number 42", "edits a file with something other than text"},
		{"a map into a text", crafted(func(d *doc) error { return listInPlaceOf(t, d, 4, "5aff", automerge.NewMap()) }),
			"edits a file with something other than text: inserts a map", "edits a file with something other than text"},
		{"a number into the question", crafted(func(d *doc) error { return listInPlaceOf(t, d, genesisQuestion, g, 1.5) }),
			"edits the question: inserts the number 1.5", "edits the question"},
		{"the question edited", crafted(func(d *doc) error {
			q, err := d.text("question")
			if err != nil {
				return err
			}
			return q.Splice(0, 0, "Ignore all previous instructions")
		}), "", "edits the question"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkWant(t, Shared, id, RoleStaff, tt.c, tt.staff)
			checkWant(t, Shared, id, RoleCandidate, tt.c, tt.candidate)
		})
	}
}

// listInPlaceOf replaces d's history with one whose object counter@actor
// is a list, not a text (same actors, same counters), and inserts v into
// it as actor bad0: the change a hostile peer would send to put v into the
// text.
func listInPlaceOf(t *testing.T, d *doc, counter uint64, actor string, v any) error {
	t.Helper()
	am := automerge.New()
	must(t, am.SetActorID(actor))
	var l *automerge.List
	if counter == genesisQuestion {
		// The genesis, with the question as a list.
		l = automerge.NewList()
		r := am.RootMap()
		must(t, r.Set("files", automerge.NewMap()), r.Set("languages", automerge.NewMap()), r.Set("question", l))
	} else {
		// The genesis, then the staff's a.go as a list.
		must(t, am.LoadIncremental(genesisOf(t, d)))
		l = automerge.NewList()
		v, err := am.RootMap().Get("files")
		must(t, err)
		must(t, v.Map().Set("a.go", l))
	}
	if _, err := am.Commit(""); err != nil {
		return err
	}
	must(t, am.SetActorID("bad0"))
	d.am = am
	return l.Insert(0, v)
}

func genesisOf(t *testing.T, d *doc) []byte {
	all, err := d.am.Changes()
	must(t, err)
	return all[0].Save()
}

// Ops no automerge-go edit makes, as a hostile peer could write them.
func TestCheckOps(t *testing.T) {
	const bad = "bad0"
	g, pg := genesisActor(DocID("rules", Shared)), genesisActor(DocID("rules", Private))
	file, elem := at(4, "5aff"), at(5, "5aff")
	files, langs, question, notes := at(genesisFiles, g), at(genesisLanguages, g), at(genesisQuestion, g), at(genesisNotes, pg)
	id := at(9, bad)
	overwrite := func(obj, elem OpID, v Value) Op {
		return Op{ID: id, Obj: obj, Elem: elem, Action: ActSet, Value: v, Pred: []OpID{elem}}
	}
	const (
		notText  = "edits a file with something other than text"
		fileList = "changes the file list"
		language = "changes a file's language"
		private  = "writes to the interviewers' private document"
	)
	for _, tt := range []struct {
		name             string
		kind             Kind
		op               Op
		staff, candidate string
	}{
		{"insert", Shared, ins(id, file, elem, str("x")), "", ""},
		{"insert at the head", Shared, ins(id, file, head, str("x")), "", ""},
		{"insert a line", Shared, ins(id, file, elem, str("\r\n")), "", ""},
		{"delete", Shared, del(id, file, elem), "", ""},
		{"overwrite", Shared, overwrite(file, elem, str("y")), "", ""},
		{"delete the head", Shared, del(id, file, head), notText, notText},
		{"overwrite the head", Shared, overwrite(file, head, str("y")), notText, notText},
		{"overwrite with a number", Shared, overwrite(file, elem, Value{Kind: ValueInt, Int: 1}), notText + ": overwrites an element with the number 1", notText},
		{"insert bytes", Shared, ins(id, file, elem, Value{Kind: ValueBytes, Bytes: []byte{1}}), notText + ": inserts bytes", notText},
		{"insert null", Shared, ins(id, file, elem, Value{}), notText + ": inserts null", notText},
		{"mark", Shared, Op{ID: id, Obj: file, Elem: elem, Action: ActMark, MarkName: "bold", Value: Value{Kind: ValueTrue}}, notText + ": marks text", notText},
		{"increment", Shared, Op{ID: id, Obj: file, Elem: elem, Action: ActInc, Value: Value{Kind: ValueInt, Int: 1}}, notText + ": increments an element", notText},
		{"unknown action", Shared, Op{ID: id, Obj: file, Elem: elem, Action: 9, Value: str("x")}, notText + ": makes an unknown operation (action9)", notText},
		{"a text in a text", Shared, Op{ID: id, Obj: file, Elem: elem, Insert: true, Action: ActMakeText}, notText + ": inserts a text", notText},
		{"a map key in a text", Shared, put(id, file, "x", ActSet, str("x")), notText + `: sets "x" to "x"`, notText},
		{"a huge string", Shared, ins(id, file, elem, str(strings.Repeat("x", MaxTextBytes+1))), "writes a string of 4194305 bytes", "writes a string"},
		{"a long string", Shared, ins(id, file, elem, str(strings.Repeat("x", MaxTextBytes))), "", ""},

		{"add a file", Shared, put(id, files, "x.go", ActMakeText, Value{}), "", fileList},
		{"delete a file", Shared, put(id, files, "x.go", ActDel, Value{}, file), "", fileList},
		{"insert into the files", Shared, Op{ID: id, Obj: files, MapKey: true, Key: "x", Insert: true, Action: ActMakeText}, fileList + `: inserts a text at "x"`, fileList},
		{"an element of the files", Shared, del(id, files, elem), fileList + ": deletes an element", fileList},
		{"a file without a name", Shared, put(id, files, "", ActMakeText, Value{}), fileList, fileList},
		{"a list in the files", Shared, put(id, files, "x", ActMakeList, Value{}), fileList + `: sets "x" to a list`, fileList},

		{"set a language", Shared, put(id, langs, "a.go", ActSet, str("go")), "", language},
		{"delete a language", Shared, put(id, langs, "a.go", ActDel, Value{}), "", language},
		{"insert a language", Shared, Op{ID: id, Obj: langs, MapKey: true, Key: "a.go", Insert: true, Action: ActSet, Value: str("go")}, language, language},
		{"a language for no file name", Shared, put(id, langs, "a/b", ActSet, str("go")), language + `: sets "a/b" to "go"`, language},
		{"a number as language", Shared, put(id, langs, "a.go", ActSet, Value{Kind: ValueUint, Uint: 1}), language + `: sets "a.go" to the number 1`, language},

		{"set the active file", Shared, put(id, rootID, "active", ActSet, str("a.go")), "", "changes the active file"},
		{"unset the active file", Shared, put(id, rootID, "active", ActDel, Value{}), "", "changes the active file"},
		{"a counter in the root", Shared, put(id, rootID, "active", ActInc, Value{Kind: ValueInt, Int: 1}), `changes the active file: increments "active"`, "changes the active file"},
		{"delete the files", Shared, put(id, rootID, "files", ActDel, Value{}, files), fileList + `: deletes "files"`, fileList},
		{"an element of the root", Shared, ins(id, rootID, head, str("x")), "changes the document's structure", "changes the document's structure"},

		{"write the question", Shared, ins(id, question, head, str("Q")), "", "edits the question"},
		{"mark the question", Shared, Op{ID: id, Obj: question, Elem: elem, Action: ActMark}, "edits the question: marks text", "edits the question"},

		{"write notes", Private, ins(id, notes, head, str("n")), "", private},
		{"delete notes", Private, del(id, notes, elem), "", private},
		{"mark notes", Private, Op{ID: id, Obj: notes, Elem: elem, Action: ActMark}, "edits the notes with something other than text", private},
		{"set the recorder", Private, put(id, rootID, "recorder", ActSet, str("ana@acme.test")), "", private},
		{"unset the recorder", Private, put(id, rootID, "recorder", ActDel, Value{}), "", private},
		{"a long recorder", Private, put(id, rootID, "recorder", ActSet, str(strings.Repeat("x", 257))), `changes the recorder: sets "recorder" to "xxxx`, private},
		{"replace the notes", Private, put(id, rootID, "notes", ActMakeText, Value{}), `replaces the notes: sets "notes" to a text`, private},
		{"a new key", Private, put(id, rootID, "files", ActMakeMap, Value{}), `changes the document's structure: sets "files" to a map`, private},
		{"another object", Private, ins(id, file, head, str("x")), "writes outside the notes and the recorder", private},
		// The shared document's question is no object of the private one.
		{"the question in private", Private, ins(id, at(genesisQuestion, pg), head, str("x")), "writes outside the notes", private},
		{"the notes in shared", Shared, ins(id, at(genesisNotes, pg), head, str("x")), "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Change{Actor: bad, Seq: 1, StartOp: 9, Ops: []Op{tt.op}}
			checkWant(t, tt.kind, DocID("rules", tt.kind), RoleStaff, c, tt.staff)
			checkWant(t, tt.kind, DocID("rules", tt.kind), RoleCandidate, c, tt.candidate)
		})
	}
}

func TestCheckCalls(t *testing.T) {
	c := &Change{Actor: "bad0", Seq: 1, StartOp: 1}
	for _, tt := range []struct {
		kind Kind
		role Role
		want string
	}{
		{"public", RoleStaff, `unknown document kind "public"`},
		{Shared, Role(7), "unknown role Role(7)"},
	} {
		err := CheckChange(tt.kind, "s/x", tt.role, c)
		var re *RuleError
		if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckChange(%q, %v): %v, want %q", tt.kind, tt.role, err, tt.want)
		}
	}
	if err := CheckChange(Shared, "s/shared", RoleStaff, nil); err == nil {
		t.Error("no change passes")
	}
	// An empty change (a merge) is nothing to refuse.
	checkWant(t, Shared, "s/shared", RoleCandidate, c, "")
	if got := (&RuleError{Actor: "bad0", What: "edits the question"}).Error(); got != "change by actor bad0 edits the question" {
		t.Errorf("Error() = %q", got)
	}
}

// keystroke is a one-keystroke change by the candidate: a character typed
// into a file, as crdt's splice edit makes it.
func keystroke(b *testing.B) []byte {
	d, err := newDoc(DocID("bench", Shared), Shared, "5aff")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.apply([]Edit{{Op: "add", Name: "main.go", Text: "package main\n", Lang: "go"}}, testTime); err != nil {
		b.Fatal(err)
	}
	if err := d.am.SetActorID("2222222222222222bbbbbbbbbbbbbbbb"); err != nil {
		b.Fatal(err)
	}
	if _, err := d.apply([]Edit{{Op: "splice", Target: "file:main.go", Pos: 13, Text: "x"}}, testTime); err != nil {
		b.Fatal(err)
	}
	all, err := d.am.Changes()
	if err != nil {
		b.Fatal(err)
	}
	return all[len(all)-1].Save()
}

// BenchmarkCheckKeystroke decodes and checks a one-keystroke change, as a
// node does for each of a peer's keystrokes.
func BenchmarkCheckKeystroke(b *testing.B) {
	for _, bb := range []struct {
		name string
		id   string
		raw  []byte
	}{
		{"go", DocID("bench", Shared), keystroke(b)},
		{"js", "js/shared", jsHex(b, "splice")},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.raw)))
			for b.Loop() {
				cs, err := DecodeChanges(bb.raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := CheckChange(Shared, bb.id, RoleCandidate, cs[0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheck is the check alone.
func BenchmarkCheck(b *testing.B) {
	cs, err := DecodeChanges(keystroke(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckChange(Shared, DocID("bench", Shared), RoleCandidate, cs[0]); err != nil {
			b.Fatal(err)
		}
	}
}
