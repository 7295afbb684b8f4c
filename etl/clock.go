package etl

import (
	"context"
	"time"
)

// Clock is the engine's one source of time: the runner, sources, watchers,
// targets, connections, the scheduler and the expression helpers (now())
// read the time and wait through it, never through the time package, so
// that tests drive them with a fake clock (etltest.Clock) instead of
// sleeping. main passes SystemClock.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now (at once when
	// d <= 0).
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; false if it already fired or
	// was stopped.
	Stop() bool
	// Reset makes the timer fire d from now, whether or not it fired or
	// was stopped; a value the old timer delivered and no one received is
	// dropped (as time.Timer does since Go 1.23).
	Reset(d time.Duration)
}

// Sleeper is a Clock that waits by itself: a test's fake clock advances its
// time at once rather than block. Sleep uses it when the clock has it.
type Sleeper interface {
	Sleep(ctx context.Context, d time.Duration) error
}

// Sleep waits d on clock, or until ctx ends (then its error).
func Sleep(ctx context.Context, clock Clock, d time.Duration) error {
	if s, ok := clock.(Sleeper); ok {
		return s.Sleep(ctx, d)
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// SystemClockOr returns clock, or SystemClock when it is nil: the default
// of every component opened without one.
func SystemClockOr(clock Clock) Clock {
	if clock == nil {
		return SystemClock{}
	}
	return clock
}

// SystemClock is the real clock, the one place the engine reads the time
// package.
type SystemClock struct{}

var _ Clock = SystemClock{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time   { return t.t.C }
func (t systemTimer) Stop() bool            { return t.t.Stop() }
func (t systemTimer) Reset(d time.Duration) { t.t.Reset(d) }
