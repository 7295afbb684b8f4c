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

// ColumnType maps a field to a column type: timestamps are TIMESTAMP in
// UTC (an instant, microseconds), local timestamps TIMESTAMP as their wall
// clock, JSON DuckDB's JSON type, bytes BLOB; decimals and UUIDs are kept
// as their exact text (VARCHAR).
func (Dialect) ColumnType(f etl.Field) string {
	switch f.Type {
	case etl.TypeInt:
		return "BIGINT"
	case etl.TypeFloat:
		return "DOUBLE"
	case etl.TypeBool:
		return "BOOLEAN"
	case etl.TypeTimestamp, etl.TypeLocalTimestamp:
		return "TIMESTAMP"
	case etl.TypeDate:
		return "DATE"
	case etl.TypeJSON:
		return "JSON"
	case etl.TypeBytes:
		return "BLOB"
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
