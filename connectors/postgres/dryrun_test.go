package postgres

import (
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// catalog lists the relations of schema (tables, indexes, sequences) with
// their columns, and the schemas named like it.
func catalog(t *testing.T, db *sqlx.DB, schema string) string {
	t.Helper()
	return sqlconntest.Lines(t, db, `
		SELECT n.nspname || '.' || coalesce(c.relname, '') || ' ' || coalesce(c.relkind::text, '') || ' ' ||
			coalesce(string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum), '')
		FROM pg_namespace n
		LEFT JOIN pg_class c ON c.relnamespace = n.oid
		LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname LIKE $1 || '%'
		GROUP BY n.nspname, c.relname, c.relkind ORDER BY 1`, schema)
}

// TestDryRunMissingSchema: a dry run into a schema that does not exist
// lists the table's creation and does not create the schema.
func TestDryRunMissingSchema(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	missing := schema + "_dry"
	before := catalog(t, db, schema)
	tg, err := New(&TargetConfig{TargetConfig: sqlconn.TargetConfig{Table: "leads", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve},
		SchemaName: missing}, etl.BuildEnv{Connection: connection(dsn)})
	if err != nil {
		t.Fatal(err)
	}
	b := sqlconntest.StringBatch(1, []string{"email"}, []string{"a@x"}, []string{"b@x"})
	sqlconntest.CheckDryRun(t, tg, b,
		`CREATE TABLE IF NOT EXISTS "_nightjar_batches" (`,
		`CREATE TABLE "leads" ("email" TEXT)`,
		`COPY "leads" ("email") FROM STDIN (FORMAT binary): 2 row(s)`,
	)
	if after := catalog(t, db, schema); after != before {
		t.Fatalf("the dry run changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}

}
