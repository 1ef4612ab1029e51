package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"parley/invite"
)

// The relay runs a TURN server and says how to hand its secret to the
// company node, whose links then carry the TURN server with credentials that
// `invite inspect` mentions but never prints.
func TestRelayTURN(t *testing.T) {
	root := t.TempDir()
	relayDir := filepath.Join(root, "relay")
	out := background(t, relayDir, "relay", "--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--turn-listen", "127.0.0.1:0", "--turn-public-ip", "127.0.0.1")
	waitOutput(t, out, "--turn-secret-file")
	m := regexp.MustCompile(`(?m)^TURN server: (turn:127\.0\.0\.1:\d+) \(relayed UDP ports 49152-65535\)$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("relay printed no TURN server line:\n%s", out)
	}
	url, secretFile := m[1], filepath.Join(relayDir, "turn.secret")
	for _, want := range []string{"TURN secret: " + secretFile + "\n", "parley init --turn " + url + " --turn-secret-file "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("relay output lacks %q:\n%s", want, out)
		}
	}

	co := filepath.Join(root, "company")
	fails(t, co, 1, "--turn-secret-file", "init", "--org", "Acme Inc", "--turn", url)
	fails(t, co, 1, "not turn:HOST", "init", "--org", "Acme Inc", "--turn", "stun:127.0.0.1", "--turn-secret-file", secretFile)
	r := ok(t, co, "init", "--org", "Acme Inc", "--turn", url, "--turn-secret-file", secretFile)
	if !strings.Contains(r.stdout, "TURN:         "+url+"\n") || !strings.Contains(r.stdout, "turn.secret") {
		t.Fatalf("init printed:\n%s", r.stdout)
	}
	link := ok(t, co, "session", "create", "--candidate", "Sam", "--title", "Loop").lastLine()
	inv, err := invite.Parse(link)
	if err != nil || inv.TURN != url || inv.TURNCredential == "" {
		t.Fatalf("link: %+v, %v", inv, err)
	}
	in := ok(t, co, "invite", "inspect", link).stdout
	if !regexp.MustCompile(`TURN:\s+` + regexp.QuoteMeta(url) + ` \(credentials until \d{4}-\d\d-\d\d \d\d:\d\d UTC\)`).MatchString(in) {
		t.Errorf("inspect shows no TURN line:\n%s", in)
	}
	js := ok(t, co, "invite", "inspect", link, "--json").stdout
	var fields map[string]any
	json.Unmarshal([]byte(js), &fields)
	if fields["turn"] != url || fields["turn_expires"] == nil {
		t.Errorf("inspect --json: %s", js)
	}
	for _, s := range []string{in, js} {
		if strings.Contains(s, inv.TURNCredential) || strings.Contains(s, inv.TURNUser) {
			t.Errorf("inspect prints the TURN credentials:\n%s", s)
		}
	}
	none := ok(t, co, "session", "create", "--candidate", "Sam", "--title", "Loop", "--turn", "none").lastLine()
	if in := ok(t, co, "invite", "inspect", none).stdout; strings.Contains(in, "TURN") {
		t.Errorf("a link made with --turn none shows:\n%s", in)
	}
}

func TestRelayTURNFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	p2p := []string{"relay", "--p2p-listen", "/ip4/127.0.0.1/tcp/0"}
	fails(t, dir, 2, "need --turn-listen", append(p2p, "--turn-public-ip", "203.0.113.5")...)
	fails(t, dir, 2, "not a port range", append(p2p, "--turn-listen", "127.0.0.1:0", "--turn-ports", "9000")...)
	fails(t, dir, 2, "not a port range", append(p2p, "--turn-listen", "127.0.0.1:0", "--turn-ports", "9000-8000")...)
	fails(t, dir, 1, "--turn-public-ip", append(p2p, "--turn-listen", "0.0.0.0:0")...)
	fails(t, dir, 1, "not an IP address", append(p2p, "--turn-listen", "localhost:0")...)
	if r := parley(t, dir, "relay", "-h"); !strings.Contains(r.stderr, "-turn-listen") || !strings.Contains(r.stderr, "turn.secret") {
		t.Errorf("relay -h:\n%s", r.stderr)
	}
}
