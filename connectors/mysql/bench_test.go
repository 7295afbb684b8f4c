package mysql

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// BenchmarkLoadLeads loads NIGHTJAR_BENCH_ROWS (default 100,000)
// generated leads into a fresh table per iteration, in batches of
// NIGHTJAR_BENCH_BATCH (default etl.DefaultBatchSize) rows, with LOAD DATA
// LOCAL INFILE ("infile") or multi-row INSERT ("insert"): appended (each
// batch with its replay marker), merged by id into the empty table
// ("merge": every row new), and merged again into the loaded table
// ("remerge": every row an update). bench/csv-mysql.sh measures the whole
// engine against the mariadb client.
func BenchmarkLoadLeads(b *testing.B) {
	rows, size := sqlconntest.EnvInt(b, "NIGHTJAR_BENCH_ROWS", 100_000), sqlconntest.EnvInt(b, "NIGHTJAR_BENCH_BATCH", etl.DefaultBatchSize)
	dsn := testDSN(b)
	database, db := freshDatabase(b, dsn)
	batches := sqlconntest.LeadBatches(rows, size)
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
	batch := sqlconntest.LeadBatches(10_000, 10_000)[0]
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
