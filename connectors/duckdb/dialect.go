package duckdb

import (
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// Dialect is DuckDB's sqlconn.Dialect.
type Dialect struct{}

var _ sqlconn.Dialect = Dialect{}

// Name returns "duckdb".
func (Dialect) Name() string { return "duckdb" }

// QuoteIdent double-quotes name, doubling embedded double quotes. DuckDB
// sets no length limit on identifiers.
func (Dialect) QuoteIdent(name string) (string, error) { return sqlconn.Quote(name, '"', 0) }

// IdentKey folds ASCII letters: DuckDB compares identifiers, quoted ones
// too, ignoring case.
func (Dialect) IdentKey(name string) string { return sqlconn.FoldASCII(name) }

// ColumnType maps a field type to a column type: timestamps are TIMESTAMP
// in UTC (an instant, microseconds), JSON DuckDB's JSON type.
func (Dialect) ColumnType(t etl.Type) string {
	switch t {
	case etl.TypeInt:
		return "BIGINT"
	case etl.TypeFloat:
		return "DOUBLE"
	case etl.TypeBool:
		return "BOOLEAN"
	case etl.TypeTimestamp:
		return "TIMESTAMP"
	case etl.TypeDate:
		return "DATE"
	case etl.TypeJSON:
		return "JSON"
	}
	return "VARCHAR"
}

// Placeholder returns "?".
func (Dialect) Placeholder(int) string { return "?" }

// MaxParams bounds the parameters of one statement (the replay markers'
// and the lookup step's): DuckDB sets no limit of its own.
func (Dialect) MaxParams() int { return 32766 }

// UpsertClause returns ON CONFLICT (keys) DO UPDATE SET col = excluded.col.
func (Dialect) UpsertClause(keys, updates []string) string { return sqlconn.OnConflict(keys, updates) }
