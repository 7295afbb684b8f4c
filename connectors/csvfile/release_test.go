package csvfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat/fileformattest"
	"github.com/nightjar-etl/nightjar/etl"
)

// batchText is a batch's rows as text: origin, then each field (null as
// \N), for comparisons.
func batchText(b *etl.Batch) []string {
	rows := make([]string, b.Len())
	for i := range rows {
		var sb strings.Builder
		sb.WriteString(b.Origins[i].String())
		for j := range b.Cols {
			if v, ok := b.Cols[j].Text(i); ok {
				fmt.Fprintf(&sb, "|%q", v)
			} else {
				sb.WriteString(`|\N`)
			}
		}
		rows[i] = sb.String()
	}
	return rows
}

// TestReleasedVectorsKeepEveryRow decodes random CSV (rows of varying
// width and length, nulls, quoted text with line breaks) in random batch
// sizes, releasing each batch a random number of batches after it was
// decoded, as a run does once its targets are done with it, so that later
// batches are built on its vectors, and read into its chunks (a few bytes
// each in most cases, so that batches share chunks and records cross
// them). Each batch must still hold the rows it
// was decoded with when it is released, and the rows must be those of a
// decode that releases nothing.
func TestReleasedVectorsKeepEveryRow(t *testing.T) {
	reused := 0
	rapid.Check(t, func(rt *rapid.T) {
		fileformattest.DrawChunkSize(t, rt, &chunkSize)
		width := rapid.IntRange(1, 4).Draw(rt, "width")
		cell := rapid.SampledFrom([]string{"", `""`, "a", "bb", "x y", `"q, r"`, "\"multi\nline\"", `"say ""hi"""`, "é"})
		var in strings.Builder
		for j := range width {
			if j > 0 {
				in.WriteByte(',')
			}
			fmt.Fprintf(&in, "c%d", j)
		}
		in.WriteByte('\n')
		for range rapid.IntRange(0, 40).Draw(rt, "rows") {
			for j := range width {
				if j > 0 {
					in.WriteByte(',')
				}
				in.WriteString(cell.Draw(rt, "cell"))
			}
			in.WriteByte('\n')
		}
		opts := fileformat.DecodeOptions{File: "in.csv", CSV: fileformat.DefaultCSVOptions()}
		opts.CSV.Delimiter = ","
		want, err := decodeAll(t, in.String(), opts, 10000)
		if err != nil {
			rt.Fatal(err)
		}

		d, err := NewDecoder(strings.NewReader(in.String()), opts)
		if err != nil {
			rt.Fatal(err)
		}
		type heldBatch struct {
			b    *etl.Batch
			rows []string
		}
		var held []heldBatch
		var got decoded
		release := func(n int) {
			for _, h := range held[:n] {
				if diff := cmp.Diff(h.rows, batchText(h.b)); diff != "" {
					rt.Fatalf("input %q: a batch changed before its release (-decoded +at release):\n%s", in.String(), diff)
				}
				h.b.Release()
			}
			held = held[n:]
		}
		for {
			before := d.free.Len()
			b, err := d.Decode(context.Background(), rapid.IntRange(1, 6).Draw(rt, "batch size"))
			if err != nil && !errors.Is(err, io.EOF) {
				rt.Fatal(err)
			}
			if d.free.Len() < before {
				reused++
			}
			got.add(b)
			held = append(held, heldBatch{b, batchText(b)})
			release(rapid.IntRange(0, len(held)).Draw(rt, "release"))
			if errors.Is(err, io.EOF) {
				break
			}
		}
		release(len(held))
		if p := d.sc.pool; p.Free() != min(p.Made()-1, fileformat.MaxFreeChunks) {
			rt.Fatalf("input %q: %d chunks made, %d back in the pool once every batch was released; want all but the reader's", in.String(), p.Made(), p.Free())
		}
		if diff := cmp.Diff(want, got); diff != "" {
			rt.Fatalf("input %q: rows (-nothing released +released):\n%s", in.String(), diff)
		}
	})
	if reused == 0 {
		t.Error("no batch was built on released vectors: the test checked nothing")
	}
}
