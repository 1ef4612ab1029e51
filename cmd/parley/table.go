package main

import (
	"io"
	"strings"
	"unicode/utf8"
)

// termWidth is the width tables fit in: an ordinary terminal's.
const termWidth = 80

// table prints rows under a header in columns two spaces apart, fitting
// termWidth: the columns named in shrink (by index), widest first, are cut
// short with "…" as far as needed, down to minShrunk characters each. The
// last column is not padded.
type table struct {
	header []string
	rows   [][]string
	shrink []int
}

// minShrunk is the narrowest a shrunk column gets.
const minShrunk = 8

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) error {
	widths := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	total := func() int {
		n := 2 * (len(widths) - 1)
		for _, w := range widths {
			n += w
		}
		return n
	}
	for total() > termWidth {
		widest := -1
		for _, i := range t.shrink {
			if widths[i] > minShrunk && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break // as narrow as it goes
		}
		widths[widest]--
	}
	var b strings.Builder
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			c = cut(c, widths[i])
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cut shortens s to n characters, ending it with "…" when it was longer.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// shortID is the start of a session ID that tables show; any 4 or more
// characters of it pick the session.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// shortPeer is the end of a peer ID, which tells peers apart (their starts
// are all alike).
func shortPeer(p string) string {
	if len(p) > 10 {
		return "…" + p[len(p)-8:]
	}
	return p
}
