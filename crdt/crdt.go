// Package crdt is the interview's documents on Automerge: the shared
// document every participant has (files as Text, the active file, their
// languages, the question) and the interviewers' private one (notes, the
// feedback recorder), with the edits a UI makes, the sync protocol, and
// history for replay (Replay: each change as patches on the files).
//
// The Automerge core bundled with automerge-go aborts the whole process on
// crafted input, and recover() cannot catch that. So every document lives in
// a worker process (cmd/parley-worker, when it lies beside the node's
// binary and comes from the same source, or else the same binary started
// with WorkerArg; worker_binary.go): the node holds a Worker, a handle that
// sends requests over the worker's stdin and reads answers from its stdout,
// with a deadline and a memory limit. When the worker dies the call returns
// ErrWorkerDied and the next call starts a new one, empty: the node reopens
// its documents from what it stored. Nothing in the node process hands
// Automerge bytes to the Automerge core.
//
// What the node must know of a peer's bytes before any core sees them, it
// reads in pure Go: DecodeChanges and DecodeSyncMessage decode changes and
// sync messages strictly and within bounds, and CheckChange refuses a
// change its sender's role does not allow (a candidate may only edit the
// files' texts).
package crdt
