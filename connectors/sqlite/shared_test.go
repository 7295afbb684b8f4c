package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// sharedJob is a job of rows batches of 50 rows (ids from first) written
// to one append and one merge table of the bundle's database.
func (bd bundle) sharedJob(t *testing.T, name string, tables [2]string, first, batches int) *etl.Job {
	t.Helper()
	var bs []*etl.Batch
	for i := range batches {
		var rows [][]string
		for r := range 50 {
			id := first + i*50 + r
			rows = append(rows, []string{fmt.Sprint(id), fmt.Sprintf("note %d", id)})
		}
		bs = append(bs, etltest.StringBatch("in.csv", int64(2+i*50), fmt.Sprintf(`{"b":%d}`, i), []string{"id", "note"}, rows...))
	}
	build := func(cfg TargetConfig) etl.Target {
		cfg.Schema = SchemaEvolve
		tg, err := New(&cfg, etl.BuildEnv{
			BaseDir:    bd.dir,
			Connection: &etl.Connection{Name: "warehouse", Type: "sqlite", Config: &ConnConfig{Path: "out/warehouse.db"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	return &etl.Job{
		Name:   name,
		Source: &etltest.Source{Batches: bs},
		Targets: []etl.NamedTarget{
			{Name: "targets[0] table " + tables[0], Target: build(TargetConfig{Table: tables[0], Mode: ModeAppend})},
			{Name: "targets[1] table " + tables[1], Target: build(TargetConfig{Table: tables[1], Mode: ModeMerge, Key: []string{"id"}})},
		},
	}
}

// TestTablesShareOneDatabase runs jobs whose table targets share one
// SQLite file: two tables in one job, and two such jobs at once (as the
// daemon runs them). Each target held a transaction open across batches,
// SQLite has one writer, and the others waited for it until "database is
// locked" failed the run.
func TestTablesShareOneDatabase(t *testing.T) {
	bd := setup(t)
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(bd.dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	runner := &etl.Runner{Store: store}

	one := bd.sharedJob(t, "one", [2]string{"a", "b"}, 0, 6)
	run, err := runner.Run(ctx, one, etl.RunOptions{})
	if err != nil {
		t.Fatalf("one job, two tables: %v", err)
	}
	if run.Written != 300 {
		t.Errorf("written %d, want 300", run.Written)
	}

	// Two jobs at once, each with two tables of the same file.
	jobs := []*etl.Job{
		bd.sharedJob(t, "two", [2]string{"c", "d"}, 0, 8),
		bd.sharedJob(t, "three", [2]string{"e", "d"}, 400, 8),
	}
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	start := time.Now()
	for i, j := range jobs {
		wg.Go(func() { _, errs[i] = runner.Run(ctx, j, etl.RunOptions{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("job %s: %v (after %s)", jobs[i].Name, err, time.Since(start))
		}
	}

	db := bd.db(t)
	for table, want := range map[string]int{"a": 300, "b": 300, "c": 400, "d": 800, "e": 400} {
		var n, distinct int
		if err := db.QueryRow(`SELECT count(*), count(DISTINCT id) FROM "`+table+`"`).Scan(&n, &distinct); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n != want || distinct != want {
			t.Errorf("table %s holds %d rows (%d distinct ids), want %d", table, n, distinct, want)
		}
	}
}
