// Package schedule runs a loaded config's jobs over time. Its Scheduler
// starts each job at its cron times (config.JobSpec.Next), when its
// watched source has new files (Watcher, SourceWatcher over an
// etl.Watcher), and once at start for runs missed while no daemon ran
// (catch-up, from a History). It runs one run per job at a time, retries
// failed runs with the job's backoff, cancels runs past their timeout
// (ErrRunTimeout), spreads starts by the job's jitter, reports each
// start, end and skip as an Event, and takes a new config on Reload
// without losing the state of the jobs it keeps. Time comes from an
// injected etl.Clock, so tests drive it with a fake one.
//
// The scheduler decides when a job runs; a Launcher runs it (the daemon
// in-process, the cluster through its queue). What a job's keys mean
// (schedule, timeout, retries, retry_backoff, catchup, jitter) is
// package jobs/config's, where they are loaded and validated.
package schedule
