package crdt

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"parley/internal/crasher"
)

func TestMain(m *testing.M) {
	MaybeServeWorker()
	os.Exit(m.Run())
}

func startWorker(t testing.TB, deadline time.Duration) *Worker {
	t.Helper()
	w := NewWorker(WorkerConfig{Command: ReexecCommand, Deadline: deadline})
	t.Cleanup(func() { w.Close() })
	return w
}

func TestWorker(t *testing.T) {
	w := startWorker(t, 10*time.Second)
	if err := w.New("s/shared", Shared, "aaaa"); err != nil {
		t.Fatal(err)
	}
	change, err := w.Edit("s/shared", []Edit{{Op: "add", Name: "main.go", Text: "package main"}}, time.Now())
	if err != nil || len(change) == 0 {
		t.Fatalf("edit: %d bytes, %v", len(change), err)
	}
	// Two copies of one document, edited apart, sync through the worker.
	saved, err := w.Save("s/shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Load("b/shared", "b/shared", Shared, "dddd", saved); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Edit("b/shared", []Edit{{Op: "splice", Target: "file:main.go", Pos: 12, Text: "\n// é🙂"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	syncPair(t, w, "s/shared", "b/shared")
	va, _ := w.View("s/shared")
	vb, _ := w.View("b/shared")
	if va.Files["main.go"] != "package main\n// é🙂" || vb.Files["main.go"] != va.Files["main.go"] {
		t.Fatalf("after sync: %q / %q", va.Files["main.go"], vb.Files["main.go"])
	}
	if _, err := w.Edit("s/shared", []Edit{{Op: "splice", Target: "file:nope"}}, time.Now()); !errors.As(err, new(*RequestError)) {
		t.Fatalf("bad edit: %v", err)
	}
}

// A worker that stops answering is killed at the request's deadline,
// whether it stopped reading (a request larger than the pipe holds) or
// only writing, and the next request starts another.
func TestWorkerOverrunsDeadline(t *testing.T) {
	var started []*exec.Cmd
	// Long enough for the third, a real worker, to start and answer on a
	// loaded machine under -race.
	w := NewWorker(WorkerConfig{Deadline: 2 * time.Second, Command: func() *exec.Cmd {
		if len(started) == 2 {
			return ReexecCommand()
		}
		cmd := exec.Command("sleep", "600") // reads nothing, answers nothing
		started = append(started, cmd)
		return cmd
	}})
	t.Cleanup(func() { w.Close() })
	for _, c := range []struct {
		what string
		call func() error
	}{
		{"a small request, read by no one", func() error { return w.New("s/shared", Shared, "aaaa") }},
		{"a request larger than the pipe holds", func() error {
			_, err := w.Apply("s/shared", bytes.Repeat([]byte{1}, 1<<20), nil)
			return err
		}},
	} {
		err := c.call()
		if !errors.Is(err, ErrWorkerDied) || !strings.Contains(err.Error(), "overran its 2s deadline") {
			t.Fatalf("%s: %v, want the worker killed at its deadline", c.what, err)
		}
		if cmd := started[len(started)-1]; cmd.ProcessState == nil {
			t.Fatalf("%s: the worker (pid %d) was not killed and reaped", c.what, cmd.Process.Pid)
		}
	}
	if err := w.New("s/shared", Shared, "aaaa"); err != nil {
		t.Fatalf("a worker after two killed: %v", err)
	}
	if g := w.Generation(); g != 3 {
		t.Fatalf("generation %d after two workers killed, want 3", g)
	}
}

// A copy of a document under another ID (a read of a stored document
// beside the live one) shares its genesis: the original's changes apply to
// it and show, where a genesis of its own would hide them behind a
// conflicting root.
func TestNewCopy(t *testing.T) {
	w := startWorker(t, 10*time.Second)
	if err := w.New("s/shared", Shared, "aaaa"); err != nil {
		t.Fatal(err)
	}
	change, err := w.Edit("s/shared", []Edit{{Op: "add", Name: "main.go", Text: "package main"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.NewCopy("s/shared@copy", "s/shared", Shared, "bbbb"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Apply("s/shared@copy", change, nil); err != nil {
		t.Fatal(err)
	}
	v, err := w.View("s/shared@copy")
	if err != nil || v.Files["main.go"] != "package main" {
		t.Fatalf("the copy shows %+v, %v", v, err)
	}
	a, _ := w.History("s/shared")
	b, _ := w.History("s/shared@copy")
	if len(a) != 2 || len(b) != 2 || a[0].Hash != b[0].Hash {
		t.Fatalf("geneses differ: %+v / %+v", a, b)
	}
}

// syncPair runs the sync protocol between two documents until quiet.
func syncPair(t *testing.T, w *Worker, a, b string) {
	t.Helper()
	for range 20 {
		quiet := true
		for _, p := range [][2]string{{a, b}, {b, a}} {
			msg, err := w.SyncGenerate(p[0], p[1])
			if err != nil {
				t.Fatal(err)
			}
			if msg == nil {
				continue
			}
			quiet = false
			if _, err := w.SyncReceive(p[1], p[0], msg, nil); err != nil {
				t.Fatal(err)
			}
		}
		if quiet {
			return
		}
	}
	t.Fatal("sync did not settle")
}

func crashers(t testing.TB) []crasher.Input {
	t.Helper()
	ins, err := crasher.All()
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

// Every crasher, in every way bytes reach the worker, leaves the worker
// either refusing it cleanly or dead (ErrWorkerDied): never the caller.
// After a death the next call works on a fresh worker.
func TestCrashers(t *testing.T) {
	w := startWorker(t, 3*time.Second)
	content := []Edit{{Op: "add", Name: "main.go", Text: "func main() {\n\tfmt.Println(\"héllo 🙂\")\n}\n"}, {Op: "splice", Target: "question", Text: "FizzBuzz"}}
	open := func() {
		t.Helper()
		if err := w.New("s/shared", Shared, "aaaa"); err != nil && !strings.Contains(err.Error(), "is open") {
			t.Fatal(err)
		}
		if _, err := w.Edit("s/shared", content, time.Now()); err != nil && !strings.Contains(err.Error(), "exists") {
			t.Fatal(err)
		}
	}
	died := 0
	for _, c := range crashers(t) {
		for _, path := range []string{"load", "apply", "sync"} {
			open()
			var err error
			switch path {
			case "load":
				err = w.Load("x/"+path, "x/"+path, Shared, "bbbb", c.Bytes)
				if err == nil {
					_, err = w.View("x/" + path)
				}
				w.CloseDoc("x/" + path)
			case "apply":
				_, err = w.Apply("s/shared", c.Bytes, nil)
				if err == nil {
					_, err = w.View("s/shared")
				}
				if err == nil {
					_, err = w.SaveIncremental("s/shared")
				}
			case "sync":
				_, err = w.SyncReceive("s/shared", "mallory", c.Bytes, nil)
				if err == nil {
					_, err = w.SyncGenerate("s/shared", "mallory")
				}
				w.SyncReset("s/shared", "mallory")
			}
			if errors.Is(err, ErrWorkerDied) {
				died++
				continue
			}
			// Accepted or refused cleanly: either way the worker answers.
			if _, herr := w.Heads("s/shared"); herr != nil && !errors.Is(herr, ErrWorkerDied) && !strings.Contains(herr.Error(), "no open document") {
				t.Fatalf("%s via %s: worker broken after %v: %v", c.Name, path, err, herr)
			}
		}
	}
	if died == 0 {
		t.Fatal("no crasher killed the worker: are they reaching it?")
	}
	t.Logf("%d of %d deliveries killed the worker; the test process lived", died, 3*len(crashers(t)))
	// And afterwards, work goes on.
	open()
	if v, err := w.View("s/shared"); err != nil || v.Question != "FizzBuzz" {
		t.Fatalf("after the crashers: %+v, %v", v, err)
	}
}

// Inputs made by mutating valid changes, documents and sync messages
// (crasher.Mutator), delivered as a peer's would be, leave the worker
// refusing them, taking them, or dead: never the caller. Everything here
// is deterministic (fixed actors, times and seed), so some of them always
// kill the worker: if none does, the mutator stopped reaching Automerge's
// decoder.
func TestMutantsInWorker(t *testing.T) {
	w := startWorker(t, 2*time.Second)
	content := []Edit{{Op: "add", Name: "main.go", Text: "func main() {\n\tfmt.Println(\"héllo 🙂\")\n}\n"}, {Op: "splice", Target: "question", Text: "FizzBuzz"}}
	open := func() {
		t.Helper()
		if err := w.New("s/shared", Shared, "aaaa"); err != nil && !strings.Contains(err.Error(), "is open") {
			t.Fatal(err)
		}
		if _, err := w.Edit("s/shared", content, time.Unix(1, 0)); err != nil && !strings.Contains(err.Error(), "exists") {
			t.Fatal(err)
		}
	}
	// Valid data: another copy's edits, its whole document, and the sync
	// messages that bring the first copy up to date.
	open()
	saved, err := w.Save("s/shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Load("b/shared", "b/shared", Shared, "bbbb", saved); err != nil {
		t.Fatal(err)
	}
	var changes, syncs [][]byte
	for i, e := range []Edit{{Op: "add", Name: "gen.txt", Text: "hello"}, {Op: "splice", Target: "file:gen.txt", Pos: 2, Del: 1, Text: "ü🙂"}, {Op: "language", Name: "gen.txt", Lang: "go"}} {
		c, err := w.Edit("b/shared", []Edit{e}, time.Unix(int64(2+i), 0))
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, c)
	}
	doc, err := w.Save("b/shared")
	if err != nil {
		t.Fatal(err)
	}
	syncs = catchUp(w)
	w.CloseDoc("s/shared")
	open()

	m := crasher.NewMutator(1)
	died := 0
	const n = 150
	for i := range n {
		var b []byte
		var what string
		switch i % 3 {
		case 0:
			b, what = m.Chunks(changes[i%len(changes)])
		case 1:
			b, what = m.Chunks(doc)
		default:
			b, what = m.SyncMessage(syncs[i%len(syncs)])
		}
		if i%3 == 2 {
			_, err = w.SyncReceive("s/shared", "mallory", b, nil)
			if err == nil {
				_, err = w.SyncGenerate("s/shared", "mallory")
			}
			w.SyncReset("s/shared", "mallory")
		} else {
			_, err = w.Apply("s/shared", b, nil)
			if err == nil {
				_, err = w.View("s/shared")
			}
		}
		if errors.Is(err, ErrWorkerDied) {
			died++
			t.Logf("died: %s", what)
		} else if _, herr := w.Heads("s/shared"); herr != nil {
			t.Fatalf("%s: worker broken after %v: %v", what, err, herr)
		}
		// A fresh copy for the next: a mutant taken may be in this one.
		w.CloseDoc("s/shared")
		open()
	}
	if died == 0 {
		t.Fatalf("none of %d mutants killed the worker: do they still reach Automerge's decoder?", n)
	}
	t.Logf("%d of %d mutants killed the worker", died, n)
}

func FuzzWorkerFrame(f *testing.F) {
	var seed bytes.Buffer
	writeFrame(&seed, request{Op: "apply", Doc: "s/shared"}, []byte{1, 2, 3})
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req request
		blob, err := readFrame(bytes.NewReader(data), &req)
		if err == nil && len(blob) > len(data) {
			t.Fatal("a blob larger than its frame")
		}
	})
}

// catchUp runs sync rounds from document "b/shared" to "s/shared" until
// they agree (four at most) and returns the messages b sent.
func catchUp(w *Worker) [][]byte {
	var syncs [][]byte
	for range 4 {
		if msg, _ := w.SyncGenerate("b/shared", "s"); msg != nil {
			syncs = append(syncs, msg)
			w.SyncReceive("s/shared", "b", msg, nil)
		}
		if msg, _ := w.SyncGenerate("s/shared", "b"); msg != nil {
			w.SyncReceive("b/shared", "s", msg, nil)
		}
	}
	return syncs
}

// A document loaded from a save, by Load or by Replace, sends and stores
// only what comes after: the first edit's change and the first change
// taken from a peer are small, however long the loaded history. (Automerge
// 0.5's first incremental save after a load held the whole history: 5.8 MB
// for rustcode, stored and sent with the next keystroke.)
func TestLoadedDocumentGainsOnlyWhatIsNew(t *testing.T) {
	w := startWorker(t, 10*time.Second)
	batches := [][]Edit{{{Op: "add", Name: "f"}}}
	for i := range 2000 {
		batches = append(batches, []Edit{{Op: "splice", Target: "file:f", Pos: i, Text: "x"}})
	}
	saved, err := Build("s", Shared, "aaaaaaaaaaaaaaaa0000000000000001", batches, func(int) time.Time { return time.Unix(1700000000, 0) })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Load("a", "s", Shared, "bbbbbbbbbbbbbbbb0000000000000002", saved); err != nil {
		t.Fatal(err)
	}
	change, err := w.Edit("a", []Edit{{Op: "splice", Target: "file:f", Pos: 0, Text: "y"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Each change of the history, uncompressed, is tens of bytes.
	if len(change) > 1000 {
		t.Fatalf("the first edit after a load is %d bytes (the history saved whole: %d bytes)", len(change), len(saved))
	}
	if err := w.New("b", Shared, "cccccccccccccccc0000000000000001"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Replace("b", saved, nil); err != nil {
		t.Fatal(err)
	}
	res, err := w.Apply("b", change, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || len(res.Gained) == 0 || len(res.Gained) > 1000 {
		t.Fatalf("the first change taken after a replace: changed %v, gained %d bytes", res.Changed, len(res.Gained))
	}
	va, _ := w.View("a")
	vb, _ := w.View("b")
	if want := "y" + strings.Repeat("x", 2000); va.Files["f"] != want || vb.Files["f"] != want {
		t.Fatalf("the copies read %d and %d characters, want %d", len(va.Files["f"]), len(vb.Files["f"]), len(want))
	}
}
