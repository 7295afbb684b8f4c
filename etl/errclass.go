package etl

import (
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Errors are classified once, where they are born (DESIGN §2 point 7): a
// failure that another attempt cannot mend is marked with Permanent, and
// every retry loop (the scheduler's, the SQL targets', the HTTP client's)
// asks IsPermanent before trying again. Anything not marked is taken as
// transient and retried with the one Backoff policy.

// Permanent marks err as a failure that retrying cannot mend: a config or
// build error, a strict schema refusing a batch, credentials the server
// refused. The result wraps err, so errors.Is and errors.As see through it,
// and its message is err's. Permanent(nil) is nil, and an error already
// permanent is returned as it is.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err, or any error it wraps (through %w,
// errors.Join or a multi-error's Unwrap), was marked with Permanent or is
// ErrTooManyRejects: the rows of such a run are checkpointed, so a retry
// would read nothing and turn the failure into a success. A permanent run
// is not retried; it is reported at once. Nil is not permanent.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *permanentError
	return errors.As(err, &p) || errors.Is(err, ErrTooManyRejects)
}

// Rewind marks err, a target's transient failure, as one that rolled
// back everything the target had not made durable (its open transaction),
// for a runner that rewinds (TargetEnv.Rewinds): the runner then closes
// the source and the targets, opens them again and reads on from the last
// checkpoint, as a new run would after a crash, within the same run. A
// permanent error is never rewound. Rewind(nil) is nil.
func Rewind(err error) error {
	if err == nil {
		return nil
	}
	return &rewindError{err: err}
}

type rewindError struct{ err error }

func (e *rewindError) Error() string { return e.err.Error() }
func (e *rewindError) Unwrap() error { return e.err }

// IsRewind reports whether err, or an error it wraps, was marked with
// Rewind and not with Permanent.
func IsRewind(err error) bool {
	var r *rewindError
	return errors.As(err, &r) && !IsPermanent(err)
}

// Backoff is nightjar's one policy for the waits between retries of a
// transient failure, shared by the scheduler (between runs of a job), the
// SQL targets (between attempts of a transaction) and the HTTP client
// (between attempts of a request); each picks the scale (Initial, Max) of
// its layer. The n-th retry waits Initial·Multiplierⁿ⁻¹, capped at Max, then
// spread by ±Jitter (a fraction of it) uniformly at random, so that jobs and
// processes that failed together do not retry in step.
//
// A zero field takes DefaultBackoff's value.
type Backoff struct {
	// Initial is the wait before the first retry.
	Initial time.Duration
	// Max caps the wait before jitter (a jittered wait may reach
	// Max·(1+Jitter)); it is at least Initial.
	Max time.Duration
	// Multiplier is the growth from one retry to the next; at least 1.
	Multiplier float64
	// Jitter is the spread, in (0, 1]: each wait is drawn from
	// [w·(1−Jitter), w·(1+Jitter)]. It cannot be turned off: retries in
	// step are what it prevents.
	Jitter float64
}

// DefaultBackoff is the policy of retries within a run (an HTTP request, a
// SQL transaction): 0.5 s, 1 s, 2 s … up to 30 s, each ±50 %.
var DefaultBackoff = Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.5}

// withDefaults fills b's zero fields from DefaultBackoff and clamps the
// others into range.
func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoff.Max
	}
	b.Max = max(b.Max, b.Initial)
	if b.Multiplier == 0 {
		b.Multiplier = DefaultBackoff.Multiplier
	}
	b.Multiplier = max(b.Multiplier, 1)
	if b.Jitter <= 0 {
		b.Jitter = DefaultBackoff.Jitter
	}
	b.Jitter = min(b.Jitter, 1)
	return b
}

// NewBackOff returns a fresh sequence of b's waits, for one streak of
// failures: its first NextBackOff is the wait before the first retry, the
// next one before the second, and so on; it never returns backoff.Stop (the
// caller bounds the attempts). Reset starts the sequence again. It is not
// safe for concurrent use: take one per retry loop.
func (b Backoff) NewBackOff() backoff.BackOff {
	b = b.withDefaults()
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     b.Initial,
		RandomizationFactor: b.Jitter,
		Multiplier:          b.Multiplier,
		MaxInterval:         b.Max,
	}
	bo.Reset()
	return bo
}
