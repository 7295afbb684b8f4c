package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/storetest"
	nsql "github.com/nightjar-etl/nightjar/sql"
)

// testDSN is the PostgreSQL server of the tests, or a skip.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): skipping the PostgreSQL state store tests")
	}
	return dsn
}

// openTest opens a store in a schema of its own, dropped when t ends.
func openTest(t *testing.T) *Store {
	t.Helper()
	dsn := testDSN(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "nightjar_test_" + hex.EncodeToString(b[:])
	s, err := Open(t.Context(), dsn, schema)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if _, err := s.DB().ExecContext(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		s.Close()
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) etl.Store { return openTest(t) })
}

func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	t.Parallel()
	first := openTest(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(t.Context(), testDSN(t), first.Schema())
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	migrations, err := nsql.Migrations(nsql.StatePostgresMigrations, "state_postgres")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := first.DB().Get(&n, `SELECT count(*) FROM "schema_migrations"`); err != nil || n != len(migrations) {
		t.Errorf("schema_migrations has %d rows (%v), want %d (one per migration)", n, err, len(migrations))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	if _, err := s.DB().Exec(`INSERT INTO "schema_migrations" ("version", "name") VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), testDSN(t), s.Schema())
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenHidesThePassword(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), "postgres://u:s3cret@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", "s")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	for _, bad := range []string{"postgres://u:s3cret@%zz", "postgres://u:s3cret@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"} {
		_, err := Open(t.Context(), bad, "s")
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) error %v: want an error without the password", bad, err)
		}
	}
}
