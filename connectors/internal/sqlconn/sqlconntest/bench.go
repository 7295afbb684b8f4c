package sqlconntest

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
)

// LeadBatches returns rows generated leads (the fields of
// ../shared/bench/gen-leads, all text as the CSV source reads them) in
// batches of size rows, for the table targets' benchmarks.
func LeadBatches(rows, size int) []*etl.Batch {
	fields := []string{"id", "email", "first_name", "last_name", "company", "phone", "source", "score", "created_at", "notes"}
	fs := make([]etl.Field, len(fields))
	for i, f := range fields {
		fs[i] = etl.Field{Name: f, Type: etl.TypeString}
	}
	s := etl.MustSchema(fs...)
	var out []*etl.Batch
	for start := 0; start < rows; start += size {
		n := min(size, rows-start)
		b := etl.NewBatch(s, n)
		for r := start; r < start+n; r++ {
			id := strconv.Itoa(r)
			vals := []string{id, "  User" + id + "@Example.com ", "First" + id, "Last" + id, "Company " + id + ", Inc.",
				"+1-415-555-" + fmt.Sprintf("%04d", r%10000), "chatbot", strconv.Itoa(r % 100), "2026-11-01T00:15:00Z",
				"asked about pricing, plan " + id + "\nfollow up \"soon\""}
			for c, v := range vals {
				b.Cols[c].AppendString(v)
			}
			b.Origins = append(b.Origins, etl.Origin{File: "leads.csv", Line: int64(r + 2)})
		}
		b.Seq = int64(len(out) + 1)
		b.Position = etl.Position(fmt.Sprintf(`{"offset":%d}`, start))
		out = append(out, b)
	}
	return out
}

// EnvInt returns the positive integer in the environment variable name,
// or def when it is unset.
func EnvInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}
