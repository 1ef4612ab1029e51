package main

import (
	"fmt"
	"time"

	"parley/invite"
	"parley/node"
)

// subcommand runs the subcommand of group named by args[0]. `parley GROUP
// help [COMMAND]` works as `parley help GROUP [COMMAND]` does.
func (c *cli) subcommand(group string, args []string, subs []command) error {
	fs := c.flags(group, usage{})
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: parley %s COMMAND [ARGS]\n\ncommands:\n", group)
		for _, s := range subs {
			fmt.Fprintf(c.stderr, "  %-13s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(c.stderr, "\nexample:\n  parley %s %s -h\n", group, subs[0].name)
		fmt.Fprintf(c.stderr, "\nRun `parley %s COMMAND -h` (or `parley %s help COMMAND`) for its flags.\n", group, group)
	}
	rest, err := parseInterspersed(fs, args, 1)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		fs.Usage()
		return usagef("%s needs a command", group)
	}
	if rest[0] == "help" {
		if len(rest) == 1 {
			fs.Usage()
			return nil
		}
		rest = []string{rest[1], "-h"}
	}
	for _, s := range subs {
		if s.name == rest[0] {
			return s.run(c, rest[1:])
		}
	}
	return usagef("unknown command %q for %s (run `parley %s -h`)", rest[0], group, group)
}

func (c *cli) cmdTeam(args []string) error {
	return c.subcommand("team", args, []command{
		{"add", "add a member and print their credential token (company node)", (*cli).teamAdd},
		{"accept", "keep a credential issued for this node (interviewer's node)", (*cli).teamAccept},
		{"list", "list the team, or the credentials this node holds", (*cli).teamList},
		{"remove", "remove a member and revoke their credential (company node)", (*cli).teamRemove},
	})
}

func (c *cli) teamAdd(args []string) error {
	fs := c.flags("team add", usage{
		synopsis: "--name NAME --email EMAIL --peer PEERID [--role interviewer|admin] [--expires 90d]",
		help: `
Adds a member to the company's team and prints their credential token on the
last line. Send it to them; on their machine they run: parley team accept TOKEN.
Adding an email already on the team issues a new credential and revokes the old.
A node holds one credential per company, so a peer ID already on the team
under another email is refused.`,
		examples: []string{`parley team add --name "Ana Li" --email ana@acme.test --peer 12D3KooW... --expires 90d`},
	})
	var req node.NewMember
	fs.StringVar(&req.Name, "name", "", "the member's `NAME`")
	fs.StringVar(&req.Email, "email", "", "the member's email `ADDRESS`")
	fs.StringVar(&req.Peer, "peer", "", "the member's `PEERID` (they get it with parley id)")
	fs.StringVar(&req.Role, "role", "interviewer", "`ROLE`: interviewer or admin")
	fs.Var(durationFlag{&req.Lifetime}, "expires", "how long the credential lasts, as `DURATION` (90d, 2w, 12h; default 90d)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	for flagName, v := range map[string]string{"name": req.Name, "email": req.Email, "peer": req.Peer} {
		if v == "" {
			return usagef("team add needs --%s", flagName)
		}
	}
	return c.withBackend(func(n backend) error {
		res, err := n.AddMember(c.ctx, req)
		if err != nil {
			return err
		}
		m := res.Member
		if res.Replaced != nil {
			c.printf("Replaced the earlier credential of %s (%s); it is revoked.\n", m.Email, res.Replaced.Credential)
		}
		c.printf("Added %s <%s> as %s, until %s.\n", oneLine(m.Name), m.Email, m.Role, invite.FormatTime(m.Expires))
		c.printf("Send them this credential; on their machine they run: parley team accept TOKEN\n")
		c.printf("%s\n", m.Token)
		return nil
	})
}

func (c *cli) teamAccept(args []string) error {
	fs := c.flags("team accept", usage{
		synopsis: "TOKEN",
		help: `
Checks a team credential (signed by a company, issued for this node's peer ID,
not expired) and keeps it: with it, this node joins that company's interviews
as an interviewer.`,
		examples: []string{"parley team accept AQIg3v..."},
	})
	pos, err := parseArgs(fs, args, "TOKEN")
	if err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		m, err := n.AcceptCredential(c.ctx, pos[0])
		if err != nil {
			return fmt.Errorf("credential refused: %w", err)
		}
		c.printf("Accepted: %s <%s>, %s at %s, until %s.\n", oneLine(m.Name), m.Email, m.Role, oneLine(m.Org), invite.FormatTime(m.Expires))
		c.printf("Company key: %s (compare it with your admin's `parley init` output)\n", m.CompanyKey)
		return nil
	})
}

func (c *cli) teamList(args []string) error {
	fs := c.flags("team list", usage{
		synopsis: "[--json]",
		help: `
Lists the company's team (company node), or the credentials this node holds.
The table fits 80 columns: peer IDs show their last characters; --json has
everything.`,
		examples: []string{"parley team list", "parley team list --json"},
	})
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		team, err := n.Team(c.ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return c.printJSON(team)
		}
		info, err := n.Info(c.ctx)
		if err != nil {
			return err
		}
		switch {
		case len(team) > 0:
			return c.printTeam(team, info.Org != "")
		case info.Org != "":
			c.printf("The team is empty: add members with `parley team add`.\n")
		default:
			c.printf("This node holds no team credential: an admin issues one with `parley team add`, you keep it with `parley team accept TOKEN`.\n")
		}
		return nil
	})
}

// printTeam prints the team of a company node (company), or the
// credentials an interviewer's node holds, in 80 columns.
func (c *cli) printTeam(team []node.Member, company bool) error {
	t := &table{header: []string{"NAME", "EMAIL", "ROLE", "EXPIRES", "PEER"}, shrink: []int{0, 1}}
	if !company {
		// The peer is this node's own, the company is what differs.
		t = &table{header: []string{"COMPANY", "NAME", "EMAIL", "ROLE", "EXPIRES"}, shrink: []int{0, 1, 2}}
	}
	for _, m := range team {
		expires := m.Expires.UTC().Format("2006-01-02")
		if !time.Now().Before(m.Expires) {
			expires += " (expired)"
		}
		if company {
			t.add(oneLine(m.Name), m.Email, m.Role, expires, shortPeer(m.Peer))
		} else {
			t.add(oneLine(m.Org), oneLine(m.Name), m.Email, m.Role, expires)
		}
	}
	return t.print(c.stdout)
}

func (c *cli) teamRemove(args []string) error {
	fs := c.flags("team remove", usage{
		synopsis: "EMAIL",
		help: `
Removes a member from the team and revokes their credential. Links made from
now on carry the revocation, and the company node gives its revocation list to
the sessions of links made before.`,
		examples: []string{"parley team remove ana@acme.test"},
	})
	pos, err := parseArgs(fs, args, "EMAIL")
	if err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		m, err := n.RemoveMember(c.ctx, pos[0])
		if err != nil {
			return err
		}
		c.printf("Removed %s <%s>; credential %s is revoked.\n", oneLine(m.Name), m.Email, m.Credential)
		return nil
	})
}
