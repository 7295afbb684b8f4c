package transforms

import (
	"context"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// TestNowReadsTheStepsClock: now() in set and filter reads the clock the
// step was built with (etl.BuildEnv.Clock), as it stands when each batch is
// applied, never the machine's time.
func TestNowReadsTheStepsClock(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		start := time.Unix(rapid.Int64Range(0, 4e9).Draw(rt, "start"), 0).UTC()
		clock := etltest.NewClock(start)
		env := etl.BuildEnv{Clock: clock}
		set, err := buildStepEnv(t, `set: { at: "now()" }`, env)
		if err != nil {
			rt.Fatal(err)
		}
		cutoff := start.Add(time.Duration(rapid.Int64Range(1, 1e6).Draw(rt, "cutoff")) * time.Second)
		filter, err := buildStepEnv(t, `filter: 'now() < date("`+cutoff.Format(time.RFC3339)+`")'`, env)
		if err != nil {
			rt.Fatal(err)
		}
		for range rapid.IntRange(1, 4).Draw(rt, "batches") {
			now := clock.Now()
			b, err := set.Apply(context.Background(), textBatch(t, []string{"id"}, []any{"1"}))
			if err != nil {
				rt.Fatal(err)
			}
			if got := b.Col("at").Value(0); got != now {
				rt.Fatalf("now() = %v, want the step's clock %v", got, now)
			}
			kept, err := filter.Apply(context.Background(), textBatch(t, []string{"id"}, []any{"1"}))
			if err != nil {
				rt.Fatal(err)
			}
			if want := now.Before(cutoff); (kept.Len() == 1) != want {
				rt.Fatalf("at %v, cutoff %v: filter kept %d rows", now, cutoff, kept.Len())
			}
			clock.Advance(time.Duration(rapid.Int64Range(0, 1e6).Draw(rt, "advance")) * time.Second)
		}
	})
}
