package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// testTarget builds a table target on database that loads with INSERT
// when insertOnly, else with LOAD DATA where it can; logger may be nil.
func testTarget(t testing.TB, dsn, database string, cfg sqlconn.TargetConfig, insertOnly bool, logger *slog.Logger) (*sqlconn.Table, *backend) {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Schema == "" {
		cfg.Schema = sqlconn.SchemaEvolve
	}
	b := &backend{conn: &ConnConfig{DSN: dsn}, database: database, logger: logger, insertOnly: insertOnly}
	return sqlconn.NewTable(cfg, b, "mysql table "+strconv.Quote(cfg.Table)), b
}

// writeAll opens tg as run runID of the target named name (which scopes
// its replay markers), writes the batches, commits and closes it, and
// returns the first error.
func writeAll(ctx context.Context, tg etl.Target, name string, runID int64, batches ...*etl.Batch) error {
	if err := tg.Open(ctx, etl.TargetEnv{Job: "test", Name: name, RunID: runID}); err != nil {
		return err
	}
	defer tg.Close()
	for _, b := range batches {
		if err := tg.Write(ctx, b); err != nil {
			return err
		}
	}
	if err := tg.Commit(ctx); err != nil {
		return err
	}
	return tg.Close()
}

// dump returns every row of q as text, "<null>" for null (times as the
// driver reads them, in RFC 3339).
func dump(t *testing.T, db *sqlx.DB, q string) [][]string {
	t.Helper()
	rows, err := db.Query(q)
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
			row[i] = "<null>"
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

// batchOf builds batch seq of schema s from rows of Go values (nil is
// null), each from leads.csv, line 2 on.
func batchOf(t testing.TB, seq int64, s *etl.Schema, rows ...[]any) *etl.Batch {
	t.Helper()
	b := etl.NewBatch(s, len(rows))
	for r, row := range rows {
		for c, v := range row {
			if err := b.Cols[c].Append(v); err != nil {
				t.Fatalf("row %d field %d: %v", r, c, err)
			}
		}
		b.Origins = append(b.Origins, etl.Origin{File: "leads.csv", Line: int64(r + 2)})
	}
	b.Seq = seq
	b.Position = etl.Position(fmt.Sprintf(`{"offset":%d}`, seq*1000))
	return b
}

// hostileStrings are values LOAD DATA's format could misread: its
// terminators and escapes, what looks like its null, NUL, unicode, and the
// empty string (not null).
var hostileStrings = []string{
	"", "plain", "a\tb", "line1\nline2", "cr\rlf\r\n", `back\slash`, `trailing\`, `\`, `\\`,
	"nul\x00byte", "\x00", `\N`, `\\N`, "N", "NULL", `\0`, `\t`, `\n`, `\Z`, "\x1a", `'); DROP TABLE x; --`,
	`"quoted"`, "ünïcödé ✓ 日本語 🦉", "  padded  ", "\t\n\r\\\x00", "tab at end\t", "\nnewline first",
}

func TestLoadDataHostileStrings(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	database, db := freshDatabase(t, dsn)
	ctx := context.Background()
	s := etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "v", Type: etl.TypeString})
	var rows [][]any
	want := [][]string{}
	for i, v := range append(hostileStrings, "<null>") {
		var val any = v
		if v == "<null>" {
			val = nil
		}
		rows = append(rows, []any{int64(i), val})
		want = append(want, []string{strconv.Itoa(i), v})
	}
	for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge, sqlconn.ModeReplace} {
		for _, insertOnly := range []bool{false, true} {
			table := fmt.Sprintf("%s_insert_%v", mode, insertOnly)
			cfg := sqlconn.TargetConfig{Table: table, Mode: mode}
			if mode == sqlconn.ModeMerge {
				cfg.Key = []string{"id"}
			}
			tg, _ := testTarget(t, dsn, database, cfg, insertOnly, nil)
			if err := writeAll(ctx, tg, cfg.Table, 1, batchOf(t, 1, s, rows...)); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			got := dump(t, db, "SELECT id, v FROM "+table+" ORDER BY id")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", table, diff)
			}
		}
	}
}

