package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
)

// LaunchRequest asks for one run of a job.
type LaunchRequest struct {
	Job string
	// Trigger records why: "schedule", "catchup", "resume", "retry",
	// "watch".
	Trigger string
	// Attempt is 1 for a first try, 2 for the first retry, and so on.
	Attempt int
	// Stop, when closed, asks the run to end gracefully: finish the
	// batches in flight, checkpoint, end (etl.RunOptions.Stop).
	Stop <-chan struct{}
}

// Launcher starts one run of a job and waits for its end. It is the seat
// of "run job X now" (DESIGN §8): the daemon fills it with the embedded
// etl.Runner; a job queue such as River can take it later.
type Launcher interface {
	// Launch runs the job once and returns the run's record (zero when no
	// run was begun) and its error. Cancelling ctx aborts the run.
	// When another process holds the job's lease, the error wraps
	// etl.ErrLeaseHeld and nothing ran.
	Launch(ctx context.Context, req LaunchRequest) (etl.Run, error)
}

// Watcher tells the scheduler when a job whose source is a watched folder
// has new files that have settled (their size stable for the source's
// settle time).
type Watcher interface {
	// Watch calls ready, from any goroutine, once it is watching (so that
	// a first run loads the files already there) and then each time new
	// settled files are waiting, until ctx ends; it then returns nil, or
	// earlier the error that stopped it from watching.
	Watch(ctx context.Context, ready func()) error
}

// SourceWatcher is the Watcher of a job whose source can be watched
// (etl.Watcher); log receives the source's notes.
func SourceWatcher(src etl.Watcher, log *slog.Logger) Watcher {
	return sourceWatcher{src: src, log: log}
}

type sourceWatcher struct {
	src etl.Watcher
	log *slog.Logger
}

func (w sourceWatcher) Watch(ctx context.Context, ready func()) error {
	return w.src.Watch(ctx, w.log, ready)
}

// History gives the scheduler each job's last runs, newest first, for
// catch-up after downtime; etl.Store satisfies it.
type History interface {
	Runs(ctx context.Context, job string, limit int) ([]etl.Run, error)
}

// ErrRunTimeout is the cause of a run cancelled by the job's timeout.
var ErrRunTimeout = errors.New("run timed out")

// EventKind names a scheduler event.
type EventKind string

// Scheduler events.
const (
	// EventStarted: a run is being launched.
	EventStarted EventKind = "started"
	// EventFinished: a launched run ended; Run and Err say how.
	EventFinished EventKind = "finished"
	// EventSkipped: a run was not started; Reason says why ("overlap":
	// the job's previous run is still going; "lease": another process
	// runs the job).
	EventSkipped EventKind = "skipped"
)

// Event reports what the scheduler did, for metrics, logs and
// notifications.
type Event struct {
	Kind    EventKind
	Job     string
	Trigger string
	At      time.Time
	// Attempt is 1 for a first try, 2 for the first retry, and so on;
	// MaxAttempts is the most the job allows a run: 1 + its retries
	// (EventStarted, EventFinished).
	Attempt, MaxAttempts int
	// Run is the finished run's record (EventFinished).
	Run etl.Run
	// Err is the run's error (EventFinished), nil on success.
	Err error
	// Final is true on an EventFinished after which no retry follows: the
	// run succeeded, stopped, failed permanently (etl.IsPermanent: never
	// retried), used its last attempt, or the scheduler is stopping.
	Final bool
	// RetryAt, on an EventFinished that is not Final, is when the retry
	// is due; zero otherwise.
	RetryAt time.Time
	// Reason says why a run was skipped (EventSkipped).
	Reason string
}

// JobState is a job as the scheduler sees it, for status pages.
type JobState struct {
	Name     string
	Schedule string
	// Next is the next scheduled time; zero without a schedule.
	Next    time.Time
	Running bool
	Watched bool
	// Again is set when files settled in a watched folder while a run was
	// going: a run follows the current one.
	Again bool
}

