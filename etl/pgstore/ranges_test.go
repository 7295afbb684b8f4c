package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nightjar-etl/nightjar/etl"
)

// TestKeyRangesForgottenWithTheLoad: a job's key ranges (one done, one
// failed) are forgotten by a state reset and by a new load of the job's
// own stream (a full refresh), and not by a partition's load: after
// either, a plan sees no range to run again, and no range's end can move
// the job's position.
func TestKeyRangesForgottenWithTheLoad(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	open := func(job string) (failed, queued int) {
		t.Helper()
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		f, q, _, err := s.OpenRanges(ctx, tx, job)
		if err != nil {
			t.Fatal(err)
		}
		return len(f), q
	}
	plan := func(job string) {
		t.Helper()
		var ids []int64
		_, _, err := s.BeginSplitRun(ctx, job, "schedule", at, func(ctx context.Context, tx pgx.Tx, runID int64) (int, error) {
			for i, r := range []etl.KeyRange{{Hi: "10"}, {Lo: "10", Hi: "20"}} {
				id, err := s.AddRangePartition(ctx, tx, job, runID, i+1, r, nil, 0, at)
				if err != nil {
					return 0, err
				}
				ids = append(ids, id)
			}
			return 2, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, status := range []string{PartitionDone, PartitionFailed} {
			tx, err := s.Pool().Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.FinishPartition(ctx, tx, ids[i], status, "", at); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if f, q := open(job); f != 1 || q != 0 {
			t.Fatalf("job %s: %d failed and %d queued ranges, want 1 failed", job, f, q)
		}
	}

	plan("reset")
	if _, err := s.Reset(ctx, "reset"); err != nil {
		t.Fatal(err)
	}
	if f, q := open("reset"); f+q != 0 {
		t.Errorf("after a state reset: %d failed and %d queued ranges, want none", f, q)
	}

	plan("refresh")
	run, err := s.BeginPartitionRun(ctx, "refresh", "99", "partition", at)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartLoad(ctx, "refresh", etl.PartitionStream("99"), "load-p", run, at); err != nil {
		t.Fatal(err)
	}
	if f, _ := open("refresh"); f != 1 {
		t.Errorf("a partition's new load forgot the job's ranges: %d failed, want 1", f)
	}
	run, err = s.BeginRun(ctx, "refresh", "cli", at)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartLoad(ctx, "refresh", "", "load-job", run, at); err != nil {
		t.Fatal(err)
	}
	if f, q := open("refresh"); f+q != 0 {
		t.Errorf("after a new load of the job's stream: %d failed and %d queued ranges, want none", f, q)
	}
}

// TestResetForgetsReleasedFiles: a files partition that failed for good
// gives its files back with its checkpoint, for the next claim of them to
// continue its load (TakeReleased). After a state reset the next load
// starts from nothing: such a file must be loaded from its start, not
// from the failed partition's offset, which would leave out every row
// before it.
func TestResetForgetsReleasedFiles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTest(t)
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	file := etl.FileDone{Path: "in/a.csv", Size: 10, MTime: at, SHA256: "ab12"}
	var id int64
	if _, _, err := s.BeginSplitRun(ctx, "j", "schedule", at, func(ctx context.Context, tx pgx.Tx, runID int64) (int, error) {
		if _, err := s.ClaimFiles(ctx, tx, "j", runID, []etl.FileDone{file}, at); err != nil {
			return 0, err
		}
		var err error
		id, err = s.AddPartition(ctx, tx, "j", runID, 1, []PartitionFile{{Path: file.Path, SHA256: file.SHA256, Size: file.Size}}, 0, at)
		return 1, err
	}); err != nil {
		t.Fatal(err)
	}
	finish := func(tx pgx.Tx) error {
		_, err := s.FinishPartition(ctx, tx, id, PartitionFailed, "row 71: bad", at)
		return err
	}
	take := func() map[string]int64 {
		t.Helper()
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		released, err := s.TakeReleased(ctx, tx, "j", []etl.FileDone{file})
		if err != nil {
			t.Fatal(err)
		}
		return released
	}
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := finish(tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := take(); got[file.SHA256] != id {
		t.Fatalf("before the reset: given back %v, want %s from partition %d", got, file.SHA256, id)
	}
	if _, err := s.Reset(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	if got := take(); len(got) != 0 {
		t.Errorf("after a state reset the file is still given back %v: its next load would continue the failed partition's", got)
	}
}
