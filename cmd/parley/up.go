package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"parley/gateway"
	"parley/node"
	"parley/node/store"
	"parley/node/web"
	"parley/runner"
)

func (c *cli) cmdUp(args []string) error {
	fs := c.flags("up", usage{
		synopsis: "[--listen 127.0.0.1:7420] [--p2p-listen MULTIADDR]... [--runner [--runner-config FILE]] [--public-listen ADDRESS] [--tls-cert FILE --tls-key FILE] [--acme-domain DOMAIN --acme-email EMAIL] [--behind-proxy]",
		examples: []string{
			"parley up",
			"parley up --runner",
			"parley up --listen 127.0.0.1:7421 --p2p-listen /ip4/0.0.0.0/tcp/4002",
			"parley up --public-listen :443 --acme-domain interviews.acme.example --acme-email it@acme.example",
			"parley up --public-listen 127.0.0.1:8080 --behind-proxy",
		},
		help: `
Runs this machine's node in the foreground until Ctrl-C: it takes part in
interviews, and on the company node in every interview it created. It serves
the web app and the local API on a loopback address only, protected by an
access token made at each start and written, with the address, to
DATA/api.json (0600, removed on shutdown). While it runs, the other commands
go through it.

It prints the web app's address with the token. A browser's first visit
trades the token for a cookie that lasts 30 days, across restarts on the
same address; ` + "`parley open`" + ` prints a fresh address for another browser.

With --runner, the node runs the code of the interviews it takes part in as
the company node or an interviewer, for every participant who presses Run,
in a sandbox (bubblewrap: apt install bubblewrap; without it the node
refuses to start, and never runs code unsandboxed). It offers the
toolchains it finds (Python 3, Node.js, Go, C, C++, Java) and prints them
with the limits in force. A JSON --runner-config file sets the limits and
the languages: see the runner package's documentation.

On the company node, --public-listen also serves the public gateway: a
candidate opens the link (https://HOST/join#TOKEN, with ` + "`parley init\n--public-url https://HOST`" + `) in any browser, with nothing to install,
and the gateway runs a participant for them. It serves only the guests'
pages, never the local API; over TLS with a certificate from files
(--tls-cert, --tls-key; read again when they change) or from Let's Encrypt
(--acme-domain, --acme-email: DOMAIN's port 443 must reach the listener),
or as plain HTTP behind a reverse proxy that terminates TLS
(--behind-proxy; see README).`,
	})
	listen := fs.String("listen", "127.0.0.1:7420", "loopback `ADDRESS` of the local API and web app (port 0 picks a free one)")
	var p2pListen listFlag
	fs.Var(&p2pListen, "p2p-listen", "libp2p `MULTIADDR` to listen on (repeatable; default: every interface, random TCP and QUIC ports)")
	runCode := fs.Bool("runner", false, "run the interviews' code for their participants, in a sandbox")
	runnerConfig := fs.String("runner-config", "", "with --runner: a JSON `FILE` of limits and languages")
	idle := node.DefaultIdleEnd
	fs.Var(durationFlag{&idle}, "idle-end", "company node: end a live interview nobody attended for this `DURATION`")
	var gf gatewayFlags
	gf.register(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := gf.check(fs); err != nil {
		return err
	}
	dir, err := c.resolvedDir()
	if err != nil {
		return err
	}
	for _, a := range p2pListen {
		if _, err := parseMultiaddr(a); err != nil {
			return usagef("--p2p-listen %q: %v", a, err)
		}
	}
	if *runnerConfig != "" && !*runCode {
		return usagef("--runner-config needs --runner")
	}
	var rn *runner.Runner
	if *runCode {
		if rn, err = runner.Detect(c.ctx, runner.Config{File: *runnerConfig, Logger: c.logger()}); err != nil {
			return err
		}
	}
	n, err := node.New(node.Config{
		Dir: dir, StoreKeyFile: c.storeKeyFile, Logger: c.logger(),
		ListenAddrs: p2pListen, IdleEnd: idle, Runner: rn,
	})
	if errors.Is(err, store.ErrLocked) {
		running := ""
		if api, err := web.ReadAPIFile(dir); err == nil {
			running = fmt.Sprintf(" (process %d, web app at %s)", api.PID, api.URL)
		}
		return fmt.Errorf("a Parley node already runs in %s%s: one node per data directory; stop it first, or give another --data", dir, running)
	}
	if err != nil {
		return err
	}
	defer n.Close()
	l, err := web.Listen(*listen)
	if err != nil {
		return err
	}
	if err := n.Start(c.ctx); err != nil {
		l.Close()
		return err
	}
	srv, err := web.NewServer(n, l, web.Config{Logger: c.logger()})
	if err != nil {
		l.Close()
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()
	url := srv.URL()
	info, _ := n.Info(c.ctx)
	if err := web.WriteAPIFile(dir, web.APIFile{URL: url, Token: srv.Token(), PID: os.Getpid(), Peer: info.Peer}); err != nil {
		return err
	}
	defer web.RemoveAPIFile(dir)
	c.printf("Parley node %s is up.\n", info.Peer)
	if info.Org != "" {
		c.printf("Company node of %s (key %s).\n", info.Org, info.CompanyKey)
	}
	c.printf("Web app: %s\n", srv.PageURL("/"))
	c.printf("Local API: %s (token in %s/%s)\n", url, dir, node.APIFile)
	for _, a := range info.Addrs {
		c.printf("Listening: %s\n", a)
	}
	if rn != nil {
		c.printRunner(rn)
	}
	gwErr := make(chan error, 1)
	var gw *gateway.Gateway
	if gf.listen != "" {
		g, addr, err := c.startGateway(n, info, gf, gwErr)
		if err != nil {
			return err
		}
		gw = g
		defer gw.Close() // on a failure below; after a stop, it is closed already
		c.printf("Public gateway for browser guests: %s (links: %s)\n", addr, cmp.Or(info.PublicURL, "parley://..., see the warning above"))
	}
	c.printf("Press Ctrl-C to stop.\n")
	select {
	case <-c.ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("local API: %w", err)
	case err := <-gwErr:
		return fmt.Errorf("public gateway: %w", err)
	}
	c.printf("Stopping...\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	<-serveErr
	if gw != nil {
		gw.Close() // its participants stop before the company node
	}
	return n.Close()
}

func (c *cli) cmdRelay(args []string) error {
	fs := c.flags("relay", usage{
		synopsis: "[--p2p-listen MULTIADDR]... [--metrics 127.0.0.1:9464] [--turn-listen 0.0.0.0:3478 --turn-public-ip IP]",
		examples: []string{
			"parley relay",
			"parley relay --p2p-listen /ip4/0.0.0.0/tcp/4001 --turn-listen 0.0.0.0:3478 --turn-public-ip 203.0.113.5",
		},
		ignores: []string{"store-key-file"},
		help: `
Runs the admin's relay and bootstrap node in the foreground until Ctrl-C: a
circuit relay for participants behind NAT, with limits set for hour-long
interviews, and the directory (a Kademlia DHT) on which a session's members
find each other. It sees only encrypted traffic. It prints its multiaddrs:
give them to ` + "`parley init --org ... --bootstrap`" + ` or ` + "`session create --bootstrap`" + `.
Its key is kept in DATA/relay.key, so its addresses stay the same.

With --turn-listen it also runs a TURN server (UDP) for audio and video
between participants that cannot reach each other directly. It accepts only
the time-limited credentials the company node puts in each link, made with a
secret it shares with the relay: DATA/turn.secret (0600), made on the first
start. It prints its TURN URL and how to give the secret to the company node.`,
	})
	var p2pListen listFlag
	fs.Var(&p2pListen, "p2p-listen", "libp2p `MULTIADDR` to listen on (repeatable; default: TCP and QUIC port 4001 on every interface)")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this `HOST:PORT` (for example 127.0.0.1:9464)")
	maxRes := fs.Int("max-reservations", 4096, "most participants holding a relay reservation at once (`N`)")
	var turnCfg node.TURNConfig
	fs.StringVar(&turnCfg.Listen, "turn-listen", "", "run a TURN server on this UDP `IP:PORT` (for example 0.0.0.0:3478; default: none)")
	fs.StringVar(&turnCfg.PublicIP, "turn-public-ip", "", "the relay's public `IP`, given out as relayed addresses (required with a --turn-listen of 0.0.0.0)")
	turnPorts := fs.String("turn-ports", fmt.Sprintf("%d-%d", node.DefaultTURNMinPort, node.DefaultTURNMaxPort), "UDP port `RANGE` MIN-MAX of relayed addresses (open it in the firewall)")
	fs.IntVar(&turnCfg.MaxAllocations, "turn-max-allocations", node.DefaultTURNMaxAllocations, "most TURN allocations at once (`N`; a participant makes one per peer)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if turnCfg.Listen == "" && (turnCfg.PublicIP != "" || isFlagSet(fs, "turn-ports") || isFlagSet(fs, "turn-max-allocations")) {
		return usagef("the --turn-... flags need --turn-listen IP:PORT")
	}
	if turnCfg.MaxAllocations < 1 {
		return usagef("--turn-max-allocations must be at least 1")
	}
	var err error
	if turnCfg.MinPort, turnCfg.MaxPort, err = parsePortRange(*turnPorts); err != nil {
		return usagef("--turn-ports: %v", err)
	}
	dir, err := c.resolvedDir()
	if err != nil {
		return err
	}
	for _, a := range p2pListen {
		if _, err := parseMultiaddr(a); err != nil {
			return usagef("--p2p-listen %q: %v", a, err)
		}
	}
	r, err := node.NewRelay(node.RelayConfig{Dir: dir, ListenAddrs: p2pListen, Metrics: *metrics, MaxReservations: *maxRes, TURN: turnCfg, Logger: c.logger()})
	if err != nil {
		return err
	}
	defer r.Close()
	c.printf("Parley relay %s is up. Its bootstrap addresses:\n", r.ID())
	for _, a := range r.Addrs() {
		c.printf("%s\n", a)
	}
	if u := r.TURNURL(); u != "" {
		c.printf("TURN server: %s (relayed UDP ports %d-%d)\n", u, turnCfg.MinPort, turnCfg.MaxPort)
		c.printf("TURN secret: %s\n", r.TURNSecretFile())
		c.printf("  Copy it to the company node over a private channel (scp), keep the copy mode 0600, and run there:\n")
		c.printf("  parley init --turn %s --turn-secret-file PATH-OF-THE-COPY\n", u)
	}
	if m := r.MetricsAddr(); m != "" {
		c.printf("Metrics: http://%s/metrics\n", m)
	}
	c.printf("Press Ctrl-C to stop.\n")
	<-c.ctx.Done()
	return r.Close()
}

func (c *cli) cmdJoin(args []string) error {
	fs := c.flags("join", usage{
		synopsis: "LINK [--name NAME] [--as-candidate] [--json]",
		help: `
Takes part in the interview of a link, through the running node: checks the
link, finds the other participants through its bootstrap peers, and is
admitted by them. Your role comes from what this node holds: a team
credential of the company makes you an interviewer; otherwise you are the
candidate, who takes the interview's one candidate seat. So that an
interviewer without their credential does not take it by mistake, joining as
the candidate at a terminal needs --as-candidate; without it, join says who
you would be and what to do (a script, with no terminal, is warned on
stderr and joins). Prints the session ID and the address of the interview room
in this node's web app.`,
		examples: []string{
			"parley join 'parley://join/AUkK...'",
			"parley join 'parley://join/AUkK...' --as-candidate --name Sam",
		},
	})
	name := fs.String("name", "", "your `NAME` as others see it (default: the candidate's name in the link, or your credential's)")
	asCandidate := fs.Bool("as-candidate", false, "confirm joining as the candidate named in the link, when this node holds no credential of its company")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args, "LINK")
	if err != nil {
		return err
	}
	var res node.JoinResult
	var warning string
	err = c.withBackend(func(n backend) error {
		if err := c.requireRunning(n); err != nil {
			return err
		}
		in, err := n.Inspect(c.ctx, pos[0])
		if err != nil {
			return err
		}
		if in.Valid && in.Role == node.RoleCandidate && !in.Joined {
			warning = candidateWarning(in) + "\n" + notYou(c.ctx, n, in)
			switch {
			case *asCandidate:
			case c.interactive:
				return usagef("%s\nIf you are %s, join with `parley join LINK --as-candidate`.", warning, oneLine(in.Candidate))
			default:
				// A script: it knows whom it joins as; say so all the same.
				fmt.Fprintf(c.stderr, "%s\n", warning)
			}
		}
		res, err = n.Join(c.ctx, pos[0], *name)
		return err
	})
	if err != nil {
		return err
	}
	dir, _ := c.resolvedDir()
	page := ""
	if api, err := web.ReadAPIFile(dir); err == nil {
		page = api.PageURL("/s/" + res.Session.ID)
	}
	if *asJSON {
		return c.printJSON(struct {
			node.JoinResult
			// Page is the interview room in this node's web app, with its
			// access token.
			Page string `json:"page"`
			// Warning is set when this node joined as the candidate for the
			// first time: who it took the seat as, and what to do if that
			// was a mistake.
			Warning string `json:"warning,omitempty"`
		}{res, page, warning})
	}
	s := res.Session
	c.printf("Joined %q (block %d of %d) as %s.\n", oneLine(s.Title), s.Block, s.Blocks, res.Role)
	switch {
	case res.Role == node.RoleCompany:
		c.printf("The company node takes part silently: it archives who comes when; an interviewer starts the interview from their own node.\n")
	case res.Alone:
		c.printf("Nobody else is here yet; the node keeps looking.\n")
	case s.Status == node.StatusLobby && res.Role == node.RoleCandidate:
		c.printf("You are in the lobby: the interview begins when an interviewer starts it.\n")
	case s.CandidateWaiting && res.Role == node.RoleInterviewer:
		c.printf("The candidate is waiting: start with `parley session start %s`.\n", s.ID)
	}
	c.printf("Session: %s\n", s.ID)
	if page != "" {
		c.printf("Page: %s\n", page)
	}
	return nil
}

// candidateWarning says whom this node would join a link's interview as.
func candidateWarning(in node.Inspection) string {
	return fmt.Sprintf("You are joining as the candidate, %s, of %q at %s.", oneLine(in.Candidate), oneLine(in.Title), oneLine(in.Org))
}

// notYou tells someone who is not the candidate why this node would join as
// the candidate, from what it holds, and what to do.
func notYou(ctx context.Context, n backend, in node.Inspection) string {
	org := oneLine(in.Org)
	holds := "This node holds no team credential"
	if info, err := n.Info(ctx); err == nil && info.Org != "" {
		holds = fmt.Sprintf("This is the company node of %s, not of %s", oneLine(info.Org), org)
	} else if team, err := n.Team(ctx); err == nil && len(team) > 0 {
		var orgs []string
		for _, m := range team {
			if o := fmt.Sprintf("%s (key %s)", oneLine(m.Org), m.CompanyKey); !slices.Contains(orgs, o) {
				orgs = append(orgs, o)
			}
		}
		holds = fmt.Sprintf("This node holds team credentials of %s only, not of %s (key %s)", strings.Join(orgs, ", "), org, in.CompanyKey)
	}
	return fmt.Sprintf("Not you? %s, so joining would take the candidate's seat, and the real candidate would then be refused. "+
		"An interviewer of %s needs its team credential on their own node: send the admin this node's peer ID (`parley id`), accept what they send with `parley team accept TOKEN`, then join again.", holds, org)
}

func parseMultiaddr(s string) (ma.Multiaddr, error) {
	return ma.NewMultiaddr(s)
}

// parsePortRange parses MIN-MAX, two UDP ports.
func parsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("%q is not a port range MIN-MAX (for example 49152-65535)", s)
	}
	return lo, hi, nil
}

// printRunner says what the node runs and within which limits.
func (c *cli) printRunner(rn *runner.Runner) {
	var langs []string
	for _, l := range rn.Languages() {
		langs = append(langs, l.Title)
	}
	c.printf("Runner: runs code in a sandbox (bubblewrap): %s.\n", strings.Join(langs, ", "))
	for _, l := range rn.Limits() {
		c.printf("  %-10s %-9s %s\n", l.Name, l.Value, l.How)
	}
}
