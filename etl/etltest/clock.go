package etltest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// Clock is a fake etl.Clock. Time stands still until Advance, Set,
// AdvanceToNext or Sleep moves it; timers fire when the time reaches their
// deadline. Sleep advances the time at once (and fires the timers due), so
// code that only waits (retry and rate-limit pauses, through etl.Sleep)
// runs on without a test driving it; code that selects on a timer waits
// for the test to move the time.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	slept   time.Duration
	timers  []*timer
	changed chan struct{} // closed and replaced when the set of timers changes
}

var (
	_ etl.Clock   = (*Clock)(nil)
	_ etl.Sleeper = (*Clock)(nil)
)

// NewClock returns a fake clock showing now.
func NewClock(now time.Time) *Clock {
	return &Clock{now: now, changed: make(chan struct{})}
}

type timer struct {
	c        *Clock
	deadline time.Time
	ch       chan time.Time
	done     bool
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the fake time reaches now+d.
func (c *Clock) NewTimer(d time.Duration) etl.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, deadline: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.done = true
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	c.notify()
	return t
}

func (t *timer) C() <-chan time.Time { return t.ch }

// Reset makes the timer fire d from the fake now, dropping a value it
// delivered that no one received.
func (t *timer) Reset(d time.Duration) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.done {
		c.remove(t)
	}
	select {
	case <-t.ch:
	default:
	}
	t.deadline, t.done = c.now.Add(d), false
	if d <= 0 {
		t.done = true
		t.ch <- c.now
		return
	}
	c.timers = append(c.timers, t)
	c.notify()
}

func (t *timer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	c.remove(t)
	return true
}

// notify wakes waiters; c.mu is held.
func (c *Clock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Clock) remove(t *timer) {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			c.notify()
			return
		}
	}
}

// Advance moves the time forward by d and fires the timers due by then.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// Sleep moves the time forward by d at once, firing the timers due, unless
// ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.mu.Lock()
		c.slept += d
		c.setLocked(c.now.Add(d))
		c.mu.Unlock()
	}
	return nil
}

// Slept is the total time Sleep was asked to wait.
func (c *Clock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}

// Set moves the time to t (forward only) and fires the timers due by then.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.setLocked(t)
	}
}

func (c *Clock) setLocked(t time.Time) {
	c.now = t
	sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].deadline.Before(c.timers[j].deadline) })
	kept := c.timers[:0]
	for _, x := range c.timers {
		if x.deadline.After(t) {
			kept = append(kept, x)
			continue
		}
		x.done = true
		x.ch <- t
	}
	c.timers = kept
	c.notify()
}

// AdvanceToNext moves the time to the earliest pending timer's deadline,
// fires the timers due then and returns the new time; false when no timer
// is pending.
func (c *Clock) AdvanceToNext() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return c.now, false
	}
	next := c.timers[0].deadline
	for _, x := range c.timers[1:] {
		if x.deadline.Before(next) {
			next = x.deadline
		}
	}
	if next.After(c.now) {
		c.setLocked(next)
	} else {
		c.setLocked(c.now)
	}
	return c.now, true
}

// Timers returns the number of pending timers.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitTimers blocks until at least n timers are pending, or for at most
// limit of real time; it reports whether they are.
func (c *Clock) WaitTimers(n int, limit time.Duration) bool {
	deadline := time.After(limit)
	for {
		c.mu.Lock()
		count, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if count >= n {
			return true
		}
		select {
		case <-changed:
		case <-deadline:
			return false
		}
	}
}
