package runner

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// Hostile programs, in every language this host offers. Each must be
// stopped with the right reason, or refused what it tries, and leave
// nothing running. In the sources, @SECRET@ is a file planted where the
// node's data directory could be, @HOSTFILE@ a host path to write, @PORT@
// a TCP listener on the host's 127.0.0.1. Programs print "READ", "WROTE",
// "CONNECTED" or "RESOLVED" when what they try works.

type hostileCase struct {
	name  string
	check func(t *testing.T, res Result, stdout, stderr string, e *hostileEnv)
}

type hostileEnv struct {
	secretText string
	hostFile   string
	accepted   atomic.Int64
}

var hostileCases = []hostileCase{
	{"fork bomb", func(t *testing.T, res Result, _, _ string, _ *hostileEnv) {
		// Which limit a bomb meets first depends on the language: the
		// JVM, refused threads, prints a warning per refusal until the
		// output limit.
		if !slices.Contains([]Reason{ReasonProcesses, ReasonMemory, ReasonTime, ReasonOutput}, res.Reason) {
			t.Errorf("fork bomb: %+v, want it stopped", res)
		}
	}},
	{"infinite loop", func(t *testing.T, res Result, _, _ string, _ *hostileEnv) {
		if res.Reason != ReasonTime {
			t.Errorf("loop: %+v, want reason time", res)
		}
	}},
	{"10 GB allocation", func(t *testing.T, res Result, stdout, _ string, _ *hostileEnv) {
		refused := res.Exit != 0 && !strings.Contains(stdout, "ALLOCATED")
		if res.Reason != ReasonMemory && !refused {
			t.Errorf("allocation: %+v, stdout %q: neither stopped nor refused", res, stdout)
		}
		if res.PeakMemory > testLimits.withDefaults().Memory+64<<20 {
			t.Errorf("allocation: peak memory %d MiB, over the limit", res.PeakMemory>>20)
		}
	}},
	{"1 GB to stdout", func(t *testing.T, res Result, _, _ string, _ *hostileEnv) {
		if res.Reason != ReasonOutput || res.Output != DefaultOutput {
			t.Errorf("output: %+v, want reason output after exactly %d bytes", res, DefaultOutput)
		}
	}},
	{"write outside", func(t *testing.T, res Result, stdout, _ string, e *hostileEnv) {
		if strings.Contains(stdout, "WROTE") {
			t.Errorf("a write outside the working directory worked: %q", stdout)
		}
		if _, err := os.Stat(e.hostFile); err == nil {
			t.Errorf("%s was written on the host", e.hostFile)
		}
	}},
	{"read secrets", func(t *testing.T, res Result, stdout, stderr string, e *hostileEnv) {
		if strings.Contains(stdout+stderr, e.secretText) || strings.Contains(stdout, "READ") {
			t.Errorf("read what it must not: %q", stdout)
		}
	}},
	{"connect to 127.0.0.1", func(t *testing.T, res Result, stdout, _ string, e *hostileEnv) {
		if strings.Contains(stdout, "CONNECTED") || e.accepted.Load() > 0 {
			t.Errorf("connected to the host's loopback: %q", stdout)
		}
	}},
	{"DNS lookup", func(t *testing.T, res Result, stdout, _ string, _ *hostileEnv) {
		if strings.Contains(stdout, "RESOLVED") {
			t.Errorf("resolved a name: %q", stdout)
		}
	}},
	{"daemon", func(t *testing.T, res Result, stdout, _ string, _ *hostileEnv) {
		if res.Reason != "" || !strings.Contains(stdout, "PARENT DONE") {
			t.Errorf("daemon: %+v %q, want the run to end with its parent", res, stdout)
		}
	}},
	{"kill parent", func(t *testing.T, res Result, _, _ string, _ *hostileEnv) {
		if res.Reason != "" {
			t.Errorf("kill parent: %+v, want it to end on its own", res)
		}
	}},
}