// typedRows returns n rows of every field type, with nulls: edge values
// first, then random floats; with keyMod > 0 the int key repeats every
// keyMod rows, so that a merge sees keys repeated within the batch.
func typedRows(n, keyMod int) (*etl.Schema, [][]any) {
	s := etl.MustSchema(
		etl.Field{Name: "k", Type: etl.TypeInt}, etl.Field{Name: "i", Type: etl.TypeInt},
		etl.Field{Name: "f", Type: etl.TypeFloat}, etl.Field{Name: "b", Type: etl.TypeBool},
		etl.Field{Name: "ts", Type: etl.TypeTimestamp}, etl.Field{Name: "d", Type: etl.TypeDate},
		etl.Field{Name: "j", Type: etl.TypeJSON}, etl.Field{Name: "s", Type: etl.TypeString},
	)
	ints := []int64{0, -1, 1, math.MinInt64, math.MaxInt64, -9007199254740993, 42}
	floats := []float64{0.1, 0, 1e21, 1e-7, 1e-5, 5e-324, math.MaxFloat64, -math.MaxFloat64,
		1234567, 0.30000000000000004, 123456789.12345679, 1.5, -2.25e-300, 1e15, 1e16, 9007199254740993, 0.125, 2.5}
	kolkata := time.FixedZone("IST", 5*3600+1800)
	times := []time.Time{
		time.Date(2024, 3, 1, 12, 30, 45, 123456000, time.UTC),
		time.Date(2024, 3, 1, 12, 30, 45, 0, time.UTC),
		time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 3, 1, 0, 0, 0, 500000000, time.UTC),
		time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC), // a note: the fraction is cut to 6 digits
		time.Date(2024, 3, 1, 12, 30, 45, 100, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2024, 3, 1, 5, 30, 0, 0, kolkata),
		{}, // 0001-01-01, not '0000-00-00'
	}
	dates := []time.Time{time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}
	jsons := []any{
		map[string]any{"k": []any{"ü", 1.5}}, "tab\there", `<a href="x">&amp;</a>`, []any{nil, true, []any{}},
		json.Number("12345678901234567890"), map[string]any{}, `C:\path\n`, "nul\x00", 0.1, "🦉",
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	rows := make([][]any, n)
	for r := range rows {
		key := r
		if keyMod > 0 {
			key = r % keyMod
		}
		f := floats[r%len(floats)]
		if r >= len(floats) {
			for f = math.NaN(); math.IsNaN(f) || math.IsInf(f, 0); {
				f = math.Float64frombits(rnd.Uint64())
			}
		}
		row := []any{int64(key), ints[r%len(ints)], f, r%3 == 0, times[r%len(times)], dates[r%len(dates)],
			jsons[r%len(jsons)], hostileStrings[r%len(hostileStrings)]}
		for c := 1; c < len(row); c++ {
			if (r+c)%9 == 0 {
				row[c] = nil
			}
		}
		rows[r] = row
	}
	return s, rows
}

