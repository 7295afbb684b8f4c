package csvfile

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// leadsCSV is a Go rendering of ../shared/bench/gen-leads: padded emails,
// quoted commas, quoted newlines and doubled quotes. NIGHTJAR_BENCH_CSV
// names a file to read instead.
func leadsCSV(tb testing.TB, n int) []byte {
	if path := os.Getenv("NIGHTJAR_BENCH_CSV"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		return data
	}
	rng := rand.New(rand.NewPCG(5, 5))
	sources := []string{"chatbot", "webform", "import", "event"}
	var buf bytes.Buffer
	buf.WriteString("id,email,first_name,last_name,company,phone,source,score,created_at,notes\n")
	for i := range n {
		email := fmt.Sprintf("user%d@example.com", i)
		if i%10 == 0 {
			email = fmt.Sprintf("  User%d@Example.com ", i)
		}
		notes := "none"
		if i%5 == 0 {
			notes = fmt.Sprintf("\"asked about pricing, plan %d\nfollow up \"\"soon\"\"\"", i%7)
		}
		fmt.Fprintf(&buf, "%d,%s,First%d,Last%d,\"Company %d, Inc.\",+1-415-555-%04d,%s,%d,2026-11-%02dT%02d:15:00Z,%s\n",
			i, email, i%1000, i%3001, i%997, i%10000, sources[i%4], rng.IntN(101), 1+i%28, i%24, notes)
	}
	return buf.Bytes()
}

// BenchmarkCSVRead decodes 100k leads rows in batches of
// etl.DefaultBatchSize; allocations are per batch, not per field. In
// /released each batch is released once decoded, as a run releases it
// once written (etl.Releaser): later batches reuse its vectors.
func BenchmarkCSVRead(b *testing.B) {
	b.Run("kept", func(b *testing.B) { benchmarkCSVRead(b, false) })
	b.Run("released", func(b *testing.B) { benchmarkCSVRead(b, true) })
}

func benchmarkCSVRead(b *testing.B, release bool) {
	data := leadsCSV(b, 100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	opts := fileformat.DecodeOptions{File: "leads.csv", CSV: fileformat.DefaultCSVOptions()}
	for b.Loop() {
		d, err := NewDecoder(bytes.NewReader(data), opts)
		if err != nil {
			b.Fatal(err)
		}
		rows := 0
		for {
			batch, err := d.Decode(context.Background(), etl.DefaultBatchSize)
			if batch != nil {
				rows += batch.Len()
				if release {
					batch.Release()
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if rows != 100_000 && os.Getenv("NIGHTJAR_BENCH_CSV") == "" {
			b.Fatalf("read %d rows, want 100000", rows)
		}
	}
}

// BenchmarkEncodingCSV is the peer on the same input: encoding/csv with
// ReuseRecord, copying each field to a string as a batch would.
func BenchmarkEncodingCSV(b *testing.B) {
	data := leadsCSV(b, 100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := csv.NewReader(bytes.NewReader(data))
		r.ReuseRecord = true
		var keep []string
		for {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			keep = append(keep[:0], rec...)
		}
		_ = keep
	}
}

// BenchmarkCSVWrite encodes 100k leads rows, decoded once beforehand, to
// io.Discard: the writing half of a CSV → CSV load.
func BenchmarkCSVWrite(b *testing.B) {
	data := leadsCSV(b, 100_000)
	d, err := NewDecoder(bytes.NewReader(data), fileformat.DecodeOptions{File: "leads.csv", CSV: fileformat.DefaultCSVOptions()})
	if err != nil {
		b.Fatal(err)
	}
	var batches []*etl.Batch
	for {
		batch, err := d.Decode(context.Background(), etl.DefaultBatchSize)
		if batch != nil {
			batches = append(batches, batch)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		e := NewEncoder(io.Discard, ',', fileformat.EncodeOptions{File: "out.csv"})
		for _, batch := range batches {
			if err := e.Write(batch); err != nil {
				b.Fatal(err)
			}
		}
	}
}
