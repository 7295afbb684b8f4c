package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// chinookSchema holds the Chinook PostgreSQL dump, loaded once for the
// package's tests by TestMain; "" when no server is configured.
var chinookSchema string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES")
	if dsn == "" {
		return m.Run()
	}
	ctx := context.Background()
	script, err := sqlconntest.ChinookScript("Chinook_PostgreSql.sql", `\c chinook;`)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chinook:", err)
		return 1
	}
	schema := fmt.Sprintf("nj_chinook_%d", os.Getpid())
	admin, err := (&ConnConfig{DSN: dsn}).open(ctx, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chinook:", err)
		return 1
	}
	defer admin.Close()
	if _, err := admin.Exec(`DROP SCHEMA IF EXISTS "` + schema + `" CASCADE; CREATE SCHEMA "` + schema + `"`); err != nil {
		fmt.Fprintln(os.Stderr, "chinook:", err)
		return 1
	}
	defer admin.Exec(`DROP SCHEMA IF EXISTS "` + schema + `" CASCADE`)
	db, err := (&ConnConfig{DSN: dsn}).open(ctx, schema)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chinook:", err)
		return 1
	}
	// No arguments: pgx runs the whole script in the simple protocol.
	_, err = db.Exec(script)
	db.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chinook: load dump:", err)
		return 1
	}
	chinookSchema = schema
	return m.Run()
}

func TestChinookCustomers(t *testing.T) {
	t.Parallel()
	h := harness(t)
	target := h.Source
	h.Source = func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source {
		if cfg.Table != "customer" {
			return target(t, cfg)
		}
		src, err := NewSource(&SourceConfig{SourceConfig: cfg, SchemaName: chinookSchema}, etl.BuildEnv{Connection: connection(testDSN(t))})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	// The dump writes strings as N'...' literals, which PostgreSQL types
	// as character(n): their trailing spaces are gone once stored in a
	// varchar ('Edinburgh ' of customer 54 is 'Edinburgh' here).
	trim := func(row []string) {
		for i := range row {
			row[i] = strings.TrimRight(row[i], " ")
		}
	}
	sqlconntest.TestChinookCustomers(t, h, "customer", "customer_id", trim)
}
