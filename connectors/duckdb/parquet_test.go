package duckdb

import (
	"bytes"
	"database/sql"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/connectors/parquet"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestParquetReadByDuckDB reads the Parquet files nightjar writes with an
// independent reader, DuckDB's own read_parquet (not parquet-go, which
// writes them): random values of each type the Parquet target writes
// arrive exactly (floats bit for bit, -0 and all), in the source's column
// order, nulls where the batch had them.
func TestParquetReadByDuckDB(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	schema := etl.MustSchema(
		etl.Field{Name: "zeta", Type: etl.TypeString},
		etl.Field{Name: "Alpha", Type: etl.TypeFloat},
		etl.Field{Name: "mid dle", Type: etl.TypeInt},
		etl.Field{Name: "at", Type: etl.TypeTimestamp},
		etl.Field{Name: "größe", Type: etl.TypeBool},
		etl.Field{Name: "bin", Type: etl.TypeBytes},
	)
	check := 0
	rapid.Check(t, func(rt *rapid.T) {
		check++
		n := rapid.IntRange(1, 60).Draw(rt, "rows")
		b := etl.NewBatch(schema, n)
		for i := range n {
			null := func(col string) bool { return rapid.IntRange(0, 9).Draw(rt, col+" null") == 0 }
			if null("zeta") {
				b.Cols[0].AppendNull()
			} else {
				b.Cols[0].AppendString(rapid.StringMatching(`[a-z,"'\n é🦉]{0,12}`).Draw(rt, "zeta"))
			}
			if null("Alpha") {
				b.Cols[1].AppendNull()
			} else {
				b.Cols[1].AppendFloat(rapid.Float64().Filter(func(f float64) bool { return !math.IsNaN(f) }).Draw(rt, "Alpha"))
			}
			b.Cols[2].AppendInt(rapid.Int64().Draw(rt, "mid dle"))
			b.Cols[3].AppendTime(time.UnixMicro(rapid.Int64Range(-62135596800000000, 253402300799999999).Draw(rt, "at")).UTC())
			b.Cols[4].AppendBool(rapid.Bool().Draw(rt, "größe"))
			b.Cols[5].AppendString(string(rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(rt, "bin")))
			b.Origins = append(b.Origins, etl.Origin{Line: int64(i + 2)})
		}
		var buf bytes.Buffer
		enc := parquet.NewEncoder(&buf, fileformat.EncodeOptions{File: "out.parquet"})
		if err := enc.Write(b); err != nil {
			rt.Fatal(err)
		}
		if err := enc.Finish(); err != nil {
			rt.Fatal(err)
		}
		path := filepath.Join(dir, "out.parquet")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			rt.Fatal(err)
		}
		rows, err := db.Query(`SELECT * FROM read_parquet('` + strings.ReplaceAll(path, "'", "''") + `')`)
		if err != nil {
			rt.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			rt.Fatal(err)
		}
		if strings.Join(cols, "|") != strings.Join(schema.Names(), "|") {
			rt.Fatalf("DuckDB reads the columns %q, want the source's order %q", cols, schema.Names())
		}
		i := 0
		for rows.Next() {
			var (
				zeta  sql.NullString
				bin   []byte
				alpha sql.NullFloat64
				mid   int64
				at    time.Time
				big   bool
			)
			if err := rows.Scan(&zeta, &alpha, &mid, &at, &big, &bin); err != nil {
				rt.Fatalf("row %d: %v", i, err)
			}
			if c := b.Cols[0]; c.Null[i] != !zeta.Valid || (zeta.Valid && zeta.String != c.Str[i]) {
				rt.Fatalf("row %d: zeta %q (valid %v), want %q (null %v)", i, zeta.String, zeta.Valid, c.Str[i], c.Null[i])
			}
			if c := b.Cols[1]; c.Null[i] != !alpha.Valid || (alpha.Valid && math.Float64bits(alpha.Float64) != math.Float64bits(c.Float[i])) {
				rt.Fatalf("row %d: Alpha %v (valid %v), want %v (null %v)", i, alpha.Float64, alpha.Valid, c.Float[i], c.Null[i])
			}
			if mid != b.Cols[2].Int[i] {
				rt.Fatalf("row %d: mid dle %d, want %d", i, mid, b.Cols[2].Int[i])
			}
			if !at.Equal(b.Cols[3].Time[i]) {
				rt.Fatalf("row %d: at %v, want %v", i, at, b.Cols[3].Time[i])
			}
			if big != b.Cols[4].Bool[i] {
				rt.Fatalf("row %d: größe %v, want %v", i, big, b.Cols[4].Bool[i])
			}
			if !bytes.Equal(bin, []byte(b.Cols[5].Str[i])) {
				rt.Fatalf("row %d: bin %x, want %x", i, bin, b.Cols[5].Str[i])
			}
			i++
		}
		if err := rows.Err(); err != nil {
			rt.Fatal(err)
		}
		if i != n {
			rt.Fatalf("DuckDB read %d rows, want %d", i, n)
		}
	})
	t.Logf("%d files read back by DuckDB", check)
}
