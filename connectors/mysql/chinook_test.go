package mysql

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// chinookDatabase holds the Chinook MySQL dump, loaded once for the
// package's tests by TestMain; "" when no server is configured.
var chinookDatabase string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dsn := os.Getenv("NIGHTJAR_TEST_MYSQL")
	if dsn == "" {
		return m.Run()
	}
	ctx := context.Background()
	script, err := sqlconntest.ChinookScript("Chinook_MySql.sql", "USE `Chinook`;")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chinook:", err)
		return 1
	}
	database := fmt.Sprintf("nj_chinook_%d", os.Getpid())
	conn := &ConnConfig{DSN: dsn}
	db, err := conn.open(ctx, database, true)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chinook:", err)
		return 1
	}
	defer func() {
		db.Exec("DROP DATABASE IF EXISTS `" + database + "`")
		db.Close()
	}()
	cfg, _ := conn.driverConfig(database)
	cfg.MultiStatements = true
	loader := &ConnConfig{DSN: cfg.FormatDSN()}
	ldb, err := loader.open(ctx, database, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chinook:", err)
		return 1
	}
	_, err = ldb.Exec(script)
	ldb.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chinook: load dump:", err)
		return 1
	}
	chinookDatabase = database
	return m.Run()
}

func TestChinookCustomers(t *testing.T) {
	t.Parallel()
	h := harness(t)
	target := h.Source
	h.Source = func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source {
		if cfg.Table != "Customer" {
			return target(t, cfg)
		}
		src, err := NewSource(&SourceConfig{SourceConfig: cfg, Database: chinookDatabase}, etl.BuildEnv{Connection: connection(testDSN(t))})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	sqlconntest.TestChinookCustomers(t, h, "Customer", "CustomerId", nil)
}
