package etl_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// rowSource reads rows 0..n-1 ("r0", "r1" …) in batches of size, each a
// new batch (a step changes values in place), positioned by the number of
// rows read; it reopens.
type rowSource struct {
	n, size int
	next    int
	opens   int
}

var _ etl.Reopener = (*rowSource)(nil)

func (s *rowSource) Reopens() bool { return true }

func (s *rowSource) Open(_ context.Context, env etl.SourceEnv) error {
	s.opens++
	s.next = 0
	if env.Position != nil {
		return json.Unmarshal(env.Position, &s.next)
	}
	return nil
}

func (s *rowSource) Next(context.Context) (*etl.Batch, error) {
	if s.next >= s.n {
		return nil, etl.ErrEndOfInput
	}
	var rows [][]string
	for ; s.next < s.n && len(rows) < s.size; s.next++ {
		rows = append(rows, []string{"r" + strconv.Itoa(s.next)})
	}
	return etltest.StringBatch("in.csv", int64(s.next-len(rows)+2), strconv.Itoa(s.next), []string{"id"}, rows...), nil
}

func (s *rowSource) Close(context.Context) error { return nil }

// txTable is a database table behind a transaction that keeps no batches:
// Write adds a batch's rows to the open transaction (skipping a batch
// whose replay marker exists, as append does), Sync commits it. A fault
// of the plan rolls the transaction back and fails with etl.Rewind, or
// (unseen) fails after the commit went through.
type txTable struct {
	every int
	// fault says whether the op-th Write or Sync (counted from 1 over the
	// target's life) fails, and whether after its commit.
	fault func(op int) (fail, unseen bool)

	ops         int
	rows        map[string]int  // value → times in the table
	markers     map[string]bool // batch keys committed
	open        []string        // values of the open transaction
	openKeys    map[string]bool
	skippedOpen int64
	skipped     int64
	// seenRows are the rows of commits that reported success: the runs'
	// Written must add up to them.
	seenRows int64
	rewinds  bool
}

var (
	_ etl.Syncer   = (*txTable)(nil)
	_ etl.Skipper  = (*txTable)(nil)
	_ etl.Reopener = (*txTable)(nil)
)

func (t *txTable) Reopens() bool { return true }

func (t *txTable) Open(_ context.Context, env etl.TargetEnv) error {
	t.rewinds = env.Rewinds
	t.rollback()
	t.skipped = 0
	return nil
}

func (t *txTable) rollback() {
	t.open, t.openKeys, t.skippedOpen = nil, map[string]bool{}, 0
}

func (t *txTable) Write(_ context.Context, b *etl.Batch) error {
	t.ops++
	if fail, _ := t.fault(t.ops); fail {
		t.rollback()
		return etl.Rewind(fmt.Errorf("write batch %d: connection lost", b.Seq))
	}
	key := etl.BatchKey(b)
	if t.markers[key] || t.openKeys[key] {
		t.skippedOpen += int64(b.Len())
		return nil
	}
	t.openKeys[key] = true
	t.open = append(t.open, b.Cols[0].Str...)
	return nil
}

func (t *txTable) SyncDue() bool { return len(t.openKeys) >= t.every }

func (t *txTable) Sync(context.Context) error {
	t.ops++
	fail, unseen := t.fault(t.ops)
	if fail && !unseen {
		t.rollback()
		return etl.Rewind(errors.New("commit: connection lost"))
	}
	for _, v := range t.open {
		t.rows[v]++
	}
	for k := range t.openKeys {
		t.markers[k] = true
	}
	if fail {
		t.rollback()
		return etl.Rewind(errors.New("commit: connection lost after the commit went through"))
	}
	t.seenRows += int64(len(t.open))
	t.skipped += t.skippedOpen
	t.rollback()
	return nil
}

func (t *txTable) TakeSkipped() int64 {
	n := t.skipped
	t.skipped = 0
	return n
}

func (t *txTable) Durability() etl.Durability   { return etl.DurablePerBatch }
func (t *txTable) Commit(context.Context) error { return nil }
func (t *txTable) Close() error                 { t.rollback(); return nil }

