package crdt

// #include <malloc.h>
import "C"

import (
	"runtime"
	"sync"
	"time"
)

// trimIdle is how long the worker waits with nothing to do before it hands
// memory back: long enough that typing (a change every few hundred ms)
// never waits on a trim, short enough that a closed or reloaded document's
// memory is back with the system within seconds.
const trimIdle = time.Second

// trimmer hands the C heap's free pages back to the kernel once the worker
// is idle. Automerge's core allocates with malloc, and glibc keeps what is
// freed mapped unless it lies at the top of the heap: without this, a
// worker that loaded rustcode's document (250 MB live) stays at 340 MB,
// and stays there after the document is closed. Automerge-go frees its
// results in Go finalizers, so a collection comes first, and the trim once
// the finalizers it queued have run.
//
// The serve loop holds the trimmer's lock while it handles a request, and
// the trimmer holds it while it collects or trims, so a trim (3-60 ms on a
// 250 MB heap) never runs beside a request; a request that arrives during
// one waits for it.
type trimmer struct {
	mu    sync.Mutex
	last  time.Time // when the last request ended
	dirty bool      // a request came during the current trim
	trims int       // trims still to make in this idle spell
}

// trimsPerSpell is how many trims an idle spell makes, one every
// trimIdle: on a loaded machine the finalizers that free a closed
// document's memory may not all have run by the first.
const trimsPerSpell = 3

func (t *trimmer) begin() { t.mu.Lock() }

func (t *trimmer) end() {
	t.last, t.dirty, t.trims = time.Now(), true, trimsPerSpell
	t.mu.Unlock()
}

// sentinel marks, by its finalizer, that the finalizers queued before its
// own have run (they run one at a time, in order). It holds a pointer so
// that it is not a tiny allocation, whose finalizer may never run.
type sentinel struct{ _ *int }

// collections is how many rounds of collection come before a trim: what a
// finalizer frees may hold objects with finalizers of their own
// (automerge-go's values hold the results they came from), which the next
// collection finds.
const collections = 2

// run trims every idle spell, until the process exits.
func (t *trimmer) run() {
	for range time.Tick(trimIdle / 2) {
		t.mu.Lock()
		idle := t.trims > 0 && time.Since(t.last) >= trimIdle
		if idle {
			t.dirty = false
			t.trims--
			t.last = time.Now() // the next trim of the spell a trimIdle later
		}
		t.mu.Unlock()
		if !idle || !t.collect() {
			continue
		}
		t.mu.Lock()
		if !t.dirty {
			C.malloc_trim(0)
		}
		t.mu.Unlock()
	}
}

// collect runs the collections, each waiting for the finalizers it queued;
// it gives up, reporting false, when a request comes meanwhile.
func (t *trimmer) collect() bool {
	for range collections {
		t.mu.Lock()
		if t.dirty {
			t.mu.Unlock()
			return false
		}
		runtime.GC() // queues the finalizers of what is unreachable
		ran := make(chan struct{})
		runtime.SetFinalizer(&sentinel{}, func(*sentinel) { close(ran) })
		runtime.GC() // queues the sentinel's, after them
		t.mu.Unlock()
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
		}
	}
	return true
}
