package etl_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// ackingSource is an etltest.Source that is also an Acker, logging the
// order in which the runner commits (seen through the store), acks and
// closes.
type ackingSource struct {
	*etltest.Source
	events *[]string
}

func (s ackingSource) Ack(_ context.Context, pos etl.Position) error {
	*s.events = append(*s.events, "ack "+string(pos))
	return nil
}

// TestRunnerReportsSourceCloseError searches over batch counts, target
// durabilities and Close outcomes: Close runs once, after the last
// checkpoint and its Ack; its error makes the run fail with that error,
// recorded in the run's history, while the checkpoint and the counters keep
// what was committed.
func TestRunnerReportsSourceCloseError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tries := 0
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		tries++ // a fresh store each time: rapid runs its cases in turn
		st, err := sqlitestore.Open(ctx, filepath.Join(dir, fmt.Sprintf("state-%d.db", tries)))
		if err != nil {
			rt.Fatal(err)
		}
		defer st.Close()
		n := rapid.IntRange(0, 6).Draw(rt, "batches")
		durable := etl.Durability(rapid.IntRange(0, 1).Draw(rt, "durability"))
		closeFails := rapid.Bool().Draw(rt, "closeFails")

		var events []string
		inner := &etltest.Source{Batches: batches(n)}
		inner.CloseHook = func(ctx context.Context) error {
			cp, err := st.Checkpoint(ctx, "j", "")
			if err != nil {
				return err
			}
			events = append(events, "close at "+string(cp.Position))
			if closeFails {
				return errors.New("archive: permission denied")
			}
			return nil
		}
		target := &etltest.Target{Durable: durable}
		job := &etl.Job{Name: "j", Source: ackingSource{inner, &events}, Targets: []etl.NamedTarget{{Name: "t", Target: target}}}
		run, err := (&etl.Runner{Store: st, Owner: "test"}).Run(ctx, job, etl.RunOptions{})

		last := ""
		if n > 0 {
			last = fmt.Sprintf(`"p%d"`, n-1)
		}
		if inner.Closed != 1 {
			rt.Fatalf("Close called %d times, want 1", inner.Closed)
		}
		if len(events) == 0 || events[len(events)-1] != "close at "+last {
			rt.Fatalf("events %q: want Close last, after the checkpoint at %s", events, last)
		}
		if n > 0 && (len(events) < 2 || events[len(events)-2] != "ack "+last) {
			rt.Fatalf("events %q: want the Ack of %s just before Close", events, last)
		}
		cp, cerr := st.Checkpoint(ctx, "j", "")
		if cerr != nil {
			rt.Fatal(cerr)
		}
		if string(cp.Position) != last || run.Written != int64(2*n) {
			rt.Fatalf("checkpoint %s, %d written; want %s and %d: what was committed stays", cp.Position, run.Written, last, 2*n)
		}
		runs, herr := st.Runs(ctx, "j", 1)
		if herr != nil || len(runs) != 1 {
			rt.Fatalf("history: %v, %v", runs, herr)
		}
		if !closeFails {
			if err != nil || run.Status != etl.RunSucceeded || runs[0].Status != etl.RunSucceeded {
				rt.Fatalf("run %+v, %v; history %+v: want succeeded", run, err, runs[0])
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), "close source: archive: permission denied") {
			rt.Fatalf("run error %v: want the source's Close error", err)
		}
		if run.Status != etl.RunFailed || runs[0].Status != etl.RunFailed || !strings.Contains(runs[0].Error, "permission denied") {
			rt.Fatalf("run %+v, history %+v: want failed with the Close error", run, runs[0])
		}
	})
}
