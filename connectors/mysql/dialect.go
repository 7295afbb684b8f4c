package mysql

import (
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// maxIdentBytes is MySQL's identifier length limit (64 characters),
// counted in bytes to stay on the safe side for non-ASCII names.
const maxIdentBytes = 64

// Dialect is MySQL's and MariaDB's sqlconn.Dialect.
type Dialect struct{}

var (
	_ sqlconn.Dialect  = Dialect{}
	_ sqlconn.KeyTyper = Dialect{}
)

// Name returns "mysql".
func (Dialect) Name() string { return "mysql" }

// QuoteIdent backquotes name, doubling embedded backquotes; names over 64
// bytes are an error.
func (Dialect) QuoteIdent(name string) (string, error) {
	return sqlconn.Quote(name, '`', maxIdentBytes)
}

// IdentKey folds ASCII case: MySQL compares column names ignoring case.
func (Dialect) IdentKey(name string) string { return sqlconn.FoldASCII(name) }

// ColumnType maps a field type to a column type: times are DATETIME(6)
// in UTC, strings LONGTEXT (TEXT holds only 64 KB).
func (Dialect) ColumnType(f etl.Field) string { return etl.SQLColumnType(f, etl.DialectMySQL) }

// KeyColumnType is VARCHAR(255) for strings: MySQL cannot index a TEXT
// column without a prefix length, which would not make a key unique.
func (d Dialect) KeyColumnType(f etl.Field) string {
	if f.Type == etl.TypeString {
		return "VARCHAR(255)"
	}
	return d.ColumnType(f)
}

// Placeholder returns "?".
func (Dialect) Placeholder(int) string { return "?" }

// MaxParams is the protocol's limit of 65535 placeholders.
func (Dialect) MaxParams() int { return 65535 }

// UpsertClause returns ON DUPLICATE KEY UPDATE col = VALUES(col); with
// every column a key, it updates a key to itself (does nothing).
func (Dialect) UpsertClause(keys, updates []string) string {
	if len(updates) == 0 {
		return " ON DUPLICATE KEY UPDATE " + keys[0] + " = " + keys[0]
	}
	set := make([]string, len(updates))
	for i, u := range updates {
		set[i] = u + " = VALUES(" + u + ")"
	}
	return " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
}

// fieldType maps a result column's type, as go-sql-driver names it, to a
// field type by etl's table of types: DATETIME is a local timestamp (it
// holds no zone), TIMESTAMP an instant, BLOB and BINARY bytes. DECIMAL
// stays text so that no digit is lost; TINYINT(1) (BOOLEAN) reads as an
// int, MySQL keeping no difference; any other type is text.
func fieldType(dbType string) etl.Type {
	if t, ok := etl.SQLFieldType(etl.DialectMySQL, strings.TrimPrefix(strings.ToUpper(dbType), "UNSIGNED ")); ok {
		return t
	}
	return etl.TypeString
}
