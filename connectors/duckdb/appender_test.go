package duckdb

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestAppendMatchesPlainInserts searches the Appender's load (appendRows)
// with random batches of every field type the dialect maps (NULLs, empty,
// unicode and long strings, extreme numbers, times in other zones)
// against the same rows inserted with bound parameters, both read back by
// SELECT. Half the batches have only the fields whose values are written
// straight into DuckDB's vectors (appendVectors, which must take them), the
// others any: those go through duckdb-go's Appender, their values handed
// out by cells without copies. One batch in eight has thousands of rows,
// several of DuckDB's 2,048-row chunks.
func TestAppendMatchesPlainInserts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := testConn(t)
	types := []etl.Type{etl.TypeString, etl.TypeInt, etl.TypeFloat, etl.TypeBool, etl.TypeTimestamp, etl.TypeDate,
		etl.TypeLocalTimestamp, etl.TypeBytes, etl.TypeDecimal, etl.TypeUUID, etl.TypeJSON}
	vectorTypes := []etl.Type{etl.TypeString, etl.TypeInt, etl.TypeFloat, etl.TypeBool, etl.TypeTimestamp, etl.TypeDate,
		etl.TypeLocalTimestamp, etl.TypeDecimal, etl.TypeUUID}
	check := 0
	rapid.Check(t, func(rt *rapid.T) {
		check++
		vectors := rapid.Bool().Draw(rt, "vectors")
		pick := rapid.SampledFrom(types)
		if vectors {
			pick = rapid.SampledFrom(vectorTypes)
		}
		fields := make([]etl.Field, rapid.IntRange(1, 6).Draw(rt, "fields"))
		for i := range fields {
			fields[i] = etl.Field{Name: fmt.Sprintf("f%d", i), Type: pick.Draw(rt, "type")}
		}
		s := etl.MustSchema(fields...)
		n := rapid.IntRange(0, 40).Draw(rt, "rows")
		if rapid.IntRange(0, 7).Draw(rt, "many") == 0 {
			n = rapid.IntRange(2040, 5000).Draw(rt, "many rows")
		}
		b := etl.NewBatch(s, n)
		for r := range n {
			for c := range b.Cols {
				if rapid.IntRange(0, 4).Draw(rt, "null") == 0 {
					b.Cols[c].AppendNull()
				} else {
					appendRandom(rt, &b.Cols[c])
				}
			}
			b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: int64(r + 2)})
		}
		appended, inserted := fmt.Sprintf("a%d", check), fmt.Sprintf("i%d", check)
		for _, table := range []string{appended, inserted} {
			create, err := sqlconn.CreateTable(Dialect{}, table, s)
			if err != nil {
				rt.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, strings.TrimSuffix(create, ")")+`, "`+ordColumn+`" BIGINT)`); err != nil {
				rt.Fatal(err)
			}
		}
		var err error
		if vectors {
			err = onDriverConn(conn, func(c driver.Conn) error {
				return appendVectors(ctx, c, "", appended, appendNames(b, true), b, true)
			})
		} else {
			err = appendRows(ctx, conn, "", appended, b, true)
		}
		if err != nil {
			rt.Fatal(err)
		}
		insertPlain(rt, conn, inserted, b)
		got, want := readBack(rt, conn, appended, fields), readBack(rt, conn, inserted, fields)
		if len(got) != n || len(want) != n {
			rt.Fatalf("appended %d rows, inserted %d, want %d", len(got), len(want), n)
		}
		for r := range want {
			if got[r] != want[r] {
				rt.Fatalf("row %d: appended %s, inserted %s", r, got[r], want[r])
			}
		}
	})
}

// insertPlain inserts the batch's rows, each with its index (ordColumn),
// by INSERT statements of up to 200 rows with bound parameters.
func insertPlain(rt *rapid.T, conn *sqlx.Conn, table string, b *etl.Batch) {
	const per = 200
	row := "(?" + strings.Repeat(", ?", len(b.Cols)) + ")"
	for lo := 0; lo < b.Len(); lo += per {
		hi := min(lo+per, b.Len())
		args := make([]any, 0, (hi-lo)*(len(b.Cols)+1))
		for r := lo; r < hi; r++ {
			for c := range b.Cols {
				args = append(args, plainValue(&b.Cols[c], r))
			}
			args = append(args, r)
		}
		query := "INSERT INTO " + table + " VALUES " + row + strings.Repeat(", "+row, hi-lo-1)
		if _, err := conn.ExecContext(context.Background(), query, args...); err != nil {
			rt.Fatalf("insert rows %d to %d: %v", lo, hi-1, err)
		}
	}
}

