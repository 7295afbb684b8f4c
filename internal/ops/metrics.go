package ops

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
	"github.com/nightjar-etl/nightjar/jobs/schedule"
)

// Metrics are a daemon's or a worker's Prometheus metrics, in a registry
// of its own (so that tests can run several in one process).
type Metrics struct {
	registry    *prometheus.Registry
	runs        *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	rowsRead    *prometheus.CounterVec
	rowsWritten *prometheus.CounterVec
	rowsReject  *prometheus.CounterVec
	rowsSkip    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	running     *prometheus.GaugeVec
}

// NewMetrics returns the metrics of runs; filesWaiting, if set, counts the
// files waiting per files job at scrape time.
func NewMetrics(filesWaiting func() map[string]int) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_runs_total", Help: "Runs ended, by job and status (succeeded, failed, cancelled).",
		}, []string{"job", "status"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_runs_skipped_total", Help: "Scheduled runs not started, by job and reason (overlap: the previous run was still going; lease: another process ran the job).",
		}, []string{"job", "reason"}),
		rowsRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_rows_read_total", Help: "Rows read by the job's source.",
		}, []string{"job"}),
		rowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_rows_written_total", Help: "Rows that landed in the job's targets (committed).",
		}, []string{"job"}),
		rowsReject: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_rows_rejected_total", Help: "Rows rejected and quarantined.",
		}, []string{"job"}),
		rowsSkip: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_rows_skipped_total", Help: "Rows of replayed batches a target already held and did not load again.",
		}, []string{"job"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nightjar_run_duration_seconds", Help: "Duration of ended runs.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 16), // 0.1 s to about 55 min
		}, []string{"job"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nightjar_last_success_timestamp_seconds", Help: "When the job's last successful run ended (Unix time).",
		}, []string{"job"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nightjar_job_running", Help: "1 while a run of the job is going in this process.",
		}, []string{"job"}),
	}
	m.registry.MustRegister(m.runs, m.skipped, m.rowsRead, m.rowsWritten, m.rowsReject, m.rowsSkip, m.duration,
		m.lastSuccess, m.running,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if filesWaiting != nil {
		m.registry.MustRegister(&waitingCollector{
			desc: prometheus.NewDesc("nightjar_files_waiting",
				"Files matching a files job's glob (with archive set: the files not loaded yet).", []string{"job"}, nil),
			count: filesWaiting,
		})
	}
	return m
}

// Registry is where more collectors of the same process go.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Jobs makes every job's counters exist at zero, so that rates and alerts
// work before a job first runs.
func (m *Metrics) Jobs(cfg *config.Config) {
	for _, name := range cfg.JobNames() {
		for _, status := range []etl.RunStatus{etl.RunSucceeded, etl.RunFailed, etl.RunCancelled} {
			m.runs.WithLabelValues(name, string(status))
		}
		m.rowsRead.WithLabelValues(name)
		m.rowsWritten.WithLabelValues(name)
		m.rowsReject.WithLabelValues(name)
		m.running.WithLabelValues(name)
		for _, reason := range skipReasons {
			m.skipped.WithLabelValues(name, reason)
		}
	}
}

// skipReasons are the reasons a scheduled run is skipped (schedule.Event.Reason).
var skipReasons = []string{"overlap", "lease"}

// Observe counts a scheduler event (a worker reports its runs as the
// same events).
func (m *Metrics) Observe(e schedule.Event) {
	switch e.Kind {
	case schedule.EventStarted:
		m.running.WithLabelValues(e.Job).Set(1)
	case schedule.EventSkipped:
		m.skipped.WithLabelValues(e.Job, e.Reason).Inc()
		if e.Reason == "lease" {
			m.running.WithLabelValues(e.Job).Set(0)
		}
	case schedule.EventFinished:
		m.running.WithLabelValues(e.Job).Set(0)
		r := e.Run
		if r.ID == 0 {
			// The job could not be built or its run begun: a failure with
			// nothing recorded in the store.
			m.runs.WithLabelValues(e.Job, string(etl.RunFailed)).Inc()
			return
		}
		status := r.Status
		if errors.Is(e.Err, schedule.ErrRunTimeout) {
			status = etl.RunFailed
		}
		m.runs.WithLabelValues(e.Job, string(status)).Inc()
		m.rowsRead.WithLabelValues(e.Job).Add(float64(r.Read))
		m.rowsWritten.WithLabelValues(e.Job).Add(float64(r.Written))
		m.rowsReject.WithLabelValues(e.Job).Add(float64(r.Rejected))
		m.rowsSkip.WithLabelValues(e.Job).Add(float64(r.Skipped))
		if !r.EndedAt.IsZero() {
			m.duration.WithLabelValues(e.Job).Observe(r.EndedAt.Sub(r.StartedAt).Seconds())
		}
		if status == etl.RunSucceeded {
			m.lastSuccess.WithLabelValues(e.Job).Set(float64(r.EndedAt.UnixNano()) / 1e9)
		}
	}
}

// waitingCollector reads the files waiting at scrape time.
type waitingCollector struct {
	desc  *prometheus.Desc
	count func() map[string]int
}

func (c *waitingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *waitingCollector) Collect(ch chan<- prometheus.Metric) {
	for job, n := range c.count() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), job)
	}
}