// TestLoadDataMatchesInsert loads the same batches of every type through
// LOAD DATA and through INSERT, in every mode, and wants the same tables.
func TestLoadDataMatchesInsert(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	database, db := freshDatabase(t, dsn)
	ctx := context.Background()
	for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge, sqlconn.ModeReplace} {
		keyMod := 0
		if mode == sqlconn.ModeMerge {
			keyMod = 70 // keys repeat within a batch and across batches
		}
		s, rows := typedRows(300, keyMod)
		batches := func() []*etl.Batch {
			return []*etl.Batch{batchOf(t, 1, s, rows[:170]...), batchOf(t, 2, s, rows[170:]...)}
		}
		var dumps [2][][]string
		for p, insertOnly := range []bool{false, true} {
			table := fmt.Sprintf("%s_insert_%v", mode, insertOnly)
			cfg := sqlconn.TargetConfig{Table: table, Mode: mode}
			if mode == sqlconn.ModeMerge {
				cfg.Key = []string{"k"}
			}
			tg, _ := testTarget(t, dsn, database, cfg, insertOnly, nil)
			if err := writeAll(ctx, tg, cfg.Table, 1, batches()...); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			dumps[p] = dump(t, db, "SELECT k, i, f, b, ts, d, j, HEX(s) FROM "+table+" ORDER BY k, i, HEX(s)")
		}
		if want := len(rows); keyMod > 0 && len(dumps[0]) != keyMod || keyMod == 0 && len(dumps[0]) != want {
			t.Errorf("%s: %d rows", mode, len(dumps[0]))
		}
		if diff := cmp.Diff(dumps[1], dumps[0]); diff != "" {
			t.Errorf("%s: LOAD DATA's table differs from INSERT's (-insert +load data):\n%s", mode, diff)
		}
		// The floats are the batch's, to the bit (-0, which a DOUBLE
		// cannot hold, is refused: see TestUnrepresentableValuesRefused).
		last := map[int64]int{} // the row of each key that lands
		for r, row := range rows {
			last[row[0].(int64)] = r
		}
		for _, row := range dumps[0] {
			k, _ := strconv.ParseInt(row[0], 10, 64)
			want := rows[last[k]][2]
			if want == nil {
				continue
			}
			got, err := strconv.ParseFloat(row[2], 64)
			if w := want.(float64); err != nil || got != w || math.Signbit(got) && !math.Signbit(w) || w == 0 && math.Signbit(got) {
				t.Errorf("%s: k %s: f = %s, want %v", mode, row[0], row[2], w)
			}
		}
	}
}

// TestLoadDataColumnTypes loads every type into tables the user created,
// of other column types than nightjar's, through LOAD DATA (where
// infileSafe allows it) and through INSERT, and wants the same tables.
func TestLoadDataColumnTypes(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	database, db := freshDatabase(t, dsn)
	ctx := context.Background()
	s, rows := typedRows(200, 0)
	for name, columns := range map[string]string{
		"numeric": "k DECIMAL(20,0), i DECIMAL(25,2), f DECIMAL(65,30), b TINYINT, ts DATETIME(3), d DATETIME(6), j LONGTEXT, s LONGTEXT",
		"floats":  "k DOUBLE, i FLOAT, f FLOAT, b DOUBLE, ts TIMESTAMP(6) NULL, d DATE, j JSON, s VARCHAR(64)",
		"text":    "k VARCHAR(30), i LONGTEXT, f LONGTEXT, b CHAR(1), ts LONGTEXT, d LONGTEXT, j LONGTEXT, s LONGTEXT",
	} {
		var dumps [2][][]string
		var errs [2]error
		for p, insertOnly := range []bool{false, true} {
			table := fmt.Sprintf("%s_insert_%v", name, insertOnly)
			if _, err := db.Exec("CREATE TABLE " + table + " (" + columns + ")"); err != nil {
				t.Fatal(err)
			}
			tg, _ := testTarget(t, dsn, database, sqlconn.TargetConfig{Table: table, Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaStrict}, insertOnly, nil)
			// Values out of a column's range fail either way: load the
			// rows one by one, and compare which fail too.
			var failed []string
			for r, row := range rows {
				if err := writeAll(ctx, tg, table, int64(r), batchOf(t, int64(r), s, row)); err != nil {
					failed = append(failed, strconv.Itoa(r))
					errs[p] = err
				}
			}
			dumps[p] = dump(t, db, "SELECT k, i, f, b, ts, d, j, HEX(s) FROM "+table+" ORDER BY k")
			dumps[p] = append(dumps[p], append([]string{"failed"}, failed...))
		}
		if diff := cmp.Diff(dumps[1], dumps[0]); diff != "" {
			t.Errorf("%s: LOAD DATA's table differs from INSERT's (-insert +load data):\n%s\nlast errors: %v", name, diff, errs)
		}
	}
}

