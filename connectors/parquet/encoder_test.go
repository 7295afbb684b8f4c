package parquet

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pq "github.com/parquet-go/parquet-go"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// The file's columns keep the source's order (not alphabetical), and
// every value reads back exactly. The reader here is parquet-go's, which
// wrote the file; connectors/duckdb's TestParquetReadByDuckDB reads random
// files back with an independent reader, DuckDB's read_parquet.
func TestColumnOrderAndValues(t *testing.T) {
	t.Parallel()
	s := etl.MustSchema(
		etl.Field{Name: "zeta", Type: etl.TypeString}, etl.Field{Name: "Alpha", Type: etl.TypeFloat},
		etl.Field{Name: "mid dle", Type: etl.TypeInt}, etl.Field{Name: "a", Type: etl.TypeTimestamp},
		etl.Field{Name: "größe", Type: etl.TypeBool},
	)
	b := etl.NewBatch(s, 3)
	at := time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)
	floats := []float64{math.Copysign(0, -1), 0.1 + 0.2, 2789}
	for i, f := range floats {
		b.Cols[0].AppendString([]string{"z", "", "🦉"}[i])
		b.Cols[1].AppendFloat(f)
		b.Cols[2].AppendInt([]int64{math.MinInt64, 0, math.MaxInt64}[i])
		b.Cols[3].AppendTime(at)
		b.Cols[4].AppendBool(i == 1)
		b.Origins = append(b.Origins, etl.Origin{Line: int64(i + 2)})
	}
	var buf bytes.Buffer
	enc := NewEncoder(&buf, fileformat.EncodeOptions{File: "out.parquet"})
	if err := enc.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := enc.Finish(); err != nil {
		t.Fatal(err)
	}
	f, err := pq.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, field := range f.Schema().Fields() {
		names = append(names, field.Name())
	}
	if diff := cmp.Diff(s.Names(), names); diff != "" {
		t.Errorf("column order (-source +file):\n%s", diff)
	}
	rows := make([]pq.Row, 3)
	r := pq.NewReader(f)
	n, _ := r.ReadRows(rows)
	if n != 3 {
		t.Fatalf("read %d rows", n)
	}
	for i, row := range rows {
		if got := row[0].String(); got != b.Cols[0].Str[i] {
			t.Errorf("row %d zeta = %q", i, got)
		}
		if got := row[1].Double(); math.Float64bits(got) != math.Float64bits(floats[i]) {
			t.Errorf("row %d Alpha = %v, want %v (bits)", i, got, floats[i])
		}
		if got := row[2].Int64(); got != b.Cols[2].Int[i] {
			t.Errorf("row %d mid dle = %d", i, got)
		}
		if got := row[3].Int64(); got != at.UnixMicro() {
			t.Errorf("row %d a = %d", i, got)
		}
		if got := row[4].Boolean(); got != (i == 1) {
			t.Errorf("row %d größe = %v", i, got)
		}
	}
}
