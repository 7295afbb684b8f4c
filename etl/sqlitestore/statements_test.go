package sqlitestore

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl/internal/sqlstore"
	nsql "github.com/nightjar-etl/nightjar/sql"
)

// TestStatementsFile: every statement of sql/statestore/sqlite.sql and
// shared.sql is one the store runs, and the other way round; a broken file is refused with
// the line at fault.
func TestStatementsFile(t *testing.T) {
	t.Parallel()
	if _, _, err := loadStatements(sqlstore.Shared, "statestore/sqlite.sql"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ text, want string }{
		{"-- name: A\nSELECT 1\n-- name: A\nSELECT 2\n", "line 3: statement A named twice"},
		{"-- name: A\n-- only a comment\n-- name: B\nSELECT 1\n", "line 1: statement A has no SQL"},
		{"-- name: \nSELECT 1\n", "line 1: a statement without a name"},
	} {
		if _, err := nsql.Named(tc.text); err == nil || err.Error() != tc.want {
			t.Errorf("Named(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
	got, err := nsql.Named("preamble\n-- name: A\n-- why\nSELECT ?;\n\n-- name: B\nDELETE FROM x\n")
	if err != nil || !cmp.Equal(got, map[string]string{"A": "SELECT ?", "B": "DELETE FROM x"}) {
		t.Errorf("Named = %q, %v", got, err)
	}
}
