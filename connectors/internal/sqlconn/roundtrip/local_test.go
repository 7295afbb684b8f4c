package roundtrip

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/mysql"
	"github.com/nightjar-etl/nightjar/connectors/postgres"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestLocalTimestampInBerlin: a PostgreSQL timestamp (without time zone)
// and a MariaDB DATETIME are wall-clock values: copied between the two
// databases by sources and targets whose sessions are in Berlin, each
// lands as a zone-less column holding the same digits, which a Berlin
// session reads as they were written (an instant column would read an
// hour later).
func TestLocalTimestampInBerlin(t *testing.T) {
	t.Parallel()
	pgDSN, myDSN := os.Getenv("NIGHTJAR_TEST_POSTGRES"), os.Getenv("NIGHTJAR_TEST_MYSQL")
	if pgDSN == "" || myDSN == "" {
		t.Skip("NIGHTJAR_TEST_POSTGRES and NIGHTJAR_TEST_MYSQL are not both set: skipping")
	}
	ctx := context.Background()
	const wall = "2024-03-10 12:00:00.123456"
	schema, database := randomName(), randomName()

	// Berlin sessions: PostgreSQL's TimeZone, MariaDB's time_zone (an
	// offset: the server may have no zone tables) and the driver's loc.
	sep := "?"
	if strings.Contains(pgDSN, "?") {
		sep = "&"
	}
	pgBerlin := pgDSN + sep + "timezone=Europe%2FBerlin"
	sep = "?"
	if strings.Contains(myDSN, "?") {
		sep = "&"
	}
	myBerlin := myDSN + sep + "time_zone=%27%2B01%3A00%27&loc=Europe%2FBerlin"

	pg, err := sql.Open("pgx", pgBerlin)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	my, err := sql.Open("mysql", myBerlin)
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	t.Cleanup(func() {
		pg.Exec(`DROP SCHEMA IF EXISTS "` + schema + `" CASCADE`)
		my.Exec("DROP DATABASE IF EXISTS `" + database + "`")
	})
	for _, q := range []string{`CREATE SCHEMA "` + schema + `"`, `CREATE TABLE "` + schema + `".src (id int PRIMARY KEY, at timestamp(6))`,
		`INSERT INTO "` + schema + `".src VALUES (1, '` + wall + `')`} {
		if _, err := pg.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"CREATE DATABASE `" + database + "`", "CREATE TABLE `" + database + "`.src (id int PRIMARY KEY, at DATETIME(6))",
		"INSERT INTO `" + database + "`.src VALUES (1, '" + wall + "')"} {
		if _, err := my.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	pgConn := &etl.Connection{Name: "pg", Type: "postgres", Config: &postgres.ConnConfig{DSN: pgBerlin}}
	myConn := &etl.Connection{Name: "maria", Type: "mysql", Config: &mysql.ConnConfig{DSN: myBerlin}}
	source := func(db string) etl.Source {
		cfg := sqlconn.SourceConfig{Table: "src", Key: sqlconn.Names{"id"}}
		var src etl.Source
		var err error
		if db == "postgres" {
			src, err = postgres.NewSource(&postgres.SourceConfig{SourceConfig: cfg, SchemaName: schema}, etl.BuildEnv{Connection: pgConn})
		} else {
			src, err = mysql.NewSource(&mysql.SourceConfig{SourceConfig: cfg, Database: database}, etl.BuildEnv{Connection: myConn})
		}
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	target := func(db, table string) etl.Target {
		cfg := sqlconn.TargetConfig{Table: table, Mode: sqlconn.ModeMerge, Key: []string{"id"}, Schema: sqlconn.SchemaEvolve, CommitRows: 1000}
		var tg etl.Target
		var err error
		if db == "postgres" {
			tg, err = postgres.New(&postgres.TargetConfig{TargetConfig: cfg, SchemaName: schema}, etl.BuildEnv{Connection: pgConn})
		} else {
			tg, err = mysql.New(&mysql.TargetConfig{TargetConfig: cfg, Database: database}, etl.BuildEnv{Connection: myConn})
		}
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	for _, from := range []string{"postgres", "mariadb"} {
		for _, to := range []string{"postgres", "mariadb"} {
			table := "from_" + from
			if _, err := copyTable(ctx, source(from), target(to, table), table); err != nil {
				t.Fatalf("%s→%s: %v", from, to, err)
			}
			var got, colType string
			if to == "postgres" {
				err = pg.QueryRowContext(ctx, `SELECT at::text, pg_typeof(at)::text FROM "`+schema+`".`+table).Scan(&got, &colType)
			} else {
				err = my.QueryRowContext(ctx, "SELECT CAST(at AS CHAR), DATA_TYPE FROM `"+database+"`."+table+
					" JOIN information_schema.COLUMNS ON TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = 'at'", database, table).Scan(&got, &colType)
			}
			if err != nil {
				t.Fatalf("%s→%s: %v", from, to, err)
			}
			if got != wall {
				t.Errorf("%s→%s: a Berlin session reads %s (a %s column), want %s", from, to, got, colType, wall)
			}
			if colType != "timestamp without time zone" && colType != "datetime" {
				t.Errorf("%s→%s: the column is a %s, want a zone-less one", from, to, colType)
			}
		}
	}
}
