package brokertest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver, to read the table

	"github.com/nightjar-etl/nightjar/connectors/sqlite"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// ReplaySearch is one search: Messages messages {"id": 1..Messages},
// published in bursts by Publish while runs of a job reading them through
// Source (a new one per run) load them into an append table.
type ReplaySearch struct {
	Seed      uint64
	Messages  int
	BatchSize int
	// Pause bounds the random pause between bursts; make it a few times
	// the source's fetch wait, so that batches are cut short by time.
	Pause time.Duration
	// Publish publishes the messages {"id": id} for ids, in order.
	Publish func(ids []int) error
	// Source returns the source of the next run.
	Source func() etl.Source
	// Drop, if set, cuts the connection of the source running, at random
	// moments (before a write); it is called while Next may run.
	Drop func()
	// After, if set, checks the broker once the last run is over.
	After func(t *testing.T, drops int)
	// Abandon, if set, lets runs die at random between a checkpoint and
	// its ack, the way a killed process does: the ack is not sent and the
	// source is not closed. Abandon is given the source and must cut its
	// connection after the delay (the broker noticing the death late);
	// the next run starts at once, while the dead one may still hold
	// messages.
	Abandon func(src etl.Source, after time.Duration)
}

// errCrash stands for the process dying at that point.
var errCrash = errors.New("crash (injected)")

// Run runs the search and fails t unless the table holds each message's
// row exactly once.
func (rs ReplaySearch) Run(t *testing.T) {
	t.Helper()
	t.Logf("seed %d: %d messages, batches of %d", rs.Seed, rs.Messages, rs.BatchSize)
	rng := rand.New(rand.NewPCG(rs.Seed, 15))
	pubRng := rand.New(rand.NewPCG(rs.Seed, 16))
	dir := t.TempDir()
	store, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	var published atomic.Bool
	pubErr := make(chan error, 1)
	go func() {
		defer published.Store(true)
		for next := 1; next <= rs.Messages; {
			burst := make([]int, 0, 8)
			for n := 1 + pubRng.IntN(8); n > 0 && next <= rs.Messages; n-- {
				burst = append(burst, next)
				next++
			}
			if err := rs.Publish(burst); err != nil {
				pubErr <- err
				return
			}
			time.Sleep(time.Duration(pubRng.Int64N(int64(rs.Pause))))
		}
		pubErr <- nil
	}()

	ctx := context.Background()
	// mu guards rng, crashes and drops: the source's Ack runs on another
	// goroutine than the target's Write.
	var mu sync.Mutex
	crashes, drops, abandoned := 0, 0, 0
	// history is what each run wrote and how it ended, for a failure's
	// message: where the batches were cut is what a replay must repeat.
	history := new(history)
	for run := 0; ; run++ {
		if run > 2000 {
			t.Fatalf("no run completed after %d runs", run)
		}
		done, dropsBefore := published.Load(), drops
		tg := &crashingTarget{Target: appendTable(t, dir), run: run, history: history, drop: func(first bool) {
			mu.Lock()
			defer mu.Unlock()
			// More often at a run's first write: the run is then reading
			// ahead what the run before may have loaded, and must cut it
			// into the same batches whatever the connection does.
			odds := 25
			if first {
				odds = 4
			}
			if rs.Drop != nil && drops < 20 && rng.IntN(odds) == 0 {
				drops++
				history.note("run %d: connection cut", run)
				rs.Drop()
			}
		}, crash: func(p float64) bool {
			mu.Lock()
			defer mu.Unlock()
			// Crash less once publishing is over, so the search ends.
			if crashes > 40 || (done && rng.IntN(3) == 0) || rng.Float64() >= p {
				return false
			}
			crashes++
			return true
		}}
		var src etl.Source = &dyingSource{Source: rs.Source(), die: func() bool {
			mu.Lock()
			defer mu.Unlock()
			if rs.Abandon == nil || crashes > 40 || (done && rng.IntN(3) == 0) || rng.IntN(8) != 0 {
				return false
			}
			crashes++
			return true
		}, abandon: func(src etl.Source) {
			mu.Lock()
			defer mu.Unlock()
			abandoned++
			history.note("run %d: died before its ack, connection left open", run)
			rs.Abandon(src, time.Duration(rng.Int64N(int64(4*rs.Pause))))
		}}
		job := &etl.Job{Name: "replay", Source: src, BatchSize: rs.BatchSize,
			Targets: []etl.NamedTarget{{Name: "targets[0] table events", Target: tg}}}
		_, err := (&etl.Runner{Store: store}).Run(ctx, job, etl.RunOptions{})
		history.note("run %d ended: %v", run, err)
		switch {
		case errors.Is(err, errCrash):
		case err != nil:
			t.Fatalf("run %d: %v", run, err)
		case done && drops == dropsBefore:
			// A run that started once everything was published, and
			// kept its connection, read everything (one that lost it may
			// end early: the next run reads on).
			if err := <-pubErr; err != nil {
				t.Fatalf("publish: %v", err)
			}
			t.Logf("%d runs, %d crashed (%d of them before an ack, their connection left), %d connections cut", run+1, crashes, abandoned, drops)
			if !checkOnce(t, filepath.Join(dir, "wh.db"), rs.Messages) {
				t.Logf("the runs' writes and ends:\n%s", history)
				t.FailNow()
			}
			if rs.After != nil {
				rs.After(t, drops)
			}
			return
		}
	}
}

