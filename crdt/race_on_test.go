//go:build race

package crdt

// raceBuild is set when the tests run under the race detector (CI).
const raceBuild = true
