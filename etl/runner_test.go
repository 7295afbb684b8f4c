package etl_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

type setup struct {
	store  *sqlitestore.Store
	runner *etl.Runner
}

func newSetup(t *testing.T) setup {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return setup{store: st, runner: &etl.Runner{Store: st, Owner: "test"}}
}

// batches returns n batches of 2 rows each; batch i has position "p<i>".
func batches(n int) []*etl.Batch {
	out := make([]*etl.Batch, n)
	for i := range out {
		out[i] = etltest.StringBatch("in.csv", int64(2+2*i), fmt.Sprintf(`"p%d"`, i), []string{"id"},
			[]string{fmt.Sprint(2 * i)}, []string{fmt.Sprint(2*i + 1)})
	}
	return out
}

func TestRunnerCheckpointsAfterEveryDurableBatch(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	failAt := int64(3)
	target := &etltest.Target{WriteHook: func(b *etl.Batch) error {
		if b.Seq == failAt {
			return errors.New("target down")
		}
		return nil
	}}
	src := &etltest.Source{Batches: batches(5)}
	job := &etl.Job{Name: "j", Source: src, Targets: []etl.NamedTarget{{Name: "t", Target: target}}}

	run, err := s.runner.Run(ctx, job, etl.RunOptions{})
	if err == nil || run.Status != etl.RunFailed {
		t.Fatalf("run = %+v, %v; want failed", run, err)
	}
	cp, err := s.store.Checkpoint(ctx, "j", "")
	if err != nil {
		t.Fatal(err)
	}
	// Batches 1 and 2 were durable; batch 3 failed: the position is p1.
	if string(cp.Position) != `"p1"` || cp.Seq != 2 {
		t.Fatalf("checkpoint = %s seq %d, want \"p1\" seq 2", cp.Position, cp.Seq)
	}
	// The failed batch reached the sink (read), but was not written.
	if run.Written != 4 || run.Read != 6 {
		t.Errorf("counters = %+v, want 6 read, 4 written", run.Counters)
	}

	// The rerun resumes after p1 with the same sequence numbers.
	failAt = -1
	target.Written = nil
	run, err = s.runner.Run(ctx, job, etl.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, b := range target.Written {
		seqs = append(seqs, b.Seq)
	}
	if fmt.Sprint(seqs) != "[3 4 5]" || run.Written != 6 {
		t.Fatalf("rerun wrote seqs %v (%d rows), want [3 4 5] (6 rows)", seqs, run.Written)
	}
	cp, _ = s.store.Checkpoint(ctx, "j", "")
	if string(cp.Position) != `"p4"` || cp.Seq != 5 {
		t.Fatalf("checkpoint = %s seq %d, want \"p4\" seq 5", cp.Position, cp.Seq)
	}
}

func TestRunnerHoldsPositionForCommitDurableTarget(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	bs := batches(3)
	bs[1].Rejects = []etl.Reject{{Step: "source", Origin: etl.Origin{File: "in.csv", Line: 4}, Reason: "11 fields, header has 10"}}
	src := &etltest.Source{Batches: bs, NextHook: func(i int) error {
		if i == 2 {
			return errors.New("disk on fire")
		}
		return nil
	}}
	fileTarget := &etltest.Target{Durable: etl.DurableAtCommit}
	job := &etl.Job{Name: "j", Source: src, Targets: []etl.NamedTarget{{Name: "f", Target: fileTarget}}}
	if _, err := s.runner.Run(ctx, job, etl.RunOptions{}); err == nil {
		t.Fatal("want failure")
	}
	cp, _ := s.store.Checkpoint(ctx, "j", "")
	q, _ := s.store.Quarantined(ctx, "j", 0)
	if cp.Position != nil || len(q) != 0 || fileTarget.Committed || !fileTarget.Closed {
		t.Fatalf("after failure: position %s, %d quarantined, committed %v closed %v; want nothing recorded, target closed uncommitted",
			cp.Position, len(q), fileTarget.Committed, fileTarget.Closed)
	}

	src.NextHook = nil
	run, err := s.runner.Run(ctx, job, etl.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cp, _ = s.store.Checkpoint(ctx, "j", "")
	q, _ = s.store.Quarantined(ctx, "j", 0)
	if string(cp.Position) != `"p2"` || len(q) != 1 || !fileTarget.Committed {
		t.Fatalf("position %s, %d quarantined, committed %v", cp.Position, len(q), fileTarget.Committed)
	}
	if q[0].Origin != "in.csv:4" || run.Rejected != 1 || run.Read != 7 {
		t.Errorf("quarantine %+v, run %+v", q[0], run.Counters)
	}
}

func TestRunnerDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	target := &etltest.Target{}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: batches(2)}, Targets: []etl.NamedTarget{{Name: "t", Target: target}}}
	run, err := s.runner.Run(ctx, job, etl.RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := s.store.Checkpoint(ctx, "j", "")
	if len(target.Written) != 0 || cp.Position != nil || run.Read != 4 {
		t.Fatalf("dry run wrote %d batches, position %s, read %d", len(target.Written), cp.Position, run.Read)
	}
}

