package main

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"parley/node"
)

func (c *cli) cmdMedia(args []string) error {
	return c.subcommand("media", args, []command{
		{"check", "send a test signal into an interview's call and count what arrives from each participant", (*cli).mediaCheck},
	})
}

func (c *cli) mediaCheck(args []string) error {
	fs := c.flags("media check", "LINK [--seconds N]", `
Checks this machine's audio and video path, through the running node: joins
the interview of LINK (or uses the node's membership of it), sends a
generated audio and video test signal into the call for N seconds, and
prints how many audio and video packets arrived from each other participant.
Exits non-zero when nothing arrived. The call runs once an interviewer
started the interview; the company node takes no part in it.`)
	secs := fs.Int("seconds", 5, "how long to send and count (`N`, 1 to 90)")
	pos, err := parseArgs(fs, args, "LINK")
	if err != nil {
		return err
	}
	if *secs < 1 || *secs > 90 {
		return usagef("--seconds must be from 1 to 90")
	}
	return c.withBackend(func(n backend) error {
		in, err := n.Inspect(c.ctx, pos[0])
		if err != nil {
			return err
		}
		if !in.Joined {
			if !in.Valid {
				return fmt.Errorf("%s", in.Error)
			}
			if _, err := n.Join(c.ctx, pos[0], ""); err != nil {
				return err
			}
		}
		fmt.Fprintf(c.stderr, "Sending a test signal into %q for %d s...\n", in.Title, *secs)
		res, err := n.MediaCheck(c.ctx, in.Session, time.Duration(*secs)*time.Second)
		if err != nil {
			return err
		}
		slices.SortFunc(res, func(a, b node.MediaCount) int { return cmp.Compare(a.Name, b.Name) })
		var total int64
		for _, r := range res {
			c.printf("%s: %d video, %d audio packets\n", r.Name, r.Video, r.Audio)
			total += r.Audio + r.Video
		}
		if len(res) == 0 {
			return fmt.Errorf("nobody else is in the call")
		}
		if total == 0 {
			return fmt.Errorf("no audio or video arrived in %d s: the other participants' nodes are unreachable for media (check the link's TURN server)", *secs)
		}
		return nil
	})
}
