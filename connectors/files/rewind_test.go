package files_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/connectors/sqlite"
	"github.com/nightjar-etl/nightjar/etl"
)

// rewindingTarget fails the Writes numbered in failAt (1-based, over its
// life) as a transient failure the runner rewinds (etl.Rewind), and
// passes the others to the wrapped target; it reopens.
type rewindingTarget struct {
	etl.Target
	failAt map[int]bool
	n      int
}

func (r *rewindingTarget) Reopens() bool { return true }

func (r *rewindingTarget) Write(ctx context.Context, b *etl.Batch) error {
	r.n++
	if r.failAt[r.n] {
		return etl.Rewind(errors.New("connection lost"))
	}
	return r.Target.Write(ctx, b)
}

// TestFullRefreshRewindSearch loads files, then reloads them with a full
// refresh whose target fails now and then: the run reads on, after each
// failure, from its last checkpoint in name order, ignoring the ledger as
// a full refresh does, so that each row is in the table exactly twice
// (once per load) and the run counts each once.
func TestFullRefreshRewindSearch(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		e := setupLoad(t)
		if err := os.MkdirAll(filepath.Join(e.dir, "in"), 0o755); err != nil {
			rt.Fatal(err)
		}
		id := 0
		for _, name := range []string{"a.csv", "b.csv", "c.csv"} {
			n := rapid.IntRange(0, 5).Draw(rt, "rows of "+name)
			if err := os.WriteFile(filepath.Join(e.dir, "in", name), []byte(csvRows(id, id+n)), 0o644); err != nil {
				rt.Fatal(err)
			}
			id += n
		}
		batch := rapid.IntRange(1, 3).Draw(rt, "batch")
		failAt := map[int]bool{}
		for _, w := range rapid.SliceOfN(rapid.IntRange(1, 12), 0, 3).Draw(rt, "fail at writes") {
			failAt[w] = true
		}
		run := func(fullRefresh bool, tgt func(etl.Target) etl.Target) etl.Run {
			src, err := files.NewSource(files.SourceConfig{Path: "in/*.csv", CSV: fileformat.DefaultCSVOptions()}, etl.BuildEnv{BaseDir: e.dir})
			if err != nil {
				rt.Fatal(err)
			}
			conn := &etl.Connection{Name: "w", Type: "sqlite", Config: &sqlite.ConnConfig{Path: "warehouse.db"}}
			table, err := sqlite.New(&sqlite.TargetConfig{Table: "t", Mode: sqlite.ModeAppend, Schema: sqlite.SchemaEvolve},
				etl.BuildEnv{BaseDir: e.dir, Connection: conn})
			if err != nil {
				rt.Fatal(err)
			}
			job := &etl.Job{Name: "load", Source: src, BatchSize: batch,
				Targets: []etl.NamedTarget{{Name: "targets[0] table t", Target: tgt(table)}}}
			r, err := (&etl.Runner{Store: e.store}).Run(context.Background(), job, etl.RunOptions{FullRefresh: fullRefresh})
			if err != nil {
				rt.Fatalf("full refresh %v: %v", fullRefresh, err)
			}
			return r
		}
		run(false, func(t etl.Target) etl.Target { return t })
		r := run(true, func(t etl.Target) etl.Target { return &rewindingTarget{Target: t, failAt: failAt} })
		got := map[string]int{}
		for _, v := range e.ids() {
			got[v]++
		}
		for i := range id {
			if c := got[strconv.Itoa(i)]; c != 2 {
				rt.Fatalf("row %d is in the table %d times, want 2 (table %v)", i, c, got)
			}
		}
		if len(got) != id || r.Read != int64(id) || r.Written+r.Skipped != int64(id) {
			rt.Fatalf("table %v; full refresh counters %+v; want %d rows", got, r.Counters, id)
		}
	})
}
