package httpapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/nightjar-etl/nightjar/etl"
)

// Limit is a token-bucket rate limit shared by every client of one
// connection, with a pause that throttling responses and spent rate-limit
// windows set for all of them.
type Limit struct {
	lim *rate.Limiter

	mu         sync.Mutex
	pauseUntil time.Time
	pauseWhy   string
}

// NewLimit allows requests per period with the given burst (at least 1);
// requests <= 0 means unlimited.
func NewLimit(requests int, period time.Duration, burst int) *Limit {
	if requests <= 0 || period <= 0 {
		return &Limit{lim: rate.NewLimiter(rate.Inf, 1)}
	}
	return &Limit{lim: rate.NewLimiter(rate.Limit(float64(requests)/period.Seconds()), max(burst, 1))}
}

// PerSecond is the current rate in requests per second.
func (l *Limit) PerSecond() float64 { return float64(l.lim.Limit()) }

// PauseUntil holds every request until t (or later if already paused longer).
func (l *Limit) PauseUntil(t time.Time) { l.pause(t, "a throttled response") }

// pause is PauseUntil saying why, for the error of a pause beyond max_wait.
func (l *Limit) pause(t time.Time, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.pauseUntil) {
		l.pauseUntil, l.pauseWhy = t, why
	}
}

// paused returns how long requests are still held at now, and why.
func (l *Limit) paused(now time.Time) (time.Duration, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pauseUntil.Sub(now), l.pauseWhy
}

// AtMost lowers the rate to perSecond if it is above it: the API's own
// headers win over a configured limit that is too generous.
func (l *Limit) AtMost(now time.Time, perSecond float64) {
	if perSecond > 0 && float64(l.lim.Limit()) > perSecond {
		l.lim.SetLimitAt(now, rate.Limit(perSecond))
	}
}

// wait blocks until one request may go, for at most budget: a pause or a
// rate that would hold the request longer returns how long and why at
// once, with nothing reserved.
func (l *Limit) wait(ctx context.Context, clock etl.Clock, budget time.Duration) (time.Duration, string, error) {
	now := clock.Now()
	pause, why := l.paused(now)
	pause = max(pause, 0)
	at := now.Add(pause)
	r := l.lim.ReserveN(at, 1)
	if !r.OK() {
		return 0, "", nil
	}
	delay := r.DelayFrom(at)
	if pause+delay > budget {
		r.CancelAt(now)
		if delay > pause {
			why = fmt.Sprintf("a rate limit of %.4g requests per second", l.PerSecond())
		}
		return pause + delay, why, errLimitTooLong
	}
	return pause + delay, "", etl.Sleep(ctx, clock, pause+delay)
}

// errLimitTooLong is a wait for the rate limit beyond the request's budget.
var errLimitTooLong = errors.New("rate limit wait beyond max_wait")

// limits holds the limits shared per connection.
var limits sync.Map // key any → *Limit

// SharedLimit returns the limit registered under key (a connection), making
// it with NewLimit on first use: every target and source of a connection
// then shares one token bucket.
func SharedLimit(key any, requests int, period time.Duration, burst int) *Limit {
	if l, ok := limits.Load(key); ok {
		return l.(*Limit)
	}
	l, _ := limits.LoadOrStore(key, NewLimit(requests, period, burst))
	return l.(*Limit)
}
