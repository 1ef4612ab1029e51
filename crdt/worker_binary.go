package crdt

import (
	"debug/buildinfo"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// WorkerBinary is the name of the worker's own binary (cmd/parley-worker),
// which a node runs when it lies beside the node's executable. It holds
// only the worker's code: an idle worker maps a few MB of it instead of
// the whole parley binary's tens.
const WorkerBinary = "parley-worker"

// ownWorker returns the worker binary beside exe, if there is one built
// from exactly the same source as the running program: the same module
// version, or the same commit of an unmodified tree, with the same Go and
// the same Automerge. A stale worker binary left by an older install would
// speak an older protocol, so anything less certain is passed over and the
// node runs itself as its worker.
func ownWorker(exe string) string {
	self, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return ownWorkerFor(exe, self)
}

func ownWorkerFor(exe string, self *debug.BuildInfo) string {
	path := filepath.Join(filepath.Dir(exe), WorkerBinary)
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return ""
	}
	other, err := buildinfo.ReadFile(path)
	if err != nil || !sameSource(self, other) {
		return ""
	}
	return path
}

// sameSource says whether two binaries were built from the same source.
func sameSource(a, b *debug.BuildInfo) bool {
	if a.GoVersion != b.GoVersion || a.Main.Path != b.Main.Path || depVersion(a, automergeModule) != depVersion(b, automergeModule) {
		return false
	}
	if v := a.Main.Version; v != "" && v != "(devel)" && !strings.HasSuffix(v, "+dirty") {
		return v == b.Main.Version
	}
	rev, modified := setting(a, "vcs.revision"), setting(a, "vcs.modified")
	return rev != "" && modified == "false" && rev == setting(b, "vcs.revision") && setting(b, "vcs.modified") == "false"
}

const automergeModule = "github.com/automerge/automerge-go"

func depVersion(bi *debug.BuildInfo, path string) string {
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace.Path + "@" + d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}

func setting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
