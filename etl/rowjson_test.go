package etl_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
)

// rowJSONReference is RowJSON as it was before its fast paths: each name
// and value through encoding/json.
func rowJSONReference(b *etl.Batch, i int) string {
	buf := []byte{'{'}
	for j := range b.Cols {
		if j > 0 {
			buf = append(buf, ',')
		}
		name, _ := json.Marshal(b.Schema.Field(j).Name)
		buf = append(append(buf, name...), ':')
		v, err := json.Marshal(b.Cols[j].Value(i))
		if err != nil {
			v = []byte("null")
		}
		buf = append(buf, v...)
	}
	return string(append(buf, '}'))
}

// TestRowJSONMatchesEncodingJSON searches random batches (every storage,
// nulls, names and strings of random bytes: HTML characters, control
// characters, invalid UTF-8, U+2028) for a row whose RowJSON differs from
// encoding/json's.
func TestRowJSONMatchesEncodingJSON(t *testing.T) {
	types := []etl.Type{etl.TypeString, etl.TypeInt, etl.TypeFloat, etl.TypeBool, etl.TypeTimestamp,
		etl.TypeDate, etl.TypeJSON, etl.TypeBytes, etl.TypeDecimal, etl.TypeUUID}
	text := rapid.OneOf(
		rapid.StringMatching(`[ -~]{0,12}`),
		rapid.Custom(func(t *rapid.T) string {
			parts := rapid.SliceOfN(rapid.SampledFrom([]string{"a", " ", "<", ">", "&", `"`, `\`, "\n", "\x00", "\x1f", "\x7f", "\x80", "é", "\u2028", "\xff"}), 0, 8).Draw(t, "parts")
			return strings.Join(parts, "")
		}),
		rapid.String(),
	)
	rapid.Check(t, func(t *rapid.T) {
		ncols := rapid.IntRange(1, 5).Draw(t, "cols")
		fields := make([]etl.Field, ncols)
		seen := map[string]bool{}
		for j := range fields {
			name := text.Filter(func(s string) bool { return !seen[s] }).Draw(t, "name")
			seen[name] = true
			fields[j] = etl.Field{Name: name, Type: rapid.SampledFrom(types).Draw(t, "type")}
		}
		schema, err := etl.NewSchema(fields...)
		if err != nil {
			t.Skip(err)
		}
		rows := rapid.IntRange(1, 4).Draw(t, "rows")
		b := etl.NewBatch(schema, rows)
		for range rows {
			for j := range b.Cols {
				c := &b.Cols[j]
				if rapid.IntRange(0, 5).Draw(t, "null") == 0 {
					c.AppendNull()
					continue
				}
				switch c.Type {
				case etl.TypeInt:
					c.AppendInt(rapid.Int64().Draw(t, "int"))
				case etl.TypeFloat:
					c.AppendFloat(rapid.Float64().Draw(t, "float"))
				case etl.TypeBool:
					c.AppendBool(rapid.Bool().Draw(t, "bool"))
				case etl.TypeTimestamp, etl.TypeDate:
					c.AppendTime(time.Unix(rapid.Int64Range(-1e10, 1e10).Draw(t, "unix"), 0).UTC())
				case etl.TypeJSON:
					c.AppendJSON(map[string]any{"k": text.Draw(t, "json")})
				default:
					c.AppendString(text.Draw(t, "str"))
				}
			}
			b.Origins = append(b.Origins, etl.Origin{})
		}
		for i := range rows {
			if got, want := string(b.RowJSON(i)), rowJSONReference(b, i); got != want {
				t.Fatalf("row %d: RowJSON %s, encoding/json %s", i, got, want)
			}
		}
	})
}