func TestRunnerLimitStopsAndResumes(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	target := &etltest.Target{}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: batches(5)}, Targets: []etl.NamedTarget{{Name: "t", Target: target}}}
	run, err := s.runner.Run(ctx, job, etl.RunOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if run.Read != 4 { // whole batches: 2 + 2 reach the limit of 3
		t.Fatalf("read %d, want 4", run.Read)
	}
	run, err = s.runner.Run(ctx, job, etl.RunOptions{})
	if err != nil || run.Read != 6 || target.Rows() != 10 {
		t.Fatalf("second run read %d, target has %d rows, err %v; want 6 and 10", run.Read, target.Rows(), err)
	}
}

func TestRunnerRejectRatio(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	bs := batches(1)
	bs[0].Rejects = []etl.Reject{{Reason: "bad"}, {Reason: "bad"}}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: bs}, MaxRejectRatio: 0.25,
		Targets: []etl.NamedTarget{{Name: "t", Target: &etltest.Target{}}}}
	run, err := s.runner.Run(context.Background(), job, etl.RunOptions{})
	if !errors.Is(err, etl.ErrTooManyRejects) || run.Status != etl.RunFailed {
		t.Fatalf("run %+v err %v, want ErrTooManyRejects", run, err)
	}
}

func TestRunnerCancelled(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx, cancel := context.WithCancel(context.Background())
	target := &etltest.Target{WriteHook: func(b *etl.Batch) error {
		if b.Seq == 2 {
			cancel()
		}
		return nil
	}}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: batches(50)}, Targets: []etl.NamedTarget{{Name: "t", Target: target}}}
	run, err := s.runner.Run(ctx, job, etl.RunOptions{})
	if !errors.Is(err, context.Canceled) || run.Status != etl.RunCancelled {
		t.Fatalf("run %+v err %v, want cancelled", run, err)
	}
	// Batch 2 was written before the cancel was seen: it is checkpointed.
	cp, _ := s.store.Checkpoint(context.Background(), "j", "")
	if cp.Seq < 2 || int(cp.Seq) != len(target.Written) {
		t.Fatalf("checkpoint seq %d, target got %d batches", cp.Seq, len(target.Written))
	}
}