// appendRandom appends a random non-null value of col's type: a mix of
// edge cases (empty and unicode strings, strings past DuckDB's 12 inline
// bytes, the int64 bounds, tiny, huge and negative zero floats, times
// with nanoseconds in zones east and west of UTC) and plain ones.
func appendRandom(rt *rapid.T, col *etl.Column) {
	switch col.Type {
	case etl.TypeString, etl.TypeBytes:
		col.AppendString(rapid.SampledFrom([]string{"", "a", "ü", "日本語のテキスト、十二バイトより長い", "tab\there", "quote'\"", strings.Repeat("x", 13)}).Draw(rt, "str") +
			rapid.StringN(0, 20, -1).Draw(rt, "tail"))
	case etl.TypeDecimal:
		col.AppendString(fmt.Sprintf("%d.%04d", rapid.Int64().Draw(rt, "units"), rapid.IntRange(0, 9999).Draw(rt, "frac")))
	case etl.TypeUUID:
		col.AppendString(fmt.Sprintf("%08x-0000-4000-8000-%012x", rapid.Uint32().Draw(rt, "hi"), rapid.Uint64Range(0, 1<<48-1).Draw(rt, "lo")))
	case etl.TypeInt:
		col.AppendInt(rapid.OneOf(rapid.SampledFrom([]int64{0, -1, 255, 256, math.MinInt64, math.MaxInt64}), rapid.Int64()).Draw(rt, "int"))
	case etl.TypeFloat:
		col.AppendFloat(rapid.OneOf(rapid.SampledFrom([]float64{0, math.Copysign(0, -1), math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64, 1e-300, 0.1}), rapid.Float64()).Draw(rt, "float"))
	case etl.TypeBool:
		col.AppendBool(rapid.Bool().Draw(rt, "bool"))
	case etl.TypeTimestamp, etl.TypeDate, etl.TypeLocalTimestamp:
		zone := time.FixedZone("z", rapid.IntRange(-14, 14).Draw(rt, "zone")*3600)
		tm := time.Unix(rapid.Int64Range(-62135596800+86400, 253402300799-86400).Draw(rt, "sec"), rapid.Int64Range(0, 999999999).Draw(rt, "nsec")).In(zone)
		// A date is midnight UTC, or an instant elsewhere whose date in UTC
		// the column gets.
		if col.Type == etl.TypeDate && rapid.Bool().Draw(rt, "midnight") {
			tm = time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC)
		}
		col.AppendTime(tm)
	case etl.TypeJSON:
		// A JSON null, scalars and nested values: the Appender must store
		// each as the JSON it is, not as a JSON string of its text.
		scalar := rapid.SampledFrom([]any{etl.JSONNull, true, json.Number("1.5"), json.Number("-7"), "", "ü \"q\" <b>", "null"})
		v := scalar.Draw(rt, "json")
		switch rapid.IntRange(0, 2).Draw(rt, "json shape") {
		case 1:
			v = map[string]any{"k": scalar.Draw(rt, "json value"), "n": []any{scalar.Draw(rt, "json elem")}}
		case 2:
			v = []any{scalar.Draw(rt, "json elem"), map[string]any{}}
		}
		col.AppendJSON(v)
	default:
		rt.Fatalf("no random values of type %s", col.Type)
	}
}

// plainValue is row r of col as a parameter of an INSERT: times as text
// in UTC (to the microsecond, as DuckDB's TIMESTAMP holds them).
func plainValue(col *etl.Column, r int) any {
	if col.Null[r] {
		return nil
	}
	switch col.Type {
	case etl.TypeInt:
		return col.Int[r]
	case etl.TypeFloat:
		return col.Float[r]
	case etl.TypeBool:
		return col.Bool[r]
	case etl.TypeBytes:
		return []byte(col.Str[r])
	case etl.TypeDate:
		return col.Time[r].UTC().Format(time.DateOnly)
	case etl.TypeTimestamp, etl.TypeLocalTimestamp:
		return col.Time[r].UTC().Format("2006-01-02 15:04:05.000000")
	case etl.TypeJSON: // its text, which DuckDB parses into the JSON column
		text, err := sqlconn.EncodeJSON(col.JSON[r])
		if err != nil {
			panic(err)
		}
		return text
	}
	return col.Str[r]
}

