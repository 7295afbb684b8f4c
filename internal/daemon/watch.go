package daemon

import (
	"path/filepath"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
	"github.com/nightjar-etl/nightjar/jobs/schedule"
)

// globbed is a source that loads the files matching a glob (the files
// source), whose waiting files the daemon counts.
type globbed interface {
	Glob() string
}

// watcherFor is the scheduler's Watchers hook: the watcher of a job whose
// source can be watched and whose config asks for it, nil for any other
// job. Building the job does no I/O (constructors only validate).
func (d *Daemon) watcherFor(cfg *config.Config, js *config.JobSpec) schedule.Watcher {
	job, err := cfg.Build(js.Name, d.log, d.opts.Clock)
	if err != nil {
		d.log.Warn("build job to find its watched folder", "job", js.Name, "err", err)
		return nil
	}
	// Every files job has files waiting (nightjar_files_waiting), watched
	// or run on a schedule.
	if g, ok := job.Source.(globbed); ok {
		d.globs.Store(js.Name, g.Glob())
	} else {
		d.globs.Delete(js.Name)
	}
	src, ok := job.Source.(etl.Watcher)
	if !ok || !src.Watching() {
		return nil
	}
	return schedule.SourceWatcher(src, d.log.With("job", js.Name))
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
