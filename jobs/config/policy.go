package config

import (
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// CatchupPolicy says what a job does about the scheduled times it missed
// while no daemon was running.
type CatchupPolicy string

// Catch-up policies.
const (
	// CatchupLatest runs once at start when at least one scheduled time
	// was missed: one run, not one per missed time.
	CatchupLatest CatchupPolicy = "latest"
	// CatchupNone waits for the next scheduled time.
	CatchupNone CatchupPolicy = "none"
)

// CatchupPolicy returns the job's catch-up policy (`catchup:`, default
// latest: after downtime, one run, not a storm).
func (js *JobSpec) CatchupPolicy() CatchupPolicy {
	if js.Catchup == "" {
		return CatchupLatest
	}
	return js.Catchup
}

// DefaultRetryBackoff is the wait before the first retry of a job with
// retries and no retry_backoff; each further retry waits about twice as
// long (see RetryPolicy).
const DefaultRetryBackoff = 30 * time.Second

// maxRetryWait bounds the growing backoff (before its jitter).
const maxRetryWait = time.Hour

// RetryPolicy is the wait between a failed run of the job and its retry:
// the one etl.Backoff policy at the scale of runs, starting at
// retry_backoff (DefaultRetryBackoff unless set), doubling up to an hour,
// each wait spread by etl.DefaultBackoff's jitter.
func (js *JobSpec) RetryPolicy() etl.Backoff {
	initial := js.RetryBackoff
	if initial <= 0 {
		initial = DefaultRetryBackoff
	}
	return etl.Backoff{Initial: initial, Max: maxRetryWait}
}
