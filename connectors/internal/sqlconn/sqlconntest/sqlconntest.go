// Package sqlconntest is the conformance suite every SQL connector's tests
// run: the same replay, hostile-name, schema and incremental-source cases
// against each database, through a Harness the connector provides. It is
// imported by tests only; it must not import a connector.
package sqlconntest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// Harness reaches one fresh, empty database (or schema) for one test.
type Harness struct {
	Dialect sqlconn.Dialect
	// DB is a connection to the test's database, for setup and checks.
	DB *sqlx.DB
	// Target builds a table target on the test's database; the suite
	// opens and closes it.
	Target func(t *testing.T, cfg sqlconn.TargetConfig) etl.Target
	// Source builds a source on the test's database; the suite opens and
	// closes it.
	Source func(t *testing.T, cfg sqlconn.SourceConfig) etl.Source
	// TimestampType is the column type of a timestamp in the source tests'
	// tables (TIMESTAMPTZ, DATETIME(6)).
	TimestampType string
	// TextTimes says the target stores times, dates and JSON as text, which
	// its source reads back as strings (SQLite).
	TextTimes bool
	// NoIdentLimit says the database sets no identifier length limit.
	NoIdentLimit bool
	// Catalog describes every object of the test's database (tables,
	// columns, indexes; for a file, its bytes too), to show that a dry run
	// changed nothing.
	Catalog func(t *testing.T) string
}

// Setup returns a harness on a fresh database, dropped in t.Cleanup.
type Setup func(t *testing.T) *Harness

// Query returns every row of q as text ("NULL" for null), for cmp.
func Query(t *testing.T, db *sqlx.DB, q string, args ...any) [][]string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				row[i] = "NULL"
			case []byte:
				row[i] = string(x)
			default:
				row[i] = etl.FormatValue(x)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// StringBatch builds a batch of string fields; "<null>" is a null. Its
// position is derived from seq, so that the same seq replays the same
// batch key.
func StringBatch(seq int64, fields []string, rows ...[]string) *etl.Batch {
	fs := make([]etl.Field, len(fields))
	for i, f := range fields {
		fs[i] = etl.Field{Name: f, Type: etl.TypeString}
	}
	b := etl.NewBatch(etl.MustSchema(fs...), len(rows))
	for r, row := range rows {
		for c, v := range row {
			if v == "<null>" {
				b.Cols[c].AppendNull()
			} else {
				b.Cols[c].AppendString(v)
			}
		}
		b.Origins = append(b.Origins, etl.Origin{File: "leads.csv", Line: int64(r + 2)})
	}
	b.Seq = seq
	b.Position = etl.Position(fmt.Sprintf(`{"offset":%d}`, seq*100))
	return b
}