// TestLoadDataBadValueIsAnError: a value its column cannot hold, which
// LOAD DATA LOCAL stores truncated with a warning, fails the batch naming
// its row and column, and the batch rolls back.
func TestLoadDataBadValueIsAnError(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	database, db := freshDatabase(t, dsn)
	ctx := context.Background()
	s := etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "code", Type: etl.TypeString})
	rows := [][]any{{int64(1), "ab"}, {int64(2), "abc"}, {int64(3), "toolong"}, {int64(4), "d"}}
	for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge} {
		for _, insertOnly := range []bool{false, true} {
			table := fmt.Sprintf("%s_insert_%v", mode, insertOnly)
			if _, err := db.Exec("CREATE TABLE " + table + " (id BIGINT, code VARCHAR(3), UNIQUE KEY (id))"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("INSERT INTO " + table + " VALUES (1, 'old')"); err != nil {
				t.Fatal(err)
			}
			cfg := sqlconn.TargetConfig{Table: table, Mode: mode}
			if mode == sqlconn.ModeMerge {
				cfg.Key = []string{"id"}
			} else {
				rows[0][0] = int64(0) // append: no taken key
			}
			tg, _ := testTarget(t, dsn, database, cfg, insertOnly, nil)
			err := writeAll(ctx, tg, cfg.Table, 1, batchOf(t, 1, s, rows...))
			if err == nil || !strings.Contains(err.Error(), "code") {
				t.Errorf("%s: err = %v, want an error naming the column", table, err)
			}
			if !insertOnly && (err == nil || !strings.Contains(err.Error(), "leads.csv:4:")) {
				t.Errorf("%s: err = %v, want an error naming the row leads.csv:4", table, err)
			}
			got := dump(t, db, "SELECT id, code FROM "+table)
			if diff := cmp.Diff([][]string{{"1", "old"}}, got); diff != "" {
				t.Errorf("%s: not rolled back (-want +got):\n%s", table, diff)
			}
		}
	}
}

// TestLoadDataMergeAfterFailedLoad: a merge that failed leaves its
// staging table behind on the session; the next load on it replaces it.
func TestLoadDataMergeAfterFailedLoad(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	database, db := freshDatabase(t, dsn)
	ctx := context.Background()
	if _, err := db.Exec("CREATE TABLE m (id BIGINT, code VARCHAR(3), note LONGTEXT, UNIQUE KEY (id))"); err != nil {
		t.Fatal(err)
	}
	b := &backend{conn: &ConnConfig{DSN: dsn}, database: database, logger: slog.New(slog.DiscardHandler)}
	bdb, err := b.OpenDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	conn, err := bdb.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	s := etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "code", Type: etl.TypeString})
	if err := b.Load(ctx, conn, tx, "m", batchOf(t, 1, s, []any{int64(1), "ok"}, []any{int64(1), "toolong"}), []string{"id"}); err == nil {
		t.Fatal("loaded a value too long for its column")
	}
	s = etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "note", Type: etl.TypeString})
	if err := b.Load(ctx, conn, tx, "m", batchOf(t, 2, s, []any{int64(1), "a"}, []any{int64(2), "b"}, []any{int64(1), "c"}), []string{"id"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"1", "<null>", "c"}, {"2", "<null>", "b"}}, dump(t, db, "SELECT id, code, note FROM m ORDER BY id")); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestLoadDataDuplicateKeyIsAnError: LOAD DATA LOCAL skips a row whose
