// Package termtext makes text from data safe to print on a terminal line:
// a control character (a line break, an escape sequence that would drive
// the terminal), a bidirectional control (which reorders what follows) or
// a byte that is not UTF-8 is shown escaped, as Go quotes it in a string
// literal. The CLI's tables and the dry runs of the targets share it.
package termtext

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Each calls f with each character of s as it is to be shown (itself, or
// its escape), the rune it stands for (utf8.RuneError for a byte that is
// not UTF-8) and the offset in s after it, until f returns false.
func Each(s string, f func(shown string, r rune, end int) bool) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		shown := s[i : i+size]
		switch {
		case r == utf8.RuneError && size == 1:
			shown = fmt.Sprintf(`\x%02x`, s[i])
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			q := strconv.QuoteRune(r)
			shown = q[1 : len(q)-1]
		}
		i += size
		if !f(shown, r, i) {
			return
		}
	}
}

// Escape is s with its control characters, bidirectional controls and
// bytes that are not UTF-8 escaped.
func Escape(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	Each(s, func(shown string, _ rune, _ int) bool {
		b.WriteString(shown)
		return true
	})
	return b.String()
}

// isPlain reports whether s needs no escape.
func isPlain(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
	})
}
