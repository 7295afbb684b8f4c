package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/etl"
)

// watchable is a source whose input can be watched: the files source.
type watchable interface {
	WatchOptions() files.WatchOptions
}

// watchRetry is the wait between a failed run in watch mode and its retry,
// so a target outage does not leave landed files waiting for the next file
// to arrive: the one backoff policy, from about 5 s up to about 5 minutes.
// A permanent failure is not retried: the job waits for new files.
var watchRetry = etl.Backoff{Initial: 5 * time.Second, Max: 5 * time.Minute}

// watchJobs is run --watch: it starts a folder watcher per job, runs each
// job once, then again whenever settled new files appear in its folder,
// until stop is closed (SIGINT, SIGTERM) or ctx is cancelled.
func (a *app) watchJobs(ctx context.Context, runner *etl.Runner, names []string, opts etl.RunOptions, stop <-chan struct{}) error {
	type watched struct {
		name  string
		w     *files.Watcher
		retry *time.Timer
		// waits are the retry waits of the current streak of failures;
		// retrying is set while a retry is due.
		waits    backoff.BackOff
		retrying bool
	}
	jobs := make([]*watched, 0, len(names))
	defer func() {
		for _, j := range jobs {
			j.w.Close()
			if j.retry != nil {
				j.retry.Stop()
			}
		}
	}()
	for _, name := range names {
		job, err := a.cfg.Build(name, a.logger)
		if err != nil {
			return err
		}
		src, ok := job.Source.(watchable)
		if !ok {
			return &exitError{code: exitUsage, err: fmt.Errorf("job %s: its source (%T) has no folder to watch", name, job.Source)}
		}
		wo := src.WatchOptions()
		wo.Logger = a.logger.With("job", name)
		w := files.NewWatcher(wo)
		if err := w.Start(ctx); err != nil {
			return fmt.Errorf("job %s: watch: %w", name, err)
		}
		jobs = append(jobs, &watched{name: name, w: w, waits: watchRetry.NewBackOff()})
	}
	opts.Trigger = "watch"
	failed := 0
	runOnce := func(j *watched) {
		_, err := a.runJob(ctx, runner, j.name, opts)
		j.retrying = false
		if err == nil || errors.Is(err, etl.ErrStopped) {
			j.waits.Reset()
			return
		}
		failed++
		fmt.Fprintf(a.stderr, "%s: failed: %s\n", j.name, a.redact(err.Error()))
		if etl.IsPermanent(err) {
			fmt.Fprintf(a.stderr, "%s: permanent failure: not retried; waiting for new files\n", j.name)
			return
		}
		wait := j.waits.NextBackOff()
		if j.retry == nil {
			j.retry = time.NewTimer(wait)
		} else {
			j.retry.Reset(wait)
		}
		j.retrying = true
		fmt.Fprintf(a.stderr, "%s: retrying in %s\n", j.name, wait.Round(time.Second))
	}
	for _, j := range jobs {
		if isClosed(stop) {
			return nil
		}
		runOnce(j)
	}
	fmt.Fprintf(a.stderr, "watching %s (Ctrl-C to stop)\n", joinNames(names))
	// One select over every job's watcher and retry timer, plus stop.
	for {
		cases := []reflect.SelectCase{
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(stop)},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		}
		owners := []*watched{nil, nil}
		for _, j := range jobs {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(j.w.C())})
			owners = append(owners, j)
			if j.retrying {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(j.retry.C)})
				owners = append(owners, j)
			}
		}
		chosen, _, _ := reflect.Select(cases)
		if chosen < 2 {
			return nil
		}
		runOnce(owners[chosen])
	}
}