// appendTable is an append table "events" in dir/wh.db, committing every
// three batches or so.
func appendTable(t *testing.T, dir string) etl.Target {
	t.Helper()
	cfg := &sqlite.TargetConfig{Table: "events", Mode: sqlite.ModeAppend, Schema: sqlite.SchemaEvolve, CommitRows: 25}
	tg, err := sqlite.New(cfg, etl.BuildEnv{BaseDir: dir,
		Connection: &etl.Connection{Name: "wh", Type: "sqlite", Config: &sqlite.ConnConfig{Path: "wh.db"}}})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// dyingSource dies at random (die) between a checkpoint and its ack: the
// ack fails the run without reaching the source, and the source is left
// open, given to abandon, as a killed process leaves its connection to
// the broker.
type dyingSource struct {
	etl.Source
	die     func() bool
	abandon func(etl.Source)
	dead    bool
}

func (d *dyingSource) Ack(ctx context.Context, pos etl.Position) error {
	if d.die() {
		d.dead = true
		return errCrash
	}
	return d.Source.(etl.Acker).Ack(ctx, pos)
}

func (d *dyingSource) Close(ctx context.Context) error {
	if d.dead {
		d.abandon(d.Source)
		return nil
	}
	return d.Source.Close(ctx)
}

// crashingTarget cuts the source's connection at random (Drop) and fails
// the run at random: before a write (nothing of the
// open transaction lands) or after a sync committed, before the runner
// records the checkpoint (the batches are in the table, the position is
// not: the next run reads them again).
type crashingTarget struct {
	etl.Target
	crash func(p float64) bool
	// drop is called before each write, told whether it is the run's
	// first.
	drop  func(first bool)
	wrote bool
	// run numbers the run; history records its writes, syncs and crashes
	// (Write and Sync run on one goroutine).
	run     int
	history *history
}

func (c *crashingTarget) Write(ctx context.Context, b *etl.Batch) error {
	c.drop(!c.wrote)
	c.wrote = true
	if c.crash(0.03) {
		c.history.note("run %d: crash before writing batch %d", c.run, b.Seq)
		return errCrash
	}
	ids := b.Cols[b.Schema.Index("id")]
	c.history.note("run %d: write batch %d (key %s): ids %v to %v", c.run, b.Seq, etl.BatchKey(b), ids.Value(0), ids.Value(b.Len()-1))
	return c.Target.Write(ctx, b)
}

func (c *crashingTarget) Sync(ctx context.Context) error {
	if err := c.Target.(etl.Syncer).Sync(ctx); err != nil {
		return err
	}
	if c.crash(0.3) {
		c.history.note("run %d: crash after a sync", c.run)
		return errCrash
	}
	c.history.note("run %d: sync", c.run)
	return nil
}

// history is a search's log of its runs, shown when it fails.
type history struct {
	mu    sync.Mutex
	lines []string
}

func (h *history) note(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, fmt.Sprintf(format, args...))
}

func (h *history) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.lines, "\n")
}

func (c *crashingTarget) SyncDue() bool      { return c.Target.(etl.Syncer).SyncDue() }
func (c *crashingTarget) TakeSkipped() int64 { return c.Target.(etl.Skipper).TakeSkipped() }

var (
	_ etl.Syncer  = (*crashingTarget)(nil)
	_ etl.Skipper = (*crashingTarget)(nil)
)

// checkOnce reports whether the table holds the ids 1..n once each, and
// marks t failed, saying why, if not.
func checkOnce(t *testing.T, path string, n int) bool {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT "id", COUNT(*) FROM "events" GROUP BY "id" ORDER BY "id"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := make(map[int]int, n)
	var twice []string
	for rows.Next() {
		var id, count int
		if err := rows.Scan(&id, &count); err != nil {
			t.Fatal(err)
		}
		seen[id] = count
		if count != 1 && len(twice) < 10 {
			twice = append(twice, fmt.Sprintf("id %d %d times", id, count))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var missing []int
	for id := 1; id <= n; id++ {
		if seen[id] == 0 && len(missing) < 10 {
			missing = append(missing, id)
		}
	}
	if len(twice) > 0 || len(missing) > 0 || len(seen) != n {
		t.Errorf("append table: %d distinct ids, want %d each once; more than once: %v; missing: %v", len(seen), n, twice, missing)
		return false
	}
	return true
}
