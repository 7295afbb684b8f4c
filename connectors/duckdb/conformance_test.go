package duckdb

import (
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

func harness(t *testing.T) *sqlconntest.Harness {
	dir := t.TempDir()
	path := filepath.Join(dir, "db.duckdb")
	db, err := sqlx.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn := &etl.Connection{Name: "duck", Type: "duckdb", Config: &ConnConfig{Path: "db.duckdb"}}
	return &sqlconntest.Harness{
		Dialect:       Dialect{},
		DB:            db,
		TimestampType: "TIMESTAMP",
		Catalog:       func(t *testing.T) string { return catalog(t, db) },
		NoIdentLimit:  true,
		Target: func(t *testing.T, cfg sqlconn.TargetConfig) etl.Target {
			tg, err := New(&cfg, etl.BuildEnv{BaseDir: dir, Connection: conn})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return tg
		},
		Source: func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source {
			src, err := NewSource(&cfg, etl.BuildEnv{BaseDir: dir, Connection: conn})
			if err != nil {
				t.Fatalf("NewSource: %v", err)
			}
			return src
		},
	}
}

// catalog describes every table, column and index of the database.
func catalog(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	return sqlconntest.Lines(t, db, "SELECT table_name || ' ' || column_name || ' ' || data_type FROM duckdb_columns() WHERE NOT internal ORDER BY 1") + "\n" +
		sqlconntest.Lines(t, db, "SELECT index_name || ' ' || table_name || ' ' || coalesce(sql, '') FROM duckdb_indexes() ORDER BY 1") + "\n" +
		sqlconntest.Lines(t, db, "SELECT table_name || ' ' || estimated_size FROM duckdb_tables() ORDER BY 1")
}

func TestConformanceSources(t *testing.T) {
	t.Parallel()
	sqlconntest.TestSources(t, harness)
}

func TestConformanceTargets(t *testing.T) {
	t.Parallel()
	sqlconntest.TestTargets(t, harness)
}