func TestRunnerLeaseHeld(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	if err := s.store.AcquireLease(ctx, "j", "other", time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	job := &etl.Job{Name: "j", Source: &etltest.Source{}, Targets: []etl.NamedTarget{{Name: "t", Target: &etltest.Target{}}}}
	if _, err := s.runner.Run(ctx, job, etl.RunOptions{}); !errors.Is(err, etl.ErrLeaseHeld) {
		t.Fatalf("err = %v, want ErrLeaseHeld", err)
	}
}

func TestRunnerTakesOverLeaseOfGoneOwner(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	if err := s.store.AcquireLease(ctx, "j", "dead", time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.store.AcquireLease(ctx, "k", "alive", time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.runner.OwnerGone = func(owner string) bool { return owner == "dead" }
	for job, wantErr := range map[string]bool{"j": false, "k": true} {
		j := &etl.Job{Name: job, Source: &etltest.Source{}, Targets: []etl.NamedTarget{{Name: "t", Target: &etltest.Target{}}}}
		_, err := s.runner.Run(ctx, j, etl.RunOptions{})
		if gotErr := errors.Is(err, etl.ErrLeaseHeld); gotErr != wantErr {
			t.Errorf("job %s: err %v, want lease held %v", job, err, wantErr)
		}
	}
}

// routeStep routes even ids to the "crm" target.
type routeStep struct{}

func (routeStep) Apply(_ context.Context, b *etl.Batch) (*etl.Batch, error) {
	mask := make([]bool, b.Len())
	for i, id := range b.Col("id").Str {
		mask[i] = id[len(id)-1]%2 == 0
	}
	b.Routes = map[string][]bool{"crm": mask}
	return b, nil
}

func TestRunnerRoutesRowsToNamedTargets(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	crm, warehouse := &etltest.Target{}, &etltest.Target{}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: batches(3)},
		Steps: []etl.NamedStep{{Name: "route", Step: routeStep{}}},
		Targets: []etl.NamedTarget{
			{Name: "targets[0]", Target: crm, Route: "crm"},
			{Name: "targets[1]", Target: warehouse, Route: "warehouse"},
		}}
	if _, err := s.runner.Run(context.Background(), job, etl.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range crm.Written {
		if err := b.Check(); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.Col("id").Str...)
	}
	if fmt.Sprint(ids) != "[0 2 4]" || warehouse.Rows() != 6 {
		t.Fatalf("crm got %v, warehouse %d rows; want [0 2 4] and 6", ids, warehouse.Rows())
	}
}

func TestRunnerStopFinishesBatchesInFlight(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	stop := make(chan struct{})
	target := &etltest.Target{WriteHook: func(b *etl.Batch) error {
		if b.Seq == 2 {
			close(stop)
		}
		return nil
	}}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: batches(50)}, Targets: []etl.NamedTarget{{Name: "t", Target: target}}}
	run, err := s.runner.Run(ctx, job, etl.RunOptions{Stop: stop})
	if !errors.Is(err, etl.ErrStopped) || run.Status != etl.RunCancelled {
		t.Fatalf("run %+v err %v, want stopped", run, err)
	}
	// Every batch read before the stop was written and checkpointed.
	cp, _ := s.store.Checkpoint(ctx, "j", "")
	if int(cp.Seq) != len(target.Written) || len(target.Written) >= 50 || run.Written != int64(target.Rows()) {
		t.Fatalf("checkpoint seq %d, %d batches written (%d rows), run wrote %d", cp.Seq, len(target.Written), target.Rows(), run.Written)
	}
	// The next run goes on from there: no row lost or repeated.
	target.WriteHook = nil
	if _, err := s.runner.Run(ctx, job, etl.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if target.Rows() != 100 {
		t.Fatalf("target has %d rows after both runs, want 100", target.Rows())
	}
}

// rejectingTarget refuses the first row of every batch, as a CRM answering
// with a per-record error would.
type rejectingTarget struct {
	etltest.Target
	pending []etl.Reject
}

func (t *rejectingTarget) Write(ctx context.Context, b *etl.Batch) error {
	if b.Len() > 0 {
		t.pending = append(t.pending, etl.Reject{Step: "crm", Origin: b.Origins[0], Reason: "INVALID_EMAIL"})
	}
	return t.Target.Write(ctx, b)
}

func (t *rejectingTarget) TakeRejects() []etl.Reject {
	r := t.pending
	t.pending = nil
	return r
}

