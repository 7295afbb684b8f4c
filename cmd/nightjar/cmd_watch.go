package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
	"github.com/nightjar-etl/nightjar/jobs/schedule"
)

// watchRetry is the wait between a failed run in watch mode and its retry,
// so a target outage does not leave landed files waiting for the next file
// to arrive: the one backoff policy, from about 5 s up to about 5 minutes,
// with no limit on the attempts. A permanent failure is not retried: the
// job waits for new files.
var watchRetry = etl.Backoff{Initial: 5 * time.Second, Max: 5 * time.Minute}

// watchJobs is run --watch: the scheduler, restricted to the named jobs and
// without their schedules. Each job runs once its folder is watched, then
// again whenever settled new files appear in it, until stop is closed
// (SIGINT, SIGTERM) or ctx is cancelled. opts apply to every run, except
// FullRefresh, which applies to each job's first run only (a full refresh
// on every new file would load every file again); with strict, rows
// quarantined by any run make the exit status exitRejected.
func (a *app) watchJobs(ctx context.Context, runner *etl.Runner, names []string, opts etl.RunOptions, strict bool, stop <-chan struct{}) error {
	sub := *a.cfg
	sub.Jobs = make([]*config.JobSpec, 0, len(names))
	sources := make(map[string]etl.Watcher, len(names))
	for _, name := range names {
		job, err := a.cfg.Build(name, a.logger, a.clock)
		if err != nil {
			return err
		}
		src, ok := job.Source.(etl.Watcher)
		if !ok {
			return &exitError{code: exitUsage, err: fmt.Errorf("job %s: its source (%T) has no folder to watch", name, job.Source)}
		}
		sources[name] = src
		js, _ := a.cfg.Job(name)
		watched := *js
		// No cron and, as for any run from the command line, no timeout.
		watched.Schedule, watched.Timeout = "", 0
		sub.Jobs = append(sub.Jobs, &watched)
	}
	l := &watchLauncher{a: a, runner: runner, opts: opts, launched: map[string]bool{}}
	sched := &schedule.Scheduler{
		Launcher: l,
		Clock:    a.clock,
		Logger:   a.logger,
		Watchers: func(_ *config.Config, js *config.JobSpec) schedule.Watcher {
			return schedule.SourceWatcher(sources[js.Name], a.logger.With("job", js.Name))
		},
		Retry:   func(*config.JobSpec) (etl.Backoff, int) { return watchRetry, math.MaxInt32 },
		OnEvent: l.observe,
	}
	fmt.Fprintf(a.stderr, "watching %s (Ctrl-C to stop)\n", joinNames(names))
	if err := sched.Run(ctx, &sub, stop); err != nil && ctx.Err() == nil {
		return err
	}
	if strict && l.rejected > 0 {
		return &exitError{code: exitRejected, err: fmt.Errorf("%d row(s) quarantined (--strict)", l.rejected)}
	}
	return nil
}

// watchLauncher runs the watched jobs one at a time, as run does, and
// reports their failures.
type watchLauncher struct {
	a      *app
	runner *etl.Runner
	opts   etl.RunOptions

	mu       sync.Mutex // one run, and its output, at a time
	launched map[string]bool
	rejected int64
}

var _ schedule.Launcher = (*watchLauncher)(nil)

func (l *watchLauncher) Launch(ctx context.Context, req schedule.LaunchRequest) (etl.Run, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if isClosed(req.Stop) {
		return etl.Run{}, etl.ErrStopped
	}
	opts := l.opts
	opts.Trigger, opts.Stop = req.Trigger, req.Stop
	opts.FullRefresh = opts.FullRefresh && !l.launched[req.Job]
	l.launched[req.Job] = true
	run, err := l.a.runJob(ctx, l.runner, req.Job, opts)
	l.rejected += run.Rejected
	return run, err
}

func (l *watchLauncher) observe(e schedule.Event) {
	if e.Kind != schedule.EventFinished || e.Err == nil || errors.Is(e.Err, etl.ErrStopped) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.a
	fmt.Fprintf(a.stderr, "%s: failed: %s\n", e.Job, a.redact(e.Err.Error()))
	switch {
	case !e.RetryAt.IsZero():
		fmt.Fprintf(a.stderr, "%s: retrying in %s\n", e.Job, e.RetryAt.Sub(e.At).Round(time.Second))
	case etl.IsPermanent(e.Err):
		fmt.Fprintf(a.stderr, "%s: permanent failure: not retried; waiting for new files\n", e.Job)
	}
}
