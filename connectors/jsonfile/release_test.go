package jsonfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat/fileformattest"
	"github.com/nightjar-etl/nightjar/etl"
)

// batchText is a batch's schema, rows (origin, then each field: null as
// <null>, json as JSON) and rejects as text, for comparisons.
func batchText(b *etl.Batch) []string {
	out := []string{b.Schema.String()}
	for i := range b.Len() {
		var sb strings.Builder
		sb.WriteString(b.Origins[i].String())
		for j := range b.Cols {
			fmt.Fprintf(&sb, "|%q", cellText(b, i, j))
		}
		out = append(out, sb.String())
	}
	for _, r := range b.Rejects {
		out = append(out, fmt.Sprintf("reject %s %s %s %q %q", r.Origin, r.Step, r.Field, r.Reason, r.Value))
	}
	return out
}

// cellText is row i's value of column j as text: null as <null>, json as
// JSON.
func cellText(b *etl.Batch, i, j int) string {
	switch {
	case b.Cols[j].Null[i]:
		return "<null>"
	case b.Cols[j].Type == etl.TypeJSON:
		text, _ := json.Marshal(b.Cols[j].JSON[i])
		return string(text)
	}
	return etl.FormatValue(b.Cols[j].Value(i))
}

// TestReleasedSlabsKeepEveryRow decodes random JSON Lines (keys coming and
// going between lines and batches, every kind of value, fields whose later
// values do not fit their type, broken lines) in random batch sizes,
// releasing each batch a random number of batches after it was decoded,
// as a run does once its targets are done with it, so that later batches
// are built on its vectors. Each batch must still hold its rows and
// rejects when it is released, and every batch must equal the same
// decode's batch when nothing is released.
func TestReleasedSlabsKeepEveryRow(t *testing.T) {
	reused := 0
	rapid.Check(t, func(rt *rapid.T) {
		fileformattest.DrawChunkSize(t, rt, &chunkSize)
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 0))
		var in bytes.Buffer
		for range rapid.IntRange(0, 60).Draw(rt, "lines") {
			if rng.IntN(3) == 0 { // a lead-like line: the same keys, kinds varying
				fmt.Fprintf(&in, `{"id":%s,"email":%s,"score":%s}`,
					[]string{"1", `"2"`, "null", "3.5"}[rng.IntN(4)],
					[]string{`"a@x"`, `""`, "null", `{"n":1}`}[rng.IntN(4)],
					[]string{"7", "true", "null", `[1,2]`}[rng.IntN(4)])
			} else {
				in.Write(randomLine(rng))
			}
			in.WriteByte('\n')
		}
		sizes := make([]int, 64)
		for i := range sizes {
			sizes[i] = rapid.IntRange(1, 7).Draw(rt, "batch size")
		}
		var d *Decoder
		decode := func(release func(*etl.Batch, []string)) [][]string {
			var err error
			d, err = NewDecoder(bytes.NewReader(in.Bytes()), fileformat.DecodeOptions{File: "in.jsonl"})
			if err != nil {
				rt.Fatal(err)
			}
			var batches [][]string
			for i := 0; ; i++ {
				before := d.objects.free.Len()
				b, err := d.Decode(context.Background(), sizes[i%len(sizes)])
				if err != nil && !errors.Is(err, io.EOF) {
					rt.Fatal(err)
				}
				if d.objects.free.Len() < before {
					reused++
				}
				text := batchText(b)
				batches = append(batches, text)
				release(b, text)
				if errors.Is(err, io.EOF) {
					return batches
				}
			}
		}
		want := decode(func(*etl.Batch, []string) {})

		type heldBatch struct {
			b    *etl.Batch
			text []string
		}
		var held []heldBatch
		releaseFirst := func(n int) {
			for _, h := range held[:n] {
				if diff := cmp.Diff(h.text, batchText(h.b)); diff != "" {
					rt.Fatalf("input %q: a batch changed before its release (-decoded +at release):\n%s", in.String(), diff)
				}
				h.b.Release()
			}
			held = held[n:]
		}
		got := decode(func(b *etl.Batch, text []string) {
			held = append(held, heldBatch{b, text})
			releaseFirst(rapid.IntRange(0, len(held)).Draw(rt, "release"))
		})
		releaseFirst(len(held))
		if p := d.lr.pool; p.Free() != min(p.Made()-1, fileformat.MaxFreeChunks) {
			rt.Fatalf("input %q: %d chunks made, %d back in the pool once every batch was released; want all but the reader's", in.String(), p.Made(), p.Free())
		}
		if diff := cmp.Diff(want, got); diff != "" {
			rt.Fatalf("input %q: batches (-nothing released +released):\n%s", in.String(), diff)
		}
	})
	if reused == 0 {
		t.Error("no batch was built on released vectors: the test checked nothing")
	}
}
