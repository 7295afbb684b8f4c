package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/etl"
)

// watchable is a source whose input can be watched: the files source.
type watchable interface {
	WatchOptions() files.WatchOptions
}

// Retry delays after a failed run in watch mode, so a target outage does
// not leave landed files waiting for the next file to arrive.
const (
	watchRetryMin = 5 * time.Second
	watchRetryMax = 5 * time.Minute
)

// watchJobs is run --watch: it starts a folder watcher per job, runs each
// job once, then again whenever settled new files appear in its folder,
// until stop is closed (SIGINT, SIGTERM) or ctx is cancelled.
func (a *app) watchJobs(ctx context.Context, runner *etl.Runner, names []string, opts etl.RunOptions, stop <-chan struct{}) error {
	type watched struct {
		name    string
		w       *files.Watcher
		retry   *time.Timer
		backoff time.Duration
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
		jobs = append(jobs, &watched{name: name, w: w})
	}
	opts.Trigger = "watch"
	failed := 0
	runOnce := func(j *watched) {
		_, err := a.runJob(ctx, runner, j.name, opts)
		if err == nil || errors.Is(err, etl.ErrStopped) {
			j.backoff = 0
			return
		}
		failed++
		fmt.Fprintf(a.stderr, "%s: failed: %s\n", j.name, a.redact(err.Error()))
		j.backoff = min(max(2*j.backoff, watchRetryMin), watchRetryMax)
		if j.retry == nil {
			j.retry = time.NewTimer(j.backoff)
		} else {
			j.retry.Reset(j.backoff)
		}
		fmt.Fprintf(a.stderr, "%s: retrying in %s\n", j.name, j.backoff)
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
			if j.retry != nil && j.backoff > 0 {
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
