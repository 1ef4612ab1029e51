package node

import (
	"strings"
	"time"

	"parley/crdt"
)

// A session starts with one file in its language, main.EXT, as CoderPad's
// pads do: the candidate meets something to type in, never "No files yet".
// The language travels in the link (invite.Invite.Language), so every node
// knows it.
//
// The company node makes the file when it creates the session, before
// anyone else can have the document. An interviewer's page that opens a
// document with no file (the company node was not running since) makes it
// too. So two nodes may make it apart, and a user may make a file of the
// same name on a node that has not received it yet (`parley code --load
// main.py` right after joining). Both are harmless by construction:
//
//   - the starter file is made as the document's genesis is (crdt's
//     genesisActor): by a fixed actor, at time zero, on the genesis and
//     nothing else, so every node makes the very same change, byte for byte,
//     with the same hash, and Automerge keeps it once;
//   - that actor is the lowest there is (all zero bytes), and its change
//     comes right after the genesis: when someone's own file of the same
//     name meets it, theirs wins (Automerge keeps the value of the greatest
//     operation, by counter, then actor), so the starter never hides a file
//     someone made.
//
// Made at time zero, it is part of the document's beginning for the replay
// and `parley replay`, like the genesis: nobody typed it.

// Language is a programming language a session may start in.
type Language struct {
	ID   string `json:"id"`   // as links, the document and the editor name it
	Name string `json:"name"` // for people
	File string `json:"file"` // the starter file's name
}

// Languages are the languages a session may start in: those the room's
// editor highlights.
var Languages = []Language{
	{"python", "Python", "main.py"},
	{"javascript", "JavaScript", "main.js"},
	{"typescript", "TypeScript", "main.ts"},
	{"go", "Go", "main.go"},
	{"java", "Java", "Main.java"}, // a public class Main lives in Main.java
	{"c", "C", "main.c"},
	{"cpp", "C++", "main.cpp"},
}

// DefaultLanguage is the language of a session whose creator named none,
// on the command line and in the web form.
const DefaultLanguage = "python"

// LanguageOf returns the language with the given ID.
func LanguageOf(id string) (Language, bool) {
	for _, l := range Languages {
		if l.ID == id {
			return l, true
		}
	}
	return Language{}, false
}

// LanguageIDs lists the languages' IDs, for messages and help.
func LanguageIDs() string {
	ids := make([]string, len(Languages))
	for i, l := range Languages {
		ids[i] = l.ID
	}
	return strings.Join(ids, ", ")
}

// starterFile is the name of a session's first file in language lang; a
// language this version does not know (a newer node's link) gets a text
// file.
func starterFile(lang string) string {
	if l, ok := LanguageOf(lang); ok {
		return l.File
	}
	return "main.txt"
}

// starterActor is the Automerge actor of every session's starter change:
// no participant's (see actorOf) nor a genesis's, and lower than any.
const starterActor = "00000000000000000000000000000000"

// storeStarter stores the starter file of a new session's shared document,
// on the company node, whether or not it runs: the document opens with it.
func (n *Node) storeStarter(session, lang string) error {
	n.docMu.Lock()
	defer n.docMu.Unlock()
	of := crdt.DocID(session, crdt.Shared)
	d := &sessionDoc{session: session, kind: crdt.Shared, id: of + "@new"}
	if err := n.worker.NewCopy(d.id, of, crdt.Shared, n.actor()); err != nil {
		return n.workerFailed(err)
	}
	defer n.worker.CloseDoc(d.id)
	d.gen = n.worker.Generation()
	_, err := n.addStarterLocked(d, lang, nil)
	return err
}

// addStarter gives a session's shared document its starter file when the
// link names a language and the document has no file: on interviewers'
// nodes (the candidate changes no file list), never after the end. Adding
// it where some node already did changes nothing.
func (n *Node) addStarter(l *live) error {
	if l.role != RoleInterviewer || l.inv.Language == "" {
		return nil
	}
	d, err := l.doc(crdt.Shared)
	if err != nil {
		return err
	}
	g := l.guardFor(n.id, crdt.Shared)
	if g.Final {
		return nil
	}
	n.docMu.Lock()
	gained, err := n.addStarterLocked(d, l.inv.Language, g)
	n.docMu.Unlock()
	if err != nil || gained == nil {
		return err
	}
	l.pushChange(crdt.Shared, gained)
	l.docChanged(crdt.Shared, n.id)
	return nil
}

// addStarterLocked makes the starter change and applies it to d if d has
// no file, all under n.docMu, so that no edit comes between the look and
// the change. It returns what d gained (nil: nothing). Call with n.docMu
// held.
func (n *Node) addStarterLocked(d *sessionDoc, lang string, g *crdt.Guard) ([]byte, error) {
	if err := n.ensureLoaded(d); err != nil {
		return nil, err
	}
	v, err := n.worker.View(d.id)
	if err != nil {
		return nil, n.workerFailed(err)
	}
	if len(v.Files) > 0 {
		return nil, nil
	}
	change, err := n.starterChange(d.session, lang)
	if err != nil {
		return nil, err
	}
	res, err := n.worker.Apply(d.id, change, g)
	if err != nil {
		return nil, n.workerFailed(err)
	}
	if len(res.Gained) == 0 {
		return nil, nil // the document had it: its file was renamed or deleted since
	}
	return res.Gained, n.storeLocked(d, res.Gained, n.id)
}

// starterChange makes a session's starter change: on a bare copy of the
// shared document's genesis, by starterActor, at time zero. Call with
// n.docMu held.
func (n *Node) starterChange(session, lang string) ([]byte, error) {
	of := crdt.DocID(session, crdt.Shared)
	tmp := of + "@starter"
	if err := n.worker.NewCopy(tmp, of, crdt.Shared, starterActor); err != nil {
		return nil, n.workerFailed(err)
	}
	defer n.worker.CloseDoc(tmp)
	file := starterFile(lang)
	change, err := n.worker.Edit(tmp, []crdt.Edit{{Op: "add", Name: file, Lang: lang}, {Op: "active", Name: file}}, time.Time{})
	if err != nil {
		return nil, n.workerFailed(err)
	}
	return change, nil
}