// readBack is table's rows in ordColumn's order, each its columns as text.
func readBack(rt *rapid.T, conn *sqlx.Conn, table string, fields []etl.Field) []string {
	cols := make([]string, len(fields))
	for i, f := range fields {
		col := fmt.Sprintf("%q", f.Name)
		if f.Type == etl.TypeJSON {
			// The JSON as DuckDB writes it out again: the Appender's text
			// has < > & as \u escapes (duckdb-go runs json.Marshal), an
			// INSERT's as given, the same JSON.
			col = "json_extract(" + col + ", '$')"
		}
		cols[i] = fmt.Sprintf(`coalesce(CAST(%s AS VARCHAR), '<null>')`, col)
	}
	var rows []string
	if err := conn.SelectContext(context.Background(), &rows, "SELECT "+strings.Join(cols, " || ' | ' || ")+" FROM "+table+` ORDER BY "`+ordColumn+`"`); err != nil {
		rt.Fatal(err)
	}
	return rows
}

// TestRowGroupTransactionsLoadOnce runs DefaultCommitRows' path: each
// transaction appends more than a DuckDB row group (122,880 rows), which
// DuckDB writes to the file as the rows come in and merges into the table
// at the commit. A first run loads batches of random sizes into the empty
// table; a second appends more and dies before its commit (Close without
// Sync: the row groups it wrote are dropped); a third replays all of them
// into the table that now has rows. Every row must be there once.
func TestRowGroupTransactionsLoadOnce(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	ctx := context.Background()
	var batches []*etl.Batch
	// batchesOver adds batches of 5,000 to 15,000 rows until they hold more
	// than a row group, and returns them.
	batchesOver := func() []*etl.Batch {
		first, rows := len(batches), 0
		for rows <= 122_880 {
			n := 5_000 + rng.IntN(10_001)
			b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "v", Type: etl.TypeString}), n)
			for r := range n {
				b.Cols[0].AppendInt(int64(len(batches)*1_000_000 + r))
				b.Cols[1].AppendString(strings.Repeat("é", rng.IntN(20)))
				b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: int64(r + 2)})
			}
			b.Seq = int64(len(batches) + 1)
			b.Position = etl.Position(fmt.Sprintf(`{"b":%d}`, b.Seq))
			batches = append(batches, b)
			rows += n
		}
		return batches[first:]
	}
	run := func(runID int64, sync bool, load []*etl.Batch) {
		t.Helper()
		cfg := TargetConfig{Table: "t", Mode: ModeAppend, Schema: SchemaEvolve, CommitRows: DefaultCommitRows}
		tg, err := New(&cfg, etl.BuildEnv{BaseDir: dir, Connection: &etl.Connection{Name: "duck", Type: "duckdb", Config: &ConnConfig{Path: "db.duckdb"}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t", RunID: runID, Syncs: true}); err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		for _, b := range load {
			if err := tg.Write(ctx, b); err != nil {
				t.Fatalf("run %d: write batch %d: %v", runID, b.Seq, err)
			}
		}
		if sync {
			if err := tg.(etl.Syncer).Sync(ctx); err != nil {
				t.Fatalf("run %d: sync: %v", runID, err)
			}
		}
	}
	run(1, true, batchesOver())
	run(2, false, batchesOver())
	run(3, true, batches)
	want := 0
	for _, b := range batches {
		want += b.Len()
	}
	db, err := sqlx.Open("duckdb", filepath.Join(dir, "db.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, ids int
	if err := db.QueryRow("SELECT count(*), count(DISTINCT id) FROM t").Scan(&rows, &ids); err != nil {
		t.Fatal(err)
	}
	if rows != want || ids != want {
		t.Errorf("table holds %d rows, %d ids, want %d of each", rows, ids, want)
	}
}

// TestAppendInvalidUTF8Refused: text that is not UTF-8 (short, and past
// the 12 inline bytes) fails the load naming its row and field, through
// the vectors and through duckdb-go's Appender (a JSON field sends the
// batch there), and appends nothing: duckdb-go's Appender used to store
// NULL in its place.
func TestAppendInvalidUTF8Refused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := testConn(t)
	for i, tc := range []struct {
		bad  string
		json bool
	}{{"\xff\xfe", false}, {"\xff\xfe", true}, {"long enough to point \xc3\x28 past", false}, {"long enough to point \xc3\x28 past", true}} {
		fields := []etl.Field{{Name: "s", Type: etl.TypeString}, {Name: "n", Type: etl.TypeInt}}
		ddl := "s VARCHAR, n BIGINT"
		if tc.json {
			fields, ddl = append(fields, etl.Field{Name: "doc", Type: etl.TypeJSON}), ddl+", doc JSON"
		}
		b := etl.NewBatch(etl.MustSchema(fields...), 3)
		for r, v := range []string{"fine", tc.bad, "ü"} {
			b.Cols[0].AppendString(v)
			b.Cols[1].AppendInt(int64(r))
			if tc.json {
				b.Cols[2].AppendNull()
			}
			b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: int64(r + 2)})
		}
		table := fmt.Sprintf("u%d", i)
		if _, err := conn.ExecContext(ctx, `CREATE TABLE `+table+` (`+ddl+`)`); err != nil {
			t.Fatal(err)
		}
		err := appendRows(ctx, conn, "", table, b, false)
		if err == nil || !strings.Contains(err.Error(), `row in.csv:3, field "s": text is not valid UTF-8`) {
			t.Errorf("%q (with JSON %v): %v, want an error naming row in.csv:3 and field \"s\"", tc.bad, tc.json, err)
		}
		var n int
		if err := conn.GetContext(ctx, &n, `SELECT count(*) FROM `+table); err != nil || n != 0 {
			t.Errorf("%q (with JSON %v): %d rows appended (%v), want none", tc.bad, tc.json, n, err)
		}
	}
}

