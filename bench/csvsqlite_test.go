package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	_ "github.com/nightjar-etl/nightjar/connectors/all"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
	"github.com/nightjar-etl/nightjar/jobs/config"
	_ "github.com/nightjar-etl/nightjar/transforms"
)

// BenchmarkCSVToSQLiteAppend loads generated leads (../shared/bench/gen-leads;
// NIGHTJAR_BENCH_ROWS rows, default 100,000) from CSV into a fresh SQLite
// table in append mode through the whole engine: config, runner, state
// store checkpoints. bench/csv-sqlite.sh compares the same load with the
// sqlite3 shell.
func BenchmarkCSVToSQLiteAppend(b *testing.B) {
	csvPath, size, rows := genLeads(b)
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
		runLoad(b, dir, csvPath, rows, "{ type: sqlite, path: warehouse.db }")
		b.StartTimer()
	}
}

// genLeads writes NIGHTJAR_BENCH_ROWS (default 100,000) generated leads
// to a CSV file; it returns its path, size and rows.
func genLeads(b *testing.B) (string, int64, int) {
	b.Helper()
	rows := 100_000
	if s := os.Getenv("NIGHTJAR_BENCH_ROWS"); s != "" {
		var err error
		if rows, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	gen, err := filepath.Abs("../../shared/bench/gen-leads")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(gen); err != nil {
		b.Skipf("no data generator: %v", err)
	}
	csvPath := filepath.Join(b.TempDir(), "leads.csv")
	out, err := exec.Command("python3", gen, strconv.Itoa(rows)).Output()
	if err != nil {
		b.Fatalf("gen-leads: %v", err)
	}
	if err := os.WriteFile(csvPath, out, 0o644); err != nil {
		b.Fatal(err)
	}
	return csvPath, int64(len(out)), rows
}

// runLoad loads the CSV file into table leads of the connection conn (a
// YAML flow mapping, paths relative to dir) through the whole engine:
// config, runner, state store checkpoints. Only the run is timed.
func runLoad(b *testing.B, dir, csvPath string, rows int, conn string) {
	b.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	// A hard link: the files source refuses a symbolic link to a file
	// outside its folder (one rejected row, the whole file).
	if err := os.Link(csvPath, filepath.Join(dir, "leads.csv")); err != nil {
		b.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "nightjar.yaml")
	if err := os.WriteFile(cfgPath, []byte(`connections:
  warehouse: `+conn+`
jobs:
  leads:
    source: { type: files, path: leads.csv }
    targets:
      - { type: table, connection: warehouse, table: leads, mode: append }
`), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlitestore.Open(ctx, cfg.State)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	job, err := cfg.Build("leads", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	run, err := (&etl.Runner{Store: st}).Run(ctx, job, etl.RunOptions{})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if run.Written != int64(rows) {
		b.Fatalf("wrote %d rows, want %d", run.Written, rows)
	}
}
