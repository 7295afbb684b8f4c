package mysql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// SourceConfig is a "sql" source bound to a mysql connection.
type SourceConfig struct {
	sqlconn.SourceConfig `yaml:",inline"`
	// Database is the database the table (or the query's tables) are
	// found in; default the DSN's.
	Database string `yaml:"database" doc:"the database the table (or the query's tables) are found in; default the DSN's"`
}

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{
			Type:    "sql/mysql",
			Summary: "rows of a MySQL or MariaDB table or query, read in keyset-paginated chunks, incrementally by a cursor column",
			Example: "source: { type: sql, connection: mysql, table: customers, cursor: updated_at, key: id, lookback: 10m }\n",
			Config:  func() any { return &SourceConfig{} },
		},
		New: NewSource,
	})
}

// NewSource builds a source from a decoded *SourceConfig; it does no I/O.
func NewSource(cfg any, env etl.BuildEnv) (etl.Source, error) {
	c, ok := cfg.(*SourceConfig)
	if !ok {
		return nil, fmt.Errorf("mysql source: config is %T, want *SourceConfig", cfg)
	}
	conn, err := connConfig(env, "source")
	if err != nil {
		return nil, err
	}
	name, err := c.ValidateSource(Dialect{}, sqlconn.Container{Key: "database", Name: c.Database}, env.Connection.Name)
	if err != nil {
		return nil, err
	}
	// uuids are the table's MariaDB UUID columns, which the driver
	// reports as CHAR (a query's are read as text).
	var uuids map[string]bool
	drv := sqlconn.SourceDriver{
		Dialect: Dialect{},
		Open: func(ctx context.Context) (*sqlx.DB, error) {
			db, err := conn.open(ctx, c.Database, false)
			if err != nil || c.Table == "" {
				return db, err
			}
			if uuids, err = uuidColumns(ctx, db, c.Table); err != nil {
				db.Close()
				return nil, err
			}
			return db, nil
		},
		FieldType: func(ct *sql.ColumnType) etl.Type {
			if uuids[ct.Name()] {
				return etl.TypeUUID
			}
			return fieldType(ct.DatabaseTypeName())
		},
		// MariaDB compares row values, but uses an index for the
		// spelled-out form more reliably.
		RowValues: false,
	}
	return sqlconn.NewSource(c.SourceConfig, drv, name), nil
}
