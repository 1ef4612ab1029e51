package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"parley/invite"
	"parley/node"
)

// subcommand runs the subcommand of group named by args[0].
func (c *cli) subcommand(group string, args []string, subs []command) error {
	fs := c.flags(group, "COMMAND [ARGS]", "")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: parley %s COMMAND [ARGS]\n\ncommands:\n", group)
		for _, s := range subs {
			fmt.Fprintf(c.stderr, "  %-13s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(c.stderr, "\nRun `parley %s COMMAND -h` for its flags.\n", group)
	}
	rest, err := parseInterspersed(fs, args, 1)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		fs.Usage()
		return usagef("%s needs a command", group)
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
	fs := c.flags("team add", "--name NAME --email EMAIL --peer PEERID [--role interviewer|admin] [--expires 90d]", `
Adds a member to the company's team and prints their credential token on the
last line. Send it to them; on their machine they run: parley team accept TOKEN.
Adding an email already on the team issues a new credential and revokes the old.`)
	var req node.NewMember
	fs.StringVar(&req.Name, "name", "", "the member's `NAME`")
	fs.StringVar(&req.Email, "email", "", "the member's email `ADDRESS`")
	fs.StringVar(&req.Peer, "peer", "", "the member's peer ID (they get it with `parley id`)")
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
	fs := c.flags("team accept", "TOKEN", `
Checks a team credential (signed by a company, issued for this node's peer ID,
not expired) and keeps it: with it, this node joins that company's interviews
as an interviewer.`)
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
	fs := c.flags("team list", "[--json]", "Lists the company's team (company node), or the credentials this node holds.")
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
		if len(team) == 0 {
			if info, err := n.Info(c.ctx); err == nil && info.Org != "" {
				c.printf("The team is empty: add members with `parley team add`.\n")
			} else {
				c.printf("This node holds no team credential: an admin issues one with `parley team add`, you keep it with `parley team accept TOKEN`.\n")
			}
			return nil
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "NAME\tEMAIL\tROLE\tORG\tEXPIRES\tPEER\n")
		for _, m := range team {
			expires := invite.FormatTime(m.Expires)
			if !time.Now().Before(m.Expires) {
				expires += " (expired)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(m.Name), m.Email, m.Role, oneLine(m.Org), expires, m.Peer)
		}
		return tw.Flush()
	})
}

func (c *cli) teamRemove(args []string) error {
	fs := c.flags("team remove", "EMAIL", `
Removes a member from the team and revokes their credential. Links made from
now on carry the revocation, and the company node gives its revocation list to
the sessions of links made before.`)
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
