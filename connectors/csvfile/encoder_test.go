package csvfile

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestCSVReadByPython writes random rows of text, float, bytes and local
// timestamp fields (in that order, which is not alphabetical) and reads
// the file back with Python's csv module, an independent reader: the
// header keeps the fields' order, every text cell reads back as written,
// a float's text parses to the same bits, bytes decode from base64 to the
// same bytes and a local timestamp has no zone.
func TestCSVReadByPython(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: no independent CSV reader")
	}
	schema := etl.MustSchema(
		etl.Field{Name: "zeta", Type: etl.TypeString},
		etl.Field{Name: "f", Type: etl.TypeFloat},
		etl.Field{Name: "bin", Type: etl.TypeBytes},
		etl.Field{Name: "at", Type: etl.TypeLocalTimestamp},
	)
	// Random values from rapid's generators, one Python run per batch
	// (a Python per rapid check would take minutes).
	genText := rapid.StringMatching(`[a-z,"\n é]{1,12}`)
	genFloat := rapid.Float64().Filter(func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) })
	genBytes := rapid.SliceOfN(rapid.Byte(), 0, 20)
	genMicros := rapid.Int64Range(-62135596800000000, 253402300799999999)
	for seed := range 5 {
		rt := t
		n := 200
		b := etl.NewBatch(schema, n)
		for i := range n {
			k := seed*n + i
			b.Cols[0].AppendString(genText.Example(k))
			b.Cols[1].AppendFloat(genFloat.Example(k))
			b.Cols[2].AppendString(string(genBytes.Example(k)))
			b.Cols[3].AppendTime(time.UnixMicro(genMicros.Example(k)).UTC())
			b.Origins = append(b.Origins, etl.Origin{Line: int64(i + 2)})
		}
		var buf bytes.Buffer
		enc := NewEncoder(&buf, ',', fileformat.EncodeOptions{File: "out.csv"})
		if err := enc.Write(b); err != nil {
			rt.Fatal(err)
		}
		if err := enc.Flush(); err != nil {
			rt.Fatal(err)
		}
		cmd := exec.Command(python, "-c", "import csv, json, sys\nprint(json.dumps(list(csv.reader(sys.stdin))))")
		cmd.Stdin = &buf
		out, err := cmd.Output()
		if err != nil {
			rt.Fatalf("python3: %v", err)
		}
		var rows [][]string
		if err := json.Unmarshal(out, &rows); err != nil {
			rt.Fatal(err)
		}
		if len(rows) != n+1 {
			rt.Fatalf("python read %d rows, want a header and %d", len(rows), n)
		}
		if got := rows[0]; len(got) != 4 || got[0] != "zeta" || got[1] != "f" || got[2] != "bin" || got[3] != "at" {
			rt.Fatalf("header %q, want the schema's order zeta, f, bin, at", got)
		}
		for i, row := range rows[1:] {
			if row[0] != b.Cols[0].Str[i] {
				rt.Fatalf("row %d: text %q, want %q", i+1, row[0], b.Cols[0].Str[i])
			}
			f, err := strconv.ParseFloat(row[1], 64)
			if err != nil || math.Float64bits(f) != math.Float64bits(b.Cols[1].Float[i]) {
				rt.Fatalf("row %d: float %q, want %v", i+1, row[1], b.Cols[1].Float[i])
			}
			bin, err := base64.StdEncoding.DecodeString(row[2])
			if err != nil || string(bin) != b.Cols[2].Str[i] {
				rt.Fatalf("row %d: bytes %q (%v), want base64 of %x", i+1, row[2], err, b.Cols[2].Str[i])
			}
			at, err := time.Parse(etl.LocalLayout, row[3])
			if err != nil || !at.Equal(b.Cols[3].Time[i]) {
				rt.Fatalf("row %d: local timestamp %q (%v), want %s", i+1, row[3], err, b.Cols[3].Time[i].Format(etl.LocalLayout))
			}
		}
	}
}

// TestEncodeDecodeRoundTrip writes random text with each delimiter and
// reads it back with the decoder: every value, null and "" apart, comes
// back as written. The text is drawn from the bytes that make a value
// quoted (quote, CR, LF, every delimiter), a BOM, and plain bytes.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		delim := rapid.SampledFrom([]string{",", ";", "tab", "|"}).Draw(rt, "delimiter")
		text := rapid.SliceOfN(rapid.SampledFrom([]string{`"`, "\r", "\n", "\r\n", ",", ";", "\t", "|", "\uFEFF", "a", " ", "é", "x"}), 0, 8)
		schema := etl.MustSchema(etl.Field{Name: "a", Type: etl.TypeString}, etl.Field{Name: "b", Type: etl.TypeString})
		n := rapid.IntRange(1, 30).Draw(rt, "rows")
		b := etl.NewBatch(schema, n)
		for i := range n {
			for c := range b.Cols {
				if rapid.IntRange(0, 5).Draw(rt, "null") == 0 {
					b.Cols[c].AppendNull()
				} else {
					b.Cols[c].AppendString(strings.Join(text.Draw(rt, "text"), ""))
				}
			}
			b.Origins = append(b.Origins, etl.Origin{Line: int64(i + 2)})
		}
		opts := fileformat.DefaultCSVOptions()
		opts.Delimiter = delim
		d, err := opts.DelimiterByte()
		if err != nil {
			rt.Fatal(err)
		}
		var buf bytes.Buffer
		enc := NewEncoder(&buf, d, fileformat.EncodeOptions{File: "out.csv"})
		if err := enc.Write(b); err != nil {
			rt.Fatal(err)
		}
		dec, err := NewDecoder(bytes.NewReader(buf.Bytes()), fileformat.DecodeOptions{File: "out.csv", CSV: opts})
		if err != nil {
			rt.Fatal(err)
		}
		got, err := dec.Decode(context.Background(), n+1)
		if !errors.Is(err, io.EOF) {
			rt.Fatalf("decode: %v, want the rows and io.EOF", err)
		}
		if len(got.Rejects) > 0 || got.Len() != n {
			rt.Fatalf("read %d rows and rejects %v from %q, want %d rows", got.Len(), got.Rejects, buf.String(), n)
		}
		for i := range n {
			for c := range b.Cols {
				want, wnull := b.Cols[c].Str[i], b.Cols[c].Null[i]
				if g, gnull := got.Cols[c].Str[i], got.Cols[c].Null[i]; g != want || gnull != wnull {
					rt.Fatalf("row %d field %d: read %q (null %v), wrote %q (null %v), in %q", i, c, g, gnull, want, wnull, buf.String())
				}
			}
		}
	})
}
