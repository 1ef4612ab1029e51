package crdt

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The rules a peer's change must follow before an honest node takes it,
// by the role of its sender: a candidate may only edit the files' texts;
// the staff may also write the question, add, rename and delete files, set
// their languages and the active file, and write the private document.
// Every node checks every change it does not have yet, so a hostile
// participant's node cannot slip a change past the others.

// Role is who made a change, as far as the rules go.
type Role int

const (
	// RoleCandidate may only edit the texts of the shared document's
	// files. It is the zero Role: the least trusted.
	RoleCandidate Role = iota
	// RoleStaff is an interviewer or the company's node.
	RoleStaff
)

func (r Role) String() string {
	switch r {
	case RoleCandidate:
		return "candidate"
	case RoleStaff:
		return "staff"
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// RuleError says which rule a change broke, in words an interviewer reads:
// "edits the question", "changes the file list", ...
type RuleError struct {
	Actor string
	What  string
	// Hash is the change's, when one change broke the rule.
	Hash string `json:",omitempty"`
}

func (e *RuleError) Error() string { return "change by actor " + e.Actor + " " + e.What }

// The genesis's objects (see newDoc), by counter: their actor is the
// document's genesis actor.
const (
	genesisFiles     = 1 // shared: a map of file names to texts
	genesisLanguages = 2 // shared: a map of file names to language names
	genesisQuestion  = 3 // shared: a text
	genesisNotes     = 1 // private: a text
)

// Bounds on what the edits of doc.go write.
const (
	maxLanguageLen = 32
	maxRecorderLen = 256
)

// CheckChange reports whether a change may be taken from a participant of
// role into a session's document of kind; docID is DocID(session, kind),
// whose genesis actor made the document's root objects. A broken rule is a
// *RuleError.
func CheckChange(kind Kind, docID string, role Role, c *Change) error {
	if kind != Shared && kind != Private {
		return fmt.Errorf("crdt: check change: unknown document kind %q", kind)
	}
	if role != RoleStaff && role != RoleCandidate {
		return fmt.Errorf("crdt: check change: unknown role %v", role)
	}
	if c == nil {
		return fmt.Errorf("crdt: check change: no change")
	}
	k := checker{kind: kind, role: role}
	genesisActorTo(&k.genesis, docID)
	switch {
	case c.Actor == string(k.genesis[:]):
		// Every node makes the genesis itself, and only that is the
		// genesis actor's.
		return &RuleError{Actor: c.Actor, What: "poses as the document's genesis"}
	case kind == Private && role == RoleCandidate:
		return &RuleError{Actor: c.Actor, What: "writes to the interviewers' private document"}
	}
	for i := range c.Ops {
		if what := k.check(&c.Ops[i]); what != "" {
			return &RuleError{Actor: c.Actor, What: what}
		}
	}
	return nil
}

type checker struct {
	kind    Kind
	role    Role
	genesis [32]byte // hex
}

// is reports whether id is the genesis's object of counter.
func (k *checker) is(id OpID, counter uint64) bool {
	return id.Counter == counter && id.Actor == string(k.genesis[:])
}

// check returns what op does wrong, or "".
func (k *checker) check(op *Op) string {
	if op.Value.Kind == ValueStr && len(op.Value.Str) > MaxTextBytes {
		return fmt.Sprintf("writes a string of %d bytes, over the limit of %d", len(op.Value.Str), MaxTextBytes)
	}
	if k.kind == Private {
		return k.private(op)
	}
	staff := k.role == RoleStaff
	switch {
	case op.Obj.Counter == 0:
		if staff && op.MapKey && op.Key == "active" && isSetOrDel(op, MaxNameLen) && (op.Action == ActDel || checkName(op.Value.Str) == nil) {
			return ""
		}
		return rootWhat(op)
	case k.is(op.Obj, genesisFiles):
		if staff && op.MapKey && !op.Insert && (op.Action == ActDel || op.Action == ActMakeText && checkName(op.Key) == nil) {
			return ""
		}
		return "changes the file list: " + describe(op)
	case k.is(op.Obj, genesisLanguages):
		if staff && op.MapKey && isSetOrDel(op, maxLanguageLen) && (op.Action == ActDel || checkName(op.Key) == nil) {
			return ""
		}
		return "changes a file's language: " + describe(op)
	case k.is(op.Obj, genesisQuestion):
		if staff && isTextOp(op) {
			return ""
		}
		return "edits the question: " + describe(op)
	case !isTextOp(op):
		// A file's text, as far as the rules know: nothing else may be
		// made.
		return "edits a file with something other than text: " + describe(op)
	}
	return ""
}

func (k *checker) private(op *Op) string {
	switch {
	case op.Obj.Counter == 0:
		if op.MapKey && op.Key == "recorder" && isSetOrDel(op, maxRecorderLen) {
			return ""
		}
		switch {
		case op.MapKey && op.Key == "notes":
			return "replaces the notes: " + describe(op)
		case op.MapKey && op.Key == "recorder":
			return "changes the recorder: " + describe(op)
		}
		return "changes the document's structure: " + describe(op)
	case k.is(op.Obj, genesisNotes):
		if isTextOp(op) {
			return ""
		}
		return "edits the notes with something other than text: " + describe(op)
	}
	return "writes outside the notes and the recorder: " + describe(op)
}

// rootWhat says what an op on the shared document's root does wrong.
func rootWhat(op *Op) string {
	what := "changes the document's structure"
	if op.MapKey {
		switch op.Key {
		case "files":
			what = "changes the file list"
		case "languages":
			what = "changes a file's language"
		case "question":
			what = "edits the question"
		case "active":
			what = "changes the active file"
		}
	}
	return what + ": " + describe(op)
}

// isSetOrDel reports whether op sets a map key to a string of at most max
// bytes or deletes it.
func isSetOrDel(op *Op, max int) bool {
	return !op.Insert && (op.Action == ActDel || op.Action == ActSet && op.Value.Kind == ValueStr && len(op.Value.Str) <= max)
}

// isTextOp reports whether op edits a text as an editor does: inserts a
// string, deletes a character, or overwrites one with a string.
func isTextOp(op *Op) bool {
	switch {
	case op.MapKey:
		return false
	case op.Insert:
		return op.Action == ActSet && op.Value.Kind == ValueStr
	case op.Action == ActDel:
		return op.Elem.Counter != 0
	}
	return op.Action == ActSet && op.Value.Kind == ValueStr && op.Elem.Counter != 0
}

// describe says what op does, briefly, for a RuleError.
func describe(op *Op) string {
	var value string
	switch op.Action {
	case ActMakeMap:
		value = "a map"
	case ActMakeList:
		value = "a list"
	case ActMakeText:
		value = "a text"
	case ActMakeTable:
		value = "a table"
	case ActSet:
		value = valueWords(op.Value)
	case ActDel:
		if op.MapKey {
			return "deletes " + strconv.Quote(op.Key)
		}
		return "deletes an element"
	case ActInc:
		if op.MapKey {
			return "increments " + strconv.Quote(op.Key)
		}
		return "increments an element"
	case ActMark:
		return "marks text"
	default:
		return "makes an unknown operation (" + op.Action.String() + ")"
	}
	switch {
	case op.Insert && op.MapKey:
		return "inserts " + value + " at " + strconv.Quote(op.Key)
	case op.Insert:
		return "inserts " + value
	case op.MapKey:
		return "sets " + strconv.Quote(op.Key) + " to " + value
	}
	return "overwrites an element with " + value
}

// valueWords names a value for people.
func valueWords(v Value) string {
	switch v.Kind {
	case ValueStr:
		s := v.Str
		if utf8.RuneCountInString(s) > 40 {
			s = string([]rune(s)[:40]) + "…"
		}
		return strconv.Quote(s)
	case ValueInt, ValueUint:
		return "the number " + v.String()
	case ValueFloat:
		return "the number " + strconv.FormatFloat(v.Float, 'g', -1, 64)
	case ValueNull, ValueTrue, ValueFalse:
		return v.String()
	case ValueBytes:
		return "bytes"
	case ValueCounter:
		return "a counter"
	case ValueTimestamp:
		return "a timestamp"
	}
	return "a value of unknown type " + strconv.Itoa(int(v.Code))
}