func TestRunnerQuarantinesRowsTargetsRefuse(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	crm := &rejectingTarget{}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: batches(3)},
		Targets: []etl.NamedTarget{{Name: "crm", Target: crm}, {Name: "wh", Target: &etltest.Target{}}}}
	run, err := s.runner.Run(ctx, job, etl.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := s.store.Quarantined(ctx, "j", 0)
	if run.Rejected != 3 || len(q) != 3 || q[0].Reason != "INVALID_EMAIL" {
		t.Fatalf("run rejected %d, quarantine %+v", run.Rejected, q)
	}
	// written counts rows that landed: not the ones the CRM refused
	// (it said "written 10" when 4 of them were sent).
	if landed := int64(crm.Rows() - 3); run.Written != landed || run.Read != int64(crm.Rows()) {
		t.Fatalf("run read %d, written %d; the CRM took %d of %d rows", run.Read, run.Written, landed, crm.Rows())
	}
}

func TestKeepCompactsRoutes(t *testing.T) {
	b := etltest.StringBatch("in.csv", 2, `"p"`, []string{"id"}, []string{"a"}, []string{"b"}, []string{"c"}, []string{"d"})
	b.Routes = map[string][]bool{"crm": {true, false, false, true}}
	b.Keep([]bool{false, true, true, true}) // drop "a"
	if got := fmt.Sprint(b.Routes["crm"]); got != "[false false true]" {
		t.Fatalf("routes after Keep = %s, want [false false true]", got)
	}
}

// chunkFlusher holds every row and flushes them in batches of two.
type chunkFlusher struct {
	held    *etl.Batch
	flushes int
}

func (f *chunkFlusher) Apply(_ context.Context, b *etl.Batch) (*etl.Batch, error) {
	if f.held == nil {
		f.held = etl.NewBatch(b.Schema, 0)
	}
	for i := 0; i < b.Len(); i++ {
		f.held.Cols[0].AppendString(b.Cols[0].Str[i])
		f.held.Origins = append(f.held.Origins, b.Origins[i])
	}
	b.Keep(make([]bool, b.Len()))
	return b, nil
}

func (f *chunkFlusher) Flush(context.Context) (*etl.Batch, error) {
	f.flushes++
	if f.held == nil || f.held.Len() == 0 {
		return nil, nil
	}
	n := min(2, f.held.Len())
	out := etl.NewBatch(f.held.Schema, n)
	out.Cols[0].Str = append(out.Cols[0].Str, f.held.Cols[0].Str[:n]...)
	out.Cols[0].Null = append(out.Cols[0].Null, make([]bool, n)...)
	out.Origins = append(out.Origins, f.held.Origins[:n]...)
	f.held.Cols[0].Str, f.held.Cols[0].Null = f.held.Cols[0].Str[n:], f.held.Cols[0].Null[n:]
	f.held.Origins = f.held.Origins[n:]
	return out, nil
}

// suffixStep appends "!" to every id, to show flushed batches go through
// the steps after the flusher.
type suffixStep struct{}

func (suffixStep) Apply(_ context.Context, b *etl.Batch) (*etl.Batch, error) {
	for i := range b.Cols[0].Str {
		b.Cols[0].Str[i] += "!"
	}
	return b, nil
}