// unique key is taken, with a warning; appending it fails, as INSERT does.
func TestLoadDataDuplicateKeyIsAnError(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	database, db := freshDatabase(t, dsn)
	ctx := context.Background()
	s := etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt})
	for _, insertOnly := range []bool{false, true} {
		table := fmt.Sprintf("pk_insert_%v", insertOnly)
		if _, err := db.Exec("CREATE TABLE " + table + " (id BIGINT PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		tg, _ := testTarget(t, dsn, database, sqlconn.TargetConfig{Table: table, Mode: sqlconn.ModeAppend}, insertOnly, nil)
		err := writeAll(ctx, tg, table, 1, batchOf(t, 1, s, []any{int64(1)}, []any{int64(2)}, []any{int64(1)}))
		if err == nil || !strings.Contains(err.Error(), "Duplicate") {
			t.Errorf("%s: err = %v, want a duplicate key error", table, err)
		}
		if !insertOnly && (err == nil || !strings.Contains(err.Error(), "leads.csv:4:")) {
			t.Errorf("%s: err = %v, want the row leads.csv:4", table, err)
		}
		if got := dump(t, db, "SELECT count(*) FROM "+table); got[0][0] != "0" {
			t.Errorf("%s: %s rows, want none (rolled back)", table, got[0][0])
		}
	}
}

// TestLoadDataRefusedFallsBack turns local_infile off on the server, so
// it runs alone (not in parallel): the target loads with INSERT, says so
// once, and the tables are those LOAD DATA loads.
func TestLoadDataRefusedFallsBack(t *testing.T) {
	dsn := testDSN(t)
	database, db := freshDatabase(t, dsn)
	ctx := context.Background()
	var was int
	if err := db.Get(&was, "SELECT @@GLOBAL.local_infile"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("SET GLOBAL local_infile = 0"); err != nil {
		t.Skipf("cannot turn local_infile off: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("SET GLOBAL local_infile = " + strconv.Itoa(was)); err != nil {
			t.Errorf("restore local_infile: %v", err)
		}
	})
	s, rows := typedRows(120, 50)
	for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge} {
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, nil))
		cfg := sqlconn.TargetConfig{Table: mode + "_refused", Mode: mode}
		if mode == sqlconn.ModeMerge {
			cfg.Key = []string{"k"}
		}
		tg, b := testTarget(t, dsn, database, cfg, false, logger)
		err := writeAll(ctx, tg, cfg.Table, 1, batchOf(t, 1, s, rows[:40]...), batchOf(t, 2, s, rows[40:]...))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if !b.insertOnly {
			t.Errorf("%s: still loading with LOAD DATA", mode)
		}
		if n := strings.Count(logs.String(), "refuses LOAD DATA"); n != 1 {
			t.Errorf("%s: logged the fallback %d times, want once:\n%s", mode, n, logs.String())
		}
		if _, err := db.Exec("SET GLOBAL local_infile = " + strconv.Itoa(was)); err != nil {
			t.Fatal(err)
		}
		cfg.Table = mode + "_loaded"
		tg, b = testTarget(t, dsn, database, cfg, false, nil)
		if err := writeAll(ctx, tg, cfg.Table, 1, batchOf(t, 1, s, rows[:40]...), batchOf(t, 2, s, rows[40:]...)); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if b.insertOnly {
			t.Errorf("%s: LOAD DATA refused with local_infile on", mode)
		}
		refused := dump(t, db, "SELECT k, i, f, b, ts, d, j, HEX(s) FROM "+mode+"_refused ORDER BY k, i, HEX(s)")
		loaded := dump(t, db, "SELECT k, i, f, b, ts, d, j, HEX(s) FROM "+mode+"_loaded ORDER BY k, i, HEX(s)")
		if diff := cmp.Diff(loaded, refused); diff != "" {
			t.Errorf("%s: tables differ (-load data +insert):\n%s", mode, diff)
		}
		if _, err := db.Exec("SET GLOBAL local_infile = 0"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAppendTimeMatchesDriver compares appendTime with the text the
// driver interpolates for the same time, with and without timeTruncate.
func TestAppendTimeMatchesDriver(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	_, rows := typedRows(20, 0)
	var times []time.Time
	for _, row := range rows {
		if ts, ok := row[4].(time.Time); ok {
			times = append(times, ts)
		}
	}
	times = append(times, time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), time.Date(2024, 1, 2, 0, 0, 0, 1_000_000, time.Local))
	for _, truncate := range []string{"", "1ms", "1s", "24h"} {
		cfg := &ConnConfig{DSN: dsn}
		if truncate != "" {
			sep := "?"
			if strings.Contains(dsn[strings.LastIndexByte(dsn, '/'):], "?") {
				sep = "&"
			}
			cfg.DSN += sep + "timeTruncate=" + truncate
		}
		db, err := cfg.open(context.Background(), "", false)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, ts := range times {
			var want string
			if err := db.Get(&want, "SELECT CAST(? AS CHAR)", ts); err != nil {
				t.Fatal(err)
			}
			if ts.IsZero() {
				want = zeroTime // not the driver's 0000-00-00: see appendTime
			}
			got, err := appendTime(nil, ts, cfg.timeTruncate())
			if err != nil || string(got) != want {
				t.Errorf("timeTruncate=%s: appendTime(%v) = %q, %v; the driver writes %q", truncate, ts, got, err, want)
			}
		}
	}
}

