package postgres

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
	dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): skipping PostgreSQL integration tests")
	}
	return dsn
}

// freshSchema creates a schema with a random name, dropped at cleanup, and
// returns its name and a pool whose search_path is that schema.
func freshSchema(t testing.TB, dsn string) (string, *sqlx.DB) {
	t.Helper()
	ctx := context.Background()
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "nj_test_" + hex.EncodeToString(rnd[:])
	admin, err := (&ConnConfig{DSN: dsn}).open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA "` + schema + `"`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA "` + schema + `" CASCADE`)
		admin.Close()
	})
	db, err := (&ConnConfig{DSN: dsn}).open(ctx, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return schema, db
}

func connection(dsn string) *etl.Connection {
	return &etl.Connection{Name: "pg", Type: "postgres", Config: &ConnConfig{DSN: dsn}}
}

func harness(t *testing.T) *sqlconntest.Harness {
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	return &sqlconntest.Harness{
		Dialect:       Dialect{},
		DB:            db,
		TimestampType: "TIMESTAMPTZ",
		Catalog:       func(t *testing.T) string { return catalog(t, db, schema) },
		Target: func(t *testing.T, cfg sqlconn.TargetConfig) etl.Target {
			tg, err := New(&TargetConfig{TargetConfig: cfg, SchemaName: schema}, etl.BuildEnv{Connection: connection(dsn)})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return tg
		},
		Source: func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source {
			src, err := NewSource(&SourceConfig{SourceConfig: cfg, SchemaName: schema}, etl.BuildEnv{Connection: connection(dsn)})
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
