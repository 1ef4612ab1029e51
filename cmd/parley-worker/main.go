// Command parley-worker is Parley's Automerge worker on its own: the
// process in which a node keeps its documents (crdt.ServeWorker), built
// without the rest of Parley. A node runs it when it lies beside the parley
// binary and was built from the same source (crdt.WorkerConfig); otherwise
// the node runs parley itself as its worker. The worker then maps only its
// own code, which is what most of an idle worker's memory was (BENCHMARKS.md):
// install both with `go install ./cmd/...`.
//
// It is started by a node, speaks the worker protocol on its standard input
// and output, and is not meant to be run by hand.
package main

import (
	"os"

	"parley/crdt"
)

func main() {
	if err := crdt.ServeWorker(os.Stdin, os.Stdout); err != nil {
		os.Stderr.WriteString("parley-worker: " + err.Error() + "\n")
		os.Exit(1)
	}
}
