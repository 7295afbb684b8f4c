package postgres

import (
	"strconv"
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// maxIdentBytes is NAMEDATALEN-1: PostgreSQL silently truncates longer
// names, so they are refused instead.
const maxIdentBytes = 63

// Dialect is PostgreSQL's sqlconn.Dialect.
type Dialect struct{}

var _ sqlconn.Dialect = Dialect{}

// Name returns "postgres".
func (Dialect) Name() string { return "postgres" }

// QuoteIdent double-quotes name, doubling embedded double quotes; names
// over 63 bytes are an error.
func (Dialect) QuoteIdent(name string) (string, error) {
	return sqlconn.Quote(name, '"', maxIdentBytes)
}

// IdentKey returns name unchanged: quoted identifiers compare exactly.
func (Dialect) IdentKey(name string) string { return name }

// ColumnType maps a field type to a column type.
func (Dialect) ColumnType(f etl.Field) string { return etl.SQLColumnType(f, etl.DialectPostgres) }

// Placeholder returns "$n".
func (Dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

// MaxParams is the protocol's limit of 65535 bind parameters.
func (Dialect) MaxParams() int { return 65535 }

// UpsertClause returns ON CONFLICT (keys) DO UPDATE SET col = EXCLUDED.col.
func (Dialect) UpsertClause(keys, updates []string) string {
	clause := " ON CONFLICT (" + strings.Join(keys, ", ") + ") DO "
	if len(updates) == 0 {
		return clause + "NOTHING"
	}
	set := make([]string, len(updates))
	for i, u := range updates {
		set[i] = u + " = EXCLUDED." + u
	}
	return clause + "UPDATE SET " + strings.Join(set, ", ")
}

// fieldType maps a result column's type (pgx names it by its upper-case
// type name) to a field type by etl's table of types: TIMESTAMP (without
// time zone) is a local timestamp, TIMESTAMPTZ an instant, BYTEA bytes,
// NUMERIC a decimal, UUID a uuid, an array of any of them (_INT8, _TEXT)
// an array; other types (interval, inet, json[], ...) are read as their
// text.
func fieldType(dbType string) etl.Type {
	if t, ok := etl.SQLFieldType(etl.DialectPostgres, dbType); ok {
		return t
	}
	if _, ok := etl.SQLArrayElement(etl.DialectPostgres, dbType); ok {
		return etl.TypeArray
	}
	return etl.TypeString
}