var hostilePrograms = map[string]map[string]string{
	"python": {
		"fork bomb":        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
		"infinite loop":    "while True:\n    pass\n",
		"10 GB allocation": "b = bytearray(10 * 1024**3)\nprint('ALLOCATED', len(b))\n",
		"1 GB to stdout":   "import sys\nb = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(b)\n",
		"write outside": `for p in ["@HOSTFILE@", "/usr/pwned", "/etc/pwned", "/pwned"]:
    try:
        open(p, "w").write("x"); print("WROTE", p)
    except OSError as e:
        print("refused", p, e)
`,
		"read secrets": `import os
for p in ["@SECRET@"]:
    try:
        print("READ", open(p).read())
    except OSError as e:
        print("refused", p, e)
for d in ["/root", "/home", os.path.dirname("@SECRET@")]:
    try:
        print("READ", d, os.listdir(d))
    except OSError as e:
        print("refused", d, e)
`,
		"connect to 127.0.0.1": "import socket\ntry:\n    socket.create_connection(('127.0.0.1', @PORT@), timeout=2)\n    print('CONNECTED')\nexcept OSError as e:\n    print('refused', e)\n",
		"DNS lookup":           "import socket\ntry:\n    print('RESOLVED', socket.getaddrinfo('example.com', 80))\nexcept OSError as e:\n    print('refused', e)\n",
		"daemon":               "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n    os._exit(0)\nprint('PARENT DONE')\n",
		"kill parent":          "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\nprint('still here')\n",
	},
	"javascript": {
		"fork bomb":            "const {spawn} = require('child_process');\nfunction bomb() { try { spawn(process.execPath, [__filename], {stdio: 'ignore'}).on('error', () => {}); } catch (e) {} setImmediate(bomb); }\nbomb();\n",
		"infinite loop":        "for (;;) {}\n",
		"10 GB allocation":     "const b = Buffer.alloc(10 * 1024 ** 3);\nconsole.log('ALLOCATED', b.length);\n",
		"1 GB to stdout":       "const fs = require('fs');\nconst b = Buffer.alloc(1 << 20, 'x');\nfor (let i = 0; i < 1024; i++) fs.writeSync(1, b);\n",
		"write outside":        "const fs = require('fs');\nfor (const p of ['@HOSTFILE@', '/usr/pwned', '/etc/pwned', '/pwned']) { try { fs.writeFileSync(p, 'x'); console.log('WROTE', p); } catch (e) { console.log('refused', p, e.code); } }\n",
		"read secrets":         "const fs = require('fs'), path = require('path');\ntry { console.log('READ', fs.readFileSync('@SECRET@', 'utf8')); } catch (e) { console.log('refused', e.code); }\nfor (const d of ['/root', '/home', path.dirname('@SECRET@')]) { try { console.log('READ', d, fs.readdirSync(d)); } catch (e) { console.log('refused', d, e.code); } }\n",
		"connect to 127.0.0.1": "const net = require('net');\nnet.connect(@PORT@, '127.0.0.1').on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', e => console.log('refused', e.code));\n",
		"DNS lookup":           "require('dns').lookup('example.com', (e, a) => console.log(e ? 'refused ' + e.code : 'RESOLVED ' + a));\n",
		"daemon":               "const {spawn} = require('child_process');\nspawn('/bin/sleep', ['60'], {detached: true, stdio: 'ignore'}).unref();\nconsole.log('PARENT DONE');\n",
		"kill parent":          "try { process.kill(process.ppid, 'SIGKILL'); } catch (e) {}\ntry { process.kill(-1, 'SIGKILL'); } catch (e) {}\nconsole.log('still here');\n",
	},
	"go": {
		"fork bomb":            "package main\n\nimport \"os/exec\"\n\nfunc main() {\n\tfor {\n\t\texec.Command(\"/proc/self/exe\").Start()\n\t}\n}\n",
		"infinite loop":        "package main\n\nfunc main() {\n\tfor {\n\t}\n}\n",
		"10 GB allocation":     "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tb := make([]byte, 10<<30)\n\tfor i := range b {\n\t\tb[i] = 1\n\t}\n\tfmt.Println(\"ALLOCATED\", len(b))\n}\n",
		"1 GB to stdout":       "package main\n\nimport (\n\t\"bytes\"\n\t\"os\"\n)\n\nfunc main() {\n\tb := bytes.Repeat([]byte(\"x\"), 1<<20)\n\tfor range 1024 {\n\t\tos.Stdout.Write(b)\n\t}\n}\n",
		"write outside":        "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tfor _, p := range []string{\"@HOSTFILE@\", \"/usr/pwned\", \"/etc/pwned\", \"/pwned\"} {\n\t\tif err := os.WriteFile(p, []byte(\"x\"), 0o644); err != nil {\n\t\t\tfmt.Println(\"refused\", err)\n\t\t} else {\n\t\t\tfmt.Println(\"WROTE\", p)\n\t\t}\n\t}\n}\n",
		"read secrets":         "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"path/filepath\"\n)\n\nfunc main() {\n\tif b, err := os.ReadFile(\"@SECRET@\"); err == nil {\n\t\tfmt.Println(\"READ\", string(b))\n\t} else {\n\t\tfmt.Println(\"refused\", err)\n\t}\n\tfor _, d := range []string{\"/root\", \"/home\", filepath.Dir(\"@SECRET@\")} {\n\t\tif es, err := os.ReadDir(d); err == nil {\n\t\t\tfmt.Println(\"READ\", d, len(es))\n\t\t} else {\n\t\t\tfmt.Println(\"refused\", err)\n\t\t}\n\t}\n}\n",
		"connect to 127.0.0.1": "package main\n\nimport (\n\t\"fmt\"\n\t\"net\"\n\t\"time\"\n)\n\nfunc main() {\n\tif _, err := net.DialTimeout(\"tcp\", \"127.0.0.1:@PORT@\", 2*time.Second); err == nil {\n\t\tfmt.Println(\"CONNECTED\")\n\t} else {\n\t\tfmt.Println(\"refused\", err)\n\t}\n}\n",
		"DNS lookup":           "package main\n\nimport (\n\t\"fmt\"\n\t\"net\"\n)\n\nfunc main() {\n\tif a, err := net.LookupHost(\"example.com\"); err == nil {\n\t\tfmt.Println(\"RESOLVED\", a)\n\t} else {\n\t\tfmt.Println(\"refused\", err)\n\t}\n}\n",
		"daemon":               "package main\n\nimport (\n\t\"fmt\"\n\t\"os/exec\"\n\t\"syscall\"\n)\n\nfunc main() {\n\tc := exec.Command(\"/bin/sleep\", \"60\")\n\tc.SysProcAttr = &syscall.SysProcAttr{Setsid: true}\n\tc.Start()\n\tfmt.Println(\"PARENT DONE\")\n}\n",
		"kill parent":          "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"syscall\"\n)\n\nfunc main() {\n\tsyscall.Kill(os.Getppid(), syscall.SIGKILL)\n\tsyscall.Kill(-1, syscall.SIGKILL)\n\tfmt.Println(\"still here\")\n}\n",
	},
	"c": {
		"fork bomb":            "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n",
		"infinite loop":        "int main(void) { volatile unsigned long x = 0; for (;;) x++; }\n",
		"10 GB allocation":     "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void) { size_t n = 10UL << 30; char *p = malloc(n); if (!p) { puts(\"refused\"); return 1; } memset(p, 1, n); printf(\"ALLOCATED %zu\\n\", n); }\n",
		"1 GB to stdout":       "#include <stdio.h>\n#include <string.h>\nstatic char b[1 << 20];\nint main(void) { memset(b, 'x', sizeof b); for (int i = 0; i < 1024; i++) fwrite(b, 1, sizeof b, stdout); }\n",
		"write outside":        "#include <stdio.h>\nint main(void) { const char *ps[] = {\"@HOSTFILE@\", \"/usr/pwned\", \"/etc/pwned\", \"/pwned\"}; for (int i = 0; i < 4; i++) { FILE *f = fopen(ps[i], \"w\"); if (f && fputs(\"x\", f) >= 0 && fclose(f) == 0) printf(\"WROTE %s\\n\", ps[i]); else perror(ps[i]); } }\n",
		"read secrets":         "#include <stdio.h>\n#include <dirent.h>\nint main(void) { char b[256]; FILE *f = fopen(\"@SECRET@\", \"r\"); if (f && fgets(b, sizeof b, f)) printf(\"READ %s\\n\", b); else perror(\"secret\"); const char *ds[] = {\"/root\", \"/home\"}; for (int i = 0; i < 2; i++) { DIR *d = opendir(ds[i]); if (d) printf(\"READ %s\\n\", ds[i]); else perror(ds[i]); } }\n",
		"connect to 127.0.0.1": "#include <stdio.h>\n#include <string.h>\n#include <arpa/inet.h>\n#include <sys/socket.h>\nint main(void) { int s = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a; memset(&a, 0, sizeof a); a.sin_family = AF_INET; a.sin_port = htons(@PORT@); a.sin_addr.s_addr = htonl(0x7f000001); if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) puts(\"CONNECTED\"); else perror(\"connect\"); }\n",
		"DNS lookup":           "#include <stdio.h>\n#include <netdb.h>\nint main(void) { struct addrinfo *r; int e = getaddrinfo(\"example.com\", \"80\", 0, &r); if (e == 0) puts(\"RESOLVED\"); else printf(\"refused %s\\n\", gai_strerror(e)); }\n",
		"daemon":               "#include <stdio.h>\n#include <unistd.h>\nint main(void) { if (fork() == 0) { setsid(); if (fork() == 0) sleep(60); _exit(0); } puts(\"PARENT DONE\"); }\n",
		"kill parent":          "#include <signal.h>\n#include <stdio.h>\n#include <unistd.h>\nint main(void) { kill(getppid(), SIGKILL); kill(-1, SIGKILL); puts(\"still here\"); }\n",
	},
	"java": {
		"fork bomb":            "public class Main { public static void main(String[] a) { for (;;) { try { new Thread(() -> { try { Thread.sleep(600000); } catch (Exception e) {} }).start(); } catch (Throwable e) {} } } }\n",
		"infinite loop":        "public class Main { public static void main(String[] a) { long x = 0; for (;;) x++; } }\n",
		"10 GB allocation":     "public class Main { public static void main(String[] a) { long[][] m = new long[10][]; for (int i = 0; i < 10; i++) m[i] = new long[1 << 27]; System.out.println(\"ALLOCATED \" + m.length); } }\n",
		"1 GB to stdout":       "public class Main { public static void main(String[] a) throws Exception { byte[] b = new byte[1 << 20]; java.util.Arrays.fill(b, (byte) 'x'); for (int i = 0; i < 1024; i++) System.out.write(b); System.out.flush(); } }\n",
		"write outside":        "import java.nio.file.*;\npublic class Main { public static void main(String[] a) { for (String p : new String[]{\"@HOSTFILE@\", \"/usr/pwned\", \"/etc/pwned\", \"/pwned\"}) { try { Files.writeString(Path.of(p), \"x\"); System.out.println(\"WROTE \" + p); } catch (Exception e) { System.out.println(\"refused \" + e); } } } }\n",
		"read secrets":         "import java.nio.file.*;\npublic class Main { public static void main(String[] a) { try { System.out.println(\"READ \" + Files.readString(Path.of(\"@SECRET@\"))); } catch (Exception e) { System.out.println(\"refused \" + e); } for (String d : new String[]{\"/root\", \"/home\"}) { try (var s = Files.list(Path.of(d))) { System.out.println(\"READ \" + d + s.count()); } catch (Exception e) { System.out.println(\"refused \" + e); } } } }\n",
		"connect to 127.0.0.1": "public class Main { public static void main(String[] a) { try (var s = new java.net.Socket(\"127.0.0.1\", @PORT@)) { System.out.println(\"CONNECTED\"); } catch (Exception e) { System.out.println(\"refused \" + e); } } }\n",
		"DNS lookup":           "public class Main { public static void main(String[] a) { try { System.out.println(\"RESOLVED \" + java.net.InetAddress.getByName(\"example.com\")); } catch (Exception e) { System.out.println(\"refused \" + e); } } }\n",
		"daemon":               "public class Main { public static void main(String[] a) throws Exception { new ProcessBuilder(\"/bin/sleep\", \"60\").start(); System.out.println(\"PARENT DONE\"); System.exit(0); } }\n",
		"kill parent":          "public class Main { public static void main(String[] a) throws Exception { ProcessHandle.current().parent().ifPresent(p -> p.destroyForcibly()); System.out.println(\"still here\"); } }\n",
	},
}

