package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"parley/node"
	"parley/node/web"
	"parley/runner"
)

func (c *cli) cmdDemo(args []string) error {
	fs := c.flags("demo", usage{
		synopsis: "[--keep] [--json] [--runner]",
		help: `
Starts a whole interview on this machine, in one process and on loopback
only: a relay, a company node ("Demo Company"), an interviewer's node (Ana,
on the company's team) and a candidate's node (Sam Doe), each with its own
web app. It creates one interview, joins Ana and Sam to it, and prints the
company dashboard and the interviewer's and the candidate's session pages:
open the last two in two browser tabs. It runs until Ctrl-C; the data
directories are temporary, and removed then unless --keep. With --runner,
the company node runs the code in a sandbox (bubblewrap) when someone
presses Run.`,
		examples: []string{"parley demo", "parley demo --keep", "parley demo --runner"},
		ignores:  []string{"data", "store-key-file"},
	})
	keep := fs.Bool("keep", false, "keep the demo's data directories on exit (and print where they are)")
	runCode := fs.Bool("runner", false, "the company node runs the interview's code (needs bubblewrap)")
	asJSON := fs.Bool("json", false, `print one line of JSON: {"company_url", "interviewer_url", "candidate_url", "session", "link", "dirs"}`)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if c.dataDir != "" || c.storeKeyFile != "" {
		fmt.Fprintf(c.stderr, "parley demo: --data and --store-key-file are not used: the demo's nodes live in temporary directories.\n")
	}
	var rn *runner.Runner
	if *runCode {
		var err error
		if rn, err = runner.Detect(c.ctx, runner.Config{Logger: c.logger()}); err != nil {
			return err
		}
	}
	d, err := startDemo(c.ctx, c.logger(), rn)
	if err != nil {
		if c.ctx.Err() != nil {
			return nil // Ctrl-C while starting; startDemo has cleaned up
		}
		return fmt.Errorf("demo: %w", err)
	}
	d.Keep = *keep
	defer d.Close()
	if *asJSON {
		if err := json.NewEncoder(c.stdout).Encode(d); err != nil {
			return err
		}
	} else {
		c.printf("Parley demo: a relay, a company node, an interviewer and a candidate, on this machine only.\n")
		c.printf("Company dashboard:  %s\n", d.CompanyURL)
		c.printf("Interviewer (Ana):  %s\n", d.InterviewerURL)
		c.printf("Candidate (Sam):    %s\n", d.CandidateURL)
		if d.Keep {
			c.printf("Open the interviewer and candidate pages in two browser tabs. Press Ctrl-C to stop; the demo's data stays in:\n")
			for _, dir := range d.Dirs {
				c.printf("  %s\n", dir)
			}
		} else {
			c.printf("Open the interviewer and candidate pages in two browser tabs. Press Ctrl-C to stop; the demo's data is removed.\n")
		}
	}
	var failed error
	select {
	case <-c.ctx.Done():
	case failed = <-d.failed:
	}
	err = d.Close()
	if failed != nil {
		return fmt.Errorf("demo: %w", failed)
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if !*asJSON {
		if d.Keep {
			c.printf("Stopped; kept the demo's data in the directories above.\n")
		} else {
			c.printf("Stopped; removed the demo's data.\n")
		}
	}
	return nil
}

// demo is a whole interview running in this process on loopback: a relay, a
// company node, an interviewer's node and a candidate's node, each node with
// its own web server, all in temporary data directories.
type demo struct {
	// CompanyURL is the company node's dashboard, with its access token.
	CompanyURL string `json:"company_url"`
	// InterviewerURL is the session page on the interviewer's node.
	InterviewerURL string `json:"interviewer_url"`
	// CandidateURL is the session page on the candidate's node.
	CandidateURL string `json:"candidate_url"`
	// Session is the interview's session ID, and Link its link.
	Session string `json:"session"`
	Link    string `json:"link"`

	Company     *node.Node `json:"-"`
	Interviewer *node.Node `json:"-"` // Ana
	Candidate   *node.Node `json:"-"` // Sam Doe

	CompanyWeb     *web.Server `json:"-"`
	InterviewerWeb *web.Server `json:"-"`
	CandidateWeb   *web.Server `json:"-"`

	// Dirs are the data directories: the relay's, then the company's, the
	// interviewer's and the candidate's. Close removes them.
	Dirs []string `json:"dirs"`
	// Keep, if set, makes Close leave Dirs in place.
	Keep bool `json:"-"`

	relay   *node.Relay
	runner  *runner.Runner // the company node's, if any
	nodes   []*node.Node   // in start order
	servers []*web.Server  // in start order
	serving sync.WaitGroup
	failed  chan error // the first error of a web server's Serve
	once    sync.Once
}

// Names and addresses of the demo's people.
const (
	demoOrg             = "Demo Company"
	demoInterviewer     = "Ana"
	demoInterviewerMail = "ana@demo.test"
	demoCandidate       = "Sam Doe"
	demoTitle           = "Demo interview"
	demoLoopback        = "/ip4/127.0.0.1/tcp/0"
)

// startDemo starts a demo and returns once the interviewer's node sees the
// candidate in the session. On error, everything it started is stopped and
// its directories removed. Close the demo to stop it.
// startDemo starts the demo; rn, if set, makes the company node a runner.
func startDemo(ctx context.Context, log *slog.Logger, rn *runner.Runner) (_ *demo, err error) {
	d := &demo{failed: make(chan error, 1), runner: rn}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	mkdir := func(name string) (string, error) {
		dir, err := os.MkdirTemp("", "parley-demo-"+name+"-")
		if err == nil {
			d.Dirs = append(d.Dirs, dir)
		}
		return dir, err
	}

	relayDir, err := mkdir("relay")
	if err != nil {
		return nil, err
	}
	d.relay, err = node.NewRelay(node.RelayConfig{Dir: relayDir, ListenAddrs: []string{demoLoopback}, Logger: log.With("demo", "relay")})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}

	for _, role := range []string{"company", "interviewer", "candidate"} {
		dir, err := mkdir(role)
		if err != nil {
			return nil, err
		}
		var opts node.InitOptions
		if role == "company" {
			opts = node.InitOptions{Org: demoOrg, Bootstrap: d.relay.Addrs()}
		}
		opts.Logger = log.With("demo", role)
		if _, err := node.Init(dir, opts); err != nil {
			return nil, fmt.Errorf("%s node: %w", role, err)
		}
		if err := d.startNode(ctx, dir, log.With("demo", role)); err != nil {
			return nil, fmt.Errorf("%s node: %w", role, err)
		}
	}
	d.Company, d.Interviewer, d.Candidate = d.nodes[0], d.nodes[1], d.nodes[2]
	d.CompanyWeb, d.InterviewerWeb, d.CandidateWeb = d.servers[0], d.servers[1], d.servers[2]

	added, err := d.Company.AddMember(ctx, node.NewMember{Name: demoInterviewer, Email: demoInterviewerMail, Peer: d.Interviewer.ID().String()})
	if err != nil {
		return nil, fmt.Errorf("adding the interviewer: %w", err)
	}
	if _, err := d.Interviewer.AcceptCredential(ctx, added.Member.Token); err != nil {
		return nil, fmt.Errorf("accepting the interviewer's credential: %w", err)
	}
	ss, err := d.Company.CreateSessions(ctx, node.NewSessions{
		// No interviewers named: any member of the demo's team comes in
		// as an interviewer (the browser tests add one to the session).
		Candidate: demoCandidate, Title: demoTitle, Duration: time.Hour, Language: node.DefaultLanguage,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the interview: %w", err)
	}
	d.Session, d.Link = ss[0].ID, ss[0].Link
	if _, err := d.Interviewer.Join(ctx, d.Link, demoInterviewer); err != nil {
		return nil, fmt.Errorf("interviewer joining: %w", err)
	}
	if _, err := d.Candidate.Join(ctx, d.Link, demoCandidate); err != nil {
		return nil, fmt.Errorf("candidate joining: %w", err)
	}
	if err := d.waitPresent(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	d.CompanyURL = d.CompanyWeb.PageURL("/")
	d.InterviewerURL = d.InterviewerWeb.PageURL("/s/" + d.Session)
	d.CandidateURL = d.CandidateWeb.PageURL("/s/" + d.Session)
	return d, nil
}

// startNode opens and starts the node in dir, and serves its web app on a
// free loopback port.
func (d *demo) startNode(ctx context.Context, dir string, log *slog.Logger) error {
	cfg := node.Config{Dir: dir, Logger: log, ListenAddrs: []string{demoLoopback}}
	if len(d.nodes) == 0 {
		cfg.Runner = d.runner // the company node runs the code
	}
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	d.nodes = append(d.nodes, n)
	if err := n.Start(ctx); err != nil {
		return err
	}
	l, err := web.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	srv, err := web.NewServer(n, l, web.Config{Logger: log})
	if err != nil {
		l.Close()
		return err
	}
	d.servers = append(d.servers, srv)
	d.serving.Go(func() {
		if err := srv.Serve(); err != nil {
			select {
			case d.failed <- fmt.Errorf("web server %s: %w", srv.URL(), err):
			default:
			}
		}
	})
	return nil
}

// waitPresent waits until the interviewer's node sees the candidate in the
// session, and the candidate's node the interviewer.
func (d *demo) waitPresent(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := d.present(ctx)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the interviewer and the candidate did not see each other within %v", timeout)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// present reports whether the interviewer's and the candidate's nodes see
// each other in the session.
func (d *demo) present(ctx context.Context) (bool, error) {
	sees := func(n *node.Node, role string) (bool, error) {
		s, err := n.Session(ctx, d.Session)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(s.Participants, func(p node.Participant) bool { return p.Role == role }), nil
	}
	ok, err := sees(d.Interviewer, node.RoleCandidate)
	if !ok || err != nil {
		return false, err
	}
	return sees(d.Candidate, node.RoleInterviewer)
}

// Close stops the web servers, the nodes and the relay, in reverse start
// order, and removes the data directories unless Keep is set. Closing twice
// returns an error wrapping net.ErrClosed.
func (d *demo) Close() error {
	err := fmt.Errorf("demo: close: %w", net.ErrClosed)
	d.once.Do(func() {
		var errs []error
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range slices.Backward(d.servers) {
			errs = append(errs, srv.Shutdown(ctx))
		}
		d.serving.Wait()
		for _, n := range slices.Backward(d.nodes) {
			errs = append(errs, n.Close())
		}
		if d.relay != nil {
			errs = append(errs, d.relay.Close())
		}
		if !d.Keep {
			for _, dir := range d.Dirs {
				errs = append(errs, os.RemoveAll(dir))
			}
		}
		err = errors.Join(errs...)
	})
	return err
}

// addInterviewer starts one more interviewer's node, a member of the team,
// and joins it to the demo's interview (for tests with more people).
func (d *demo) addInterviewer(ctx context.Context, name, email string, log *slog.Logger) (*node.Node, *web.Server, error) {
	dir, err := os.MkdirTemp("", "parley-demo-interviewer-")
	if err != nil {
		return nil, nil, err
	}
	d.Dirs = append(d.Dirs, dir)
	if _, err := node.Init(dir, node.InitOptions{Logger: log}); err != nil {
		return nil, nil, err
	}
	if err := d.startNode(ctx, dir, log); err != nil {
		return nil, nil, err
	}
	n, srv := d.nodes[len(d.nodes)-1], d.servers[len(d.servers)-1]
	added, err := d.Company.AddMember(ctx, node.NewMember{Name: name, Email: email, Peer: n.ID().String()})
	if err != nil {
		return nil, nil, err
	}
	if _, err := n.AcceptCredential(ctx, added.Member.Token); err != nil {
		return nil, nil, err
	}
	if _, err := n.Join(ctx, d.Link, name); err != nil {
		return nil, nil, err
	}
	return n, srv, nil
}
