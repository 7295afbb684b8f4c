package postgres

import (
	"strings"
	"testing"

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