func TestAppendEscaped(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  "",
		"plain ü":           "plain ü",
		"a\tb\nc\rd\\e\x00": `a\tb\nc\rd\\e\0`,
		`\N`:                `\\N`,
		"\\":                `\\`,
		"\n\n":              `\n\n`,
	} {
		if got := string(appendEscaped([]byte("x"), in)); got != "x"+want {
			t.Errorf("appendEscaped(%q) = %q, want %q", in, got, "x"+want)
		}
		if got := string(appendEscaped(nil, []byte(in))); got != want {
			t.Errorf("appendEscaped([]byte(%q)) = %q, want %q", in, got, want)
		}
	}
}

// TestInfileRowsStream reads the stream in reads of every size and wants
// the same bytes, the rows encoded as LOAD DATA expects.
func TestInfileRowsStream(t *testing.T) {
	t.Parallel()
	s := etl.MustSchema(etl.Field{Name: "s", Type: etl.TypeString}, etl.Field{Name: "i", Type: etl.TypeInt},
		etl.Field{Name: "f", Type: etl.TypeFloat}, etl.Field{Name: "b", Type: etl.TypeBool},
		etl.Field{Name: "ts", Type: etl.TypeTimestamp}, etl.Field{Name: "j", Type: etl.TypeJSON})
	ts := time.Date(2024, 3, 1, 12, 30, 45, 120000000, time.UTC)
	small := batchOf(t, 1, s,
		[]any{"a\tb", int64(-7), 0.5, true, ts, map[string]any{"x": "<\n>"}},
		[]any{nil, nil, nil, nil, nil, nil},
		[]any{"", int64(0), 0.0, false, time.Time{}, []any{"\\"}})
	want := "1\ta\\tb\t-7\t0.5\t1\t2024-03-01 12:30:45.12\t{\"x\":\"<\\\\n>\"}\n" +
		"2\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n" +
		"3\t\t0\t0\t0\t0001-01-01\t[\"\\\\\\\\\"]\n"
	var r infileRows
	r.reset(small, true)
	got, err := io.ReadAll(&r)
	if err != nil || string(got) != want {
		t.Fatalf("stream = %q, %v\nwant %q", got, err, want)
	}

	// A batch of several chunks, read in reads of odd sizes.
	bigSchema, rows := typedRows(3000, 0)
	big := batchOf(t, 1, bigSchema, rows...)
	r.reset(big, false)
	whole, err := io.ReadAll(&r)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) < 3*infileChunk {
		t.Fatalf("stream of %d bytes: want several chunks", len(whole))
	}
	if lines := bytes.Count(whole, []byte{'\n'}); lines != big.Len() {
		t.Errorf("%d lines, want %d", lines, big.Len())
	}
	for _, size := range []int{1, 7, 4096, infileChunk + 1} {
		r.reset(big, false)
		var out []byte
		p := make([]byte, size)
		for {
			n, err := r.Read(p)
			out = append(out, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(out, whole) {
			t.Errorf("reads of %d bytes: a different stream", size)
		}
	}
}

// TestInfileRowsErrorNamesRow: a value the stream cannot carry ends it
// with an error naming the row and the field.
func TestInfileRowsErrorNamesRow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		field etl.Field
		bad   any
		want  string
	}{
		{etl.Field{Name: "f", Type: etl.TypeFloat}, math.NaN(), "NaN"},
		{etl.Field{Name: "f", Type: etl.TypeFloat}, math.Inf(-1), "-Inf"},
		{etl.Field{Name: "ts", Type: etl.TypeTimestamp}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "year"},
		{etl.Field{Name: "j", Type: etl.TypeJSON}, map[string]any{"x": math.Inf(1)}, "JSON"},
	} {
		b := batchOf(t, 1, etl.MustSchema(tc.field), []any{nil}, []any{nil}, []any{tc.bad})
		var r infileRows
		r.reset(b, false)
		_, err := io.ReadAll(&r)
		if err == nil || !strings.Contains(err.Error(), "leads.csv:4") || !strings.Contains(err.Error(), strconv.Quote(tc.field.Name)) ||
			!strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: err = %v, want one naming leads.csv:4, the field and %q", tc.field.Type, tc.bad, err, tc.want)
		}
		if tc.field.Type == etl.TypeTimestamp && !errors.Is(err, errYearRange) {
			t.Errorf("err = %v, want errYearRange", err)
		}
	}
}

