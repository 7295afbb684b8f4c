package sqlconn

import (
	"strings"
	"testing"
)

// TestShorten: a statement shown by a dry run stays on one line (control
// characters of a hostile name escaped) and within maxDryRunLine bytes
// plus the cut's mark.
func TestShorten(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`CREATE TABLE "t" ("a" TEXT)`, `CREATE TABLE "t" ("a" TEXT)`},
		{"ALTER TABLE \"t\" ADD COLUMN \"a\nb\x1b[31m\" TEXT", `ALTER TABLE "t" ADD COLUMN "a\nb\x1b[31m" TEXT`},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + " …"},
	} {
		if got := shorten(tc.in); got != tc.want {
			t.Errorf("shorten(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
