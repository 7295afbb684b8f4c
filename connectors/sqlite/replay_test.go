package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// replayBundle runs a job of six 50-row batches into one append table,
// with a state store that the test may drop, reset or roll back.
type replayBundle struct {
	bundle
	statePath string
	store     *sqlitestore.Store
}

func newReplayBundle(t *testing.T) *replayBundle {
	rb := &replayBundle{bundle: setup(t)}
	rb.statePath = filepath.Join(rb.dir, "state.db")
	rb.reopen(t)
	t.Cleanup(func() { rb.store.Close() })
	return rb
}

func (rb *replayBundle) reopen(t *testing.T) {
	t.Helper()
	if rb.store != nil {
		rb.store.Close()
	}
	st, err := sqlitestore.Open(context.Background(), rb.statePath)
	if err != nil {
		t.Fatal(err)
	}
	rb.store = st
}

// deleteStore deletes the state store and opens a new one in its place.
func (rb *replayBundle) deleteStore(t *testing.T) {
	t.Helper()
	rb.store.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(rb.statePath + suffix)
	}
	rb.store = nil
	rb.reopen(t)
}

func (rb *replayBundle) run(t *testing.T, opts etl.RunOptions) etl.Run {
	t.Helper()
	var bs []*etl.Batch
	for i := range 6 {
		var rows [][]string
		for r := range 50 {
			rows = append(rows, []string{fmt.Sprint(i*50 + r)})
		}
		bs = append(bs, etltest.StringBatch("in.csv", int64(2+i*50), fmt.Sprintf(`{"b":%d}`, i), []string{"id"}, rows...))
	}
	cfg := TargetConfig{Table: "leads", Mode: ModeAppend, Schema: SchemaEvolve}
	tg, err := New(&cfg, etl.BuildEnv{
		BaseDir:    rb.dir,
		Connection: &etl.Connection{Name: "warehouse", Type: "sqlite", Config: &ConnConfig{Path: "out/warehouse.db"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	job := &etl.Job{
		Name: "leads", Source: &etltest.Source{Batches: bs},
		Targets: []etl.NamedTarget{{Name: "targets[0] table leads", Target: tg}},
	}
	run, err := (&etl.Runner{Store: rb.store}).Run(context.Background(), job, opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return run
}

func (rb *replayBundle) rows(t *testing.T) (n, distinct int) {
	t.Helper()
	db := rb.db(t)
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT id) FROM "leads"`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	return n, distinct
}

func (rb *replayBundle) exec(t *testing.T, q string) {
	t.Helper()
	if _, err := rb.db(t).Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (rb *replayBundle) reset(t *testing.T) {
	t.Helper()
	if _, err := rb.store.Reset(context.Background(), "leads"); err != nil {
		t.Fatal(err)
	}
}

// TestReplayMarkersVouchOnlyForTheirLoad: a replay marker skips a replay of
// the very load it was recorded for, and nothing else. Markers were keyed
// by job, batch sequence and position, all of which repeat after a reset,
// so a reloaded table stayed empty while the run reported every row
// written.
func TestReplayMarkersVouchOnlyForTheirLoad(t *testing.T) {
	type want struct{ rows, distinct, written, skipped int }
	cases := []struct {
		name  string
		event func(t *testing.T, rb *replayBundle)
		opts  etl.RunOptions
		want  want
	}{
		{"table dropped, state reset", func(t *testing.T, rb *replayBundle) {
			rb.exec(t, `DROP TABLE "leads"`)
			rb.reset(t)
		}, etl.RunOptions{}, want{300, 300, 300, 0}},
		{"table dropped, no reset", func(t *testing.T, rb *replayBundle) {
			rb.exec(t, `DROP TABLE "leads"`)
		}, etl.RunOptions{}, want{0, 0, 0, 0}}, // nothing new to read: the table stays as the user left it
		{"table emptied, state reset", func(t *testing.T, rb *replayBundle) {
			rb.exec(t, `DELETE FROM "leads"`)
			rb.reset(t)
		}, etl.RunOptions{}, want{300, 300, 300, 0}},
		{"table dropped, state store deleted", func(t *testing.T, rb *replayBundle) {
			rb.exec(t, `DROP TABLE "leads"`)
			rb.deleteStore(t)
		}, etl.RunOptions{}, want{300, 300, 300, 0}},
		{"state store deleted, table kept", func(t *testing.T, rb *replayBundle) {
			rb.deleteStore(t)
		}, etl.RunOptions{}, want{600, 300, 300, 0}}, // a new load appends again
		{"full refresh", func(*testing.T, *replayBundle) {}, etl.RunOptions{FullRefresh: true}, want{600, 300, 300, 0}},
		{"dry run", func(*testing.T, *replayBundle) {}, etl.RunOptions{FullRefresh: true, DryRun: true}, want{300, 300, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rb := newReplayBundle(t)
			if run := rb.run(t, etl.RunOptions{}); run.Written != 300 {
				t.Fatalf("first run wrote %d, want 300", run.Written)
			}
			c.event(t, rb)
			run := rb.run(t, c.opts)
			var got want
			got.written, got.skipped = int(run.Written), int(run.Skipped)
			if c.want.rows > 0 || c.name != "table dropped, no reset" {
				got.rows, got.distinct = rb.rows(t)
			}
			if got != c.want {
				t.Errorf("after the rerun: %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestOlderStateStoreReplaysAreSkipped: with the state store rolled back
// to an older copy of itself, the batches loaded since are read again and
// skipped by their markers, counted as skipped, not written.
func TestOlderStateStoreReplaysAreSkipped(t *testing.T) {
	rb := newReplayBundle(t)
	if run := rb.run(t, etl.RunOptions{Limit: 100}); run.Written != 100 {
		t.Fatalf("first run wrote %d, want 100", run.Written)
	}
	older := filepath.Join(rb.dir, "older.db")
	if _, err := rb.store.DB().Exec(`VACUUM INTO ?`, older); err != nil {
		t.Fatal(err)
	}
	if run := rb.run(t, etl.RunOptions{}); run.Written != 200 || run.Skipped != 0 {
		t.Fatalf("second run: written %d, skipped %d; want 200, 0", run.Written, run.Skipped)
	}
	rb.store.Close()
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(rb.statePath + suffix)
	}
	if err := os.Rename(older, rb.statePath); err != nil {
		t.Fatal(err)
	}
	rb.store = nil
	rb.reopen(t)
	run := rb.run(t, etl.RunOptions{})
	if run.Written != 0 || run.Skipped != 200 || run.Read != 200 {
		t.Errorf("after the rollback: read %d, written %d, skipped %d; want 200, 0, 200", run.Read, run.Written, run.Skipped)
	}
	if n, distinct := rb.rows(t); n != 300 || distinct != 300 {
		t.Errorf("table holds %d rows (%d distinct), want 300", n, distinct)
	}
}
