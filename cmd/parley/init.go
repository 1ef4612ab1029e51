package main

import (
	"strings"

	"parley/node"
)

func (c *cli) cmdInit(args []string) error {
	fs := c.flags("init", "[--org NAME] [--bootstrap MULTIADDR]... [--public-url URL]", `
Creates this machine's Parley node in the data directory (mode 0700): its
libp2p key, and with --org the company signing key (both files 0600). Prints
the peer ID and the company key's fingerprint. Without --org, the node is a
participant's: an interviewer's or a candidate's.

Running init again never replaces a key; it updates the settings given.`)
	org := fs.String("org", "", "make this the company node of `NAME`, holding the company signing key")
	var bootstrap listFlag
	fs.Var(&bootstrap, "bootstrap", "default bootstrap/relay `MULTIADDR` for links (repeatable; as `parley relay` prints it)")
	publicURL := fs.String("public-url", "", "the company's public web address: links become `URL`/join#TOKEN")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	opts := node.InitOptions{Org: strings.TrimSpace(*org), PublicURL: *publicURL, StoreKeyFile: c.storeKeyFile, Logger: c.logger()}
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
	c.printf("Peer ID:      %s\n", res.Peer)
	return nil
}

func (c *cli) cmdID(args []string) error {
	fs := c.flags("id", "", "Prints this node's peer ID, to send to the admin who adds you to the team.")
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