func init() {
	// C++: the C programs, but the allocation as C++ does it.
	cpp := map[string]string{}
	for k, v := range hostilePrograms["c"] {
		cpp[k] = v
	}
	cpp["10 GB allocation"] = "#include <cstdio>\n#include <cstring>\n#include <new>\nint main() { size_t n = 10UL << 30; try { char *p = new char[n]; std::memset(p, 1, n); std::printf(\"ALLOCATED %zu\\n\", n); } catch (const std::bad_alloc &) { std::puts(\"bad_alloc\"); return 1; } }\n"
	hostilePrograms["cpp"] = cpp
}

func TestHostile(t *testing.T) {
	r := testRunner(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dataDir, 0o700)
	env := &hostileEnv{secretText: "SECRET-" + t.Name() + "-c2f1", hostFile: filepath.Join(t.TempDir(), "escaped")}
	secret := filepath.Join(dataDir, "node.key")
	os.WriteFile(secret, []byte(env.secretText), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			env.accepted.Add(1)
			c.Close()
		}
	}()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	repl := strings.NewReplacer("@SECRET@", secret, "@HOSTFILE@", env.hostFile, "@PORT@", port)

	t.Run("group", func(t *testing.T) {
		for _, l := range r.Languages() {
			progs, ok := hostilePrograms[l.Name]
			if !ok {
				continue
			}
			t.Run(l.Name, func(t *testing.T) {
				t.Parallel()
				for _, c := range hostileCases {
					t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
						src, ok := progs[c.name]
						if !ok {
							t.Skip("no program")
						}
						job := Job{Lang: l.Name, Files: map[string]string{l.Main: repl.Replace(src)}}
						res, stdout, stderr := collect(t, r, job)
						if res.Stage == StageCompile && res.Reason == "" {
							t.Fatalf("does not compile: %s", stderr)
						}
						t.Logf("%+v stdout %.200q stderr %.200q", res, stdout, stderr)
						c.check(t, res, stdout, stderr, env)
					})
				}
			})
		}
	})
	checkNothingLeft(t)
	// The host is unaffected: this process, its listener, its files.
	if _, err := os.ReadFile(secret); err != nil {
		t.Errorf("the planted secret is gone: %v", err)
	}
}
