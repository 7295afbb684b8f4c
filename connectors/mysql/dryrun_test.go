package mysql

import (
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// catalog lists the databases named like database, their tables, columns
// and indexes.
func catalog(t *testing.T, db *sqlx.DB, database string) string {
	t.Helper()
	return sqlconntest.Lines(t, db, `
		SELECT CONCAT(s.SCHEMA_NAME, '.', COALESCE(c.TABLE_NAME, ''), ' ', COALESCE(c.COLUMN_NAME, ''), ' ', COALESCE(c.COLUMN_TYPE, ''))
		FROM information_schema.SCHEMATA s LEFT JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.SCHEMA_NAME
		WHERE s.SCHEMA_NAME LIKE CONCAT(?, '%')
		UNION ALL
		SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME, ' index ', INDEX_NAME, ' ', COLUMN_NAME)
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA LIKE CONCAT(?, '%')
		ORDER BY 1`, database, database)
}

// TestDryRunMissingDatabase: a dry run into a database that does not
// exist lists the table's creation and does not create the database.
func TestDryRunMissingDatabase(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	database, db := freshDatabase(t, dsn)
	missing := database + "_dry"
	before := catalog(t, db, database)
	tg, err := New(&TargetConfig{TargetConfig: sqlconn.TargetConfig{Table: "leads", Mode: sqlconn.ModeMerge, Key: []string{"email"}, Schema: sqlconn.SchemaEvolve},
		Database: missing}, etl.BuildEnv{Connection: connection(dsn)})
	if err != nil {
		t.Fatal(err)
	}
	b := sqlconntest.StringBatch(1, []string{"email", "name"}, []string{"a@x", "Ann"}, []string{"b@x", "Bob"})
	lines := sqlconntest.CheckDryRun(t, tg, b,
		"CREATE TABLE `leads` (`email` VARCHAR",
		"CREATE UNIQUE INDEX IF NOT EXISTS `leads__nightjar_key` ON `leads` (`email`)",
		"LOAD DATA LOCAL INFILE into a temporary table, then INSERT INTO `leads` (`email`, `name`) SELECT … FROM the temporary table ON DUPLICATE KEY UPDATE",
	)
	if after := catalog(t, db, database); after != before {
		t.Fatalf("the dry run changed the server:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	if !strings.HasSuffix(lines[2], ": 2 row(s)") {
		t.Errorf("load line %q does not end with the row count", lines[2])
	}
}
