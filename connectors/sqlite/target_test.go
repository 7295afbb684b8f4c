package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"
	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// bundle is a test's database file and how to reach it.
type bundle struct {
	dir  string
	path string
}

func setup(t *testing.T) bundle {
	t.Helper()
	dir := t.TempDir()
	return bundle{dir: dir, path: filepath.Join(dir, "out", "warehouse.db")}
}

// open builds and opens a target on the bundle's database.
func (bd bundle) open(t *testing.T, cfg TargetConfig) *Target {
	t.Helper()
	if cfg.Mode == "" {
		cfg.Mode = ModeAppend
	}
	if cfg.Schema == "" {
		cfg.Schema = SchemaEvolve
	}
	tg, err := New(&cfg, etl.BuildEnv{
		BaseDir:    bd.dir,
		Connection: &etl.Connection{Name: "warehouse", Type: "sqlite", Config: &ConnConfig{Path: "out/warehouse.db"}},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	target := tg.(*Target)
	if err := target.Open(context.Background(), etl.TargetEnv{Job: "leads", Name: "targets[0] table " + cfg.Table, RunID: 7}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { target.Close() })
	return target
}

// db opens a second, independent connection, with deferred transactions
// so that a reading transaction takes no write lock.
func (bd bundle) db(t *testing.T) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open("sqlite3", "file:"+bd.path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// query returns every row of query as text ("NULL" for null), for cmp.
func query(t *testing.T, db *sqlx.DB, q string, args ...any) [][]string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stringBatch builds a checked batch of string fields from rows of text;
// "<null>" is a null. Origins are leads.csv lines 2, 3, ...
func stringBatch(t *testing.T, seq int64, fields []string, rows ...[]string) *etl.Batch {
	t.Helper()
	b := sqlconntest.StringBatch(seq, fields, rows...)
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, tg *Target, b *etl.Batch) {
	t.Helper()
	if err := tg.Write(context.Background(), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := tg.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func TestAppendSkipsReplayedBatch(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	tg := bd.open(t, TargetConfig{Table: "leads"})
	first := stringBatch(t, 1, []string{"email"}, []string{"a@x"}, []string{"b@x"})
	write(t, tg, first)
	write(t, tg, stringBatch(t, 1, []string{"email"}, []string{"a@x"}, []string{"b@x"})) // same Seq and Position
	write(t, tg, stringBatch(t, 2, []string{"email"}, []string{"c@x"}))
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}

	// A later run replaying batch 1 (after a crash) skips it too.
	again := bd.open(t, TargetConfig{Table: "leads"})
	write(t, again, stringBatch(t, 1, []string{"email"}, []string{"a@x"}, []string{"b@x"}))
	// A replay is skipped before the table is touched: a field it brings
	// adds no column, and the next batch is not confused by it.
	write(t, again, stringBatch(t, 2, []string{"email", "extra"}, []string{"c@x", "e"}))
	if got := query(t, bd.db(t), `SELECT name FROM pragma_table_info('leads')`); !cmp.Equal([][]string{{"email"}}, got) {
		t.Errorf("a skipped replay changed the table: columns %v", got)
	}
	// The same sequence with another position is another cut: loaded.
	other := stringBatch(t, 1, []string{"email", "extra"}, []string{"d@x", "e"})
	other.Position = etl.Position(`{"offset":999}`)
	write(t, again, other)

	db := bd.db(t)
	got := query(t, db, `SELECT email, extra FROM leads ORDER BY rowid`)
	want := [][]string{{"a@x", "NULL"}, {"b@x", "NULL"}, {"c@x", "NULL"}, {"d@x", "e"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	markers := query(t, db, `SELECT job, target, batch_key, run_id, rows FROM _nightjar_batches ORDER BY batch_key`)
	wantMarkers := [][]string{
		{"leads", "targets[0] table leads", etl.BatchKey(first), "7", "2"},
		{"leads", "targets[0] table leads", etl.BatchKey(other), "7", "1"},
		{"leads", "targets[0] table leads", etl.BatchKey(stringBatch(t, 2, []string{"email"})), "7", "1"},
	}
	if diff := cmp.Diff(wantMarkers, markers); diff != "" {
		t.Errorf("markers (-want +got):\n%s", diff)
	}
}

func TestAppendCreatesDirectoriesAndLargeBatches(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	tg := bd.open(t, TargetConfig{Table: "big"})
	if _, err := os.Stat(bd.path); err != nil {
		t.Fatalf("database not created under the config's directory: %v", err)
	}
	// More rows than one statement holds, and a remainder.
	const n = 2*maxRowsPerStatement + 17
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = []string{fmt.Sprint(i), "v"}
	}
	write(t, tg, stringBatch(t, 1, []string{"id", "v"}, rows...))
	got := query(t, bd.db(t), `SELECT count(*), count(DISTINCT id), min(CAST(id AS INTEGER)), max(CAST(id AS INTEGER)) FROM big`)
	if diff := cmp.Diff([][]string{{fmt.Sprint(n), fmt.Sprint(n), "0", fmt.Sprint(n - 1)}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMergeUpdatesByCompositeKey(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	tg := bd.open(t, TargetConfig{Table: "accounts", Mode: ModeMerge, Key: []string{"region", "id"}})
	fields := []string{"region", "id", "name", "note"}
	write(t, tg, stringBatch(t, 1, fields,
		[]string{"eu", "1", "Anna", "n1"},
		[]string{"us", "1", "Bob", "n2"},
		[]string{"eu", "2", "Cleo", "n3"}))
	write(t, tg, stringBatch(t, 2, fields,
		[]string{"us", "1", "Bobby", "<null>"}, // update, note set to null
		[]string{"eu", "3", "Dan", "n4"}))      // insert
	// A batch without note leaves note as it is.
	write(t, tg, stringBatch(t, 3, []string{"id", "region", "name"}, []string{"2", "eu", "Cleo B."}))
	// A replay changes nothing.
	write(t, tg, stringBatch(t, 3, []string{"id", "region", "name"}, []string{"2", "eu", "Cleo B."}))

	got := query(t, bd.db(t), `SELECT region, id, name, note FROM accounts ORDER BY region, id`)
	want := [][]string{
		{"eu", "1", "Anna", "n1"},
		{"eu", "2", "Cleo B.", "n3"},
		{"eu", "3", "Dan", "n4"},
		{"us", "1", "Bobby", "NULL"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestMergeNullKeyNamesOrigin: a merge row with a null key failed the
// whole batch, on every later run; it is refused alone, quarantined with
// its origin, and the other rows load.
func TestMergeNullKeyNamesOrigin(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	tg := bd.open(t, TargetConfig{Table: "leads", Mode: ModeMerge, Key: []string{"email"}})
	write(t, tg, stringBatch(t, 1, []string{"email", "name"}, []string{"a@x", "A"}, []string{"<null>", "B"}))
	rejects := tg.TakeRejects()
	if len(rejects) != 1 || rejects[0].Origin.String() != "leads.csv:3" || rejects[0].Field != "email" || !strings.Contains(rejects[0].Reason, "null") {
		t.Fatalf("rejects %+v, want leads.csv:3's null email", rejects)
	}
	if got := query(t, bd.db(t), `SELECT email, name FROM leads`); len(got) != 1 || got[0][0] != "a@x" {
		t.Errorf("table holds %v, want the row with a key", got)
	}
}

func TestMergeOnTableWithDuplicateKeys(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	db := bd.db(t)
	if err := os.MkdirAll(filepath.Dir(bd.path), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE leads (email TEXT, name TEXT); INSERT INTO leads VALUES ('a@x', 'A'), ('a@x', 'A2')`); err != nil {
		t.Fatal(err)
	}
	tg := bd.open(t, TargetConfig{Table: "leads", Mode: ModeMerge, Key: []string{"email"}})
	err := tg.Write(context.Background(), stringBatch(t, 1, []string{"email", "name"}, []string{"b@x", "B"}))
	if err == nil || !strings.Contains(err.Error(), "already holds rows with the same key") {
		t.Fatalf("err = %v, want a duplicate-key explanation", err)
	}
}

func TestEvolveAddsColumn(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	tg := bd.open(t, TargetConfig{Table: "leads"})
	write(t, tg, stringBatch(t, 1, []string{"email"}, []string{"a@x"}))
	b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "email", Type: etl.TypeString}, etl.Field{Name: "score", Type: etl.TypeInt}), 1)
	b.Cols[0].AppendString("b@x")
	b.Cols[1].AppendInt(42)
	b.Origins = append(b.Origins, etl.Origin{File: "b.csv", Line: 2})
	b.Seq = 2
	write(t, tg, b)
	// Case differs only: SQLite sees the same column, none is added.
	write(t, tg, stringBatch(t, 3, []string{"EMAIL"}, []string{"c@x"}))

	db := bd.db(t)
	got := query(t, db, `SELECT name, type FROM pragma_table_info('leads') ORDER BY cid`)
	if diff := cmp.Diff([][]string{{"email", "TEXT"}, {"score", "INTEGER"}}, got); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	rows := query(t, db, `SELECT email, score, typeof(score) FROM leads ORDER BY rowid`)
	want := [][]string{{"a@x", "NULL", "null"}, {"b@x", "42", "integer"}, {"c@x", "NULL", "null"}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestStrictRefusesNewFieldsWithDiff(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	tg := bd.open(t, TargetConfig{Table: "leads", Schema: SchemaStrict})
	// Strict creates a missing table from the first batch.
	write(t, tg, stringBatch(t, 1, []string{"email", "name", "legacy"}, []string{"a@x", "A", "l"}))
	b := etl.NewBatch(etl.MustSchema(
		etl.Field{Name: "email", Type: etl.TypeString},
		etl.Field{Name: "name", Type: etl.TypeString},
		etl.Field{Name: "score", Type: etl.TypeInt},
		etl.Field{Name: "tier", Type: etl.TypeString}), 0)
	err := tg.Write(context.Background(), b)
	var mismatch *sqlconn.SchemaMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("err = %v, want a *sqlconn.SchemaMismatchError", err)
	}
	wantDiff := []string{"  email", "  name", "- legacy", "+ score (int)", "+ tier (string)"}
	if diff := cmp.Diff(wantDiff, mismatch.Diff); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	for _, want := range []string{`"score", "tier"`, "schema: strict", "+ tier (string)", "- legacy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	got := query(t, bd.db(t), `SELECT count(*) FROM pragma_table_info('leads')`)
	if got[0][0] != "3" {
		t.Errorf("strict target changed the table: %s columns", got[0][0])
	}
}

func TestHostileNamesAndValues(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	db := bd.db(t)
	if err := os.MkdirAll(filepath.Dir(bd.path), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE x (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	fields := []string{"select", "E-Mail Address", "größe", `say "hi"`}
	hostile := `'); DROP TABLE x; --`
	for _, mode := range []string{ModeAppend, ModeMerge} {
		cfg := TargetConfig{Table: `order`, Mode: mode}
		if mode == ModeMerge {
			cfg.Table = `or"der`
			cfg.Key = []string{"E-Mail Address"}
		}
		tg := bd.open(t, cfg)
		write(t, tg, stringBatch(t, 1, fields, []string{hostile, "a@x", "XL", `"q"`}))
		write(t, tg, stringBatch(t, 2, fields, []string{"s", "b@x", "M", "?"}))
		qt, _ := Dialect{}.QuoteIdent(cfg.Table)
		got := query(t, db, `SELECT "select", "E-Mail Address", "größe", "say ""hi""" FROM `+qt+` ORDER BY rowid`)
		want := [][]string{{hostile, "a@x", "XL", `"q"`}, {"s", "b@x", "M", "?"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: rows (-want +got):\n%s", mode, diff)
		}
	}
	if got := query(t, db, `SELECT count(*) FROM sqlite_schema WHERE name = 'x'`); got[0][0] != "1" {
		t.Error("table x was dropped")
	}
}

func TestReplaceSwapsAtCommit(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	old := bd.open(t, TargetConfig{Table: "prices"})
	write(t, old, stringBatch(t, 1, []string{"sku", "price"}, []string{"a", "1"}, []string{"b", "2"}))
	old.Close()

	reader := bd.db(t)
	// A staging table left by a crashed run is dropped at Open.
	if _, err := reader.Exec(`CREATE TABLE prices__nightjar_staging (junk TEXT); INSERT INTO prices__nightjar_staging VALUES ('stale')`); err != nil {
		t.Fatal(err)
	}
	tg := bd.open(t, TargetConfig{Table: "prices", Mode: ModeReplace})
	if tg.Durability() != etl.DurableAtCommit {
		t.Errorf("replace durability = %v, want DurableAtCommit", tg.Durability())
	}
	write(t, tg, stringBatch(t, 1, []string{"sku", "price"}, []string{"c", "3"}))
	write(t, tg, stringBatch(t, 2, []string{"sku", "price", "currency"}, []string{"d", "4", "EUR"}))

	oldRows := [][]string{{"a", "1"}, {"b", "2"}}
	if diff := cmp.Diff(oldRows, query(t, reader, `SELECT sku, price FROM prices ORDER BY sku`)); diff != "" {
		t.Errorf("before Commit a reader sees (-want +got):\n%s", diff)
	}
	// A reader in an open transaction keeps its snapshot across the swap.
	snapshot, err := reader.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer snapshot.Rollback()
	var before int
	if err := snapshot.Get(&before, `SELECT count(*) FROM prices`); err != nil {
		t.Fatal(err)
	}

	if err := tg.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	var during int
	if err := snapshot.Get(&during, `SELECT count(*) FROM prices`); err != nil {
		t.Fatal(err)
	}
	if before != 2 || during != 2 {
		t.Errorf("snapshot saw %d then %d rows, want 2 and 2", before, during)
	}
	snapshot.Rollback()

	want := [][]string{{"c", "3", "NULL"}, {"d", "4", "EUR"}}
	if diff := cmp.Diff(want, query(t, reader, `SELECT sku, price, currency FROM prices ORDER BY sku`)); diff != "" {
		t.Errorf("after Commit (-want +got):\n%s", diff)
	}
	if got := query(t, reader, `SELECT name FROM sqlite_schema WHERE name LIKE '%staging%'`); len(got) != 0 {
		t.Errorf("staging table left behind: %v", got)
	}
}

func TestReplaceWithoutCommitKeepsTable(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	old := bd.open(t, TargetConfig{Table: "prices"})
	write(t, old, stringBatch(t, 1, []string{"sku"}, []string{"a"}))
	old.Close()

	tg := bd.open(t, TargetConfig{Table: "prices", Mode: ModeReplace})
	write(t, tg, stringBatch(t, 1, []string{"sku"}, []string{"z"}))
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	reader := bd.db(t)
	if diff := cmp.Diff([][]string{{"a"}}, query(t, reader, `SELECT sku FROM prices`)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := query(t, reader, `SELECT name FROM sqlite_schema WHERE name LIKE '%staging%'`); len(got) != 0 {
		t.Errorf("abandoned staging table left behind: %v", got)
	}

	// A run that wrote nothing leaves the table alone; so does one whose
	// only batch had fields and no rows (a header-only file), which left
	// its staging table behind.
	empty := bd.open(t, TargetConfig{Table: "prices", Mode: ModeReplace})
	if err := empty.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	headerOnly := bd.open(t, TargetConfig{Table: "prices", Mode: ModeReplace})
	write(t, headerOnly, stringBatch(t, 1, []string{"sku"}))
	if err := headerOnly.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"a"}}, query(t, reader, `SELECT sku FROM prices`)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := query(t, reader, `SELECT name FROM sqlite_schema WHERE name LIKE '%staging%'`); len(got) != 0 {
		t.Errorf("staging table left behind by a header-only run: %v", got)
	}
}

func TestTypesRoundTrip(t *testing.T) {
	t.Parallel()
	for _, driverBind := range []bool{false, true} {
		t.Run(fmt.Sprintf("driverBind=%v", driverBind), func(t *testing.T) {
			t.Parallel()
			testTypesRoundTrip(t, driverBind)
		})
	}
}

// TestChunkBindingIsActive fails when go-sqlite3's statement layout is no
// longer the one stmtHandle reads, so that the slower driver path is not
// taken silently after an upgrade.
func TestChunkBindingIsActive(t *testing.T) {
	t.Parallel()
	db, err := sqlx.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		stmt, err := prepareInsert(context.Background(), dc.(*sqlite3.SQLiteConn), "SELECT ?", false)
		if err != nil {
			return err
		}
		defer stmt.close()
		if stmt.handle == nil {
			return errors.New("stmtHandle found no sqlite3_stmt in go-sqlite3's statement: chunk binding is off")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testTypesRoundTrip(t *testing.T, driverBind bool) {
	bd := setup(t)
	tg := bd.open(t, TargetConfig{Table: "typed"})
	tg.backend.driverBind = driverBind
	s := etl.MustSchema(
		etl.Field{Name: "s", Type: etl.TypeString},
		etl.Field{Name: "i", Type: etl.TypeInt},
		etl.Field{Name: "f", Type: etl.TypeFloat},
		etl.Field{Name: "b", Type: etl.TypeBool},
		etl.Field{Name: "ts", Type: etl.TypeTimestamp},
		etl.Field{Name: "d", Type: etl.TypeDate},
		etl.Field{Name: "j", Type: etl.TypeJSON},
	)
	b := etl.NewBatch(s, 3)
	berlin := time.FixedZone("CEST", 2*3600)
	b.Cols[0].AppendString("")
	b.Cols[1].AppendInt(-9007199254740993)
	b.Cols[2].AppendFloat(0.1)
	b.Cols[3].AppendBool(true)
	b.Cols[4].AppendTime(time.Date(2024, 3, 9, 14, 5, 6, 123456789, berlin))
	b.Cols[5].AppendTime(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC))
	b.Cols[6].AppendJSON(map[string]any{"tags": []any{"a", "<b>"}, "n": 1.5})
	b.Origins = append(b.Origins, etl.Origin{File: "in.jsonl", Line: 1})
	b.Cols[0].AppendString("x")
	b.Cols[1].AppendInt(0)
	b.Cols[2].AppendFloat(-2.5e300)
	b.Cols[3].AppendBool(false)
	b.Cols[4].AppendTime(time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC))
	b.Cols[5].AppendTime(time.Date(1999, 1, 2, 0, 0, 0, 0, time.UTC))
	b.Cols[6].AppendJSON("just text")
	b.Origins = append(b.Origins, etl.Origin{File: "in.jsonl", Line: 2})
	for i := range b.Cols {
		b.Cols[i].AppendNull()
	}
	b.Origins = append(b.Origins, etl.Origin{File: "in.jsonl", Line: 3})
	b.Seq = 1
	write(t, tg, b)

	db := bd.db(t)
	got := query(t, db, `SELECT s, i, f, b, ts, d, j, typeof(s), typeof(i), typeof(f), typeof(b), typeof(ts), typeof(d), typeof(j) FROM typed ORDER BY rowid`)
	want := [][]string{
		{"", "-9007199254740993", "0.1", "1", "2024-03-09T12:05:06.123456789Z", "2024-02-29", `{"n":1.5,"tags":["a","<b>"]}`,
			"text", "integer", "real", "integer", "text", "text", "text"},
		{"x", "0", "-2.5e+300", "0", "1999-12-31T23:59:59Z", "1999-01-02", `"just text"`,
			"text", "integer", "real", "integer", "text", "text", "text"},
		{"NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "null", "null", "null", "null", "null", "null", "null"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	// Typed reads give back the values written.
	var f float64
	var ts string
	if err := db.QueryRow(`SELECT f, ts FROM typed WHERE rowid = 1`).Scan(&f, &ts); err != nil {
		t.Fatal(err)
	}
	parsed, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || f != 0.1 || !parsed.Equal(time.Date(2024, 3, 9, 14, 5, 6, 123456789, berlin)) {
		t.Errorf("read back f=%v ts=%v (%v)", f, parsed, err)
	}
	cols := query(t, db, `SELECT name, type FROM pragma_table_info('typed') ORDER BY cid`)
	wantCols := [][]string{{"s", "TEXT"}, {"i", "INTEGER"}, {"f", "REAL"}, {"b", "INTEGER"}, {"ts", "TEXT"}, {"d", "TEXT"}, {"j", "TEXT"}}
	if diff := cmp.Diff(wantCols, cols); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}

func TestReplayIsLoggedAtInfo(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	cfg := TargetConfig{Table: "leads", Mode: ModeAppend, Schema: SchemaEvolve}
	tg, err := New(&cfg, etl.BuildEnv{BaseDir: bd.dir, Connection: &etl.Connection{Name: "w", Type: "sqlite", Config: &ConnConfig{Path: "w.db"}}})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := tg.Open(t.Context(), etl.TargetEnv{Job: "j", Name: "t0", Logger: logger}); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	b := stringBatch(t, 4, []string{"email"}, []string{"a@x"})
	for range 2 {
		if err := tg.Write(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(logs.String(), `msg="batch already loaded, skipped"`); got != 1 {
		t.Errorf("logged %d skips, want 1:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "seq=4") || !strings.Contains(logs.String(), "level=INFO") {
		t.Errorf("skip log lacks the level or the batch:\n%s", logs.String())
	}
}

func TestMergeIntoExistingTable(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	appender := bd.open(t, TargetConfig{Table: "leads"})
	write(t, appender, stringBatch(t, 1, []string{"email", "name"}, []string{"a@x", "A"}, []string{"b@x", "B"}))
	appender.Close()

	tg := bd.open(t, TargetConfig{Table: "leads", Mode: ModeMerge, Key: []string{"email"}})
	write(t, tg, stringBatch(t, 1, []string{"email", "name"}, []string{"b@x", "B2"}, []string{"c@x", "C"}))
	want := [][]string{{"a@x", "A"}, {"b@x", "B2"}, {"c@x", "C"}}
	if diff := cmp.Diff(want, query(t, bd.db(t), `SELECT email, name FROM leads ORDER BY email`)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A key field missing from a batch is refused.
	if err := tg.Write(t.Context(), stringBatch(t, 2, []string{"name"}, []string{"X"})); err == nil || !strings.Contains(err.Error(), `key field "email" is not in the batch`) {
		t.Errorf("batch without the key: err = %v", err)
	}
}

func TestStrictReplaceHoldsToExistingTable(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	old := bd.open(t, TargetConfig{Table: "prices"})
	write(t, old, stringBatch(t, 1, []string{"sku", "price"}, []string{"a", "1"}))
	old.Close()

	tg := bd.open(t, TargetConfig{Table: "prices", Mode: ModeReplace, Schema: SchemaStrict})
	err := tg.Write(t.Context(), stringBatch(t, 1, []string{"sku", "cost"}, []string{"b", "2"}))
	var mismatch *sqlconn.SchemaMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("err = %v, want a schema mismatch", err)
	}
	if diff := cmp.Diff([]string{"  sku", "- price", "+ cost (string)"}, mismatch.Diff); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	write(t, tg, stringBatch(t, 1, []string{"sku"}, []string{"b"}))
	if err := tg.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The replaced table keeps its columns; the batch filled only sku.
	db := bd.db(t)
	if diff := cmp.Diff([][]string{{"b", "NULL"}}, query(t, db, `SELECT sku, price FROM prices`)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"sku", "TEXT"}, {"price", "TEXT"}}, query(t, db, `SELECT name, type FROM pragma_table_info('prices')`)); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}

// TestKeptInsertIsFinalized checks that the full-chunk INSERT kept for the
// run is finalized when its table is swapped away and before the
// connection closes.
func TestKeptInsertIsFinalized(t *testing.T) {
	t.Parallel()
	const n = maxRowsPerStatement + 1
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = []string{fmt.Sprint(i)}
	}
	bd := setup(t)
	for _, mode := range []string{ModeAppend, ModeReplace} {
		tg := bd.open(t, TargetConfig{Table: "t_" + mode, Mode: mode})
		write(t, tg, stringBatch(t, 1, []string{"id"}, rows...))
		if p := tg.backend.insert; p == nil || p.full == nil {
			t.Fatalf("%s: no INSERT kept after a full chunk", mode)
		}
		kept := tg.backend.insert
		if err := tg.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		if mode == ModeReplace && (kept.full != nil || tg.backend.insert != nil) {
			t.Errorf("%s: INSERT on the staging table kept after the swap", mode)
		}
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
		if kept.full != nil {
			t.Errorf("%s: INSERT kept after Close", mode)
		}
		if got := query(t, bd.db(t), `SELECT count(*) FROM "t_`+mode+`"`); got[0][0] != fmt.Sprint(n) {
			t.Errorf("%s: %s rows, want %d", mode, got[0][0], n)
		}
	}
}

// TestFieldsThatWouldBeOneColumn: "Email" and "email" are two fields but
// one SQLite column (names ignore case); the table's CREATE failed with
// "duplicate column name: email", naming neither field's source. The
// error now names both, before any statement.
func TestFieldsThatWouldBeOneColumn(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	tg := bd.open(t, TargetConfig{Table: "leads", Mode: ModeAppend})
	err := tg.Write(context.Background(), stringBatch(t, 1, []string{"Email", "email"}, []string{"a@x", "b@x"}))
	if err == nil || !strings.Contains(err.Error(), `fields "Email" and "email" would be one column in sqlite`) {
		t.Fatalf("err = %v, want one naming both fields", err)
	}
	if got := query(t, bd.db(t), `SELECT count(*) FROM sqlite_schema WHERE name = 'leads'`); got[0][0] != "0" {
		t.Errorf("table created by a refused batch")
	}
}

// TestMarkerOfAnotherTableSkipsNothing: a target (one name) whose table
// changed found the marker its old table's load had left for the same
// batch and skipped the batch: the new table never got its rows. (Job
// targets are named after their table, so this takes a target name that
// is not, as a test harness gives.)
func TestMarkerOfAnotherTableSkipsNothing(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	for _, table := range []string{"leads_old", "leads_new"} {
		cfg := TargetConfig{Table: table, Mode: ModeAppend, Schema: SchemaEvolve}
		built, err := New(&cfg, etl.BuildEnv{BaseDir: bd.dir,
			Connection: &etl.Connection{Name: "warehouse", Type: "sqlite", Config: &ConnConfig{Path: "out/warehouse.db"}}})
		if err != nil {
			t.Fatal(err)
		}
		tg := built.(*Target)
		if err := tg.Open(context.Background(), etl.TargetEnv{Job: "leads", Name: "t", RunID: 7}); err != nil {
			t.Fatal(err)
		}
		write(t, tg, stringBatch(t, 1, []string{"email"}, []string{"a@x"}, []string{"b@x"}))
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
		if got := query(t, bd.db(t), `SELECT count(*) FROM "`+table+`"`); got[0][0] != "2" {
			t.Errorf("%s holds %s rows, want 2", table, got[0][0])
		}
	}
}
