package transforms

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/mysql"
	"github.com/nightjar-etl/nightjar/connectors/postgres"
	"github.com/nightjar-etl/nightjar/connectors/sqlite"
	"github.com/nightjar-etl/nightjar/etl"
)

var (
	_ DBOpener = (*sqlite.ConnConfig)(nil)
	_ DBOpener = (*postgres.ConnConfig)(nil)
	_ DBOpener = (*mysql.ConnConfig)(nil)
)

// lookupDB is a database holding the customers table the lookup cases
// read.
type lookupDB struct {
	conn  *etl.Connection
	table string // as written in the step's config
	exec  func(t *testing.T, query string)
}

// testLookupTable runs the SQL lookup cases against db. The table has a
// column whose name needs quoting, an int column (read as its text), a
// NULL value and a NULL key.
func testLookupTable(t *testing.T, db lookupDB) {
	q := func(name string) string {
		quoted, err := db.conn.Config.(DBOpener).QuoteIdent(name)
		if err != nil {
			t.Fatal(err)
		}
		return quoted
	}
	var table []string
	for _, p := range strings.Split(db.table, ".") {
		table = append(table, q(p))
	}
	name := strings.Join(table, ".")
	db.exec(t, "CREATE TABLE "+name+" ("+q("E-Mail")+" VARCHAR(100), "+q("company")+" VARCHAR(100), "+q("tier")+" INTEGER, "+q("note")+" VARCHAR(100))")
	db.exec(t, "INSERT INTO "+name+" VALUES ('A@X.COM ', 'Acme', 1, NULL), ('b@y.com', 'Beta', 2, 'vip'), (NULL, 'Nokey', 3, NULL)")

	env := etl.BuildEnv{Connection: db.conn, BaseDir: t.TempDir()}
	src := `lookup: { connection: ` + db.conn.Name + `, table: "` + db.table + `", on: { email: E-Mail }, fields: [company, tier, note], missing: reject }`
	step, err := buildStepEnv(t, src, env)
	if err != nil {
		t.Fatal(err)
	}
	f := []string{"email"}
	for pass := 0; pass < 2; pass++ { // the second batch reads the cache
		out, err := apply(t, step, textBatch(t, f, []any{"a@x.com"}, []any{"c@z.com"}, []any{"B@Y.com"}, []any{""}))
		if err != nil {
			t.Fatal(err)
		}
		want := [][]any{{"a@x.com", "Acme", "1", nil}, {"B@Y.com", "Beta", "2", "vip"}}
		if diff := cmp.Diff(want, rowsOf(out)); diff != "" {
			t.Errorf("pass %d: rows (-want +got):\n%s", pass, diff)
		}
		wantReason := `lookup: key "c@z.com" not in table ` + db.table + ` (connection ` + db.conn.Name + `)`
		if len(out.Rejects) != 2 || out.Rejects[0].Reason != wantReason || out.Rejects[0].Origin.Line != 3 {
			t.Errorf("pass %d: rejects %+v, want 2, the first %q at line 3", pass, out.Rejects, wantReason)
		}
		if pass == 0 {
			// Cached: the table is not read again.
			db.exec(t, "DELETE FROM "+name)
		}
	}

	step, err = buildStepEnv(t, `lookup: { connection: `+db.conn.Name+`, table: "`+db.table+`", on: email, fields: { company: Company } }`, env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = apply(t, step, textBatch(t, f, []any{"a@x.com"}))
	if err == nil || !strings.Contains(err.Error(), `no column "email" (have: E-Mail, company, tier, note)`) {
		t.Errorf("missing column: error %v", err)
	}
}

func TestLookupSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wh.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn := &etl.Connection{Name: "warehouse", Type: "sqlite", Config: &sqlite.ConnConfig{Path: path}}
	testLookupTable(t, lookupDB{conn: conn, table: "lead customers", exec: execOn(db)})
}