// TestRewindSearch searches random loads, batch and transaction sizes and
// faults (a write or a commit failing, or a commit going through unseen),
// run after run until one completes, the first run a full refresh after a
// complete load or not, against a plain reference: the table holds each
// row once per load, with the step applied once; the runs' Written add up
// to the rows of the commits seen and, with Skipped, to the rows; a run that
// completes read each row after its starting checkpoint once; and the
// target was told to keep no batches (Rewinds).
func TestRewindSearch(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 60).Draw(rt, "rows")
		size := rapid.IntRange(1, 7).Draw(rt, "batch")
		every := rapid.IntRange(1, 5).Draw(rt, "every")
		faults := rapid.SliceOfN(rapid.IntRange(0, 2), 0, 40).Draw(rt, "faults") // 0 none, 1 fail, 2 unseen
		// reload: the rows are loaded once without faults first, then a
		// full refresh loads them again (a new load) with the faults.
		reload := rapid.Bool().Draw(rt, "full refresh after a load")
		ctx := context.Background()
		st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			rt.Fatal(err)
		}
		defer st.Close()
		clock := etltest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
		runner := &etl.Runner{Store: st, Owner: "test", Clock: clock}
		src := &rowSource{n: n, size: size}
		armed := 0 // ops before the faults' first
		tbl := &txTable{every: every, rows: map[string]int{}, markers: map[string]bool{}, fault: func(op int) (bool, bool) {
			op -= armed
			if op < 1 || op > len(faults) || armed < 0 {
				return false, false
			}
			return faults[op-1] != 0, faults[op-1] == 2
		}}
		job := &etl.Job{Name: "j", Source: src, Steps: []etl.NamedStep{{Name: "suffix", Step: suffixStep{}}},
			Targets: []etl.NamedTarget{{Name: "t", Target: tbl}}}
		want := 1
		if reload {
			armed = -1
			if _, err := runner.Run(ctx, job, etl.RunOptions{}); err != nil {
				rt.Fatal(err)
			}
			armed, tbl.seenRows, want = tbl.ops, 0, 2
		}
		var written, skipped int64
		for run := 1; ; run++ {
			cp, err := st.Checkpoint(ctx, "j", "")
			if err != nil {
				rt.Fatal(err)
			}
			from := 0
			if cp.Position != nil {
				from, _ = strconv.Atoi(string(cp.Position))
			}
			opts := etl.RunOptions{FullRefresh: reload && run == 1}
			if opts.FullRefresh {
				from = 0
			}
			r, err := runner.Run(ctx, job, opts)
			written += r.Written
			skipped += r.Skipped
			if !tbl.rewinds {
				rt.Fatal("the target was not told that the runner rewinds")
			}
			if err != nil {
				if run > len(faults)+1 {
					rt.Fatalf("run %d failed with no fault left: %v", run, err)
				}
				continue
			}
			if r.Read != int64(n-from) {
				rt.Fatalf("run %d read %d rows, want the %d after its checkpoint at row %d", run, r.Read, n-from, from)
			}
			if r.Written+r.Skipped != r.Read {
				rt.Fatalf("run %d: written %d + skipped %d != read %d", run, r.Written, r.Skipped, r.Read)
			}
			break
		}
		for i := range n {
			if c := tbl.rows["r"+strconv.Itoa(i)+"!"]; c != want {
				rt.Fatalf("row r%d! is in the table %d times, want %d (table %v)", i, c, want, tbl.rows)
			}
		}
		if len(tbl.rows) != n {
			rt.Fatalf("the table holds %d values, want %d: %v", len(tbl.rows), n, tbl.rows)
		}
		if written != tbl.seenRows || written+skipped != int64(n) {
			rt.Fatalf("the runs wrote %d and skipped %d; the commits seen hold %d rows, the input %d", written, skipped, tbl.seenRows, n)
		}
	})
}

// TestNoRewindWithoutReopen: a source that cannot reopen leaves a target's
// Rewind failure to fail the run, and the target is told to keep its
// batches itself.
func TestNoRewindWithoutReopen(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	tbl := &txTable{every: 2, rows: map[string]int{}, markers: map[string]bool{}, fault: func(op int) (bool, bool) { return op == 2, false }}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: batches(3)}, Targets: []etl.NamedTarget{{Name: "t", Target: tbl}}}
	_, err := s.runner.Run(context.Background(), job, etl.RunOptions{})
	if err == nil || tbl.rewinds {
		t.Fatalf("run: %v, rewinds %v; want a failure and no rewinds", err, tbl.rewinds)
	}
}

// TestRewindAttemptsPerStreak: every batch's first write fails, each
// failure after a checkpoint: six failures in one run, none two in a row,
// and the run completes; a target that fails four times in a row with no
// checkpoint between fails the run after 4 attempts.
func TestRewindAttemptsPerStreak(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.runner.Clock = etltest.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	// Per batch: the failed Write, the Write, the Sync.
	tbl := &txTable{every: 1, rows: map[string]int{}, markers: map[string]bool{}, fault: func(op int) (bool, bool) { return op%3 == 1, false }}
	job := &etl.Job{Name: "j", Source: &rowSource{n: 6, size: 1}, Targets: []etl.NamedTarget{{Name: "t", Target: tbl}}}
	r, err := s.runner.Run(ctx, job, etl.RunOptions{})
	if err != nil || r.Read != 6 || r.Written != 6 || len(tbl.rows) != 6 {
		t.Fatalf("run: %+v, %v; table %v; want 6 rows read and written", r.Counters, err, tbl.rows)
	}
	tbl = &txTable{every: 1, rows: map[string]int{}, markers: map[string]bool{}, fault: func(op int) (bool, bool) { return true, false }}
	job = &etl.Job{Name: "k", Source: &rowSource{n: 6, size: 1}, Targets: []etl.NamedTarget{{Name: "t", Target: tbl}}}
	if _, err := s.runner.Run(ctx, job, etl.RunOptions{}); err == nil || !strings.Contains(err.Error(), "after 4 attempts: t: write batch 1") || tbl.ops != 4 {
		t.Fatalf("run: %v after %d writes; want it failed after 4 attempts", err, tbl.ops)
	}
}
