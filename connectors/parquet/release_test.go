package parquet

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"

	pq "github.com/parquet-go/parquet-go"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestReleasedBatchesReadBack searches for a value the encoder still
// needs after Write returns, which ReleasesBatches says it never does:
// random batches of every type, their strings in one arena as the CSV
// decoder reads them, are each overwritten as soon as Write returns
// (arena bytes and vectors, as a source reusing a released batch does),
// and the file must still read back equal to a plain copy of the rows
// taken before the write. Values run from empty to longer than a page
// and than zstd's 128 KB block, so pages take both of its paths.
func TestReleasedBatchesReadBack(t *testing.T) {
	t.Parallel()
	types := []etl.Type{etl.TypeString, etl.TypeInt, etl.TypeFloat, etl.TypeBool, etl.TypeTimestamp, etl.TypeBytes}
	rapid.Check(t, func(rt *rapid.T) {
		ncols := rapid.IntRange(1, 5).Draw(rt, "columns")
		var fields []etl.Field
		for j := range ncols {
			fields = append(fields, etl.Field{Name: fmt.Sprintf("c%d", j), Type: rapid.SampledFrom(types).Draw(rt, "type")})
		}
		schema := etl.MustSchema(fields...)
		compression := rapid.SampledFrom(Compressions).Draw(rt, "compression")
		var buf bytes.Buffer
		enc := NewEncoder(&buf, fileformat.EncodeOptions{File: "out.parquet", Compression: compression})
		var want [][]any // per row, per column: nil for null
		for range rapid.IntRange(1, 4).Draw(rt, "batches") {
			n := rapid.IntRange(1, writeChunk+100).Draw(rt, "rows")
			var arena []byte
			b := etl.NewBatch(schema, n)
			type span struct{ col, row, off, len int }
			var spans []span
			for i := range n {
				row := make([]any, ncols)
				for j, f := range fields {
					c := &b.Cols[j]
					if rapid.IntRange(0, 7).Draw(rt, "null") == 0 {
						c.AppendNull()
						continue
					}
					switch f.Type {
					case etl.TypeString, etl.TypeBytes:
						s := randomText(rt)
						spans = append(spans, span{j, i, len(arena), len(s)})
						arena = append(arena, s...)
						row[j] = s
						c.AppendString("") // pointed into the arena below
					case etl.TypeInt:
						v := rapid.Int64().Draw(rt, "int")
						c.AppendInt(v)
						row[j] = v
					case etl.TypeFloat:
						v := rapid.Float64().Filter(func(f float64) bool { return !math.IsNaN(f) }).Draw(rt, "float")
						c.AppendFloat(v)
						row[j] = math.Float64bits(v)
					case etl.TypeBool:
						v := rapid.Bool().Draw(rt, "bool")
						c.AppendBool(v)
						row[j] = v
					case etl.TypeTimestamp:
						v := rapid.Int64Range(-62135596800000000, 253402300799999999).Draw(rt, "micros")
						c.AppendTime(time.UnixMicro(v).UTC())
						row[j] = v
					}
				}
				b.Origins = append(b.Origins, etl.Origin{Line: int64(len(want) + 2)})
				want = append(want, row)
			}
			// The strings point into the arena, which is only now complete.
			for _, s := range spans {
				text := unsafe.String(unsafe.SliceData(arena[s.off:]), s.len)
				b.Cols[s.col].Str[s.row] = text
			}
			if err := enc.Write(b); err != nil {
				rt.Fatal(err)
			}
			// Released: the source reads later rows into the same memory.
			for i := range arena {
				arena[i] = '#'
			}
			for j := range b.Cols {
				c := &b.Cols[j]
				for i := range c.Null {
					c.Null[i] = !c.Null[i]
				}
				for i := range c.Int {
					c.Int[i] = ^c.Int[i]
				}
				for i := range c.Float {
					c.Float[i] = -c.Float[i] + 1
				}
				for i := range c.Bool {
					c.Bool[i] = !c.Bool[i]
				}
				for i := range c.Time {
					c.Time[i] = c.Time[i].Add(time.Hour)
				}
			}
		}
		if err := enc.Finish(); err != nil {
			rt.Fatal(err)
		}
		f, err := pq.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			rt.Fatal(err)
		}
		if f.NumRows() != int64(len(want)) {
			rt.Fatalf("file has %d rows, want %d", f.NumRows(), len(want))
		}
		r := pq.NewReader(f)
		rows := make([]pq.Row, 1)
		for i, row := range want {
			if n, err := r.ReadRows(rows); n != 1 {
				rt.Fatalf("row %d: read %d rows: %v", i, n, err)
			}
			for j, v := range row {
				if got := readBack(rows[0][j], fields[j].Type); got != v {
					rt.Fatalf("row %d column %d (%s): got %.40v, want %.40v", i, j, fields[j].Type, got, v)
				}
			}
		}
	})
}

// randomText is a string value: usually short, now and then longer than a
// page (64 KB) or a zstd block (128 KB), repetitive enough to compress.
func randomText(rt *rapid.T) string {
	switch rapid.IntRange(0, 400).Draw(rt, "size") {
	case 0:
		return strings.Repeat(rapid.StringMatching(`[a-z]{1,8}`).Draw(rt, "unit"), rapid.IntRange(9_000, 20_000).Draw(rt, "repeat"))
	default:
		return rapid.StringMatching(`[a-z,"'\n é🦉]{0,24}`).Draw(rt, "text")
	}
}

// readBack is v as the test's plain reference holds it (nil for null).
func readBack(v pq.Value, t etl.Type) any {
	if v.IsNull() {
		return nil
	}
	switch t {
	case etl.TypeInt, etl.TypeTimestamp:
		return v.Int64()
	case etl.TypeFloat:
		return math.Float64bits(v.Double())
	case etl.TypeBool:
		return v.Boolean()
	}
	return string(v.ByteArray())
}
