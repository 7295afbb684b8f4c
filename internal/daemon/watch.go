package daemon

import (
	"context"
	"path/filepath"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/jobs"
)

// watchedSource is a source whose folder can be watched: the files source
// (connectors/files) with `watch: true`.
type watchedSource interface {
	Watching() bool
	WatchOptions() files.WatchOptions
}

// watcherFor is the scheduler's Watchers hook: a folder watcher for a job
// whose source is a watched files source, nil for any other job. Building
// the job does no I/O (constructors only validate).
func (d *Daemon) watcherFor(cfg *jobs.Config, js *jobs.JobSpec) jobs.Watcher {
	job, err := cfg.Build(js.Name, d.log)
	if err != nil {
		d.log.Warn("build job to find its watched folder", "job", js.Name, "err", err)
		return nil
	}
	src, ok := job.Source.(watchedSource)
	if !ok {
		d.globs.Delete(js.Name)
		return nil
	}
	opts := src.WatchOptions()
	// Every files job has files waiting (nightjar_files_waiting), watched
	// or run on a schedule.
	d.globs.Store(js.Name, opts.Pattern)
	if !src.Watching() {
		return nil
	}
	opts.Logger = d.log.With("job", js.Name)
	return folderWatcher{opts: opts}
}

// folderWatcher adapts files.Watcher to jobs.Watcher.
type folderWatcher struct{ opts files.WatchOptions }

var _ jobs.Watcher = folderWatcher{}

func (w folderWatcher) Watch(ctx context.Context, ready func()) error {
	fw := files.NewWatcher(w.opts)
	if err := fw.Start(ctx); err != nil {
		return err
	}
	defer fw.Close()
	// The watcher takes the files already there as known: a first run,
	// started only now that it watches, loads them without a gap.
	ready()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-fw.C():
			ready()
		}
	}
}

// filesWaiting counts, for each files job, the files matching its glob:
// with `archive:` set, loaded files move out, so these are the files
// waiting.
func (d *Daemon) filesWaiting() map[string]int {
	out := map[string]int{}
	d.globs.Range(func(job, glob any) bool {
		if matches, err := filepath.Glob(glob.(string)); err == nil {
			out[job.(string)] = len(matches)
		}
		return true
	})
	return out
}
