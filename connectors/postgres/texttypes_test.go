package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestTypesWithoutAFieldTypeLandAsText checks the stated rule of
// docs/types.md for PostgreSQL types nightjar has no field type for
// (json[] and name[] arrays, interval, inet, cidr, ranges): the source reads each as a
// string field holding PostgreSQL's own text for the value, exactly what
// the type's output function gives (what psql shows), nulls as nulls. Random values, against that
// reference read by the server itself.
func TestTypesWithoutAFieldTypeLandAsText(t *testing.T) {
	dsn := testDSN(t)
	schema, db := freshSchema(t, dsn)
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE t (id int PRIMARY KEY, arr jsonb[], tarr name[], iv interval, ip inet, net cidr, rng int4range)`); err != nil {
		t.Fatal(err)
	}
	cols := []string{"arr", "tarr", "iv", "ip", "net", "rng"}
	rapid.Check(t, func(rt *rapid.T) {
		if _, err := db.Exec(`TRUNCATE t`); err != nil {
			rt.Fatal(err)
		}
		n := rapid.IntRange(1, 20).Draw(rt, "rows")
		var vals []string
		var args []any
		for id := range n {
			lit := func(col string, gen *rapid.Generator[string]) any {
				if rapid.IntRange(0, 5).Draw(rt, col+" null") == 0 {
					return nil
				}
				return gen.Draw(rt, col)
			}
			ints := rapid.Custom(func(rt *rapid.T) string {
				var parts []string
				for _, v := range rapid.SliceOfN(rapid.Int32(), 0, 5).Draw(rt, "ints") {
					parts = append(parts, fmt.Sprint(v))
				}
				return "{" + strings.Join(parts, ",") + "}"
			})
			texts := rapid.Custom(func(rt *rapid.T) string {
				var parts []string
				for _, v := range rapid.SliceOfN(rapid.StringMatching(`[a-z ,"{}\\é]{0,6}`), 0, 4).Draw(rt, "texts") {
					parts = append(parts, `"`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)+`"`)
				}
				return "{" + strings.Join(parts, ",") + "}"
			})
			ivs := rapid.Custom(func(rt *rapid.T) string {
				return fmt.Sprintf("%d mons %d days %d microseconds", rapid.IntRange(-1000, 1000).Draw(rt, "mons"), rapid.IntRange(-1000, 1000).Draw(rt, "days"), rapid.Int64Range(-1e12, 1e12).Draw(rt, "us"))
			})
			ips := rapid.Custom(func(rt *rapid.T) string {
				return fmt.Sprintf("%d.%d.%d.%d/%d", rapid.IntRange(0, 255).Draw(rt, "a"), rapid.IntRange(0, 255).Draw(rt, "b"), rapid.IntRange(0, 255).Draw(rt, "c"), rapid.IntRange(0, 255).Draw(rt, "d"), rapid.IntRange(8, 32).Draw(rt, "bits"))
			})
			nets := rapid.SampledFrom([]string{"10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "::1/128"})
			rngs := rapid.Custom(func(rt *rapid.T) string {
				lo := rapid.IntRange(-100, 100).Draw(rt, "lo")
				return fmt.Sprintf("[%d,%d)", lo, lo+rapid.IntRange(0, 50).Draw(rt, "len"))
			})
			p := len(args)
			vals = append(vals, fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $%d, $%d)", p+1, p+2, p+3, p+4, p+5, p+6, p+7))
			args = append(args, id, lit("arr", ints), lit("tarr", texts), lit("iv", ivs), lit("ip", ips), lit("net", nets), lit("rng", rngs))
		}
		if _, err := db.Exec(`INSERT INTO t VALUES `+strings.Join(vals, ", "), args...); err != nil {
			rt.Fatal(err)
		}
		want := map[int64]map[string]any{}
		// format('%s') is each type's output function, what psql shows
		// (an inet's /32 left out), which ::text is not for inet.
		sel := []string{"id"}
		for _, c := range cols {
			sel = append(sel, fmt.Sprintf(`CASE WHEN %[1]s IS NULL THEN NULL ELSE format('%%s', %[1]s) END AS %[1]s`, c))
		}
		rows, err := db.Queryx(`SELECT ` + strings.Join(sel, ", ") + ` FROM t`)
		if err != nil {
			rt.Fatal(err)
		}
		for rows.Next() {
			m := map[string]any{}
			if err := rows.MapScan(m); err != nil {
				rt.Fatal(err)
			}
			want[m["id"].(int64)] = m
		}
		rows.Close()

		src, err := NewSource(&SourceConfig{SourceConfig: sqlconn.SourceConfig{Table: "t", Key: sqlconn.Names{"id"}}, SchemaName: schema}, etl.BuildEnv{Connection: connection(dsn)})
		if err != nil {
			rt.Fatal(err)
		}
		if err := src.Open(ctx, etl.SourceEnv{Job: "j", BatchSize: 1000}); err != nil {
			rt.Fatal(err)
		}
		defer src.Close(ctx)
		got := 0
		for {
			b, err := src.Next(ctx)
			if err == etl.ErrEndOfInput {
				break
			}
			if err != nil {
				rt.Fatal(err)
			}
			for _, c := range cols {
				i := b.Schema.Index(c)
				if i < 0 || b.Schema.Field(i).Type != etl.TypeString {
					rt.Fatalf("column %s is not read as a string field (the stated rule): schema %v", c, b.Schema)
				}
			}
			for i := range b.Len() {
				row := b.Row(i)
				w := want[row["id"].(int64)]
				for _, c := range cols {
					if fmt.Sprint(row[c]) != fmt.Sprint(w[c]) {
						rt.Fatalf("id %v column %s: read %#v, want PostgreSQL's text %#v", row["id"], c, row[c], w[c])
					}
				}
				got++
			}
		}
		if got != n {
			rt.Fatalf("read %d rows, want %d", got, n)
		}
	})
}
