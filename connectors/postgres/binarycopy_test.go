package postgres

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// edgeBatch holds every field type with values at the edges of their
// encodings: before PostgreSQL's epoch, in another time zone, extreme
// numbers, empty strings and nulls, unicode, and JSON with HTML
// characters.
func edgeBatch(seq int64) *etl.Batch {
	s := etl.MustSchema(
		etl.Field{Name: "n", Type: etl.TypeInt},
		etl.Field{Name: "s", Type: etl.TypeString}, etl.Field{Name: "i", Type: etl.TypeInt},
		etl.Field{Name: "f", Type: etl.TypeFloat}, etl.Field{Name: "b", Type: etl.TypeBool},
		etl.Field{Name: "ts", Type: etl.TypeTimestamp}, etl.Field{Name: "d", Type: etl.TypeDate},
		etl.Field{Name: "j", Type: etl.TypeJSON},
	)
	paris := time.FixedZone("CET", 3600)
	type row struct {
		s    string
		i    int64
		f    float64
		b    bool
		ts   time.Time
		d    time.Time
		j    any
		null bool
	}
	rows := []row{
		{"größe 'x'); DROP TABLE x; --", math.MinInt64, -0.1, true,
			time.Date(1969, 7, 20, 20, 17, 40, 999999000, time.UTC), time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
			map[string]any{"a": "<b>&", "n": []any{1.5, nil, true}}, false},
		{"", math.MaxInt64, math.Inf(-1), false,
			time.Date(2000, 1, 1, 1, 0, 0, 1000, paris), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
			[]any{}, false},
		{"e\u0301\t\"quoted\"\n", 0, 1e300, true,
			time.Date(2262, 4, 11, 23, 47, 16, 854775000, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, paris),
			map[string]any{}, false},
		{null: true},
	}
	b := etl.NewBatch(s, len(rows))
	for r, v := range rows {
		b.Cols[0].AppendInt(int64(r))
		if v.null {
			for c := 1; c < len(b.Cols); c++ {
				b.Cols[c].AppendNull()
			}
		} else {
			b.Cols[1].AppendString(v.s)
			b.Cols[2].AppendInt(v.i)
			b.Cols[3].AppendFloat(v.f)
			b.Cols[4].AppendBool(v.b)
			b.Cols[5].AppendTime(v.ts)
			b.Cols[6].AppendTime(v.d)
			b.Cols[7].AppendJSON(v.j)
		}
		b.Origins = append(b.Origins, etl.Origin{File: "edge.csv", Line: int64(r + 2)})
	}
	b.Seq, b.Position = seq, etl.Position(`{}`)
	return b
}

// testTable builds a table target on a backend the test configures.
func testTable(t *testing.T, dsn, schema string, cfg sqlconn.TargetConfig, pgxOnly bool) *sqlconn.Table {
	t.Helper()
	be := &backend{conn: &ConnConfig{DSN: dsn}, schema: schema, pgxOnly: pgxOnly}
	return sqlconn.NewTable(cfg, be, "postgres pg table "+cfg.Table)
}

