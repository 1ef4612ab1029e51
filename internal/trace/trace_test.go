package trace

import "testing"

func TestReplayEndsAtEndContent(t *testing.T) {
	for _, name := range []string{"sveltecomponent", "rustcode", "automerge-paper"} {
		tr, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.Apply(len(tr.Txns)); got != tr.EndContent {
			t.Fatalf("%s: replay ends with %d code points, want %d", name, len([]rune(got)), len([]rune(tr.EndContent)))
		}
	}
	if _, err := Load("nonesuch"); err == nil {
		t.Fatal("loaded a trace that does not exist")
	}
}
