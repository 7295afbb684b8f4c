package etl_test

import (
	"context"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// passTarget records what TargetEnv.FullPass said at Commit.
type passTarget struct {
	etltest.Target
	fullPass *bool
}

func (p *passTarget) Commit(ctx context.Context) error {
	v := p.Env.FullPass != nil && p.Env.FullPass()
	p.fullPass = &v
	return p.Target.Commit(ctx)
}

// rejectAll rejects every row of the batches it sees.
type rejectAll struct{}

func (rejectAll) Apply(_ context.Context, b *etl.Batch) (*etl.Batch, error) {
	for i := 0; i < b.Len(); i++ {
		b.Reject(i, "reject", "id", "", "no")
	}
	b.Keep(make([]bool, b.Len()))
	return b, nil
}

// TestFullPass: a target is told the run read the whole input only for a
// full refresh read to its end, within the reject bound, not stopped.
func TestFullPass(t *testing.T) {
	t.Parallel()
	stopped := make(chan struct{})
	close(stopped)
	for _, c := range []struct {
		name    string
		opts    etl.RunOptions
		rejects bool
		want    bool
	}{
		{name: "incremental", opts: etl.RunOptions{}, want: false},
		{name: "full refresh", opts: etl.RunOptions{FullRefresh: true}, want: true},
		{name: "full refresh cut by a limit", opts: etl.RunOptions{FullRefresh: true, Limit: 4}, want: false},
		{name: "full refresh, limit above the rows", opts: etl.RunOptions{FullRefresh: true, Limit: 100}, want: true},
		{name: "full refresh stopped", opts: etl.RunOptions{FullRefresh: true, Stop: stopped}, want: false},
		{name: "full refresh, too many rejects", opts: etl.RunOptions{FullRefresh: true}, rejects: true, want: false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t)
			target := &passTarget{}
			job := &etl.Job{Name: "j", Source: &etltest.Source{Batches: batches(4)}, Targets: []etl.NamedTarget{{Name: "t", Target: target}}}
			if c.rejects {
				job.Steps = []etl.NamedStep{{Name: "reject", Step: rejectAll{}}}
				job.MaxRejectRatio = 0.5
			}
			s.runner.Run(context.Background(), job, c.opts)
			if target.fullPass == nil {
				t.Fatal("Commit was not called")
			}
			if *target.fullPass != c.want {
				t.Errorf("FullPass() = %v, want %v", *target.fullPass, c.want)
			}
		})
	}
}