func TestLookupSQLiteMissingDatabase(t *testing.T) {
	dir := t.TempDir()
	conn := &etl.Connection{Name: "warehouse", Type: "sqlite", Config: &sqlite.ConnConfig{Path: "nope.db"}}
	step, err := buildStepEnv(t, `lookup: { connection: warehouse, table: t, on: a, fields: b }`, etl.BuildEnv{Connection: conn, BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = apply(t, step, textBatch(t, []string{"a"}, []any{"x"}))
	if err == nil || !strings.Contains(err.Error(), "no such database file") {
		t.Errorf("error %v, want no such database file", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "nope.db")); statErr == nil {
		t.Error("the lookup created the database file")
	}
}

// execOn runs a statement on db, failing the test on error.
func execOn(db interface {
	Exec(query string, args ...any) (sql.Result, error)
}) func(t *testing.T, query string) {
	return func(t *testing.T, query string) {
		t.Helper()
		if _, err := db.Exec(query); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
}

func randomName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func TestLookupPostgres(t *testing.T) {
	dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): skipping the PostgreSQL lookup")
	}
	cfg := &postgres.ConnConfig{DSN: dsn}
	db, err := cfg.OpenDB(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := randomName("nj_lookup_")
	if _, err := db.Exec(`CREATE SCHEMA "` + schema + `"`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec(`DROP SCHEMA "` + schema + `" CASCADE`) })
	testLookupTable(t, lookupDB{conn: &etl.Connection{Name: "pg", Type: "postgres", Config: cfg}, table: schema + ".Customers",
		exec: execOn(db)})
}

func TestLookupMySQL(t *testing.T) {
	dsn := os.Getenv("NIGHTJAR_TEST_MYSQL")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_MYSQL is not set (e.g. root@tcp(127.0.0.1:3306)/test): skipping the MySQL lookup")
	}
	cfg := &mysql.ConnConfig{DSN: dsn}
	db, err := cfg.OpenDB(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	database := randomName("nj_lookup_")
	if _, err := db.Exec("CREATE DATABASE `" + database + "`"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP DATABASE `" + database + "`") })
	testLookupTable(t, lookupDB{conn: &etl.Connection{Name: "my", Type: "mysql", Config: cfg}, table: database + ".customers",
		exec: execOn(db)})
}

func TestLookupConnectionErrors(t *testing.T) {
	tests := []struct {
		conn *etl.Connection
		src  string
		path []string
		msg  string
	}{
		{&etl.Connection{Name: "crm", Type: "hubspot", Config: new(struct{ Token string })},
			`lookup: { connection: crm, table: t, on: a, fields: b }`, []string{"connection"}, "lookup reads tables of sqlite, postgres and mysql"},
		{&etl.Connection{Name: "w", Type: "sqlite", Config: &sqlite.ConnConfig{Path: "w.db"}},
			`lookup: { connection: w, table: "s..t", on: a, fields: b }`, []string{"table"}, "want name or schema.name"},
		{&etl.Connection{Name: "w", Type: "sqlite", Config: &sqlite.ConnConfig{Path: "w.db"}},
			`lookup: { connection: w, table: t, delimiter: ";", on: a, fields: b }`, []string{"delimiter"}, "not a table"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			_, err := buildStepEnv(t, tc.src, etl.BuildEnv{Connection: tc.conn})
			fe := wantFieldError(t, err, tc.path)
			if !strings.Contains(fe.Err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", fe.Err, tc.msg)
			}
		})
	}
}

// TestLookupSQLExample builds the table form shown in the lookup spec's
// example, which TestSpecExamples cannot (it is a comment there).
func TestLookupSQLExample(t *testing.T) {
	spec, _ := etl.LookupStep("lookup")
	_, src, ok := strings.Cut(spec.Example, "\n# lookup:")
	if !ok {
		t.Fatalf("the lookup example lacks the table form:\n%s", spec.Example)
	}
	conn := &etl.Connection{Name: "warehouse", Type: "sqlite", Config: &sqlite.ConnConfig{Path: "wh.db"}}
	if _, err := buildStepEnv(t, "lookup:"+src, etl.BuildEnv{Connection: conn}); err != nil {
		t.Fatal(err)
	}
}
