package sqlite

import (
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// maxParams is SQLITE_MAX_VARIABLE_NUMBER of the SQLite bundled with
// go-sqlite3 v1.14.53 (SQLite 3.54.1): 32766 since SQLite 3.32.
const maxParams = 32766

// Dialect is SQLite's sqlconn.Dialect.
type Dialect struct{}

var _ sqlconn.Dialect = Dialect{}

// Name returns "sqlite".
func (Dialect) Name() string { return "sqlite" }

// QuoteIdent double-quotes name, doubling embedded double quotes. SQLite
// sets no length limit on identifiers.
func (Dialect) QuoteIdent(name string) (string, error) { return sqlconn.Quote(name, '"', 0) }

// IdentKey folds ASCII letters: SQLite compares identifiers ignoring
// ASCII case only ("größe" and "GRÖSSE" differ).
func (Dialect) IdentKey(name string) string { return sqlconn.FoldASCII(name) }

// ColumnType maps a field type to a column type: timestamps are RFC 3339
// text in UTC, dates YYYY-MM-DD text, bools 0/1 integers, JSON text.
func (Dialect) ColumnType(f etl.Field) string { return etl.SQLColumnType(f, etl.DialectSQLite) }

// Placeholder returns "?".
func (Dialect) Placeholder(int) string { return "?" }

// MaxParams returns SQLite's bind parameter limit.
func (Dialect) MaxParams() int { return maxParams }

// UpsertClause returns ON CONFLICT (keys) DO UPDATE SET col = excluded.col.
func (Dialect) UpsertClause(keys, updates []string) string {
	clause := " ON CONFLICT (" + strings.Join(keys, ", ") + ") DO "
	if len(updates) == 0 {
		return clause + "NOTHING"
	}
	set := make([]string, len(updates))
	for i, u := range updates {
		set[i] = u + " = excluded." + u
	}
	return clause + "UPDATE SET " + strings.Join(set, ", ")
}
