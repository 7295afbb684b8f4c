package mysql

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// leadBatches returns rows generated leads (the fields of
// ../shared/bench/gen-leads, all text as the CSV source reads them) in
// batches of size rows.
func leadBatches(rows, size int) []*etl.Batch {
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

// BenchmarkLoadLeads loads NIGHTJAR_BENCH_ROWS (default 100,000)
// generated leads into a fresh table per iteration, in batches of
// NIGHTJAR_BENCH_BATCH (default etl.DefaultBatchSize) rows, with LOAD DATA
// LOCAL INFILE ("infile") or multi-row INSERT ("insert"): appended (each
// batch with its replay marker), merged by id into the empty table
// ("merge": every row new), and merged again into the loaded table
// ("remerge": every row an update). bench/csv-mysql.sh measures the whole
// engine against the mariadb client.
func BenchmarkLoadLeads(b *testing.B) {
	rows, size := envInt(b, "NIGHTJAR_BENCH_ROWS", 100_000), envInt(b, "NIGHTJAR_BENCH_BATCH", etl.DefaultBatchSize)
	dsn := testDSN(b)
	database, db := freshDatabase(b, dsn)
	batches := leadBatches(rows, size)
	ctx := context.Background()
	for _, mode := range []string{sqlconn.ModeAppend, sqlconn.ModeMerge, "remerge"} {
		for _, path := range []string{"infile", "insert"} {
			b.Run(mode+"/"+path, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					b.StopTimer()
					table := fmt.Sprintf("leads_%s_%s_%d", mode, path, i)
					cfg := sqlconn.TargetConfig{Table: table, Mode: mode}
					if mode != sqlconn.ModeAppend {
						cfg.Mode, cfg.Key = sqlconn.ModeMerge, []string{"id"}
					}
					if mode == "remerge" {
						tg, _ := testTarget(b, dsn, database, cfg, path == "insert", nil)
						if err := writeAll(ctx, tg, table, 1, batches...); err != nil {
							b.Fatal(err)
						}
					}
					tg, _ := testTarget(b, dsn, database, cfg, path == "insert", nil)
					if err := tg.Open(ctx, etl.TargetEnv{Job: "bench", Name: table, RunID: 1}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					for _, batch := range batches {
						if err := tg.Write(ctx, batch); err != nil {
							b.Fatal(err)
						}
					}
					if err := tg.Commit(ctx); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := tg.Close(); err != nil {
						b.Fatal(err)
					}
					// Markers too: the next run reuses the table names.
					if _, err := db.Exec("DROP TABLE `" + table + "`"); err != nil {
						b.Fatal(err)
					}
					if mode == sqlconn.ModeAppend {
						if _, err := db.Exec("DELETE FROM " + sqlconn.MarkerTable); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
			})
		}
	}
}

// BenchmarkInfileRows encodes a batch of 10,000 generated leads as the
// LOAD DATA stream: no allocation per row.
func BenchmarkInfileRows(b *testing.B) {
	batch := leadBatches(10_000, 10_000)[0]
	var r infileRows
	p := make([]byte, 16<<10) // the driver's packet
	read := func() (size int64) {
		r.reset(batch, false)
		for {
			n, err := r.Read(p)
			size += int64(n)
			if err == io.EOF {
				return size
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.SetBytes(read())
	b.ReportAllocs()
	for b.Loop() {
		read()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(batch.Len()), "ns/row")
}

// envInt returns the integer in the environment variable name, or def.
func envInt(b *testing.B, name string, def int) int {
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
