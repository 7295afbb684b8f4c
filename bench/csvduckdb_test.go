package bench

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCSVToDuckDBAppend loads generated leads from CSV into a fresh
// DuckDB table in append mode through the whole engine (see runLoad), and
// in the same iteration the same file into a table of another fresh
// DuckDB file by DuckDB's own parallel, vectorised reader (read_csv, every
// column VARCHAR as nightjar reads a CSV) through the same library. The
// ratio metric is nightjar's time over read_csv's (the goal is ≤ 1.5);
// bench/csv-duckdb.sh runs the same comparison on the built binary.
func BenchmarkCSVToDuckDBAppend(b *testing.B) {
	csvPath, size, rows := genLeads(b)
	b.SetBytes(size)
	var ours, peer time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		readCSV(b, filepath.Join(dir, "peer.duckdb"), csvPath, rows)
		peer += time.Since(start)
		start = time.Now()
		runLoad(b, dir, csvPath, rows, "{ type: duckdb, path: warehouse.duckdb }")
		ours += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N*rows), "ns/row")
	b.ReportMetric(float64(peer.Nanoseconds())/float64(b.N*rows), "read_csv-ns/row")
	b.ReportMetric(ours.Seconds()/peer.Seconds(), "ratio")
}

// readCSV loads the CSV file into table leads of a new DuckDB file with
// read_csv, every column VARCHAR, and checks the row count.
func readCSV(b *testing.B, path, csvPath string, rows int) {
	b.Helper()
	db, err := sql.Open("duckdb", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE leads AS SELECT * FROM read_csv(?, header = true, all_varchar = true)", csvPath); err != nil {
		b.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM leads").Scan(&n); err != nil || n != rows {
		b.Fatalf("read_csv loaded %d rows (%v), want %d", n, err, rows)
	}
}
