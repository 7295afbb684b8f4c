package etl_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// rejectingBatches returns n batches of 2 rows, each carrying per rejects.
func rejectingBatches(n, per int) []*etl.Batch {
	bs := batches(n)
	for i, b := range bs {
		for r := range per {
			b.Rejects = append(b.Rejects, etl.Reject{
				Step: "steps[1] cast", Origin: etl.Origin{File: "in.csv", Line: int64(1000*i + r)},
				Field: "score", Value: "x", Reason: "expected int", Row: []byte(`{"score":"x"}`),
			})
		}
	}
	return bs
}

func (s setup) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := s.store.DB().Get(&n, `SELECT count(*) FROM "`+table+`"`); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRunnerStagesHeldBackRejects: a run whose checkpoint is held back to
// its end (a target durable at commit) hands its rejects to the state
// store as they come instead of holding them in memory; they reach the
// quarantine with the final checkpoint, and a run that fails leaves none
// behind, so the rerun quarantines each once.
func TestRunnerStagesHeldBackRejects(t *testing.T) {
	defer etl.SetStageAt(64)()
	s := newSetup(t)
	ctx := context.Background()
	const n, per = 30, 50
	var midRun struct{ staged, quarantined int }
	failAt := int64(n)
	target := &etltest.Target{Durable: etl.DurableAtCommit, WriteHook: func(b *etl.Batch) error {
		if b.Seq == 25 {
			midRun.staged, midRun.quarantined = s.count(t, "staged_quarantine"), s.count(t, "quarantine")
		}
		if b.Seq == failAt {
			return errors.New("target down")
		}
		return nil
	}}
	job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: rejectingBatches(n, per)},
		Targets: []etl.NamedTarget{{Name: "t", Target: target}}}

	run, err := s.runner.Run(ctx, job, etl.RunOptions{})
	if err == nil {
		t.Fatal("the run did not fail")
	}
	if midRun.staged < 20*per || midRun.quarantined != 0 {
		t.Errorf("at batch 25: %d rejects staged, %d in the quarantine; want at least %d staged, none in the quarantine",
			midRun.staged, midRun.quarantined, 20*per)
	}
	if got := s.count(t, "quarantine"); got != 0 || run.Rejected != 0 {
		t.Errorf("failed run: quarantine holds %d, run counts %d rejected; want 0 and 0", got, run.Rejected)
	}
	if got := s.count(t, "staged_quarantine"); got != 0 {
		t.Errorf("failed run left %d staged rejects", got)
	}

	failAt = -1
	run, err = s.runner.Run(ctx, job, etl.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.count(t, "quarantine"); got != n*per || run.Rejected != n*per {
		t.Errorf("quarantine holds %d, run counts %d rejected; want %d", got, run.Rejected, n*per)
	}
	if got := s.count(t, "staged_quarantine"); got != 0 {
		t.Errorf("%d staged rejects left after the final checkpoint", got)
	}
	q, err := s.store.Quarantined(ctx, "j", 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range q {
		if seen[r.Origin] {
			t.Fatalf("%s quarantined twice", r.Origin)
		}
		seen[r.Origin] = true
	}
	if !seen[fmt.Sprintf("in.csv:%d", 1000*(n-1)+per-1)] {
		t.Errorf("the last reject is not in the quarantine")
	}
}
