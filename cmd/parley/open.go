package main

import (
	"fmt"
	"net/url"

	"parley/node/web"
)

func (c *cli) cmdOpen(args []string) error {
	fs := c.flags("open", usage{
		synopsis: "[SESSION]",
		help: `
Prints the address of the running node's web app with its access token, to
open in a browser on this machine: the dashboard, or with SESSION (an ID or
a prefix of 4 or more characters) that interview's room. The first visit
trades the token for a cookie that lasts 30 days, across restarts of the
node; run this again when a page says it has no access.`,
		examples: []string{"parley open", "parley open 3f2a9c"},
	})
	pos, err := parseInterspersed(fs, args, 0)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("open takes at most one SESSION, got %d arguments", len(pos))
	}
	dir, err := c.resolvedDir()
	if err != nil {
		return err
	}
	client, api, err := c.running(dir)
	if err != nil {
		return err
	}
	if client == nil {
		return fmt.Errorf("no node is running in %s: start it with `parley up` (it prints the web app's address too)", dir)
	}
	path := "/"
	if len(pos) == 1 {
		s, err := client.Session(c.ctx, pos[0])
		if err != nil {
			return err
		}
		path = "/s/" + url.PathEscape(s.ID)
	}
	c.printf("%s\n", web.PageURL(api.URL, path, api.Token))
	return nil
}
