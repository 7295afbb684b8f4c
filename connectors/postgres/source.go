package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// SourceConfig is a "sql" source bound to a postgres connection.
type SourceConfig struct {
	sqlconn.SourceConfig `yaml:",inline"`
	// SchemaName is the schema the table (or the query's tables) are found
	// in; default the connection's search_path.
	SchemaName string `yaml:"schema_name" doc:"the schema the table (or the query's tables) are found in; default the connection's search_path"`
}

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{
			Type:    "sql/postgres",
			Summary: "rows of a PostgreSQL table or query, read in keyset-paginated chunks, incrementally by a cursor column",
			Example: "source: { type: sql, connection: pg, table: customers, cursor: updated_at, key: id, lookback: 10m }\n",
			Config:  func() any { return &SourceConfig{} },
		},
		New: NewSource,
	})
}

// NewSource builds a source from a decoded *SourceConfig; it does no I/O.
func NewSource(cfg any, env etl.BuildEnv) (etl.Source, error) {
	c, ok := cfg.(*SourceConfig)
	if !ok {
		return nil, fmt.Errorf("postgres source: config is %T, want *SourceConfig", cfg)
	}
	conn, err := connConfig(env, "source")
	if err != nil {
		return nil, err
	}
	name, err := c.ValidateSource(Dialect{}, sqlconn.Container{Key: "schema_name", Name: c.SchemaName}, env.Connection.Name)
	if err != nil {
		return nil, err
	}
	drv := sqlconn.SourceDriver{
		Dialect:   Dialect{},
		Open:      func(ctx context.Context) (*sqlx.DB, error) { return conn.open(ctx, c.SchemaName) },
		FieldType: func(ct *sql.ColumnType) etl.Type { return fieldType(ct.DatabaseTypeName()) },
		ElemType: func(ct *sql.ColumnType) etl.Type {
			t, _ := etl.SQLArrayElement(etl.DialectPostgres, ct.DatabaseTypeName())
			return t
		},
		RowValues: true,
	}
	return sqlconn.NewSource(c.SourceConfig, drv, name), nil
}
