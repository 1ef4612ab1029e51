package main

import "unicode/utf8"

func (c *cli) cmdNotes(args []string) error {
	fs := c.flags("notes", usage{
		synopsis: "ID [--append TEXT]",
		help: `
Prints the interviewers' private notes of a session (Markdown), through the
running node; with --append, adds TEXT as a paragraph at their end and says
how long they are now. Every interviewer of the session sees them live; the
candidate's node never receives them, and is refused here.`,
		examples: []string{"parley notes 7kq3m2xa", `parley notes 7kq3m2xa --append "Strong on recursion"`},
	})
	appendText := fs.String("append", "", "add `TEXT` as a paragraph")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		if *appendText == "" {
			text, err := n.Notes(c.ctx, pos[0])
			if err != nil {
				return err
			}
			c.printf("%s", text)
			return nil
		}
		if err := n.AppendNotes(c.ctx, pos[0], *appendText); err != nil {
			return err
		}
		s, err := n.Session(c.ctx, pos[0])
		if err != nil {
			return err
		}
		text, err := n.Notes(c.ctx, s.ID)
		if err != nil {
			return err
		}
		c.printf("Added %d characters to the notes of %s; they are %d characters now (`parley notes %s` prints them).\n",
			utf8.RuneCountInString(*appendText), s.ID, utf8.RuneCountInString(text), shortID(s.ID))
		return nil
	})
}
