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
// results in Go finalizers, so a collection comes first, and the trim one
// tick later, once the finalizers ran.
//
// The serve loop holds the trimmer's lock while it handles a request, so
// a trim (3-60 ms on a 250 MB heap) never runs beside one; a request that
// arrives during a trim waits for it.
type trimmer struct {
	mu    sync.Mutex
	last  time.Time // when the last request ended
	state int       // 0 clean, 1 requests since the last trim, 2 collected
}

func (t *trimmer) begin() { t.mu.Lock() }

func (t *trimmer) end() {
	t.last, t.state = time.Now(), 1
	t.mu.Unlock()
}

// run trims every idle spell, until the process exits.
func (t *trimmer) run() {
	for range time.Tick(trimIdle / 2) {
		t.mu.Lock()
		switch {
		case t.state == 1 && time.Since(t.last) >= trimIdle:
			runtime.GC()
			t.state = 2
		case t.state == 2:
			C.malloc_trim(0)
			t.state = 0
		}
		t.mu.Unlock()
	}
}