// run opens a target as run runID would, writes the batches, commits
// unless noCommit, and closes it.
func run(t *testing.T, h *Harness, cfg sqlconn.TargetConfig, runID int64, commit bool, batches ...*etl.Batch) {
	t.Helper()
	ctx := context.Background()
	tg := h.Target(t, cfg)
	if err := tg.Open(ctx, etl.TargetEnv{Job: "leads", Name: "targets[0] table " + cfg.Table, RunID: runID}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer tg.Close()
	for _, b := range batches {
		if err := tg.Write(ctx, b); err != nil {
			t.Fatalf("Write batch %d: %v", b.Seq, err)
		}
	}
	if commit {
		if err := tg.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	if err := tg.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func quote(t *testing.T, d sqlconn.Dialect, names ...string) string {
	t.Helper()
	q, err := sqlconn.QuoteAll(d, names)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(q, ", ")
}

// TestTargets runs the table target cases.
func TestTargets(t *testing.T, setup Setup) {
	t.Run("DryRunChangesNothing", func(t *testing.T) {
		for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge, sqlconn.ModeReplace} {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				testDryRun(t, setup(t), mode)
			})
		}
	})

	t.Run("AppendReplayIsSkipped", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		cfg := sqlconn.TargetConfig{Table: "leads", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}
		fields := []string{"email", "name"}
		b1 := func() *etl.Batch { return StringBatch(1, fields, []string{"a@x", "Ann"}, []string{"b@x", "<null>"}) }
		b2 := StringBatch(2, fields, []string{"c@x", "Cé"})
		run(t, h, cfg, 1, true, b1(), b1(), b2)
		run(t, h, cfg, 2, true, b1()) // a later run replays batch 1 after a crash
		got := Query(t, h.DB, "SELECT email, name FROM leads ORDER BY email")
		want := [][]string{{"a@x", "Ann"}, {"b@x", "NULL"}, {"c@x", "Cé"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		markers := Query(t, h.DB, "SELECT count(*) FROM "+quote(t, h.Dialect, sqlconn.MarkerTable))
		if markers[0][0] != "2" {
			t.Errorf("markers = %s, want 2", markers[0][0])
		}
	})

	t.Run("MergeReplayAndCompositeKey", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		cfg := sqlconn.TargetConfig{Table: "stock", Mode: sqlconn.ModeMerge, Key: []string{"region", "sku"}, Schema: sqlconn.SchemaEvolve}
		fields := []string{"region", "sku", "qty"}
		b1 := func() *etl.Batch {
			return StringBatch(1, fields,
				[]string{"eu", "a", "1"}, []string{"us", "a", "2"},
				[]string{"eu", "a", "3"}) // repeated key in one batch: the last wins
		}
		run(t, h, cfg, 1, true, b1(), b1())
		run(t, h, cfg, 2, true, b1(), StringBatch(2, fields, []string{"us", "a", "5"}, []string{"eu", "b", "<null>"}))
		got := Query(t, h.DB, "SELECT region, sku, qty FROM stock ORDER BY region, sku")
		want := [][]string{{"eu", "a", "3"}, {"eu", "b", "NULL"}, {"us", "a", "5"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})

	t.Run("BatchesShareTransactions", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		ctx := context.Background()
		// syncedRun writes the batches as the runner does for a Syncer:
		// in one transaction, synced at the end.
		syncedRun := func(cfg sqlconn.TargetConfig, runID int64, batches ...*etl.Batch) {
			t.Helper()
			tg := h.Target(t, cfg)
			if err := tg.Open(ctx, etl.TargetEnv{Job: "leads", Name: "t " + cfg.Table, RunID: runID, Syncs: true}); err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			for _, b := range batches {
				if err := tg.Write(ctx, b); err != nil {
					t.Fatalf("Write batch %d: %v", b.Seq, err)
				}
			}
			if err := tg.(etl.Syncer).Sync(ctx); err != nil {
				t.Fatalf("Sync: %v", err)
			}
		}
		fields := []string{"id", "name"}
		b := func(seq int64, rows ...[]string) *etl.Batch { return StringBatch(seq, fields, rows...) }
		appendCfg := sqlconn.TargetConfig{Table: "a", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}
		// Batch 1 twice in one transaction: loaded once.
		syncedRun(appendCfg, 1, b(1, []string{"1", "x"}), b(2, []string{"2", "y"}), b(1, []string{"1", "x"}))
		// A rerun replays batch 2 after batch 3 in one transaction: it is
		// skipped, batch 3 loaded.
		syncedRun(appendCfg, 2, b(3, []string{"3", "z"}), b(2, []string{"2", "y"}))
		// A batch of fewer fields joins the transaction.
		syncedRun(appendCfg, 3, b(4, []string{"4", "w"}), StringBatch(5, []string{"id"}, []string{"5"}), b(6, []string{"6", "v"}))
		want := [][]string{{"1", "x"}, {"2", "y"}, {"3", "z"}, {"4", "w"}, {"5", "NULL"}, {"6", "v"}}
		if diff := cmp.Diff(want, Query(t, h.DB, "SELECT id, name FROM a ORDER BY id")); diff != "" {
			t.Errorf("append (-want +got):\n%s", diff)
		}
		if got := Query(t, h.DB, "SELECT count(*) FROM "+quote(t, h.Dialect, sqlconn.MarkerTable)); got[0][0] != "6" {
			t.Errorf("markers = %s, want 6", got[0][0])
		}
		// A key repeated across the batches of one transaction: the last
		// row wins.
		mergeCfg := sqlconn.TargetConfig{Table: "m", Mode: sqlconn.ModeMerge, Key: []string{"id"}, Schema: sqlconn.SchemaEvolve}
		syncedRun(mergeCfg, 1, b(1, []string{"1", "a"}, []string{"2", "b"}), b(2, []string{"1", "c"}), b(3, []string{"3", "d"}, []string{"1", "e"}))
		syncedRun(mergeCfg, 2, b(1, []string{"2", "f"}), b(2, []string{"2", "<null>"}))
		want = [][]string{{"1", "e"}, {"2", "NULL"}, {"3", "d"}}
		if diff := cmp.Diff(want, Query(t, h.DB, "SELECT id, name FROM m ORDER BY id")); diff != "" {
			t.Errorf("merge (-want +got):\n%s", diff)
		}
	})

	t.Run("MergeKeysCompareBytes", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		// Distinct in the source, equal under a case-, accent- or
		// pad-insensitive collation (or a 3-byte utf8): each stays a row.
		keys := []string{"a", "A", "a ", "á", "🦉", "🐍"}
		cfg := sqlconn.TargetConfig{Table: "merge_bytes", Mode: sqlconn.ModeMerge, Key: []string{"k"}, Schema: sqlconn.SchemaEvolve}
		var rows, again [][]string
		for i, k := range keys {
			rows = append(rows, []string{k, fmt.Sprint(i)})
			again = append(again, []string{k, fmt.Sprint(i + 10)})
		}
		run(t, h, cfg, 1, true, StringBatch(1, []string{"k", "v"}, rows...))
		// Each key updates its own row, in a later batch and run.
		run(t, h, cfg, 2, true, StringBatch(2, []string{"k", "v"}, again[1:]...))
		got := map[string]string{}
		for _, r := range Query(t, h.DB, "SELECT k, v FROM merge_bytes") {
			if _, dup := got[r[0]]; dup {
				t.Errorf("key %q twice", r[0])
			}
			got[r[0]] = r[1]
		}
		want := map[string]string{"a": "0", "A": "11", "a ": "12", "á": "13", "🦉": "14", "🐍": "15"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rows by key (-want +got):\n%s", diff)
		}
	})

	t.Run("MergeNullKeyNamesOrigin", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		tg := h.Target(t, sqlconn.TargetConfig{Table: "m", Mode: sqlconn.ModeMerge, Key: []string{"id"}, Schema: sqlconn.SchemaEvolve})
		ctx := context.Background()
		if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t"}); err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		// The row is refused alone (quarantined by the runner), not the
		// batch: a poison row must not fail every later run.
		if err := tg.Write(ctx, StringBatch(1, []string{"id"}, []string{"1"}, []string{"<null>"})); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rejects := tg.(etl.Rejecter).TakeRejects()
		if len(rejects) != 1 || rejects[0].Origin.String() != "leads.csv:3" || !strings.Contains(rejects[0].Reason, `"id" is null`) {
			t.Errorf("rejects %+v, want the null key's origin leads.csv:3", rejects)
		}
		if err := tg.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ReplaceReplayAndAbandon", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		cfg := sqlconn.TargetConfig{Table: "prices", Mode: sqlconn.ModeReplace, Schema: sqlconn.SchemaEvolve}
		fields := []string{"sku", "price"}
		batches := func() []*etl.Batch {
			return []*etl.Batch{StringBatch(1, fields, []string{"a", "1"}), StringBatch(2, fields, []string{"b", "2"})}
		}
		run(t, h, cfg, 1, true, batches()...)
		run(t, h, cfg, 2, true, batches()...) // the whole run again
		want := [][]string{{"a", "1"}, {"b", "2"}}
		if diff := cmp.Diff(want, Query(t, h.DB, "SELECT sku, price FROM prices ORDER BY sku")); diff != "" {
			t.Errorf("after replay (-want +got):\n%s", diff)
		}
		// A run that fails before its commit leaves the table as it was.
		run(t, h, cfg, 3, false, StringBatch(1, fields, []string{"z", "9"}))
		if diff := cmp.Diff(want, Query(t, h.DB, "SELECT sku, price FROM prices ORDER BY sku")); diff != "" {
			t.Errorf("after an uncommitted run (-want +got):\n%s", diff)
		}
		run(t, h, cfg, 4, true, StringBatch(1, fields, []string{"z", "9"}))
		if diff := cmp.Diff([][]string{{"z", "9"}}, Query(t, h.DB, "SELECT sku, price FROM prices")); diff != "" {
			t.Errorf("after a new load (-want +got):\n%s", diff)
		}
	})

	t.Run("HostileNamesAndValues", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		if _, err := h.DB.Exec("CREATE TABLE x (id INTEGER)"); err != nil {
			t.Fatal(err)
		}
		fields := []string{"select", "E-Mail Address", "größe", `say "hi"`, "back`tick"}
		hostile := `'); DROP TABLE x; --`
		want := [][]string{{hostile, "a@x", "XL", `"q"`, `\`}, {"s", "b@x", "M", "?", "$1"}}
		for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge, sqlconn.ModeReplace} {
			cfg := sqlconn.TargetConfig{Table: "order", Mode: mode, Schema: sqlconn.SchemaEvolve}
			if mode == sqlconn.ModeMerge {
				cfg.Table, cfg.Key = `or"de`+"`r", []string{"E-Mail Address"}
			}
			if mode == sqlconn.ModeReplace {
				cfg.Table = "Größe Tabelle"
			}
			run(t, h, cfg, 1, true,
				StringBatch(1, fields, []string{hostile, "a@x", "XL", `"q"`, `\`}),
				StringBatch(2, fields, []string{"s", "b@x", "M", "?", "$1"}))
			got := Query(t, h.DB, "SELECT "+quote(t, h.Dialect, fields...)+" FROM "+quote(t, h.Dialect, cfg.Table)+" ORDER BY "+quote(t, h.Dialect, "E-Mail Address"))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: rows (-want +got):\n%s", mode, diff)
			}
		}
		if got := Query(t, h.DB, "SELECT count(*) FROM x"); got[0][0] != "0" {
			t.Errorf("table x: %v", got)
		}
	})

	t.Run("LongIdentifierIsAnError", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		if h.NoIdentLimit {
			t.Skip("no identifier length limit")
		}
		long := strings.Repeat("n", 70)
		tg := h.Target(t, sqlconn.TargetConfig{Table: "t", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve})
		ctx := context.Background()
		if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t"}); err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		err := tg.Write(ctx, StringBatch(1, []string{long}, []string{"v"}))
		if !errors.Is(err, sqlconn.ErrBadIdentifier) || !strings.Contains(err.Error(), "70 bytes") {
			t.Errorf("err = %v, want a bad identifier error giving the length", err)
		}
	})

	t.Run("EvolveAndStrict", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		cfg := sqlconn.TargetConfig{Table: "people", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}
		run(t, h, cfg, 1, true, StringBatch(1, []string{"id"}, []string{"1"}))
		run(t, h, cfg, 2, true, StringBatch(2, []string{"id", "city"}, []string{"2", "Köln"}))
		want := [][]string{{"1", "NULL"}, {"2", "Köln"}}
		if diff := cmp.Diff(want, Query(t, h.DB, "SELECT id, city FROM people ORDER BY id")); diff != "" {
			t.Errorf("evolve (-want +got):\n%s", diff)
		}
		cfg.Schema = sqlconn.SchemaStrict
		tg := h.Target(t, cfg)
		ctx := context.Background()
		if err := tg.Open(ctx, etl.TargetEnv{Job: "leads", Name: "t", RunID: 3}); err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		err := tg.Write(ctx, StringBatch(5, []string{"id", "zip"}, []string{"3", "50667"}))
		var mismatch *sqlconn.SchemaMismatchError
		if !errors.As(err, &mismatch) {
			t.Fatalf("strict: err = %v, want a schema mismatch", err)
		}
		if diff := cmp.Diff([]string{"  id", "- city", "+ zip (string)"}, mismatch.Diff); diff != "" {
			t.Errorf("strict diff (-want +got):\n%s", diff)
		}
	})

	t.Run("JSONNullIsNotSQLNull", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		s := etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "j", Type: etl.TypeJSON})
		b := etl.NewBatch(s, 2)
		b.Cols[0].AppendInt(1)
		b.Cols[1].AppendJSON(etl.JSONNull)
		b.Cols[0].AppendInt(2)
		b.Cols[1].AppendNull()
		b.Origins = []etl.Origin{{Line: 2}, {Line: 3}}
		b.Seq, b.Position = 1, etl.Position(`{}`)
		run(t, h, sqlconn.TargetConfig{Table: "json_null", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}, 1, true, b)
		got := readAll(t, h.Source(t, sqlconn.SourceConfig{Table: "json_null", Key: sqlconn.Names{"id"}}), nil, false)
		// A JSON null reads back as etl.JSONNull, or as the text "null"
		// where JSON is text (SQLite, MariaDB's JSON is LONGTEXT).
		if len(got) != 2 || got[0]["j"] == nil || etl.FormatValue(got[0]["j"]) != "null" || got[1]["j"] != nil {
			t.Errorf("rows = %v, want a JSON null then SQL NULL", got)
		}
	})

	t.Run("TypedValues", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		s := etl.MustSchema(
			etl.Field{Name: "i", Type: etl.TypeInt}, etl.Field{Name: "f", Type: etl.TypeFloat},
			etl.Field{Name: "b", Type: etl.TypeBool}, etl.Field{Name: "ts", Type: etl.TypeTimestamp},
			etl.Field{Name: "d", Type: etl.TypeDate}, etl.Field{Name: "j", Type: etl.TypeJSON},
		)
		b := etl.NewBatch(s, 2)
		ts := time.Date(2024, 3, 1, 12, 30, 45, 123456000, time.UTC)
		b.Cols[0].AppendInt(-9007199254740993)
		b.Cols[1].AppendFloat(0.1)
		b.Cols[2].AppendBool(true)
		b.Cols[3].AppendTime(ts)
		b.Cols[4].AppendTime(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC))
		b.Cols[5].AppendJSON(map[string]any{"k": []any{"ü", 1.5}})
		for i := range b.Cols {
			b.Cols[i].AppendNull()
		}
		b.Origins = append(b.Origins, etl.Origin{Line: 2}, etl.Origin{Line: 3})
		b.Seq, b.Position = 1, etl.Position(`{}`)
		run(t, h, sqlconn.TargetConfig{Table: "typed", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}, 1, true, b)
		// Read back through the dialect's own source, so that the values
		// are compared as nightjar types, not as driver text.
		// The null row's key is null, which a source refuses: rk keys it.
		src := h.Source(t, sqlconn.SourceConfig{Query: "SELECT COALESCE(i, 0) AS rk, t.* FROM typed t", Key: sqlconn.Names{"rk"}})
		got := readAll(t, src, nil, false)
		if len(got) != 2 {
			t.Fatalf("read %d rows, want 2", len(got))
		}
		row, nulls := got[0], got[1]
		if row["i"] == nil { // MySQL and SQLite sort nulls first
			row, nulls = nulls, row
		}
		if row["i"] != int64(-9007199254740993) || row["f"] != 0.1 || !truthy(row["b"]) {
			t.Errorf("numbers: %v", row)
		}
		if h.TextTimes {
			want := []any{"2024-03-01T12:30:45.123456Z", "2024-02-29", `{"k":["ü",1.5]}`}
			if diff := cmp.Diff(want, []any{row["ts"], row["d"], row["j"]}); diff != "" {
				t.Errorf("times as text (-want +got):\n%s", diff)
			}
			return
		}
		if v, ok := row["ts"].(time.Time); !ok || !v.Equal(ts) {
			t.Errorf("ts = %v, want %v", row["ts"], ts)
		}
		if v, ok := row["d"].(time.Time); !ok || v.Format(time.DateOnly) != "2024-02-29" {
			t.Errorf("d = %v, want 2024-02-29", row["d"])
		}
		if diff := cmp.Diff(`{"k":["ü",1.5]}`, etl.FormatValue(row["j"])); diff != "" {
			t.Errorf("json (-want +got):\n%s", diff)
		}
		for k, v := range nulls {
			if v != nil && k != "rk" {
				t.Errorf("null row: %s = %v", k, v)
			}
		}
	})
}

// truthy accepts a bool, or the 1 of a database without booleans.
func truthy(v any) bool { return v == true || v == int64(1) }

// readAll opens src at pos and reads every batch, returning the rows (as
// maps: a test, not the hot path).
func readAll(t *testing.T, src etl.Source, pos etl.Position, fullRefresh bool) []map[string]any {
	rows, _ := readAllPos(t, src, pos, fullRefresh, 0)
	return rows
}

// readAllPos reads at most maxBatches batches (0: all) and returns the
// rows and the last batch's position.
func readAllPos(t *testing.T, src etl.Source, pos etl.Position, fullRefresh bool, maxBatches int) ([]map[string]any, etl.Position) {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, etl.SourceEnv{Job: "j", Position: pos, FullRefresh: fullRefresh, BatchSize: 1000}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer src.Close(context.Background())
	var rows []map[string]any
	last := pos
	for n := 0; maxBatches == 0 || n < maxBatches; n++ {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if err := b.Check(); err != nil {
			t.Fatal(err)
		}
		for i := range b.Len() {
			if b.Origins[i].Cursor == "" {
				t.Errorf("row %d has no origin cursor", i)
			}
			rows = append(rows, b.Row(i))
		}
		last = b.Position
	}
	return rows, last
}

func ids(rows []map[string]any) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i], _ = r["id"].(int64)
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// TestSources runs the incremental source cases.
func TestSources(t *testing.T, setup Setup) {
	// events holds 30 rows: ids 1-5 at 10:00, 6-22 all at 11:00 (across
	// several chunks of 4), 23-30 at 12:00 + id minutes.
	create := func(t *testing.T, h *Harness) {
		t.Helper()
		if _, err := h.DB.Exec("CREATE TABLE events (id INTEGER NOT NULL PRIMARY KEY, updated_at " + h.TimestampType + ", name VARCHAR(50))"); err != nil {
			t.Fatal(err)
		}
		base := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
		for id := 1; id <= 30; id++ {
			at := base
			switch {
			case id > 22:
				at = base.Add(2*time.Hour + time.Duration(id)*time.Minute)
			case id > 5:
				at = base.Add(time.Hour)
			}
			insertEvent(t, h, id, at, fmt.Sprintf("név %d", id))
		}
	}
	cfg := sqlconn.SourceConfig{Table: "events", Cursor: "updated_at", Key: sqlconn.Names{"id"}, ChunkSize: 4}

	t.Run("TiesAcrossChunksNeitherSkippedNorRepeated", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		create(t, h)
		rows, pos := readAllPos(t, h.Source(t, cfg), nil, false, 0)
		if diff := cmp.Diff(seq(1, 30), ids(rows)); diff != "" {
			t.Fatalf("first run ids (-want +got):\n%s", diff)
		}
		// Resume from every chunk boundary: the rest, exactly. The same
		// source opened again (a rewind, see etl.Reopener) reads as a new
		// one: from the position it is given, in a full refresh too, and
		// from the start without one.
		reopened := h.Source(t, cfg)
		for stop := 1; stop <= 7; stop++ {
			_, mid := readAllPos(t, h.Source(t, cfg), nil, false, stop)
			rest, _ := readAllPos(t, h.Source(t, cfg), mid, false, 0)
			if diff := cmp.Diff(seq(int64(stop*4+1), 30), ids(rest)); diff != "" {
				t.Errorf("resumed after %d chunks (-want +got):\n%s", stop, diff)
			}
			_, mid = readAllPos(t, reopened, nil, stop%2 == 0, stop)
			rest, _ = readAllPos(t, reopened, mid, stop%2 == 0, 0)
			if diff := cmp.Diff(seq(int64(stop*4+1), 30), ids(rest)); diff != "" {
				t.Errorf("reopened, resumed after %d chunks (full refresh %v) (-want +got):\n%s", stop, stop%2 == 0, diff)
			}
		}
		if r, ok := reopened.(etl.Reopener); !ok || !r.Reopens() {
			t.Error("the source does not reopen (etl.Reopener)")
		}
		// Nothing new: nothing read.
		if again := readAll(t, h.Source(t, cfg), pos, false); len(again) != 0 {
			t.Errorf("second run read %v", ids(again))
		}
		// Rows updated later, and a new row, are read by the next run.
		later := time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
		for _, id := range []int{3, 7, 21} {
			updateEvent(t, h, id, later)
		}
		insertEvent(t, h, 31, later, "new")
		next := readAll(t, h.Source(t, cfg), pos, false)
		if diff := cmp.Diff([]int64{3, 7, 21, 31}, ids(next)); diff != "" {
			t.Errorf("next run ids (-want +got):\n%s", diff)
		}
		// --full-refresh reads everything again (the runner gives its
		// first opening no position).
		if all := readAll(t, h.Source(t, cfg), nil, true); len(all) != 31 {
			t.Errorf("full refresh read %d rows, want 31", len(all))
		}
		if got := next[3]["name"]; got != "new" {
			t.Errorf("name = %v", got)
		}
		if got := rows[0]["name"]; got != "név 1" {
			t.Errorf("accented name = %q", got)
		}
	})

	t.Run("LookbackRereadsLateRows", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		create(t, h)
		_, pos := readAllPos(t, h.Source(t, cfg), nil, false, 0)
		lb := cfg
		lb.Lookback = 5 * time.Minute // the last row is at 12:30: from 12:25
		rows := readAll(t, h.Source(t, lb), pos, false)
		if diff := cmp.Diff(seq(25, 30), ids(rows)); diff != "" {
			t.Errorf("lookback ids (-want +got):\n%s", diff)
		}
	})

	t.Run("QueryAndKeyOnly", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		create(t, h)
		q := sqlconn.SourceConfig{Query: "SELECT id, name FROM events WHERE id > 20", Key: sqlconn.Names{"id"}, ChunkSize: 3}
		rows, pos := readAllPos(t, h.Source(t, q), nil, false, 0)
		if diff := cmp.Diff(seq(21, 30), ids(rows)); diff != "" {
			t.Errorf("query ids (-want +got):\n%s", diff)
		}
		insertEvent(t, h, 40, time.Date(2024, 5, 3, 0, 0, 0, 0, time.UTC), "x")
		if next := readAll(t, h.Source(t, q), pos, false); !cmp.Equal(ids(next), []int64{40}) {
			t.Errorf("next run ids %v, want [40]", ids(next))
		}
	})

	t.Run("KeyNotUniqueFails", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		// No primary key: ids repeat inside a chunk (2) and across a
		// chunk's edge (4, rows 4 and 5 of chunks of 4).
		exec(t, h, "CREATE TABLE dup_keys (id INTEGER, updated_at "+h.TimestampType+", name VARCHAR(50))")
		for i, id := range []int{1, 2, 3, 4, 4, 5, 6} {
			exec(t, h, "INSERT INTO dup_keys (id, name) VALUES ("+h.Dialect.Placeholder(1)+", "+h.Dialect.Placeholder(2)+")", id, fmt.Sprint("row ", i))
		}
		for _, tc := range []struct {
			name string
			cfg  sqlconn.SourceConfig
		}{
			{"at a chunk's edge", sqlconn.SourceConfig{Table: "dup_keys", Key: sqlconn.Names{"id"}, ChunkSize: 4}},
			{"within a chunk", sqlconn.SourceConfig{Table: "dup_keys", Key: sqlconn.Names{"id"}, ChunkSize: 10}},
			// A JOIN repeats the id of each order with two lines.
			{"a query's join", sqlconn.SourceConfig{Query: "SELECT a.id, b.name FROM dup_keys a JOIN dup_keys b ON b.id >= a.id WHERE a.id > 4", Key: sqlconn.Names{"id"}, ChunkSize: 3}},
		} {
			err := ReadErr(t, h.Source(t, tc.cfg))
			if !errors.Is(err, sqlconn.ErrKeyNotUnique) || !etl.IsPermanent(err) || !strings.Contains(err.Error(), "id=") {
				t.Errorf("%s: err = %v, want a permanent ErrKeyNotUnique naming the key", tc.name, err)
			}
		}
		// With the cursor, the (cursor, key) pair must identify a row.
		exec(t, h, "UPDATE dup_keys SET updated_at = "+h.Dialect.Placeholder(1), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
		err := ReadErr(t, h.Source(t, sqlconn.SourceConfig{Table: "dup_keys", Cursor: "updated_at", Key: sqlconn.Names{"id"}, ChunkSize: 4}))
		if !errors.Is(err, sqlconn.ErrKeyNotUnique) || !strings.Contains(err.Error(), "updated_at=") {
			t.Errorf("cursor: err = %v, want ErrKeyNotUnique naming the cursor", err)
		}
	})

	t.Run("NullKeysRefusedNullCursorsCounted", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		exec(t, h, "CREATE TABLE null_keys (id INTEGER, updated_at "+h.TimestampType+")")
		at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		for id := 1; id <= 18; id++ {
			var key, cursor any = id, at.Add(time.Duration(id) * time.Minute)
			if id%4 == 0 {
				key = nil
			}
			if id%5 == 0 {
				cursor = nil
			}
			exec(t, h, "INSERT INTO null_keys (id, updated_at) VALUES ("+h.Dialect.Placeholder(1)+", "+h.Dialect.Placeholder(2)+")", key, cursor)
		}
		for _, cursor := range []string{"", "updated_at"} {
			err := ReadErr(t, h.Source(t, sqlconn.SourceConfig{Table: "null_keys", Cursor: cursor, Key: sqlconn.Names{"id"}, ChunkSize: 4}))
			if !errors.Is(err, sqlconn.ErrKeyNotUnique) || !etl.IsPermanent(err) || !strings.Contains(err.Error(), "rows with a null key (id): 4") {
				t.Errorf("cursor %q: err = %v, want the 4 null keys refused", cursor, err)
			}
		}
		// Without the null keys, the null cursors are counted and logged.
		exec(t, h, "DELETE FROM null_keys WHERE id IS NULL")
		var logs strings.Builder
		src := h.Source(t, sqlconn.SourceConfig{Table: "null_keys", Cursor: "updated_at", Key: sqlconn.Names{"id"}, ChunkSize: 4})
		ctx := context.Background()
		if err := src.Open(ctx, etl.SourceEnv{Job: "j", BatchSize: 4, Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
			t.Fatal(err)
		}
		defer src.Close(context.Background())
		if n := src.(interface{ NullCursors() int64 }).NullCursors(); n != 3 {
			t.Errorf("NullCursors = %d, want 3 (ids 5, 10, 15)", n)
		}
		if !strings.Contains(logs.String(), "rows with a null cursor are not read") || !strings.Contains(logs.String(), "rows=3") {
			t.Errorf("log = %q, want the 3 null cursors", logs.String())
		}
	})

	t.Run("MissingColumnIsAnError", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		create(t, h)
		bad := cfg
		bad.Cursor = "modified"
		err := h.Source(t, bad).Open(context.Background(), etl.SourceEnv{Job: "j", BatchSize: 10})
		if err == nil || !strings.Contains(err.Error(), `no column "modified"`) || !strings.Contains(err.Error(), "updated_at") {
			t.Errorf("err = %v, want one naming the missing column and the columns", err)
		}
	})
}

func exec(t *testing.T, h *Harness, query string, args ...any) {
	t.Helper()
	if _, err := h.DB.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// ReadErr reads src to its end and returns the error that stopped it
// (nil at the end of input).
func ReadErr(t *testing.T, src etl.Source) error {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, etl.SourceEnv{Job: "j", BatchSize: 1000}); err != nil {
		return err
	}
	defer src.Close(context.Background())
	for {
		if _, err := src.Next(ctx); err != nil {
			if errors.Is(err, etl.ErrEndOfInput) {
				return nil
			}
			return err
		}
	}
}

func insertEvent(t *testing.T, h *Harness, id int, at time.Time, name string) {
	t.Helper()
	d := h.Dialect
	if _, err := h.DB.Exec("INSERT INTO events (id, updated_at, name) VALUES ("+d.Placeholder(1)+", "+d.Placeholder(2)+", "+d.Placeholder(3)+")", id, at, name); err != nil {
		t.Fatal(err)
	}
}

func updateEvent(t *testing.T, h *Harness, id int, at time.Time) {
	t.Helper()
	d := h.Dialect
	if _, err := h.DB.Exec("UPDATE events SET updated_at = "+d.Placeholder(1)+" WHERE id = "+d.Placeholder(2), at, id); err != nil {
		t.Fatal(err)
	}
}

// dryRun runs DryRun on a new target for the batches, as run runID would,
// and returns the lines of each batch.
func dryRun(t *testing.T, h *Harness, cfg sqlconn.TargetConfig, runID int64, batches ...*etl.Batch) [][]string {
	t.Helper()
	tg := h.Target(t, cfg)
	dr, ok := tg.(etl.DryRunner)
	if !ok {
		t.Fatalf("%T is no etl.DryRunner", tg)
	}
	var out [][]string
	for _, b := range batches {
		lines, err := dr.DryRun(context.Background(), etl.TargetEnv{Job: "leads", Name: "targets[0] table " + cfg.Table, RunID: runID}, b)
		if err != nil {
			t.Fatalf("DryRun batch %d: %v", b.Seq, err)
		}
		out = append(out, lines)
	}
	return out
}

// testDryRun: a dry run lists the CREATE TABLE of a missing table (and of
// the marker table), the ALTER TABLE of a missing column, and the load
// statement naming the table with the batch's row count, once per run,
// and leaves the database as it was.
func testDryRun(t *testing.T, h *Harness, mode string) {
	cfg := sqlconn.TargetConfig{Table: "leads", Mode: mode, Schema: sqlconn.SchemaEvolve}
	if mode == sqlconn.ModeMerge {
		cfg.Key = []string{"email"}
	}
	table := quote(t, h.Dialect, "leads")
	if mode == sqlconn.ModeReplace {
		table = quote(t, h.Dialect, "leads"+sqlconn.StagingSuffix)
	}
	fields := []string{"email", "name"}
	b1 := StringBatch(1, fields, []string{"a@x", "Ann"}, []string{"b@x", "Bob"}, []string{"c@x", "<null>"})
	b2 := StringBatch(2, fields, []string{"d@x", "Dee"})
	has := func(lines []string, prefix, suffix string) bool {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) && strings.HasSuffix(l, suffix) {
				return true
			}
		}
		return false
	}

	// An empty database: the table and the marker table are missing.
	before := h.Catalog(t)
	got := dryRun(t, h, cfg, 1, b1, b2)
	if after := h.Catalog(t); after != before {
		t.Fatalf("the dry run changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !has(got[0], "CREATE TABLE "+table+" (", ")") {
		t.Errorf("batch 1: no CREATE TABLE %s in %q", table, got[0])
	}
	wantMarkers := mode != sqlconn.ModeMerge
	if has(got[0], "CREATE TABLE IF NOT EXISTS "+quote(t, h.Dialect, sqlconn.MarkerTable), "") != wantMarkers {
		t.Errorf("batch 1: marker table listed is not %v in %q", wantMarkers, got[0])
	}
	if !has(got[0], "", ": 3 row(s)") || !strings.Contains(got[0][len(got[0])-1], table) {
		t.Errorf("batch 1: the last line is not the load of 3 rows into %s: %q", table, got[0])
	}
	if len(got[1]) != 1 || !strings.Contains(got[1][0], table) || !strings.HasSuffix(got[1][0], ": 1 row(s)") {
		t.Errorf("batch 2: want only the load of 1 row into %s, got %q", table, got[1])
	}
	for _, lines := range got {
		for _, l := range lines {
			if len(l) > 240 {
				t.Errorf("line of %d bytes: %q", len(l), l)
			}
		}
	}

	// A table lacking a column: its ALTER, and no CREATE but for replace's
	// staging table.
	run(t, h, cfg, 1, true, StringBatch(1, []string{"email"}, []string{"z@x"}))
	before = h.Catalog(t)
	rows := Query(t, h.DB, "SELECT * FROM "+quote(t, h.Dialect, "leads"))
	got = dryRun(t, h, cfg, 2, b1)
	if after := h.Catalog(t); after != before {
		t.Fatalf("the dry run changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if diff := cmp.Diff(rows, Query(t, h.DB, "SELECT * FROM "+quote(t, h.Dialect, "leads"))); diff != "" {
		t.Errorf("the dry run changed the rows (-before +after):\n%s", diff)
	}
	if has(got[0], "CREATE TABLE "+table, "") != (mode == sqlconn.ModeReplace) {
		t.Errorf("CREATE TABLE %s listed is not %v: %q", table, mode == sqlconn.ModeReplace, got[0])
	}
	if has(got[0], "CREATE TABLE IF NOT EXISTS", "") {
		t.Errorf("the marker table exists, yet its CREATE is listed: %q", got[0])
	}
	if wantAlter := mode != sqlconn.ModeReplace; has(got[0], "ALTER TABLE "+table+" ADD COLUMN "+quote(t, h.Dialect, "name"), "") != wantAlter {
		t.Errorf("ALTER TABLE ADD COLUMN name listed is not %v: %q", wantAlter, got[0])
	}

	// A strict target fails the dry run as it would fail the run.
	cfg.Schema = sqlconn.SchemaStrict
	_, err := h.Target(t, cfg).(etl.DryRunner).DryRun(context.Background(), etl.TargetEnv{Job: "leads", Name: "t", RunID: 3}, b1)
	var mismatch *sqlconn.SchemaMismatchError
	if !errors.As(err, &mismatch) || len(mismatch.Missing) != 1 || mismatch.Missing[0].Name != "name" {
		t.Errorf("strict dry run: err = %v, want the table's missing column name", err)
	}
	if after := h.Catalog(t); after != before {
		t.Fatalf("the strict dry run changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// CheckDryRun runs tg's DryRun on b as run 1 would and checks that its
// lines start with want, one for one; it returns the lines.
func CheckDryRun(t *testing.T, tg etl.Target, b *etl.Batch, want ...string) []string {
	t.Helper()
	dr, ok := tg.(etl.DryRunner)
	if !ok {
		t.Fatalf("%T is no etl.DryRunner", tg)
	}
	lines, err := dr.DryRun(context.Background(), etl.TargetEnv{Job: "leads", Name: "t", RunID: 1}, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != len(want) {
		t.Fatalf("lines = %q, want %q", lines, want)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
	return lines
}

// Lines returns the single text column of query's rows, one a line: a
// connector's Harness.Catalog.
func Lines(t *testing.T, db *sqlx.DB, query string, args ...any) string {
	t.Helper()
	var rows []string
	if err := db.Select(&rows, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return strings.Join(rows, "\n")
}
