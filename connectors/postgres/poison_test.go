package postgres

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestPoisonRowsAreQuarantined: a NUL byte in a text value (or \u0000 in
// json) made COPY fail the whole run, naming no row, on every later run.
// The row is refused alone, with its origin and field; the others load.
func TestPoisonRowsAreQuarantined(t *testing.T) {
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge} {
		tg := testTable(t, dsn, schema, sqlconn.TargetConfig{Table: "poison_" + mode, Mode: mode, Schema: sqlconn.SchemaEvolve, Key: []string{"id"}}, false)
		b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "note", Type: etl.TypeString}, etl.Field{Name: "meta", Type: etl.TypeJSON}), 4)
		for i, r := range []struct {
			note string
			meta any
		}{{"fine", map[string]any{"a": 1}}, {"nul\x00here", nil}, {"also fine", map[string]any{"k": "x\x00y"}}, {"last", []any{"ok"}}} {
			b.Cols[0].AppendInt(int64(i + 1))
			b.Cols[1].AppendString(r.note)
			if r.meta == nil {
				b.Cols[2].AppendNull()
			} else {
				b.Cols[2].AppendJSON(r.meta)
			}
			b.Origins = append(b.Origins, etl.Origin{File: "chat.csv", Line: int64(i + 2)})
		}
		b.Seq, b.Position = 1, etl.Position(`{}`)
		if err := writeBatches(t, tg, "poison_"+mode, b); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		rejects := tg.TakeRejects()
		var got []string
		for _, r := range rejects {
			got = append(got, r.Origin.String()+" "+r.Field)
		}
		if strings.Join(got, "; ") != "chat.csv:3 note; chat.csv:4 meta" || !strings.Contains(rejects[0].Reason, "NUL byte") {
			t.Errorf("%s: rejects %q (%+v)", mode, got, rejects)
		}
		var ids []int64
		if err := db.Select(&ids, `SELECT id FROM "`+schema+`"."poison_`+mode+`" ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		if len(ids) != 2 || ids[0] != 1 || ids[1] != 4 {
			t.Errorf("%s: table holds ids %v, want 1 and 4", mode, ids)
		}
	}
}

// TestPoisonRowsSearch loads random batches whose text and json values
// hold a NUL byte (or \u0000) here and there, nulls among them, in append
// and merge mode, and checks against a plain reference (a row is poison
// when a non-null value holds a NUL): every row is either in the table
// with its values or quarantined naming its origin and its first poison
// field, never both, never neither, and the load does not fail.
func TestPoisonRowsSearch(t *testing.T) {
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	round := 0
	rapid.Check(t, func(rt *rapid.T) {
		round++
		mode := rapid.SampledFrom([]string{sqlconn.ModeAppend, sqlconn.ModeMerge}).Draw(rt, "mode")
		table := fmt.Sprintf("poison_search_%d", round)
		tg := testTable(t, dsn, schema, sqlconn.TargetConfig{Table: table, Mode: mode, Schema: sqlconn.SchemaEvolve, Key: []string{"id"}}, false)
		n := rapid.IntRange(1, 40).Draw(rt, "rows")
		text := rapid.StringMatching(`[a-z\x00é]{0,6}`)
		b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "a", Type: etl.TypeString},
			etl.Field{Name: "b", Type: etl.TypeString}, etl.Field{Name: "meta", Type: etl.TypeJSON}), n)
		want := map[int64][2]string{} // id → a, b of the rows that load
		poison := map[string]string{} // origin → its first poison field
		for i := range n {
			id := int64(i + 1)
			origin := etl.Origin{File: "chat.csv", Line: id + 1}
			b.Cols[0].AppendInt(id)
			var vals [2]string
			bad := ""
			for c, name := range []string{"a", "b"} {
				if rapid.IntRange(0, 5).Draw(rt, "null") == 0 {
					b.Cols[1+c].AppendNull()
					vals[c] = "<null>"
					continue
				}
				s := text.Draw(rt, name)
				b.Cols[1+c].AppendString(s)
				vals[c] = s
				if strings.Contains(s, "\x00") && bad == "" {
					bad = name
				}
			}
			if rapid.IntRange(0, 5).Draw(rt, "meta null") == 0 {
				b.Cols[3].AppendNull()
			} else {
				s := text.Draw(rt, "meta")
				b.Cols[3].AppendJSON(map[string]any{"k": s})
				if strings.Contains(s, "\x00") && bad == "" {
					bad = "meta"
				}
			}
			b.Origins = append(b.Origins, origin)
			if bad != "" {
				poison[origin.String()] = bad
			} else {
				want[id] = vals
			}
		}
		b.Seq, b.Position = 1, etl.Position(`{}`)
		if err := writeBatches(t, tg, table, b); err != nil {
			rt.Fatalf("%s: %v", mode, err)
		}
		got := map[string]string{}
		for _, r := range tg.TakeRejects() {
			if _, dup := got[r.Origin.String()]; dup {
				rt.Errorf("%s quarantined twice", r.Origin)
			}
			got[r.Origin.String()] = r.Field
		}
		if !maps.Equal(got, poison) {
			rt.Fatalf("%s: quarantined %v, want %v", mode, got, poison)
		}
		loaded := map[int64][2]string{}
		var exists bool
		if err := db.Get(&exists, `SELECT to_regclass($1) IS NOT NULL`, `"`+schema+`"."`+table+`"`); err != nil {
			rt.Fatal(err)
		}
		if !exists { // every row was refused: nothing to create the table for
			if len(want) > 0 {
				rt.Fatalf("%s: no table, want %v", mode, want)
			}
			return
		}
		r, err := db.Query(`SELECT id, coalesce(a, '<null>'), coalesce(b, '<null>') FROM "` + schema + `"."` + table + `"`)
		if err != nil {
			rt.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var id int64
			var v [2]string
			if err := r.Scan(&id, &v[0], &v[1]); err != nil {
				rt.Fatal(err)
			}
			loaded[id] = v
		}
		if err := r.Err(); err != nil {
			rt.Fatal(err)
		}
		if !maps.Equal(loaded, want) {
			rt.Fatalf("%s: table holds %v, want %v", mode, loaded, want)
		}
	})
}
