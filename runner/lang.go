package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Language is how to run one language: the file a job starts from, the
// command that compiles it (if any) and the command that runs it, inside
// the sandbox's working directory.
//
// Arguments may hold placeholders: {main} is the job's main file, {class}
// its name without extension (Java's main class), {mem_mb} the memory limit
// in MiB (for runtimes that bound their own heap); an argument with a * in
// it is a pattern matched against the job's file names ("*.c"), replaced by
// every match in name order.
type Language struct {
	// Name identifies the language: "python", "javascript", "go", "c",
	// "cpp", "java", or a config file's own.
	Name string `json:"name"`
	// Title is for people, with the version found ("Python 3.11.2").
	Title string `json:"title"`
	// Version is the toolchain's version as it printed it, first line.
	Version string `json:"version,omitempty"`
	// Main is the file a job starts from when it names none ("main.py").
	Main string `json:"main"`
	// Compile, if set, builds the program; a failure ends the job there.
	Compile []string `json:"compile,omitempty"`
	// Run runs the program.
	Run []string `json:"run"`

	version []string          // prints the version, for Title
	env     map[string]string // set for both steps
	binds   []string          // extra read-only host paths (globs)
	// extraAS is address space allowed above the memory limit, for
	// runtimes that reserve more than they use (the JVM, V8).
	extraAS int64
	cache   bool // the Go build cache (see Warm) is bound read-only at /cache/go
}

// fileConfig is the runner config file (--runner-config): limits and
// languages, each field optional.
//
//	{
//	  "cache_dir": "/var/cache/parley-runner",
//	  "limits": {"wall": "10s", "cpu": "5s", "memory_mb": 256, "processes": 64,
//	             "open_files": 256, "file_size_mb": 16, "output_kb": 1024, "disk_mb": 64},
//	  "languages": {
//	    "python": {"main": "main.py", "run": ["python3", "{main}"]},
//	    "ruby": {"title": "Ruby", "main": "main.rb", "run": ["ruby", "{main}"],
//	             "version": ["ruby", "--version"]},
//	    "java": null
//	  }
//	}
//
// A language named here replaces the built-in one of that name; null
// removes it. Programs are looked up in the sandbox's PATH.
type fileConfig struct {
	// CacheDir is Config.CacheDir, unless that is set.
	CacheDir  string                   `json:"cache_dir"`
	Limits    *fileLimits              `json:"limits"`
	Languages map[string]*fileLanguage `json:"languages"`
}

type fileLimits struct {
	Wall       string `json:"wall"`
	CPU        string `json:"cpu"`
	MemoryMB   int64  `json:"memory_mb"`
	Processes  int    `json:"processes"`
	OpenFiles  int    `json:"open_files"`
	FileSizeMB int64  `json:"file_size_mb"`
	OutputKB   int64  `json:"output_kb"`
	DiskMB     int64  `json:"disk_mb"`
}

type fileLanguage struct {
	Title   string            `json:"title"`
	Main    string            `json:"main"`
	Compile []string          `json:"compile"`
	Run     []string          `json:"run"`
	Version []string          `json:"version"`
	Env     map[string]string `json:"env"`
	// Binds are host paths (globs) the language needs, bound read-only at
	// the same place.
	Binds []string `json:"binds"`
	// ExtraMemoryMB is address space allowed above the memory limit.
	ExtraMemoryMB int64 `json:"extra_memory_mb"`
}

// maxConfigFile bounds the config file.
const maxConfigFile = 1 << 20

// readConfigFile reads a config file into the limits and languages.
func readConfigFile(name string, lim *Limits, langs map[string]*Language, cacheDir *string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("runner config: %w", err)
	}
	if len(b) > maxConfigFile {
		return fmt.Errorf("runner config %s: over %d bytes", name, maxConfigFile)
	}
	var fc fileConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return fmt.Errorf("runner config %s: %w", name, err)
	}
	if *cacheDir == "" {
		*cacheDir = fc.CacheDir
	}
	if fl := fc.Limits; fl != nil {
		for _, d := range []struct {
			s   string
			dst *time.Duration
		}{{fl.Wall, &lim.Wall}, {fl.CPU, &lim.CPU}} {
			if d.s == "" {
				continue
			}
			v, err := time.ParseDuration(d.s)
			if err != nil || v <= 0 {
				return fmt.Errorf("runner config %s: bad duration %q", name, d.s)
			}
			*d.dst = v
		}
		setPos(&lim.Memory, fl.MemoryMB<<20)
		setPos(&lim.FileSize, fl.FileSizeMB<<20)
		setPos(&lim.Output, fl.OutputKB<<10)
		setPos(&lim.Disk, fl.DiskMB<<20)
		setPos(&lim.Processes, fl.Processes)
		setPos(&lim.OpenFiles, fl.OpenFiles)
	}
	for id, fl := range fc.Languages {
		if !validLangName(id) {
			return fmt.Errorf("runner config %s: bad language name %q (lower-case letters, digits, - and +)", name, id)
		}
		if fl == nil {
			delete(langs, id)
			continue
		}
		if len(fl.Run) == 0 || fl.Main == "" {
			return fmt.Errorf("runner config %s: language %q needs \"main\" and \"run\"", name, id)
		}
		if err := checkFileName(fl.Main); err != nil {
			return fmt.Errorf("runner config %s: language %q: %w", name, id, err)
		}
		title := fl.Title
		if title == "" {
			title = id
		}
		version := fl.Version
		if version == nil {
			if old := langs[id]; old != nil {
				version = old.version
			}
		}
		langs[id] = &Language{
			Name: id, Title: title, Main: fl.Main, Compile: fl.Compile, Run: fl.Run,
			version: version, env: fl.Env, binds: fl.Binds, extraAS: fl.ExtraMemoryMB << 20,
		}
	}
	return nil
}

