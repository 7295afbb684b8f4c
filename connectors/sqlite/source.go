package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{
			Type:    "sql/sqlite",
			Summary: "rows of a SQLite table or query, read in keyset-paginated chunks, incrementally by a cursor column",
			Example: "source: { type: sql, connection: warehouse, table: customers, cursor: updated_at, key: id }\n",
			Config:  func() any { return &sqlconn.SourceConfig{} },
		},
		New: NewSource,
	})
}

// NewSource builds a source from a decoded *sqlconn.SourceConfig; it does
// no I/O. The database is opened read-only.
func NewSource(cfg any, env etl.BuildEnv) (etl.Source, error) {
	c, ok := cfg.(*sqlconn.SourceConfig)
	if !ok {
		return nil, fmt.Errorf("sqlite source: config is %T, want *sqlconn.SourceConfig", cfg)
	}
	conn, err := connConfig(env, "source")
	if err != nil {
		return nil, err
	}
	name, err := c.ValidateSource(Dialect{}, sqlconn.Container{}, env.Connection.Name)
	if err != nil {
		return nil, err
	}
	path := resolvePath(conn.Path, env.BaseDir)
	drv := sqlconn.SourceDriver{
		Dialect:     Dialect{},
		Open:        func(ctx context.Context) (*sqlx.DB, error) { return openReadOnly(ctx, path) },
		FieldType:   func(ct *sql.ColumnType) etl.Type { return fieldType(ct.DatabaseTypeName()) },
		RowValues:   true,
		OrderExpr:   orderExpr,
		StoredOrder: storedOrder,
		Check:       checkBooleans,
	}
	return sqlconn.NewSource(*c, drv, name), nil
}

// openReadOnly opens an existing database file for reading.
func openReadOnly(ctx context.Context, path string) (*sqlx.DB, error) {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sqlx.Open("sqlite3", "file:"+escaped+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(2)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// fieldType maps a declared column type to a field type by SQLite's
// affinity rules, but for the names etl's table of types knows: those
// go-sqlite3 reads as times (DATE, DATETIME, TIMESTAMP) or booleans, and
// BLOB. NUMERIC and DECIMAL stay text so
// that no digit is lost; an expression's column (no declared type) is
// text.
func fieldType(decl string) etl.Type {
	decl = strings.ToUpper(decl)
	base, _, _ := strings.Cut(decl, "(")
	if t, ok := etl.SQLFieldType(etl.DialectSQLite, base); ok {
		return t // DATE, DATETIME, TIMESTAMP, BOOLEAN, BLOB: etl's table
	}
	switch {
	case strings.Contains(decl, "INT"):
		return etl.TypeInt
	case strings.Contains(decl, "CHAR"), strings.Contains(decl, "CLOB"), strings.Contains(decl, "TEXT"):
		return etl.TypeString
	case strings.Contains(decl, "REAL"), strings.Contains(decl, "FLOA"), strings.Contains(decl, "DOUB"):
		return etl.TypeFloat
	}
	return etl.TypeString
}

// checkBooleans refuses a BOOLEAN column holding a value other than 0 or
// 1: go-sqlite3 reads any non-zero integer as true, so that 2 would not
// read back as it was stored.
func checkBooleans(ctx context.Context, db *sqlx.DB, from string, schema *etl.Schema) error {
	for i := range schema.Len() {
		f := schema.Field(i)
		if f.Type != etl.TypeBool {
			continue
		}
		q, err := Dialect{}.QuoteIdent(f.Name)
		if err != nil {
			return err
		}
		var n int64
		var example sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT count(*), CAST(min("+q+") AS TEXT) FROM "+from+" WHERE "+q+" IS NOT NULL AND +"+q+" NOT IN (0, 1)").Scan(&n, &example); err != nil {
			return fmt.Errorf("check booleans of %q: %w", f.Name, err)
		}
		if n > 0 {
			return etl.Permanent(fmt.Errorf("column %q: %d values are not booleans (0 or 1), such as %s: read it as an integer with a query (CAST(%s AS INTEGER))", f.Name, n, example.String, q))
		}
	}
	return nil
}

// storedOrder reads a column's stored value unconverted: go-sqlite3
// converts the values of a column declared DATE, DATETIME or TIMESTAMP to
// times (an integer to seconds or milliseconds since 1970, text parsed to
// nanoseconds), but an expression has no declared type. SQLite orders and
// compares the stored values (integers before text, text by its bytes),
// so the source pages by them, exactly.
func storedOrder(quoted string) string { return "+" + quoted }

// orderExpr compares a time column to a time by a normalized text, for a
// lookback's bound and a position saved before stored values ordered:
// SQLite keeps times as text in whatever form they were written, or as
// numbers of seconds (milliseconds past 1e12, as go-sqlite3 reads them)
// since 1970. strftime brings both to one form (to the millisecond, UTC).
func orderExpr(quoted string, t etl.Type, _ *sql.ColumnType, v any) (string, any) {
	const layout = "2006-01-02 15:04:05.000"
	epoch := "CASE WHEN abs(" + quoted + ") > 1e12 THEN " + quoted + " / 1000.0 ELSE " + quoted + " END, 'unixepoch'"
	numeric := "typeof(" + quoted + ") IN ('integer', 'real')"
	switch t {
	case etl.TypeTimestamp, etl.TypeLocalTimestamp:
		if tm, ok := v.(time.Time); ok {
			v = tm.UTC().Format(layout)
		}
		return "CASE WHEN " + numeric + " THEN strftime('%Y-%m-%d %H:%M:%f', " + epoch + ") ELSE strftime('%Y-%m-%d %H:%M:%f', " + quoted + ") END", v
	case etl.TypeDate:
		if tm, ok := v.(time.Time); ok {
			v = tm.UTC().Format(time.DateOnly)
		}
		return "CASE WHEN " + numeric + " THEN date(" + epoch + ") ELSE date(" + quoted + ") END", v
	}
	return quoted, v
}
