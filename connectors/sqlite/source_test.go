package sqlite

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
	path := filepath.Join(dir, "db.sqlite")
	db, err := sqlx.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn := &etl.Connection{Name: "lite", Type: "sqlite", Config: &ConnConfig{Path: "db.sqlite"}}
	return &sqlconntest.Harness{
		Dialect:       Dialect{},
		DB:            db,
		TimestampType: "DATETIME",
		Catalog:       func(t *testing.T) string { return catalog(t, db, dir) },
		// The target keeps times, dates and JSON as TEXT, which the
		// source reads back as text.
		TextTimes:    true,
		NoIdentLimit: true,
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

func TestConformanceSources(t *testing.T) {
	t.Parallel()
	sqlconntest.TestSources(t, harness)
}

func TestConformanceTargets(t *testing.T) {
	t.Parallel()
	sqlconntest.TestTargets(t, harness)
}

func TestChinookCustomers(t *testing.T) {
	t.Parallel()
	h := harness(t)
	target := h.Source
	h.Source = func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source {
		if cfg.Table != "Customer" {
			return target(t, cfg)
		}
		conn := &etl.Connection{Name: "chinook", Type: "sqlite", Config: &ConnConfig{Path: filepath.Join(sqlconntest.ChinookDir(), "Chinook_Sqlite.sqlite")}}
		src, err := NewSource(&cfg, etl.BuildEnv{BaseDir: t.TempDir(), Connection: conn})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	sqlconntest.TestChinookCustomers(t, h, "Customer", "CustomerId", nil)
}
