//go:build unix

package store

import "syscall"

// restrictUmask takes group and other permissions out of the process's
// umask, keeping whatever else it held. It only ever tightens, so calls
// from several goroutines (several stores in one process) cannot loosen it.
func restrictUmask() {
	old := syscall.Umask(0o077)
	syscall.Umask(old | 0o077)
}
