//go:build !unix

package store

// restrictUmask does nothing where there is no umask (Windows: files take
// the directory's ACL, and the data directory is the user's).
func restrictUmask() {}
