//go:build unix

package sqlite

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
)

// BenchmarkAppend appends 100,000 rows of 10 string columns in batches of
// 10,000, each batch in its own transaction with its replay marker, as a
// CSV load does. ns/row is the figure to compare with sqlite3's .import;
// cpu-ns/row (user + system time of the process) is steadier on a busy
// machine.
func BenchmarkAppend(b *testing.B) {
	for _, limit := range []int{1, 50, 100, 200, maxRowsPerStatement, 3276} {
		b.Run(fmt.Sprintf("rows_per_insert=%d", limit), func(b *testing.B) { benchmarkAppend(b, limit) })
	}
}

func benchmarkAppend(b *testing.B, rowLimit int) {
	const (
		rows      = 100_000
		batchSize = 10_000
		columns   = 10
	)
	fields := make([]etl.Field, columns)
	for i := range fields {
		fields[i] = etl.Field{Name: fmt.Sprintf("column_%d", i), Type: etl.TypeString}
	}
	schema := etl.MustSchema(fields...)
	batches := make([]*etl.Batch, rows/batchSize)
	for i := range batches {
		batch := etl.NewBatch(schema, batchSize)
		for r := range batchSize {
			row := i*batchSize + r
			for c := range columns {
				batch.Cols[c].AppendString(fmt.Sprintf("value %d of row %d", c, row))
			}
			batch.Origins = append(batch.Origins, etl.Origin{File: "in.csv", Line: int64(row + 2)})
		}
		batch.Seq = int64(i + 1)
		batches[i] = batch
	}
	ctx := context.Background()
	var before syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		cfg := &TargetConfig{Table: "bench", Mode: ModeAppend, Schema: SchemaEvolve}
		tg, err := New(cfg, etl.BuildEnv{BaseDir: b.TempDir(), Connection: &etl.Connection{Name: "w", Type: "sqlite", Config: &ConnConfig{Path: "bench.db"}}})
		if err != nil {
			b.Fatal(err)
		}
		target := tg.(*Target)
		target.backend.rowLimit = rowLimit
		if err := target.Open(ctx, etl.TargetEnv{Job: "bench", Name: "t", RunID: int64(n)}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, batch := range batches {
			if err := target.Write(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		if err := target.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := target.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	var after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		b.Fatal(err)
	}
	cpu := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N*rows), "cpu-ns/row")
}