func setPos[T ~int | ~int64](dst *T, v T) {
	if v > 0 {
		*dst = v
	}
}

func validLangName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '+') {
			return false
		}
	}
	return true
}

// builtins are the languages Detect looks for.
func builtins() map[string]*Language {
	jvm := []string{"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Xshare:auto"}
	return map[string]*Language{
		"python": {
			Name: "python", Title: "Python 3", Main: "main.py",
			Run:     []string{"python3", "{main}"},
			version: []string{"python3", "--version"},
			env:     map[string]string{"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
		},
		"javascript": {
			Name: "javascript", Title: "JavaScript (Node.js)", Main: "main.js",
			Run:     []string{"node", "--max-old-space-size={mem_mb}", "{main}"},
			version: []string{"node", "--version"},
			extraAS: 1 << 30,
		},
		"go": {
			Name: "go", Title: "Go", Main: "main.go",
			Compile: []string{"go", "build", "-o", "/tmp/prog", "."},
			Run:     []string{"/tmp/prog"},
			version: []string{"go", "version"},
			env: map[string]string{
				// GOPATH mode builds the working directory's files as one
				// package with no go.mod; the build cache Warm fills is
				// read-only here, which works with the module index off.
				"GO111MODULE": "off", "GOPATH": "/tmp/gopath", "GOCACHE": "/cache/go",
				"GODEBUG": "goindex=0", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0",
				"GOTELEMETRY": "off", "GOFLAGS": "-trimpath", "GOPROXY": "off",
			},
			extraAS: 1 << 30, // the Go runtime reserves 600 MB of address space at start
			cache:   true,
		},
		"c": {
			Name: "c", Title: "C (gcc)", Main: "main.c",
			Compile: []string{"gcc", "-O2", "-std=gnu17", "-o", "/tmp/prog", "*.c", "-lm"},
			Run:     []string{"/tmp/prog"},
			version: []string{"gcc", "-dumpfullversion"},
		},
		"cpp": {
			Name: "cpp", Title: "C++ (g++)", Main: "main.cpp",
			Compile: []string{"g++", "-O2", "-std=gnu++17", "-o", "/tmp/prog", "*.cpp"},
			Run:     []string{"/tmp/prog"},
			version: []string{"g++", "-dumpfullversion"},
		},
		"java": {
			Name: "java", Title: "Java", Main: "Main.java",
			Compile: append(append([]string{"javac", "-J-Xmx512m"}, prefixed("-J", jvm)...), "-d", "/tmp/classes", "*.java"),
			// The JVM reserves a gigabyte for classes and more for code
			// unless told: the run's address space is its heap and these.
			Run: append(append([]string{"java", "-Xmx{mem_mb}m", "-Xss8m", "-XX:CompressedClassSpaceSize=64m",
				"-XX:ReservedCodeCacheSize=64m", "-XX:MaxMetaspaceSize=128m"}, jvm...), "-cp", "/tmp/classes", "{class}"),
			version: []string{"java", "-Xmx64m", "-version"},
			binds:   []string{"/etc/java-*"},
			extraAS: 1 << 30,
		},
	}
}

func prefixed(p string, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = p + a
	}
	return out
}

// searchPath is where toolchains are looked for, on the host and in the
// sandbox: system directories only, so that nothing under /home or /root
// (a pyenv shim, say) is ever offered.
var searchPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/go/bin", "/usr/lib/go/bin"}

// lookPath finds prog in searchPath as the sandbox will.
func lookPath(prog string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	for _, dir := range searchPath {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (looked in %s)", prog, strings.Join(searchPath, ":"))
}

// expand fills in the placeholders of args for a job.
func expand(args []string, main string, names []string, memory int64) ([]string, error) {
	var out []string
	for _, a := range args {
		if strings.Contains(a, "*") {
			var got []string
			for _, n := range names {
				if ok, _ := path.Match(a, n); ok {
					got = append(got, n)
				}
			}
			if len(got) == 0 {
				return nil, fmt.Errorf("no file matches %s", a)
			}
			out = append(out, got...)
			continue
		}
		a = strings.ReplaceAll(a, "{main}", main)
		a = strings.ReplaceAll(a, "{class}", strings.TrimSuffix(path.Base(main), path.Ext(main)))
		a = strings.ReplaceAll(a, "{mem_mb}", strconv.FormatInt(memory>>20, 10))
		out = append(out, a)
	}
	return out, nil
}

// checkFileName refuses a job file name that would leave the working
// directory or could not be a file there.
func checkFileName(name string) error {
	switch {
	case name == "" || len(name) > 255:
		return fmt.Errorf("file name %q: empty or too long", name)
	case strings.HasPrefix(name, "/") || path.Clean(name) != name || name == "." || strings.HasPrefix(name, "../") || name == "..":
		return fmt.Errorf("file name %q must be a plain relative path", name)
	case strings.ContainsAny(name, "\x00\\*?[]{}\n\r"):
		return fmt.Errorf("file name %q holds characters a file name may not", name)
	case slices.Contains(strings.Split(name, "/"), ".."):
		return fmt.Errorf("file name %q: no .. in it", name)
	}
	return nil
}
