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

// TestLoadStatement: a wide load names its first columns and counts the
// rest, in the column list and in the upsert's updates.
func TestLoadStatement(t *testing.T) {
	cols := []string{"a", "b", "c", "d", "e", "f"}
	for _, tc := range []struct {
		cols, keys []string
		want       string
	}{
		{cols[:2], nil, `INSERT INTO "t" ("a", "b") VALUES (…)`},
		{cols[:2], []string{"a"}, `INSERT INTO "t" ("a", "b") VALUES (…) ON CONFLICT ("a") SET "b"`},
		{cols, []string{"a"}, `INSERT INTO "t" ("a", "b", "c", "d", … (6 columns)) VALUES (…) ON CONFLICT ("a") SET "b", … (5 columns)`},
	} {
		if got := LoadStatement(pgLike{}, "t", tc.cols, tc.keys, "VALUES (…)"); got != tc.want {
			t.Errorf("LoadStatement(%q, %q) = %q, want %q", tc.cols, tc.keys, got, tc.want)
		}
	}
}
