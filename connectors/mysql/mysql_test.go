package mysql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// testDSN is the server the integration tests use, or skips them.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("NIGHTJAR_TEST_MYSQL")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_MYSQL is not set (e.g. root@tcp(127.0.0.1:3306)/test): skipping MySQL/MariaDB integration tests")
	}
	return dsn
}

// freshDatabase creates a database with a random name, dropped at
// cleanup, and returns its name and a pool on it.
func freshDatabase(t testing.TB, dsn string) (string, *sqlx.DB) {
	t.Helper()
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "nj_test_" + hex.EncodeToString(rnd[:])
	conn := &ConnConfig{DSN: dsn}
	db, err := conn.open(context.Background(), name, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE `" + name + "`")
		db.Close()
	})
	return name, db
}

func connection(dsn string) *etl.Connection {
	return &etl.Connection{Name: "mysql", Type: "mysql", Config: &ConnConfig{DSN: dsn}}
}

func harness(t *testing.T) *sqlconntest.Harness {
	dsn := testDSN(t)
	database, db := freshDatabase(t, dsn)
	return &sqlconntest.Harness{
		Dialect:       Dialect{},
		DB:            db,
		TimestampType: "DATETIME(6)",
		Catalog:       func(t *testing.T) string { return catalog(t, db, database) },
		Target: func(t *testing.T, cfg sqlconn.TargetConfig) etl.Target {
			tg, err := New(&TargetConfig{TargetConfig: cfg, Database: database}, etl.BuildEnv{Connection: connection(dsn)})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return tg
		},
		Source: func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source {
			src, err := NewSource(&SourceConfig{SourceConfig: cfg, Database: database}, etl.BuildEnv{Connection: connection(dsn)})
			if err != nil {
				t.Fatalf("NewSource: %v", err)
			}
			return src
		},
	}
}

func TestConformanceTargets(t *testing.T) {
	t.Parallel()
	sqlconntest.TestTargets(t, harness)
}

func TestConformanceSources(t *testing.T) {
	t.Parallel()
	sqlconntest.TestSources(t, harness)
}
