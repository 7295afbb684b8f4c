package postgres

import (
	"context"
	"fmt"
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

// BenchmarkCopyLeads appends NIGHTJAR_BENCH_ROWS (default 100,000)
// generated leads to a fresh table per iteration, in batches of
// NIGHTJAR_BENCH_BATCH (default etl.DefaultBatchSize) rows, each with its
// replay marker, in a transaction per batch or in transactions of 100k or
// 1M rows, encoded by binaryCopy or by pgx's CopyFrom. bench/csv-postgres.sh measures the whole engine
// against psql.
func BenchmarkCopyLeads(b *testing.B) {
	rows, size := envInt(b, "NIGHTJAR_BENCH_ROWS", 100_000), envInt(b, "NIGHTJAR_BENCH_BATCH", etl.DefaultBatchSize)
	dsn := testDSN(b)
	schema, db := freshSchema(b, dsn)
	batches := leadBatches(rows, size)
	ctx := context.Background()
	for _, bc := range []struct {
		name    string
		pgxOnly bool
		// commitRows > 0: batches share transactions of this many rows,
		// synced as the runner would.
		commitRows int
	}{{"binary", false, 0}, {"binary-tx100k", false, 100_000}, {"binary-tx1M", false, 1_000_000}, {"pgx", true, 0}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				table := fmt.Sprintf("leads_%s_%d", bc.name, i)
				be := &backend{conn: &ConnConfig{DSN: dsn}, schema: schema, pgxOnly: bc.pgxOnly}
				tg := sqlconn.NewTable(sqlconn.TargetConfig{Table: table, Mode: sqlconn.ModeAppend, Schema: sqlconn.SchemaEvolve, CommitRows: bc.commitRows}, be, table)
				if err := tg.Open(ctx, etl.TargetEnv{Job: "bench", Name: table, RunID: 1, Syncs: bc.commitRows > 0}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, batch := range batches {
					if err := tg.Write(ctx, batch); err != nil {
						b.Fatal(err)
					}
					if tg.SyncDue() {
						if err := tg.Sync(ctx); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := tg.Sync(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := tg.Close(); err != nil {
					b.Fatal(err)
				}
				// Markers too: the next run reuses the table names.
				if _, err := db.Exec(`DROP TABLE "` + table + `"; DELETE FROM _nightjar_batches`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
		})
	}
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
