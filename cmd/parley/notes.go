package main

func (c *cli) cmdNotes(args []string) error {
	fs := c.flags("notes", "ID [--append TEXT]", `
Prints the interviewers' private notes of a session (Markdown), through the
running node; with --append, adds TEXT as a paragraph at their end. Every
interviewer of the session sees them live; the candidate's node never
receives them, and is refused here.`)
	appendText := fs.String("append", "", "add `TEXT` as a paragraph")
	pos, err := parseArgs(fs, args, "ID")
	if err != nil {
		return err
	}
	return c.withBackend(func(n backend) error {
		if *appendText != "" {
			return n.AppendNotes(c.ctx, pos[0], *appendText)
		}
		text, err := n.Notes(c.ctx, pos[0])
		if err != nil {
			return err
		}
		c.printf("%s", text)
		return nil
	})
}