func writeBatches(t *testing.T, tg etl.Target, table string, batches ...*etl.Batch) error {
	t.Helper()
	ctx := context.Background()
	if err := tg.Open(ctx, etl.TargetEnv{Job: "edge", Name: "targets[0] table " + table, RunID: 1}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer tg.Close()
	for _, b := range batches {
		if err := tg.Write(ctx, b); err != nil {
			return err
		}
	}
	return tg.Commit(ctx)
}

// TestBinaryCopyMatchesPgx loads the same batch through binaryCopy and
// through pgx's CopyFrom, in append and merge mode, and compares the
// tables as PostgreSQL prints them.
func TestBinaryCopyMatchesPgx(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge} {
		for _, pgxOnly := range []bool{false, true} {
			table := mode + map[bool]string{false: "_binary", true: "_pgx"}[pgxOnly]
			cfg := sqlconn.TargetConfig{Table: table, Mode: mode, Schema: sqlconn.SchemaEvolve}
			if mode == sqlconn.ModeMerge {
				cfg.Key = sqlconn.Names{"n"}
			}
			if err := writeBatches(t, testTable(t, dsn, schema, cfg, pgxOnly), table, edgeBatch(1)); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
		}
		dump := func(table string) [][]string {
			return sqlconntest.Query(t, db, `SELECT n::text, s, i::text, f::text, b::text, ts::text, d::text, j::text FROM "`+table+`" ORDER BY n`)
		}
		got, want := dump(mode+"_binary"), dump(mode+"_pgx")
		if len(got) != 4 {
			t.Fatalf("%s: %d rows, want 4", mode, len(got))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: binary COPY differs from pgx's (-pgx +binary):\n%s", mode, diff)
		}
	}
	// Spot checks on values whose encoding is easy to get wrong (the
	// session's time zone prints timestamps).
	got := sqlconntest.Query(t, db, `SELECT (extract(epoch FROM ts) * 1000000)::bigint::text, d::text, j::text FROM append_binary ORDER BY n LIMIT 3`)
	want := [][]string{
		{"-14182939000001", "1999-12-31", `{"a": "<b>&", "n": [1.5, null, true]}`},
		{"946684800000001", "2000-01-01", "[]"},
		{"9223372036854775", "2024-02-29", "{}"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
}

// TestBinaryCopyJSONString: a JSON string value is stored as a JSON
// string (pgx would send it as raw JSON text).
func TestBinaryCopyJSONString(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "j", Type: etl.TypeJSON}), 1)
	b.Cols[0].AppendJSON("a<b")
	b.Origins = append(b.Origins, etl.Origin{Line: 2})
	b.Seq, b.Position = 1, etl.Position(`{}`)
	cfg := sqlconn.TargetConfig{Table: "j", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}
	if err := writeBatches(t, testTable(t, dsn, schema, cfg, false), "j", b); err != nil {
		t.Fatal(err)
	}
	got := sqlconntest.Query(t, db, `SELECT jsonb_typeof(j), j #>> '{}' FROM j`)
	if diff := cmp.Diff([][]string{{"string", "a<b"}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestCopyOtherColumnTypes: a table created by hand with column types
// binaryCopy does not write (integer, timestamp without time zone,
// numeric) is loaded through pgx's CopyFrom, which converts.
func TestCopyOtherColumnTypes(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	if _, err := db.Exec(`CREATE TABLE other (i integer, ts timestamp, s varchar(20))`); err != nil {
		t.Fatal(err)
	}
	b := etl.NewBatch(etl.MustSchema(
		etl.Field{Name: "i", Type: etl.TypeInt}, etl.Field{Name: "ts", Type: etl.TypeTimestamp},
		etl.Field{Name: "s", Type: etl.TypeString}), 1)
	b.Cols[0].AppendInt(42)
	b.Cols[1].AppendTime(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
	b.Cols[2].AppendString("ok")
	b.Origins = append(b.Origins, etl.Origin{Line: 2})
	b.Seq, b.Position = 1, etl.Position(`{}`)
	cfg := sqlconn.TargetConfig{Table: "other", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}
	if err := writeBatches(t, testTable(t, dsn, schema, cfg, false), "other", b); err != nil {
		t.Fatal(err)
	}
	got := sqlconntest.Query(t, db, `SELECT i::text, ts::text, s FROM other`)
	if diff := cmp.Diff([][]string{{"42", "2024-03-01 12:00:00", "ok"}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestBinaryCopyEncodeError: a value that cannot be encoded fails the
// batch with its row and field, rolls its transaction back (no rows, no
// replay marker), and leaves the connection usable for the next batch.
func TestBinaryCopyEncodeError(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	s := etl.MustSchema(etl.Field{Name: "j", Type: etl.TypeJSON})
	bad := etl.NewBatch(s, 2)
	bad.Cols[0].AppendJSON(map[string]any{"ok": 1.0})
	bad.Cols[0].AppendJSON(map[string]any{"x": math.NaN()})
	bad.Origins = append(bad.Origins, etl.Origin{File: "in.jsonl", Line: 1}, etl.Origin{File: "in.jsonl", Line: 2})
	bad.Seq, bad.Position = 1, etl.Position(`{"offset":1}`)
	good := etl.NewBatch(s, 1)
	good.Cols[0].AppendJSON(true)
	good.Origins = append(good.Origins, etl.Origin{File: "in.jsonl", Line: 3})
	good.Seq, good.Position = 2, etl.Position(`{"offset":2}`)

	cfg := sqlconn.TargetConfig{Table: "j", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}
	tg := testTable(t, dsn, schema, cfg, false)
	ctx := context.Background()
	if err := tg.Open(ctx, etl.TargetEnv{Job: "edge", Name: "targets[0] table j", RunID: 1}); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	err := tg.Write(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), `in.jsonl:2: field "j"`) || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("Write(bad) = %v, want an error naming in.jsonl:2, field j and NaN", err)
	}
	if err := tg.Write(ctx, good); err != nil {
		t.Fatalf("Write(good) after a failed batch: %v", err)
	}
	got := sqlconntest.Query(t, db, `SELECT (SELECT string_agg(j::text, ',') FROM j), (SELECT count(*)::text FROM _nightjar_batches)`)
	if diff := cmp.Diff([][]string{{"true", "1"}}, got); diff != "" {
		t.Errorf("rows, markers (-want +got):\n%s", diff)
	}
}

// TestColumnTypesChangedUnderTheRun: the column types are read once per
// run; a column whose type another session changes fails the next batch
// (never a silent misreading), and the batch after it reads the types
// again and loads through pgx's CopyFrom.
//
// The failed batch has one row or many: with one the COPY's error reaches
// the target when the stream ends, with many while the batch is still
// being written (CI saw the second: the types were not read again).
func TestColumnTypesChangedUnderTheRun(t *testing.T) {
	t.Parallel()
	for _, rows := range []int{1, 200_000} {
		t.Run(fmt.Sprint(rows, " rows"), func(t *testing.T) {
			t.Parallel()
			testColumnTypesChanged(t, rows)
		})
	}
}

func testColumnTypesChanged(t *testing.T, failedRows int) {
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	batch := func(seq int64, v int64, n int) *etl.Batch {
		b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "n", Type: etl.TypeInt}), n)
		for range n {
			b.Cols[0].AppendInt(v)
			b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: seq + 1})
		}
		b.Seq, b.Position = seq, etl.Position(fmt.Sprintf(`{"offset":%d}`, seq))
		return b
	}
	cfg := sqlconn.TargetConfig{Table: "t", Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve}
	tg := testTable(t, dsn, schema, cfg, false)
	ctx := context.Background()
	if err := tg.Open(ctx, etl.TargetEnv{Job: "types", Name: "targets[0] table t", RunID: 1}); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if err := tg.Write(ctx, batch(1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := tg.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`ALTER TABLE t ALTER COLUMN n TYPE integer`); err != nil {
		t.Fatal(err)
	}
	if err := tg.Write(ctx, batch(2, 2, failedRows)); err == nil {
		t.Fatal("Write after the column type changed: no error")
	}
	if err := tg.Write(ctx, batch(3, 3, 1)); err != nil {
		t.Fatalf("Write after a failed batch: %v", err)
	}
	if err := tg.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := sqlconntest.Query(t, db, `SELECT n::text, pg_typeof(n)::text FROM t ORDER BY n`)
	if diff := cmp.Diff([][]string{{"1", "integer"}, {"3", "integer"}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestMergeLeavesUnchangedRowsAlone: a merge rewrites only the rows whose
// values changed (their xmin moves); an unchanged row keeps its row
// version, with a json column (no equality operator) compared as text and
// a NULL equal to a NULL.
func TestMergeLeavesUnchangedRowsAlone(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	if _, err := db.Exec(`CREATE TABLE m (id bigint, name text, doc json)`); err != nil {
		t.Fatal(err)
	}
	batch := func(seq int64, rows ...[]any) *etl.Batch {
		b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt},
			etl.Field{Name: "name", Type: etl.TypeString}, etl.Field{Name: "doc", Type: etl.TypeJSON}), len(rows))
		for i, r := range rows {
			b.Cols[0].AppendInt(r[0].(int64))
			if r[1] == nil {
				b.Cols[1].AppendNull()
			} else {
				b.Cols[1].AppendString(r[1].(string))
			}
			b.Cols[2].AppendJSON(r[2])
			b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: int64(i + 2)})
		}
		b.Seq, b.Position = seq, etl.Position(fmt.Sprintf(`{"offset":%d}`, seq))
		return b
	}
	cfg := sqlconn.TargetConfig{Table: "m", Mode: sqlconn.ModeMerge, Key: []string{"id"}, Schema: sqlconn.SchemaEvolve}
	first := batch(1, []any{int64(1), "a", map[string]any{"k": 1.0}}, []any{int64(2), "b", map[string]any{"k": 2.0}}, []any{int64(3), nil, nil})
	if err := writeBatches(t, testTable(t, dsn, schema, cfg, false), "m", first); err != nil {
		t.Fatal(err)
	}
	versions := func() map[string]string {
		v := map[string]string{}
		for _, r := range sqlconntest.Query(t, db, `SELECT id::text, xmin::text FROM m`) {
			v[r[0]] = r[1]
		}
		return v
	}
	before := versions()
	second := batch(2, []any{int64(1), "a", map[string]any{"k": 1.0}}, []any{int64(2), "B", map[string]any{"k": 2.0}}, []any{int64(3), nil, nil})
	if err := writeBatches(t, testTable(t, dsn, schema, cfg, false), "m", second); err != nil {
		t.Fatal(err)
	}
	after := versions()
	if before["1"] != after["1"] || before["3"] != after["3"] || before["2"] == after["2"] {
		t.Errorf("row versions before %v, after %v: want rows 1 and 3 untouched, row 2 rewritten", before, after)
	}
	got := sqlconntest.Query(t, db, `SELECT id::text, name, doc::text FROM m ORDER BY id`)
	want := [][]string{{"1", "a", `{"k":1}`}, {"2", "B", `{"k":2}`}, {"3", "NULL", "NULL"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