// Scheduler starts runs of a config's jobs at their cron times and when
// their watched folders have new files, one run per job at a time. Set the
// fields, then call Run; Reload and Jobs may be called while it runs.
type Scheduler struct {
	// Launcher runs the jobs; required.
	Launcher Launcher
	// Clock defaults to etl.SystemClock.
	Clock etl.Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
	// History, if set, enables catch-up after downtime and the resumption
	// of runs that were stopped or interrupted.
	History History
	// Watchers, if set, returns the watcher of a job whose source is a
	// watched folder, or nil for any other job.
	Watchers func(cfg *config.Config, js *config.JobSpec) Watcher
	// Retry, if set, is a job's retry policy: the waits between the
	// attempts of a run and the most attempts it gets. By default it is
	// the job's (retry_backoff and retries: RetryPolicy, Retries+1).
	Retry func(js *config.JobSpec) (etl.Backoff, int)
	// Jitter returns a random delay in [0, max); defaults to math/rand.
	Jitter func(max time.Duration) time.Duration
	// OnEvent, if set, is called for every event, from the scheduler's
	// goroutines; it must not block for long.
	OnEvent func(Event)

	mu       sync.Mutex
	jobs     map[string]*jobState
	pending  *config.Config // set by Reload, applied by the loop
	wake     chan struct{}
	stop     <-chan struct{}
	stopping bool
	wg       sync.WaitGroup
}

type jobState struct {
	spec    *config.JobSpec
	next    time.Time
	running bool
	// watchReady is set by the watcher; watchAgain when files settled
	// while a run was going, so another run follows it.
	watchReady, watchAgain bool
	watched                bool
}

