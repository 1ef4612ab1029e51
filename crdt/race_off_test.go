//go:build !race

package crdt

const raceBuild = false
