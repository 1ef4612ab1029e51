package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// `parley media check` on two participants' running nodes: each joins by
// the link, sends the test signal, and counts the other's packets; the
// company node and a session in the lobby are refused with reasons.
func TestMediaCheckCommand(t *testing.T) {
	_, co, ana, sam := acme(t)
	for _, d := range []string{co, ana, sam} {
		up(t, d)
	}
	var created []sessionJSON
	json.Unmarshal([]byte(ok(t, co, "session", "create", "--candidate", "Sam Doe", "--title", "Loop", "--json").stdout), &created)
	id, link := created[0].ID, created[0].Link
	ok(t, sam, "join", link, "--as-candidate")
	fails(t, sam, 1, "has not started", "media", "check", link, "--seconds", "1")
	fails(t, co, 1, "company node takes no part", "media", "check", link, "--seconds", "1")
	fails(t, ana, 2, "--seconds", "media", "check", link, "--seconds", "0")
	ok(t, ana, "join", link)
	ok(t, ana, "session", "start", id)

	// Both at once, so that each has a signal to count.
	var wg sync.WaitGroup
	var rAna, rSam result
	wg.Go(func() { rAna = parley(t, ana, "media", "check", link, "--seconds", "3") })
	wg.Go(func() { rSam = parley(t, sam, "media", "check", link, "--seconds", "3") })
	wg.Wait()
	line := regexp.MustCompile(`^(.+): (\d+) video, (\d+) audio packets$`)
	for who, r := range map[string]result{"Ana": rAna, "Sam": rSam} {
		if r.code != 0 {
			t.Fatalf("%s's check: exit %d\n%s%s", who, r.code, r.stdout, r.stderr)
		}
		m := line.FindStringSubmatch(strings.TrimSpace(r.stdout))
		if m == nil {
			t.Fatalf("%s's check printed %q", who, r.stdout)
		}
		video, _ := strconv.Atoi(m[2])
		audio, _ := strconv.Atoi(m[3])
		if video < 50 || audio < 30 {
			t.Fatalf("%s's check: %s", who, r.stdout)
		}
	}
	if !strings.HasPrefix(rAna.stdout, "Sam Doe: ") || !strings.HasPrefix(rSam.stdout, "Ana Li: ") {
		t.Fatalf("names: %q, %q", rAna.stdout, rSam.stdout)
	}
	// Alone, while Sam's node is reachable but sends nothing (no page open
	// there): the check fails, saying so, and does not blame the path.
	r := fails(t, ana, 1, "Sam Doe: connected, but nothing arrived", "media", "check", link, "--seconds", "1")
	if r.stdout != "Sam Doe: 0 video, 0 audio packets\n" || strings.Contains(r.stderr, "TURN") {
		t.Fatalf("a check alone: %q, %q", r.stdout, r.stderr)
	}
}
