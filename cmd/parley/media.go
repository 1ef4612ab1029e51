package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"parley/node"
)

func (c *cli) cmdMedia(args []string) error {
	return c.subcommand("media", args, []command{
		{"check", "send a test signal into an interview's call and count what arrives from each participant", (*cli).mediaCheck},
	})
}

func (c *cli) mediaCheck(args []string) error {
	fs := c.flags("media check", usage{
		synopsis: "LINK [--seconds N]",
		help: `
Checks this machine's audio and video path, through the running node: joins
the interview of LINK (or uses the node's membership of it; the candidate
joins first, with ` + "`parley join LINK --as-candidate`" + `), sends a generated
audio and video test signal into the call for N seconds, and prints how many
video and audio packets arrived from each other participant. Run it on two
machines at once, or with the others in the room with their cameras on.
Exits non-zero when a participant sent no video, saying whether their node
was unreachable or reachable but sending nothing. The call runs once an
interviewer started the interview; the company node takes no part in it.`,
		examples: []string{"parley media check 'parley://join/AUkK...' --seconds 5"},
	})
	secs := fs.Int("seconds", 5, "how long to send and count (`N`, 1 to 90)")
	pos, err := parseArgs(fs, args, "LINK")
	if err != nil {
		return err
	}
	if *secs < 1 || *secs > 90 {
		return usagef("--seconds %d: a check lasts 1 to 90 seconds", *secs)
	}
	return c.withBackend(func(n backend) error {
		if err := c.requireRunning(n); err != nil {
			return err
		}
		in, err := n.Inspect(c.ctx, pos[0])
		if err != nil {
			return err
		}
		if !in.Joined {
			if !in.Valid {
				return fmt.Errorf("%s", in.Error)
			}
			if in.Role == node.RoleCandidate && c.interactive {
				return usagef("%s\nThe media check joins the interview, and this node would take the candidate's seat: if you are %s, join first with `parley join LINK --as-candidate`, then check.", candidateWarning(in), oneLine(in.Candidate))
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
		var problems []string
		for _, r := range res {
			c.printf("%s: %d video, %d audio packets\n", r.Name, r.Video, r.Audio)
			if r.Video == 0 {
				problems = append(problems, mediaProblem(r, *secs))
			}
		}
		if len(res) == 0 {
			return fmt.Errorf("nobody else is in the call: run the check while another participant is in the interview")
		}
		if len(problems) > 0 {
			return errors.New(strings.Join(problems, "\n"))
		}
		return nil
	})
}

// mediaProblem says why a participant's video did not arrive: their node
// unreachable for media (the path: TURN), or reachable and sending nothing.
func mediaProblem(r node.MediaCount, secs int) string {
	name := oneLine(r.Name)
	switch {
	case !r.Connected:
		return fmt.Sprintf("%s: no media connection to their node in %d s: it is unreachable for audio and video from here (check the link's TURN server: parley invite inspect LINK)", name, secs)
	case r.Audio > 0:
		return fmt.Sprintf("%s: audio arrived but no video: their camera is off, or their browser was not allowed to use it", name)
	}
	return fmt.Sprintf("%s: connected, but nothing arrived: their node sends nothing (no browser in the room with camera and microphone on, and no media check running there); the path to them works", name)
}