func TestInfileSafe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t        etl.Type
		dataType string
		want     bool
	}{
		{etl.TypeString, "enum", true},
		{etl.TypeTimestamp, "longtext", true},
		{etl.TypeJSON, "json", true},
		{etl.TypeInt, "bigint", true},
		{etl.TypeInt, "longtext", true},
		{etl.TypeInt, "enum", false},
		{etl.TypeInt, "bit", false},
		{etl.TypeInt, "datetime", false},
		{etl.TypeBool, "tinyint", true},
		{etl.TypeFloat, "double", true},
		{etl.TypeFloat, "decimal", true},
		{etl.TypeFloat, "longtext", false},
		{etl.TypeFloat, "bigint", false},
		{etl.TypeFloat, "", false},
	} {
		if got := infileSafe(tc.t, tc.dataType); got != tc.want {
			t.Errorf("infileSafe(%s, %q) = %v, want %v", tc.t, tc.dataType, got, tc.want)
		}
	}
	// nightjar's own column types take every field type.
	for ft := etl.TypeString; ft <= etl.TypeJSON; ft++ {
		dataType, _, _ := strings.Cut(strings.ToLower(Dialect{}.ColumnType(etl.Field{Type: ft})), "(")
		if dataType == "boolean" {
			dataType = "tinyint"
		}
		if !infileSafe(ft, dataType) {
			t.Errorf("infileSafe(%s, %q) = false for nightjar's own column type", ft, dataType)
		}
	}
}

func TestTimeTruncateFromDSN(t *testing.T) {
	t.Parallel()
	for dsn, want := range map[string]time.Duration{
		"u@tcp(h:3306)/db":                               0,
		"u@tcp(h:3306)/db?timeTruncate=1ms":              time.Millisecond,
		"u:p?w@tcp(h)/db?parseTime=true&timeTruncate=2s": 2 * time.Second,
		"u@tcp(h)/db?timeTruncate=1%C2%B5s":              time.Microsecond,
	} {
		if got := (&ConnConfig{DSN: dsn}).timeTruncate(); got != want {
			t.Errorf("%s: timeTruncate = %v, want %v", dsn, got, want)
		}
	}
}
