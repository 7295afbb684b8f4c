package sqlite

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// catalog lists the schema of the database and every file of dir with
// its size and digest: a dry run must leave them byte for byte.
func catalog(t *testing.T, db *sqlx.DB, dir string) string {
	t.Helper()
	rows := []string{sqlconntest.Lines(t, db, "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY 1")}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, fmt.Sprintf("file %s %d %x", e.Name(), len(data), sha256.Sum256(data)))
	}
	return strings.Join(rows, "\n")
}

// TestDryRunMissingFile: a dry run into a database file that does not
// exist lists the table's creation and creates neither the file nor its
// directory.
func TestDryRunMissingFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn := &etl.Connection{Name: "lite", Type: "sqlite", Config: &ConnConfig{Path: "out/db.sqlite"}}
	tg, err := New(&TargetConfig{Table: "leads", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}, etl.BuildEnv{BaseDir: dir, Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	b := sqlconntest.StringBatch(1, []string{"email"}, []string{"a@x"}, []string{"b@x"})
	sqlconntest.CheckDryRun(t, tg, b,
		`CREATE TABLE IF NOT EXISTS "_nightjar_batches" (`,
		`CREATE TABLE "leads" ("email" TEXT)`,
		`INSERT INTO "leads" ("email") VALUES (…): 2 row(s)`,
	)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the dry run created %s", entries[0].Name())
	}

}