func TestRunnerFlushesUntilNil(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	flusher := &chunkFlusher{}
	target := &etltest.Target{}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: batches(3)},
		Steps:   []etl.NamedStep{{Name: "hold", Step: flusher}, {Name: "suffix", Step: suffixStep{}}},
		Targets: []etl.NamedTarget{{Name: "t", Target: target}}}
	run, err := s.runner.Run(ctx, job, etl.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if flusher.flushes != 4 {
		t.Errorf("Flush called %d times, want 4 (3 batches, then nil)", flusher.flushes)
	}
	// The 3 input batches arrive emptied, then the 3 flushed ones.
	var ids, positions []string
	var seqs []int64
	keys := map[string]bool{}
	for _, b := range target.Written {
		if err := b.Check(); err != nil {
			t.Fatal(err)
		}
		keys[etl.BatchKey(b)] = true
		seqs = append(seqs, b.Seq)
		if b.Len() > 0 {
			ids = append(ids, b.Col("id").Str...)
			positions = append(positions, string(b.Position))
		}
	}
	if got := fmt.Sprint(ids); got != "[0! 1! 2! 3! 4! 5!]" {
		t.Errorf("ids written %s, want every id once, through the step after the flusher", got)
	}
	if got := fmt.Sprint(positions); got != `["p2" "p2" "p2"]` {
		t.Errorf("flushed batches' positions %s, want the last position on each", got)
	}
	// Each batch has a key of its own, so a target that skips replayed
	// batches (append markers) loads every flushed batch.
	if len(keys) != 6 || fmt.Sprint(seqs) != "[1 2 3 4 5 6]" {
		t.Errorf("seqs %v, %d distinct batch keys; want 1..6, 6 keys", seqs, len(keys))
	}
	cp, _ := s.store.Checkpoint(ctx, "j", "")
	if string(cp.Position) != `"p2"` || cp.Seq != 6 || run.Written != 6 || run.Read != 6 {
		t.Errorf("checkpoint %s seq %d, run %+v; want \"p2\" seq 6, 6 read and written", cp.Position, cp.Seq, run.Counters)
	}
}

// failingStore fails the checkpoint of one batch.
type failingStore struct {
	*sqlitestore.Store
	failSeq int64
}

func (s failingStore) Commit(ctx context.Context, c etl.Commit) error {
	if c.Seq == s.failSeq {
		return errors.New("disk full")
	}
	return s.Store.Commit(ctx, c)
}

func TestRunnerFailsWhenACheckpointFails(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	target := &etltest.Target{}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: batches(20)}, Targets: []etl.NamedTarget{{Name: "t", Target: target}}}
	runner := &etl.Runner{Store: failingStore{s.store, 3}, Owner: "test"}
	run, err := runner.Run(ctx, job, etl.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk full") || run.Status != etl.RunFailed {
		t.Fatalf("run %+v err %v, want failed with the checkpoint's error", run, err)
	}
	cp, _ := s.store.Checkpoint(ctx, "j", "")
	if cp.Seq != 2 {
		t.Fatalf("checkpoint seq %d, want 2 (the last one recorded)", cp.Seq)
	}
	// Written but unrecorded batches are delivered again by the next run.
	target.Written = nil
	if _, err := s.runner.Run(ctx, job, etl.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if target.Written[0].Seq != 3 {
		t.Fatalf("rerun starts at batch %d, want 3", target.Written[0].Seq)
	}
}

