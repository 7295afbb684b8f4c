package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{
			Type:    "sql/duckdb",
			Summary: "rows of a DuckDB table or query, read in keyset-paginated chunks, incrementally by a cursor column",
			Example: "source: { type: sql, connection: warehouse, table: customers, cursor: updated_at, key: id }\n",
			Config:  func() any { return &sqlconn.SourceConfig{} },
		},
		New: NewSource,
	})
}

// NewSource builds a source from a decoded *sqlconn.SourceConfig; it does
// no I/O. The database file must exist.
func NewSource(cfg any, env etl.BuildEnv) (etl.Source, error) {
	c, ok := cfg.(*sqlconn.SourceConfig)
	if !ok {
		return nil, fmt.Errorf("duckdb source: config is %T, want *sqlconn.SourceConfig", cfg)
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
		Dialect: Dialect{},
		Open: func(ctx context.Context) (*sqlx.DB, error) {
			db, err := openExisting(ctx, path)
			if err == nil && db == nil {
				err = etl.Permanent(fmt.Errorf("open %s: no such database file", path))
			}
			return db, err
		},
		FieldType:  func(ct *sql.ColumnType) etl.Type { return fieldType(ct.DatabaseTypeName()) },
		SelectList: selectList,
		RowValues:  true,
	}
	return sqlconn.NewSource(*c, drv, name), nil
}

// selectList reads JSON columns as their text, which the source parses
// (sqlconn.AppendValue): duckdb-go decodes a JSON value itself and hands
// over a JSON null as nil, SQL NULL's value. Other columns stay as they
// are (* REPLACE), lists, structs and maps too (their text is not JSON).
// "" when there is no JSON column, or a name it cannot quote.
func selectList(types []*sql.ColumnType) string {
	var repl []string
	for _, ct := range types {
		if !strings.EqualFold(ct.DatabaseTypeName(), "JSON") {
			continue
		}
		q, err := Dialect{}.QuoteIdent(ct.Name())
		if err != nil {
			return ""
		}
		repl = append(repl, "CAST("+q+" AS VARCHAR) AS "+q)
	}
	if len(repl) == 0 {
		return ""
	}
	return "* REPLACE (" + strings.Join(repl, ", ") + ")"
}

// fieldType maps a DuckDB column type to a field type. DECIMAL, HUGEINT
// and unsigned 64-bit integers stay text so that no digit is lost; lists,
// structs and maps are JSON.
func fieldType(decl string) etl.Type {
	decl = strings.ToUpper(strings.TrimSpace(decl))
	base, _, _ := strings.Cut(decl, "(")
	switch base {
	case "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT":
		return etl.TypeInt
	case "DOUBLE", "FLOAT":
		return etl.TypeFloat
	case "BOOLEAN":
		return etl.TypeBool
	case "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
		return etl.TypeTimestamp
	case "DATE":
		return etl.TypeDate
	case "JSON", "LIST", "STRUCT", "MAP":
		return etl.TypeJSON
	}
	if strings.HasSuffix(decl, "[]") {
		return etl.TypeJSON
	}
	return etl.TypeString
}
