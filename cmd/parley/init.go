package main

import (
	"strings"

	"parley/node"
)

func (c *cli) cmdInit(args []string) error {
	fs := c.flags("init", usage{
		synopsis: "[--org NAME] [--bootstrap MULTIADDR]... [--public-url URL] [--turn URL --turn-secret-file FILE]",
		examples: []string{
			"parley init",
			`parley init --org "Acme Inc" --bootstrap /ip4/203.0.113.5/tcp/4001/p2p/12D3KooW...`,
			"parley init --turn turn:203.0.113.5:3478 --turn-secret-file ./turn.secret",
		},
		help: `
Creates this machine's Parley node in the data directory (mode 0700): its
libp2p key, and with --org the company signing key (both files 0600). Prints
the peer ID and the company key's fingerprint. Without --org, the node is a
participant's: an interviewer's or a candidate's.

On the company node, --turn names the TURN server for audio and video that
links carry, each with credentials valid until the link expires; they are
made with the TURN server's secret, which --turn-secret-file copies into
DATA/turn.secret (0600). Both are printed by ` + "`parley relay --turn-listen ...`" + `.

Running init again never replaces a key; it updates the settings given (and
--turn-secret-file replaces the TURN secret, when the relay's changed).`,
	})
	org := fs.String("org", "", "make this the company node of `NAME`, holding the company signing key")
	var bootstrap listFlag
	fs.Var(&bootstrap, "bootstrap", "default bootstrap/relay `MULTIADDR` for links (repeatable; as `parley relay` prints it)")
	publicURL := fs.String("public-url", "", "the company's public web address: links become `URL`/join#TOKEN")
	turn := fs.String("turn", "", "company node: the TURN server `URL` links carry (turn:HOST:PORT, as `parley relay` prints it; none to stop)")
	turnSecret := fs.String("turn-secret-file", "", "company node: `FILE` with a copy of the TURN server's secret (the relay's DATA/turn.secret, mode 0600)")
	criteria := fs.String("criteria", "", "company node: the feedback `CRITERIA`, comma-separated, each rated 1 to 4 (default: "+strings.Join(node.DefaultCriteria, ", ")+")")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if isFlagSet(fs, "org") && strings.TrimSpace(*org) == "" {
		return usagef("--org needs the company's name (like --org \"Acme Inc\"); to make an interviewer's or a candidate's node, leave --org out")
	}
	opts := node.InitOptions{
		Org: strings.TrimSpace(*org), PublicURL: *publicURL, StoreKeyFile: c.storeKeyFile, Logger: c.logger(),
		TURN: strings.TrimSpace(*turn), TURNSecretFile: *turnSecret, Criteria: splitCriteria(*criteria),
	}
	if len(bootstrap) > 0 {
		opts.Bootstrap = bootstrap
	}
	res, err := node.Init(c.dir(), opts)
	if err != nil {
		return err
	}
	if len(res.Created) == 0 {
		c.printf("Parley node in %s already existed; its keys were kept.\n", res.Dir)
	} else {
		c.printf("Parley node in %s created (%s).\n", res.Dir, strings.Join(res.Created, ", "))
	}
	if res.Org != "" {
		c.printf("Company:      %s\n", oneLine(res.Org))
		c.printf("Company key:  %s\n", res.Fingerprint)
	}
	if res.TURN != "" {
		c.printf("TURN:         %s\n", res.TURN)
	}
	if len(res.Criteria) > 0 {
		c.printf("Criteria:     %s\n", oneLine(strings.Join(res.Criteria, ", ")))
	}
	c.printf("Peer ID:      %s\n", res.Peer)
	return nil
}

func (c *cli) cmdID(args []string) error {
	fs := c.flags("id", usage{
		help:     "Prints this node's peer ID, to send to the admin who adds you to the team.",
		examples: []string{"parley id"},
	})
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		info, err := n.Info(c.ctx)
		if err != nil {
			return err
		}
		c.printf("%s\n", info.Peer)
		return nil
	})
}

// splitCriteria splits a comma-separated list of feedback criteria.
func splitCriteria(s string) []string {
	var out []string
	for c := range strings.SplitSeq(s, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}