func TestRunnerCheckpointsSyncerOnlyAfterSync(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	failSync := 2
	target := &etltest.SyncTarget{Every: 2, SyncHook: func(n int) error {
		if n == failSync {
			return errors.New("commit failed")
		}
		return nil
	}}
	src := &etltest.Source{Batches: batches(5)}
	job := &etl.Job{Name: "j", Source: src, Targets: []etl.NamedTarget{{Name: "t", Target: target}}}

	run, err := s.runner.Run(ctx, job, etl.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "sync after batch 4: commit failed") {
		t.Fatalf("run = %+v, %v; want the failed sync after batch 4", run, err)
	}
	// Batches 1 and 2 were synced; 3 and 4 were written, then lost with
	// the failed sync: the position is p1.
	cp, _ := s.store.Checkpoint(ctx, "j", "")
	if string(cp.Position) != `"p1"` || cp.Seq != 2 || fmt.Sprint(target.SyncedSeqs()) != "[1 2]" {
		t.Fatalf("checkpoint %s seq %d, synced %v; want \"p1\" seq 2, synced [1 2]", cp.Position, cp.Seq, target.SyncedSeqs())
	}
	// Written counts the rows synced, not those lost with the failed sync.
	if run.Written != 4 || run.Read != 8 {
		t.Errorf("counters = %+v, want 8 read, 4 written", run.Counters)
	}

	// The rerun writes 3, 4 and 5, and syncs 5 at the end of input though
	// no sync was due.
	failSync = -1
	if _, err := s.runner.Run(ctx, job, etl.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	cp, _ = s.store.Checkpoint(ctx, "j", "")
	if string(cp.Position) != `"p4"` || cp.Seq != 5 || fmt.Sprint(target.SyncedSeqs()) != "[1 2 3 4 5]" {
		t.Fatalf("checkpoint %s seq %d, synced %v; want \"p4\" seq 5, synced [1 2 3 4 5]", cp.Position, cp.Seq, target.SyncedSeqs())
	}
}

func TestRunnerSyncsWhileTheSourceIsSlow(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx := context.Background()
	// The runner's idle wait is on a fake clock that only this test moves:
	// no sync is ever due, so only the idle time passing makes one.
	clock := etltest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
	s.runner.Clock, s.runner.SyncIdle = clock, time.Minute
	target := &etltest.SyncTarget{}
	src := &etltest.Source{Batches: batches(3), NextHook: func(i int) error {
		if i != 2 {
			return nil
		}
		// The source stalls before its third batch until the first two
		// are checkpointed, moving the fake time on while the sink waits.
		for range 10000 {
			cp, err := s.store.Checkpoint(ctx, "j", "")
			if err != nil {
				return err
			}
			if string(cp.Position) == `"p1"` {
				return nil
			}
			if clock.WaitTimers(1, time.Millisecond) {
				clock.Advance(time.Minute)
			}
		}
		return errors.New("batches 1 and 2 were not checkpointed while the source stalled")
	}}
	job := &etl.Job{Name: "j", Source: src, Targets: []etl.NamedTarget{{Name: "t", Target: target}}}
	if _, err := s.runner.Run(ctx, job, etl.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if target.Syncs < 2 || fmt.Sprint(target.SyncedSeqs()) != "[1 2 3]" {
		t.Fatalf("%d syncs, synced %v; want at least 2 (idle, end of input), synced [1 2 3]", target.Syncs, target.SyncedSeqs())
	}
}

// dryRunTarget is a target that says what it would send.
type dryRunTarget struct{ etltest.Target }

func (t *dryRunTarget) DryRun(_ context.Context, env etl.TargetEnv, b *etl.Batch) ([]string, error) {
	return []string{fmt.Sprintf("%s of run %d: %d row(s)", env.Name, env.RunID, b.Len())}, nil
}

// TestRunnerDryRunReport: a dry run opens and writes no target, and tells
// DryRunReport each target's rows (after its route) and what a DryRunner
// would send.
func TestRunnerDryRunReport(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	bs := batches(2)
	bs[0].Routes = map[string][]bool{"hot": {true, false}}
	bs[1].Routes = map[string][]bool{"hot": {false, false}}
	all, hot := &etltest.Target{}, &dryRunTarget{}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: bs},
		Targets: []etl.NamedTarget{{Name: "all", Target: all}, {Name: "hot", Target: hot, Route: "hot"}}}
	rows := map[string]int{}
	var sends []string
	run, err := s.runner.Run(context.Background(), job, etl.RunOptions{DryRun: true, DryRunReport: func(target string, n int, s []string) {
		rows[target] += n
		sends = append(sends, s...)
	}})
	if err != nil || run.Written != 0 {
		t.Fatalf("dry run: %+v %v", run, err)
	}
	if diff := cmp.Diff(map[string]int{"all": 4, "hot": 1}, rows); diff != "" {
		t.Errorf("rows per target (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{fmt.Sprintf("hot of run %d: 1 row(s)", run.ID)}, sends); diff != "" {
		t.Errorf("sends (-want +got):\n%s", diff)
	}
	if len(all.Written) != 0 || all.Env.Job != "" || len(hot.Written) != 0 {
		t.Errorf("a dry run opened or wrote a target")
	}
}
