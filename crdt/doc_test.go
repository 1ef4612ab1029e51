package crdt

import (
	"testing"
	"time"
)

func mustDoc(t *testing.T, kind Kind, actor string) *doc {
	t.Helper()
	d, err := newDoc("session1", kind, actor)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func edit(t *testing.T, d *doc, edits ...Edit) {
	t.Helper()
	if _, err := d.apply(edits, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, d *doc) View {
	t.Helper()
	v, err := d.view()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Every node makes the same genesis, so documents started apart merge into
// one, without two competing "files" maps.
func TestGenesisMerges(t *testing.T) {
	a := mustDoc(t, Shared, "aaaa")
	b := mustDoc(t, Shared, "bbbb")
	if a.am.Heads()[0] != b.am.Heads()[0] {
		t.Fatal("two nodes made different genesis changes")
	}
	edit(t, a, Edit{Op: "add", Name: "main.go", Text: "package main\n", Lang: "go"})
	edit(t, b, Edit{Op: "add", Name: "test.py", Text: "print('hi')\n", Lang: "python"}, Edit{Op: "splice", Target: "question", Text: "Reverse a list"})
	if err := a.am.LoadIncremental(b.am.Save()); err != nil {
		t.Fatal(err)
	}
	if err := b.am.LoadIncremental(a.am.Save()); err != nil {
		t.Fatal(err)
	}
	va, vb := view(t, a), view(t, b)
	if len(va.Files) != 2 || va.Files["main.go"] != "package main\n" || va.Question != "Reverse a list" || va.Languages["test.py"] != "python" {
		t.Fatalf("merged view %+v", va)
	}
	if va.Files["test.py"] != vb.Files["test.py"] || va.Question != vb.Question || len(vb.Files) != 2 {
		t.Fatalf("views differ: %+v vs %+v", va, vb)
	}
}

func TestEdits(t *testing.T) {
	d := mustDoc(t, Shared, "aaaa")
	edit(t, d, Edit{Op: "add", Name: "a.go", Text: "héllo"})
	// Positions count code points: emoji and accents are one each.
	edit(t, d, Edit{Op: "splice", Target: "file:a.go", Pos: 5, Text: " 🙂 wörld"}, Edit{Op: "splice", Target: "file:a.go", Pos: 1, Del: 1, Text: "e"})
	if got := view(t, d).Files["a.go"]; got != "hello 🙂 wörld" {
		t.Fatalf("text %q", got)
	}
	edit(t, d, Edit{Op: "splice", Target: "file:a.go", Pos: 6, Del: 1, Text: "漢字"})
	if got := view(t, d).Files["a.go"]; got != "hello 漢字 wörld" {
		t.Fatalf("text %q", got)
	}
	edit(t, d, Edit{Op: "language", Name: "a.go", Lang: "go"}, Edit{Op: "rename", Name: "a.go", To: "main.go"}, Edit{Op: "active", Name: "main.go"})
	v := view(t, d)
	if v.Files["main.go"] != "hello 漢字 wörld" || v.Languages["main.go"] != "go" || v.Active != "main.go" || len(v.Files) != 1 {
		t.Fatalf("after rename: %+v", v)
	}
	edit(t, d, Edit{Op: "add", Name: "b.py"}, Edit{Op: "delete", Name: "main.go"})
	if v := view(t, d); len(v.Files) != 1 || v.Active != "b.py" {
		t.Fatalf("after delete: %+v", v)
	}
	// A bad batch changes nothing at all.
	before := d.am.Heads()
	for _, bad := range [][]Edit{
		{{Op: "splice", Target: "file:b.py", Pos: 0, Text: "ok"}, {Op: "splice", Target: "file:b.py", Pos: 9}},
		{{Op: "splice", Target: "file:nope", Text: "x"}},
		{{Op: "add", Name: "b.py"}},
		{{Op: "add", Name: "a/b"}},
		{{Op: "splice", Target: "notes", Text: "x"}},
		{{Op: "rename", Name: "b.py", To: ""}},
		{{Op: "frobnicate"}},
		{{Op: "splice", Target: "file:b.py", Text: "\xff"}},
	} {
		if _, err := d.apply(bad, time.Now()); err == nil {
			t.Errorf("batch %+v accepted", bad)
		}
	}
	if after := d.am.Heads(); after[0] != before[0] || view(t, d).Files["b.py"] != "" {
		t.Fatal("a refused batch changed the document")
	}
}

func TestPrivateDoc(t *testing.T) {
	d := mustDoc(t, Private, "aaaa")
	edit(t, d, Edit{Op: "splice", Target: "notes", Text: "Strong on **recursion**."}, Edit{Op: "recorder", Value: "ana@acme.test"})
	v := view(t, d)
	if v.Notes != "Strong on **recursion**." || v.Recorder != "ana@acme.test" || v.Files != nil {
		t.Fatalf("private view %+v", v)
	}
	if _, err := d.apply([]Edit{{Op: "add", Name: "x"}}, time.Now()); err == nil {
		t.Fatal("a file added to the private document")
	}
}

func TestHistoryAndAt(t *testing.T) {
	d := mustDoc(t, Shared, "aaaa")
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		at    time.Time
		edits []Edit
	}{
		{t0, []Edit{{Op: "add", Name: "a.go", Text: "ab"}}},
		{t0.Add(time.Minute), []Edit{{Op: "splice", Target: "file:a.go", Pos: 2, Text: "cdé"}}},
		{t0.Add(2 * time.Minute), []Edit{{Op: "splice", Target: "file:a.go", Pos: 0, Del: 2}}},
	}
	for _, s := range steps {
		if _, err := d.apply(s.edits, s.at); err != nil {
			t.Fatal(err)
		}
	}
	h, err := d.history()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 4 || h[0].Actor == "aaaa" || h[2].Edits[0] != (Tally{Target: "file:a.go", Ins: 3}) || h[3].Edits[0] != (Tally{Target: "file:a.go", Del: 2}) || !h[2].Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("history %+v", h)
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{{t0.Add(30 * time.Second), "ab"}, {t0.Add(90 * time.Second), "abcdé"}, {t0.Add(time.Hour), "cdé"}} {
		f, err := d.at(c.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := view(t, f).Files["a.go"]; got != c.want {
			t.Errorf("at %v: %q, want %q", c.at, got, c.want)
		}
	}
	if f, _ := d.at(t0.Add(-time.Hour)); len(view(t, f).Files) != 0 {
		t.Error("the document before its first edit has files")
	}
}
