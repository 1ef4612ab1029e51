package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/node"
)

// runDemo runs `parley demo args...` in process until stop is called, which
// waits for it to exit and returns its exit code.
func runDemo(t *testing.T, args ...string) (out, errOut *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut = &syncBuffer{}, &syncBuffer{}
	home := t.TempDir() // the demo must not touch it
	env := func(k string) string {
		if k == "PARLEY_HOME" {
			return home
		}
		return ""
	}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"demo"}, args...), out, errOut, env) }()
	stopped := false
	stop = func() int {
		t.Helper()
		stopped = true
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(20 * time.Second):
			t.Fatalf("parley demo did not stop within 20s; stderr:\n%s", errOut.String())
			return -1
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return out, errOut, stop
}

// checkPage checks that a page URL with its access token answers over HTTP,
// and that the same server's API answers /api/v1/info with the token. It
// returns the node's info.
func checkPage(t *testing.T, page string) node.Info {
	t.Helper()
	u, err := url.Parse(page)
	if err != nil {
		t.Fatalf("%q: %v", page, err)
	}
	token := u.Query().Get("token")
	if u.Scheme != "http" || token == "" {
		t.Fatalf("%q is not an http URL with a token", page)
	}
	if host, _, _ := net.SplitHostPort(u.Host); host != "127.0.0.1" {
		t.Fatalf("%q is not on loopback", page)
	}
	// While the web app is being written the page itself may answer 401 or
	// 404: any HTTP answer will do here; a connection error will not.
	resp, err := http.Get(page)
	if err != nil {
		t.Fatalf("GET %s: %v", page, err)
	}
	resp.Body.Close()

	req, _ := http.NewRequest("GET", u.Scheme+"://"+u.Host+"/api/v1/info", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", req.URL, resp.Status)
	}
	var info node.Info
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	return info
}

func TestDemoCommand(t *testing.T) {
	out, errOut, stop := runDemo(t, "--json")
	waitFor(t, 60*time.Second, func() bool { return strings.HasSuffix(out.String(), "}\n") })
	var got struct {
		CompanyURL     string   `json:"company_url"`
		InterviewerURL string   `json:"interviewer_url"`
		CandidateURL   string   `json:"candidate_url"`
		Session        string   `json:"session"`
		Link           string   `json:"link"`
		Dirs           []string `json:"dirs"`
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("--json printed more than one line:\n%s", out.String())
	}
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	if got.Session == "" || !strings.HasPrefix(got.Link, "parley://join/") || len(got.Dirs) != 4 {
		t.Fatalf("demo printed %+v", got)
	}
	if !strings.HasSuffix(strings.SplitN(got.InterviewerURL, "?", 2)[0], "/s/"+got.Session) ||
		!strings.HasSuffix(strings.SplitN(got.CandidateURL, "?", 2)[0], "/s/"+got.Session) {
		t.Fatalf("session pages %s and %s are not of session %s", got.InterviewerURL, got.CandidateURL, got.Session)
	}
	company := checkPage(t, got.CompanyURL)
	ana := checkPage(t, got.InterviewerURL)
	sam := checkPage(t, got.CandidateURL)
	if company.Org != "Demo Company" || ana.Org != "" || sam.Org != "" {
		t.Fatalf("orgs: company %q, interviewer %q, candidate %q", company.Org, ana.Org, sam.Org)
	}
	if company.Peer == ana.Peer || ana.Peer == sam.Peer || company.Peer == sam.Peer {
		t.Fatalf("the three pages are not of three nodes: %s %s %s", company.Peer, ana.Peer, sam.Peer)
	}
	for _, dir := range got.Dirs {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("data dir: %v", err)
		}
	}

	if code := stop(); code != 0 {
		t.Fatalf("parley demo exited %d; stderr:\n%s", code, errOut.String())
	}
	for _, dir := range got.Dirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s outlived the demo (%v)", dir, err)
		}
	}
	if _, err := http.Get(got.CompanyURL); err == nil {
		t.Errorf("the company's web server still answers after the demo stopped")
	}
}

func TestDemoKeep(t *testing.T) {
	out, errOut, stop := runDemo(t, "--keep")
	waitFor(t, 60*time.Second, func() bool { return strings.Contains(out.String(), "Press Ctrl-C") })
	pages := map[string]string{}
	var dirs []string
	for _, line := range strings.Split(out.String(), "\n") {
		for _, label := range []string{"Company dashboard:", "Interviewer (Ana):", "Candidate (Sam):"} {
			if rest, ok := strings.CutPrefix(line, label); ok {
				pages[label] = strings.TrimSpace(rest)
			}
		}
		if dir, ok := strings.CutPrefix(line, "  "); ok {
			dirs = append(dirs, dir)
		}
	}
	if len(pages) != 3 || len(dirs) != 4 {
		t.Fatalf("demo printed:\n%s", out.String())
	}
	t.Cleanup(func() {
		for _, dir := range dirs {
			os.RemoveAll(dir)
		}
	})
	for _, page := range pages {
		checkPage(t, page)
	}
	if code := stop(); code != 0 {
		t.Fatalf("parley demo exited %d; stderr:\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "Stopped; kept the demo's data") {
		t.Fatalf("demo printed on stop:\n%s", out.String())
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("--keep: %v", err)
		}
	}
}

func TestStartDemo(t *testing.T) {
	d, err := startDemo(context.Background(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	// Each of the two sees both, with the names and roles of the demo.
	want := []string{"Ana/interviewer", "Sam Doe/candidate"}
	for _, n := range []*node.Node{d.Interviewer, d.Candidate} {
		waitFor(t, 10*time.Second, func() bool {
			s, err := n.Session(context.Background(), d.Session)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range s.Participants {
				got = append(got, p.Name+"/"+p.Role)
			}
			slices.Sort(got)
			return slices.Equal(got, want)
		})
	}
	s, err := d.Interviewer.Session(context.Background(), d.Session)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != node.StatusLobby || !s.CandidateWaiting || s.Title != "Demo interview" || s.Role != node.RoleInterviewer {
		t.Fatalf("the interviewer sees %+v", s)
	}
	if s, err := d.Company.Session(context.Background(), d.Session); err != nil || s.Role != node.RoleCompany {
		t.Fatalf("the company node sees %+v, %v", s, err)
	}
	for _, u := range []string{d.CompanyURL, d.InterviewerURL, d.CandidateURL} {
		checkPage(t, u)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}
	for _, dir := range d.Dirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s outlived Close (%v)", dir, err)
		}
	}
}