// TestAppendTimeOutOfRange: a time past what a TIMESTAMP or DATE column
// holds fails the load naming its row and field, through the vectors and
// through duckdb-go's Appender (a JSON field sends the batch there).
func TestAppendTimeOutOfRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := testConn(t)
	for i, tc := range []struct {
		typ    etl.Type
		column string
		bad    time.Time
		json   bool
	}{
		{etl.TypeTimestamp, "TIMESTAMP", time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{etl.TypeTimestamp, "TIMESTAMP", time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{etl.TypeDate, "DATE", time.Date(-5877642, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{etl.TypeDate, "DATE", time.Date(-5877642, 1, 1, 0, 0, 0, 0, time.UTC), true},
	} {
		fields := []etl.Field{{Name: "seen", Type: tc.typ}}
		ddl := "seen " + tc.column
		if tc.json {
			fields, ddl = append(fields, etl.Field{Name: "doc", Type: etl.TypeJSON}), ddl+", doc JSON"
		}
		b := etl.NewBatch(etl.MustSchema(fields...), 2)
		b.Cols[0].AppendTime(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
		b.Cols[0].AppendTime(tc.bad)
		if tc.json {
			b.Cols[1].AppendJSON(map[string]any{})
			b.Cols[1].AppendNull()
		}
		b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: 2}, etl.Origin{File: "in.csv", Line: 3})
		table := fmt.Sprintf("t%d", i)
		if _, err := conn.ExecContext(ctx, `CREATE TABLE `+table+` (`+ddl+`)`); err != nil {
			t.Fatal(err)
		}
		err := appendRows(ctx, conn, "", table, b, false)
		if err == nil || !strings.Contains(err.Error(), `row in.csv:3, field "seen"`) {
			t.Errorf("%s of %s (with JSON %v): %v, want an error naming row in.csv:3 and field \"seen\"", tc.column, tc.bad, tc.json, err)
		}
	}
}

// testConn is a connection to a new DuckDB database, closed at the test's end.
func testConn(t *testing.T) *sqlx.Conn {
	t.Helper()
	db, err := sqlx.Open("duckdb", filepath.Join(t.TempDir(), "db.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Connx(context.Background())
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		db.Close()
	})
	return conn
}
