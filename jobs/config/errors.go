package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a config file, at a position.
type Error struct {
	File string
	// Line and Col are 1-based; 0 when the problem has no position (the
	// file cannot be read).
	Line, Col int
	Msg       string
	// Hint suggests a fix ("did you mean jobs?"); may be empty.
	Hint string
}

// Error formats the problem as "FILE:LINE:COL: Msg (Hint)"; the hint is
// omitted when empty, and LINE:COL when unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Errors lists every problem found in a config, sorted by line and column.
type Errors []*Error

// Error returns one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each *Error to errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Col < es[j].Col
	})
}

// suggest returns the candidate closest to word, or "" when none is close
// enough to be a plausible typo.
func suggest(word string, candidates []string) string {
	best, bestDist := "", -1
	lw := strings.ToLower(word)
	for _, c := range candidates {
		d := editDistance(lw, strings.ToLower(c))
		limit := max(1, min(len(word), len(c))/3)
		if d > limit || d >= len(c) {
			continue
		}
		if bestDist < 0 || d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	return best
}

// Suggest returns the candidate closest to a mistyped word, or "" when
// none is close: for "did you mean ...?" hints outside the config (a job
// name on the command line).
func Suggest(word string, candidates []string) string { return suggest(word, candidates) }

// choiceHint is "did you mean X?" when a candidate is close, else
// "<what>: a, b, c" (or noneMsg when there are no candidates).
func choiceHint(word string, candidates []string, what, noneMsg string) string {
	if s := suggest(word, candidates); s != "" {
		return "did you mean " + s + "?"
	}
	if len(candidates) == 0 {
		return noneMsg
	}
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	return what + ": " + strings.Join(sorted, ", ")
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and adjacent transpositions cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
