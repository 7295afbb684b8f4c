package cluster

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nightjar-etl/nightjar/internal/ops"
	"github.com/nightjar-etl/nightjar/jobs/config"
	"github.com/nightjar-etl/nightjar/jobs/schedule"
)

// workerOps is a worker's metrics and readiness.
type workerOps struct {
	metrics  *ops.Metrics
	jobs     *prometheus.CounterVec
	started  atomic.Bool
	stopping atomic.Bool
}

// riverOutcomes are the outcomes of River jobs this worker worked, as
// River recorded them: completed; retried (failed, a retry is scheduled);
// failed (failed, no attempt left: discarded); cancelled (a permanent
// error); snoozed (the job was running elsewhere: the tick waits).
var riverOutcomes = []string{"completed", "retried", "failed", "cancelled", "snoozed"}

func newWorkerOps(cfg *config.Config) *workerOps {
	o := &workerOps{metrics: ops.NewMetrics(nil)}
	o.metrics.Jobs(cfg)
	o.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nightjar_river_jobs_total",
		Help: "River jobs this worker worked, by kind and outcome as River recorded it (completed, retried, failed: discarded after its last attempt, cancelled, snoozed).",
	}, []string{"kind", "outcome"})
	o.metrics.Registry().MustRegister(o.jobs)
	for _, outcome := range riverOutcomes {
		o.jobs.WithLabelValues(TickArgs{}.Kind(), outcome)
	}
	return o
}

// observe counts River's events about jobs this client worked, each once
// River has recorded the job's new state.
func (o *workerOps) observe(events <-chan *river.Event) {
	for e := range events {
		if e.Job == nil {
			continue
		}
		outcome := ""
		switch e.Kind {
		case river.EventKindJobCompleted:
			outcome = "completed"
		case river.EventKindJobCancelled:
			outcome = "cancelled"
		case river.EventKindJobSnoozed:
			outcome = "snoozed"
		case river.EventKindJobFailed:
			outcome = "retried"
			if e.Job.State == rivertype.JobStateDiscarded {
				outcome = "failed"
			}
		default:
			continue
		}
		o.jobs.WithLabelValues(e.Job.Kind, outcome).Inc()
	}
}

// Handler serves /healthz, /readyz (ready once River's client has
// started, until it is told to stop, while PostgreSQL answers) and
// /metrics: the runs this worker ran (the daemon's metrics) and the River
// jobs it worked (nightjar_river_jobs_total).
func (w *Worker) Handler() http.Handler {
	return ops.Mux(w.ops.metrics.Registry(), func(ctx context.Context) error {
		switch {
		case w.ops.stopping.Load():
			return errors.New("stopping: the runs in flight are finishing")
		case !w.ops.started.Load():
			return errors.New("the River client has not started")
		}
		if err := w.pool.Ping(ctx); err != nil {
			return errors.New("state store: PostgreSQL does not answer")
		}
		return nil
	})
}

// Run waits until stop is closed, then drains: River fetches no new jobs
// and the runs in flight finish, until ctx ends (then they are cancelled).
// It returns an error when River's client stops on its own.
func (w *Worker) Run(ctx context.Context, stop <-chan struct{}) error {
	select {
	case <-stop:
	case <-ctx.Done():
	case <-w.Stopped():
		return errors.New("the River client stopped")
	}
	w.ops.stopping.Store(true)
	return w.Stop(ctx)
}

// runEvent reports a finished run as the daemon's scheduler does.
func (o *workerOps) runEvent(e schedule.Event) { o.metrics.Observe(e) }

var _ ops.Service = (*Worker)(nil)