func (s *Scheduler) init() {
	if s.Clock == nil {
		s.Clock = etl.SystemClock{}
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Jitter == nil {
		s.Jitter = func(max time.Duration) time.Duration { return rand.N(max) }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	s.jobs = map[string]*jobState{}
}

// Run schedules cfg's jobs until stop is closed or ctx ends. Closing stop
// takes no new work and asks the runs in flight to finish gracefully; a
// cancelled ctx aborts them. Run returns once every run it started has
// ended: nil after stop, ctx's error after cancellation.
func (s *Scheduler) Run(ctx context.Context, cfg *config.Config, stop <-chan struct{}) error {
	if s.Launcher == nil {
		return errors.New("scheduler: no launcher")
	}
	s.init()
	s.stop = stop
	watches := &watchGroup{}
	s.apply(ctx, watches, cfg)

	defer func() {
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
		watches.stop()
		s.wg.Wait()
	}()
	for {
		wakeAt := s.earliest()
		var timer etl.Timer
		var fired <-chan time.Time
		if !wakeAt.IsZero() {
			timer = s.Clock.NewTimer(wakeAt.Sub(s.Clock.Now()))
			fired = timer.C()
		}
		select {
		case <-ctx.Done():
			stopTimer(timer)
			return ctx.Err()
		case <-stop:
			stopTimer(timer)
			s.Logger.Info("scheduler stopping: no new runs; waiting for the runs in flight")
			return nil
		case <-s.wake:
			stopTimer(timer)
			s.mu.Lock()
			cfg := s.pending
			s.pending = nil
			s.mu.Unlock()
			if cfg != nil {
				// Watchers restart on the new config.
				watches.stop()
				s.apply(ctx, watches, cfg)
			}
			s.watchTriggers(ctx)
		case <-fired:
			s.fire(ctx, s.Clock.Now())
		}
	}
}

// watchGroup is the set of running watchers.
type watchGroup struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (g *watchGroup) stop() {
	if g.cancel != nil {
		g.cancel()
	}
	g.wg.Wait()
}

func stopTimer(t etl.Timer) {
	if t != nil {
		t.Stop()
	}
}

// Reload replaces the config the scheduler works from. Runs in flight go
// on with the job as it was; a job whose schedule changed gets its next
// time from the new schedule; a removed job is no longer started.
func (s *Scheduler) Reload(cfg *config.Config) {
	s.mu.Lock()
	s.pending = cfg
	wake := s.wake
	s.mu.Unlock()
	if wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// Jobs returns the jobs as the scheduler sees them, by name.
func (s *Scheduler) Jobs() []JobState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobState, 0, len(s.jobs))
	for name, st := range s.jobs {
		out = append(out, JobState{Name: name, Schedule: st.spec.Schedule, Next: st.next, Running: st.running, Watched: st.watched, Again: st.watchAgain})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// apply takes cfg's jobs: new jobs get their next time (and a catch-up
// run when one is due), kept jobs keep their state, removed ones go.
func (s *Scheduler) apply(ctx context.Context, watches *watchGroup, cfg *config.Config) {
	now := s.Clock.Now()
	s.mu.Lock()
	old := s.jobs
	s.jobs = make(map[string]*jobState, len(cfg.Jobs))
	var fresh []*jobState
	for _, js := range cfg.Jobs {
		st, kept := old[js.Name]
		if !kept {
			st = &jobState{}
			fresh = append(fresh, st)
		}
		if !kept || st.spec.Schedule != js.Schedule {
			st.next, _ = js.Next(now)
		}
		st.spec = js
		st.watched = false
		s.jobs[js.Name] = st
	}
	for name := range old {
		if _, ok := s.jobs[name]; !ok {
			s.Logger.Info("job removed from the config", "job", name)
		}
	}
	s.mu.Unlock()

	for _, st := range fresh {
		if trigger := s.owed(ctx, st.spec, now); trigger != "" {
			s.mu.Lock()
			s.dispatch(ctx, st, trigger, false)
			s.mu.Unlock()
		}
	}
	if s.Watchers == nil {
		return
	}
	watchCtx, cancel := context.WithCancel(ctx)
	watches.cancel = cancel
	for _, js := range cfg.Jobs {
		w := s.Watchers(cfg, js)
		if w == nil {
			continue
		}
		s.mu.Lock()
		s.jobs[js.Name].watched = true
		s.mu.Unlock()
		name := js.Name
		watches.wg.Add(1)
		go func() {
			defer watches.wg.Done()
			err := w.Watch(watchCtx, func() { s.watchReady(name) })
			if err != nil && watchCtx.Err() == nil {
				s.Logger.Error("watch folder", "job", name, "err", err)
			}
		}()
	}
}

// owed says whether a job starting to be scheduled owes a run now:
// "resume" when its last run was stopped or interrupted, "catchup" when a
// scheduled time passed since its last run and its policy is latest.
func (s *Scheduler) owed(ctx context.Context, js *config.JobSpec, now time.Time) string {
	if s.History == nil || js.Schedule == "" {
		return ""
	}
	runs, err := s.History.Runs(ctx, js.Name, 1)
	if err != nil {
		s.Logger.Warn("read the last run for catch-up", "job", js.Name, "err", err)
		return ""
	}
	if len(runs) == 0 {
		return ""
	}
	last := runs[0]
	switch last.Status {
	case etl.RunCancelled, etl.RunInterrupted, etl.RunRunning:
		// Finishing a stopped run is not a catch-up: it loads what the
		// last scheduled run was meant to load.
		return "resume"
	}
	if js.CatchupPolicy() != config.CatchupLatest {
		return ""
	}
	if due, ok := js.Next(last.StartedAt); ok && !due.After(now) {
		return "catchup"
	}
	return ""
}

// earliest is the next time a job is due; zero when none is.
func (s *Scheduler) earliest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var at time.Time
	for _, st := range s.jobs {
		if !st.next.IsZero() && (at.IsZero() || st.next.Before(at)) {
			at = st.next
		}
	}
	return at
}

// fire starts the jobs due at now. However late the clock comes, a job
// runs once and its next time is computed from now.
func (s *Scheduler) fire(ctx context.Context, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range s.sortedNames() {
		st := s.jobs[name]
		if st.next.IsZero() || st.next.After(now) {
			continue
		}
		st.next, _ = st.spec.Next(now)
		s.dispatch(ctx, st, "schedule", true)
	}
}

func (s *Scheduler) sortedNames() []string {
	names := make([]string, 0, len(s.jobs))
	for name := range s.jobs {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (s *Scheduler) watchReady(job string) {
	s.mu.Lock()
	if st, ok := s.jobs[job]; ok {
		st.watchReady = true
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduler) watchTriggers(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range s.sortedNames() {
		if st := s.jobs[name]; st.watchReady {
			st.watchReady = false
			s.dispatch(ctx, st, "watch", false)
		}
	}
}

// dispatch starts a run of st's job unless one is going; s.mu is held.
func (s *Scheduler) dispatch(ctx context.Context, st *jobState, trigger string, jitter bool) {
	name := st.spec.Name
	if s.stopping || isClosed(s.stop) {
		return
	}
	if st.running {
		if trigger == "watch" {
			// The files that just settled are loaded by a run right after
			// the current one.
			st.watchAgain = true
			return
		}
		s.Logger.Warn("previous run still going: skipping this one", "job", name, "trigger", trigger)
		s.emit(Event{Kind: EventSkipped, Job: name, Trigger: trigger, At: s.Clock.Now(), Reason: "overlap"})
		return
	}
	st.running = true
	spec := st.spec
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		final, ended := s.execute(ctx, spec, trigger, jitter)
		// The job is free before the final event goes out, so a tick that
		// follows the event finds it free.
		s.mu.Lock()
		cur, ok := s.jobs[name]
		again := false
		if ok {
			cur.running = false
			again, cur.watchAgain = cur.watchAgain, false
		}
		s.mu.Unlock()
		if ended {
			s.emit(final)
		}
		if again {
			s.mu.Lock()
			if cur, ok := s.jobs[name]; ok {
				s.dispatch(ctx, cur, "watch", false)
			}
			s.mu.Unlock()
		}
	}()
}

func (s *Scheduler) emit(e Event) {
	if s.OnEvent != nil {
		s.OnEvent(e)
	}
}

// execute runs a job with its jitter, timeout and retries. It emits the
// events of the attempts that are retried and returns the final event:
// the last attempt's EventFinished or an EventSkipped; ended is false when
// the scheduler stopped before a run.
func (s *Scheduler) execute(ctx context.Context, js *config.JobSpec, trigger string, jitter bool) (final Event, ended bool) {
	log := s.Logger.With("job", js.Name)
	if jitter && js.Jitter > 0 {
		if !s.sleep(ctx, s.Jitter(js.Jitter)) {
			return Event{}, false
		}
	}
	policy, maxAttempts := js.RetryPolicy(), js.Retries+1
	if s.Retry != nil {
		policy, maxAttempts = s.Retry(js)
	}
	// One sequence of waits per streak of failures.
	backoff := policy.NewBackOff()
	for attempt := 1; ; attempt++ {
		run, err := s.attempt(ctx, js, trigger, attempt, maxAttempts)
		now := s.Clock.Now()
		if errors.Is(err, etl.ErrLeaseHeld) {
			log.Info("job is running in another process: skipping this run", "trigger", trigger)
			return Event{Kind: EventSkipped, Job: js.Name, Trigger: trigger, At: now, Attempt: attempt, MaxAttempts: maxAttempts, Reason: "lease"}, true
		}
		retry := err != nil && attempt < maxAttempts && retryable(ctx, err) && !isClosed(s.stop)
		finished := Event{Kind: EventFinished, Job: js.Name, Trigger: trigger, At: now, Attempt: attempt, MaxAttempts: maxAttempts,
			Run: run, Err: err, Final: !retry}
		var wait time.Duration
		if retry {
			wait = backoff.NextBackOff()
			finished.RetryAt = now.Add(wait)
		}
		switch {
		case err == nil:
			log.Info("run finished", "run", run.ID, "trigger", trigger, "read", run.Read, "written", run.Written, "rejected", run.Rejected)
		case errors.Is(err, etl.ErrStopped):
			log.Info("run stopped; the next run goes on from where it stopped", "run", run.ID)
		case etl.IsPermanent(err):
			log.Error("run failed permanently: not retried", "run", run.ID, "trigger", trigger, "attempt", attempt, "err", err)
		default:
			log.Error("run failed", "run", run.ID, "trigger", trigger, "attempt", attempt, "err", err)
		}
		if !retry {
			return finished, true
		}
		s.emit(finished)
		log.Info("retrying", "in", wait, "attempt", attempt+1, "of", maxAttempts)
		if !s.sleep(ctx, wait) {
			return Event{}, false
		}
		trigger = "retry"
	}
}

// attempt launches one run, cancelled by the job's timeout.
func (s *Scheduler) attempt(ctx context.Context, js *config.JobSpec, trigger string, attempt, maxAttempts int) (etl.Run, error) {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if js.Timeout > 0 {
		timer := s.Clock.NewTimer(js.Timeout)
		defer timer.Stop()
		go func() {
			select {
			case <-timer.C():
				cancel(fmt.Errorf("timeout after %s: %w", js.Timeout, ErrRunTimeout))
			case <-runCtx.Done():
			}
		}()
	}
	s.emit(Event{Kind: EventStarted, Job: js.Name, Trigger: trigger, At: s.Clock.Now(), Attempt: attempt, MaxAttempts: maxAttempts})
	run, err := s.Launcher.Launch(runCtx, LaunchRequest{Job: js.Name, Trigger: trigger, Attempt: attempt, Stop: s.stop})
	if cause := context.Cause(runCtx); err != nil && errors.Is(cause, ErrRunTimeout) {
		err = fmt.Errorf("%w (%w)", cause, err)
	}
	return run, err
}

// retryable: a failure worth another try: transient, not a stop or a
// shutdown. A permanent failure (a config error, too many rejects, a
// refused credential, a strict schema) is never retried: a retry of a run
// whose rows were checkpointed would read nothing and report a success.
func retryable(ctx context.Context, err error) bool {
	return !errors.Is(err, etl.ErrStopped) && ctx.Err() == nil && !etl.IsPermanent(err)
}

// sleep waits d on the clock; false if the scheduler stops meanwhile.
func (s *Scheduler) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := s.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	case <-s.stop:
		return false
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
