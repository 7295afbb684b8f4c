package config

import (
	"time"

	"github.com/robfig/cron/v3"
)

// starBit marks a cron field written as "*" (robfig/cron's encoding).
const starBit = 1 << 63

// Next returns the first time after t at which the scheduler starts the
// job; false for a job without a schedule. It is cron's next time with the daylight
// saving time rules of classic cron for jobs at fixed hours (such as
// "CRON_TZ=Europe/Berlin 30 2 * * *"): on the night the clocks go forward,
// a time that does not exist runs as if the clocks had not changed (02:30
// CET is 03:30 CEST) instead of being skipped for the day; on the night
// they go back, a time that occurs twice runs once. Jobs whose hour field
// is "*" and @every schedules are not adjusted: they follow real time.
func (js *JobSpec) Next(t time.Time) (time.Time, bool) {
	if js.schedule == nil {
		return time.Time{}, false
	}
	next := nextRun(js.schedule, t)
	return next, !next.IsZero()
}

func nextRun(sched cron.Schedule, t time.Time) time.Time {
	next := sched.Next(t)
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok || next.IsZero() || spec.Hour&starBit != 0 {
		return next
	}
	loc := spec.Location
	if loc == time.Local || loc == nil {
		loc = t.Location()
	}
	_, offBefore := t.In(loc).Zone()
	_, offAfter := next.In(loc).Zone()
	if offAfter > offBefore {
		// The clocks went forward between t and next: a time in the gap
		// is found by the schedule read at the old offset.
		old := *spec
		old.Location = time.FixedZone("", offBefore)
		if gap := old.Next(t); !gap.IsZero() && gap.Before(next) {
			return gap
		}
		return next
	}
	// The clocks went back: the same wall time an hour or so earlier has
	// already run.
	for !next.IsZero() && repeatsWallTime(next, loc) {
		next = sched.Next(next)
	}
	return next
}

// repeatsWallTime reports whether the wall time of t in loc also occurred
// shortly before t (the repeated hour when the clocks go back).
func repeatsWallTime(t time.Time, loc *time.Location) bool {
	wall := t.In(loc)
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		earlier := t.Add(-back).In(loc)
		if earlier.Year() == wall.Year() && earlier.YearDay() == wall.YearDay() &&
			earlier.Hour() == wall.Hour() && earlier.Minute() == wall.Minute() && earlier.Second() == wall.Second() {
			return true
		}
	}
	return false
}
