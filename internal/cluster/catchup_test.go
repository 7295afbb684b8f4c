package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/jobs/config"
)

// TestMissed: for random schedules, latest ticks and instants, Missed
// returns exactly the scheduled times a plain reference finds by walking
// second by second (every @every multiple of its delay since the epoch,
// every second a cron schedule fires), oldest first, the latest limit of
// them; nothing when the latest tick is older than the window.
func TestMissed(t *testing.T) {
	t.Parallel()
	specs := []string{"@every 2s", "@every 1s", "@every 7s", "@every 1m", "* * * * *", "*/2 * * * *", "0 2 * * *"}
	rapid.Check(t, func(rt *rapid.T) {
		spec := rapid.SampledFrom(specs).Draw(rt, "spec")
		sched, err := config.ParseSchedule(spec)
		if err != nil {
			rt.Fatal(err)
		}
		now := time.Unix(rapid.Int64Range(1.7e9, 1.9e9).Draw(rt, "unix"), rapid.Int64Range(0, 999_999_999).Draw(rt, "nanos")).UTC()
		// The latest tick in River: a scheduled time some way before now.
		last := LastTick(sched, now.Add(-time.Duration(rapid.Int64Range(0, int64(8*time.Minute)).Draw(rt, "ago"))))
		window := time.Duration(rapid.Int64Range(int64(time.Second), int64(6*time.Minute)).Draw(rt, "window"))
		limit := rapid.IntRange(0, 400).Draw(rt, "limit")

		var want []time.Time
		if now.Sub(last) <= window {
			for s := last.Truncate(time.Second).Add(time.Second); !s.After(now); s = s.Add(time.Second) {
				if fires(sched, s) {
					want = append(want, s)
				}
			}
			if len(want) > limit {
				want = want[len(want)-limit:]
			}
		}
		got := Missed(sched, last, now, window, limit)
		if !slices.EqualFunc(got, want, time.Time.Equal) {
			rt.Fatalf("Missed(%s, last %s, now %s, window %s, limit %d) = %d times %v, want %d %v",
				spec, last, now, window, limit, len(got), got, len(want), want)
		}
	})
}

// fires reports whether sched has a scheduled time at s (a whole second).
func fires(sched cron.Schedule, s time.Time) bool {
	if d, ok := sched.(cron.ConstantDelaySchedule); ok {
		return s.UnixNano()%int64(d.Delay) == 0
	}
	return sched.Next(s.Add(-time.Second)).Equal(s)
}
