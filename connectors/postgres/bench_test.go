package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn/sqlconntest"
	"github.com/nightjar-etl/nightjar/etl"
)

// BenchmarkCopyLeads appends NIGHTJAR_BENCH_ROWS (default 100,000)
// generated leads to a fresh table per iteration, in batches of
// NIGHTJAR_BENCH_BATCH (default etl.DefaultBatchSize) rows, each with its
// replay marker, in a transaction per batch or in transactions of 100k or
// 1M rows, encoded by binaryCopy or by pgx's CopyFrom.
// bench/csv-postgres.sh measures the whole engine against psql.
func BenchmarkCopyLeads(b *testing.B) {
	rows, size := sqlconntest.EnvInt(b, "NIGHTJAR_BENCH_ROWS", 100_000), sqlconntest.EnvInt(b, "NIGHTJAR_BENCH_BATCH", etl.DefaultBatchSize)
	dsn := testDSN(b)
	schema, db := freshSchema(b, dsn)
	batches := sqlconntest.LeadBatches(rows, size)
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
