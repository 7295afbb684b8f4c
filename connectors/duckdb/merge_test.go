package duckdb

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
)

// TestLoadsMatchAReference searches the load paths DuckDB adds (the
// Appender straight into the table; the staging table and its upsert, the
// last row of a key repeated within a batch winning; the cast from a
// staged text field to a column of another type) with random batches,
// keys, nulls and commit points, and in appends batches with a third field
// now and then (a column added within a transaction that appended rows
// before it), against a plain map of what the table must hold.
func TestLoadsMatchAReference(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := sqlx.Open("duckdb", filepath.Join(dir, "db.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check := 0
	rapid.Check(t, func(rt *rapid.T) {
		check++
		table := fmt.Sprintf("t%d", check)
		mode := rapid.SampledFrom([]string{ModeAppend, ModeMerge}).Draw(rt, "mode")
		// Int columns created before the first load take the text
		// fields through the stage, cast.
		typed := rapid.Bool().Draw(rt, "typed")
		if typed {
			db.MustExec(`CREATE TABLE ` + table + ` ("k" BIGINT, "v" BIGINT)`)
		}
		cfg := TargetConfig{Table: table, Mode: mode, Schema: SchemaEvolve, CommitRows: rapid.IntRange(1, 40).Draw(rt, "commit_rows")}
		if mode == ModeMerge {
			cfg.Key = []string{"k"}
		}
		tg, err := New(&cfg, etl.BuildEnv{BaseDir: dir, Connection: &etl.Connection{Name: "duck", Type: "duckdb", Config: &ConnConfig{Path: "db.duckdb"}}})
		if err != nil {
			rt.Fatal(err)
		}
		ctx := context.Background()
		if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: table, RunID: 1, Syncs: true}); err != nil {
			rt.Fatal(err)
		}
		defer tg.Close()
		type row struct{ k, v, w string }
		var rows []row // appended, in order; w "" where the batch had no w
		latest := map[string]string{}
		wideSeen := false
		batches := rapid.IntRange(1, 6).Draw(rt, "batches")
		for seq := 1; seq <= batches; seq++ {
			n := rapid.IntRange(0, 30).Draw(rt, "rows")
			fields := []etl.Field{{Name: "k", Type: etl.TypeString}, {Name: "v", Type: etl.TypeString}}
			wide := mode == ModeAppend && !typed && rapid.IntRange(0, 2).Draw(rt, "wide") == 0
			if wide {
				fields = append(fields, etl.Field{Name: "w", Type: etl.TypeString})
				wideSeen = true
			}
			b := etl.NewBatch(etl.MustSchema(fields...), n)
			for r := range n {
				k := fmt.Sprint(rapid.IntRange(0, 8).Draw(rt, "k"))
				v := "<null>"
				b.Cols[0].AppendString(k)
				if rapid.IntRange(0, 5).Draw(rt, "null") == 0 {
					b.Cols[1].AppendNull()
				} else {
					v = fmt.Sprint(rapid.IntRange(0, 1000).Draw(rt, "v"))
					b.Cols[1].AppendString(v)
				}
				w := ""
				if wide {
					w = fmt.Sprint("w", r)
					b.Cols[2].AppendString(w)
				}
				b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: int64(r + 2)})
				rows = append(rows, row{k, v, w})
				latest[k] = v
			}
			b.Seq = int64(seq)
			b.Position = etl.Position(fmt.Sprintf(`{"b":%d}`, seq))
			if err := tg.Write(ctx, b); err != nil {
				rt.Fatalf("write batch %d: %v", seq, err)
			}
			if tg.(etl.Syncer).SyncDue() {
				if err := tg.(etl.Syncer).Sync(ctx); err != nil {
					rt.Fatalf("sync: %v", err)
				}
			}
		}
		if err := tg.Commit(ctx); err != nil {
			rt.Fatalf("commit: %v", err)
		}
		want := map[string]int{} // "k/v/w" → copies
		for _, r := range rows {
			w := r.w
			if w == "" {
				w = "<null>"
			}
			want[r.k+"/"+r.v+"/"+w]++
		}
		if mode == ModeMerge {
			want = map[string]int{}
			for k, v := range latest {
				want[k+"/"+v+"/<null>"] = 1
			}
		}
		wcol := `'<null>'`
		if wideSeen {
			wcol = `coalesce(w, '<null>')`
		}
		got := map[string]int{}
		res, err := db.Query(`SELECT CAST(k AS VARCHAR), coalesce(CAST(v AS VARCHAR), '<null>'), ` + wcol + ` FROM ` + table)
		if err != nil {
			if len(want) == 0 && strings.Contains(err.Error(), "does not exist") {
				return
			}
			rt.Fatal(err)
		}
		defer res.Close()
		for res.Next() {
			var k, v, w string
			if err := res.Scan(&k, &v, &w); err != nil {
				rt.Fatal(err)
			}
			got[k+"/"+v+"/"+w]++
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			rt.Fatalf("table holds %v, want %v", got, want)
		}
	})
}

// TestCastFailureNamesRowAndField: text staged for a column of another
// type that cannot take it fails the batch naming the row's origin, the
// field, the value and the type, and loads none of its rows.
func TestCastFailureNamesRowAndField(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{ModeAppend, ModeMerge} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db, err := sqlx.Open("duckdb", filepath.Join(dir, "db.duckdb"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.MustExec(`CREATE TABLE t ("k" VARCHAR, "score" BIGINT)`)
			cfg := TargetConfig{Table: "t", Mode: mode, Schema: SchemaEvolve}
			if mode == ModeMerge {
				cfg.Key = []string{"k"}
			}
			tg, err := New(&cfg, etl.BuildEnv{BaseDir: dir, Connection: &etl.Connection{Name: "duck", Type: "duckdb", Config: &ConnConfig{Path: "db.duckdb"}}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := tg.Open(ctx, etl.TargetEnv{Job: "j", Name: "t", RunID: 1}); err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			b := etltestBatch([]string{"k", "score"}, []string{"a", "12"}, []string{"b", "n/a"}, []string{"c", "7"})
			err = tg.Write(ctx, b)
			if err == nil || !strings.Contains(err.Error(), `row in.csv:3, field "score": "n/a" is not a value of the column's type BIGINT`) {
				t.Fatalf("Write: %v, want the row, field, value and type named", err)
			}
			var n int
			if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 0 {
				t.Errorf("table holds %d rows (%v), want none", n, err)
			}
		})
	}
}

func etltestBatch(fields []string, rows ...[]string) *etl.Batch {
	fs := make([]etl.Field, len(fields))
	for i, f := range fields {
		fs[i] = etl.Field{Name: f, Type: etl.TypeString}
	}
	b := etl.NewBatch(etl.MustSchema(fs...), len(rows))
	for r, row := range rows {
		for c, v := range row {
			b.Cols[c].AppendString(v)
		}
		b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: int64(r + 2)})
	}
	b.Seq = 1
	b.Position = etl.Position(`{"b":1}`)
	return b
}
