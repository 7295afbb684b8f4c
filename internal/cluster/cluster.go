package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"github.com/robfig/cron/v3"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
	"github.com/nightjar-etl/nightjar/jobs/schedule"
)

// TickArgs is one scheduled time of one job, as a River job. Tick is the
// scheduled time, not the time of insertion: two leaders (one dying, one
// elected) inserting the same tick insert one River job.
type TickArgs struct {
	Job  string    `json:"job"`
	Tick time.Time `json:"tick"`
}

// Kind names the River job kind.
func (TickArgs) Kind() string { return "nightjar_tick" }

// InsertOpts makes ticks unique by their arguments, in every state River
// keeps a job in (a completed tick is not inserted again).
func (TickArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Launch runs one run of job with trigger, as `nightjar run` does, and
// calls complete in the transaction that records the run succeeded
// (pgstore.Store.EndRunWith): it marks the tick's River job completed
// there, so a worker killed between the two can neither leave a
// succeeded tick to be run again nor a completed tick without its run.
type Launch func(ctx context.Context, job, trigger string, complete func(context.Context, pgx.Tx) error) (etl.Run, error)

type tickWorker struct {
	river.WorkerDefaults[TickArgs]
	launch Launch
	clock  etl.Clock
	logger *slog.Logger
	ops    *workerOps
	// timeouts are the jobs' timeout: settings (none: absent).
	timeouts map[string]time.Duration

	mu sync.Mutex
	// running are the jobs a tick is running in this process.
	running map[string]bool
}

// Work runs the tick's job. A job still running (its lease held by
// another process, or a tick of it running in this one) makes the tick
// wait its turn, as the single-machine daemon's overlap rule does; a
// failure is River's to retry up to the job's retries.
func (w *tickWorker) Work(ctx context.Context, j *river.Job[TickArgs]) error {
	// A lease is held by a process (etl.Runner.Owner), and taken again by
	// its holder: two ticks of one job running at once in this process
	// would both take it, and load the same rows twice. So they are kept
	// apart here.
	trigger := "schedule"
	if j.Attempt > 1 {
		trigger = "retry"
	}
	if !w.claim(j.Args.Job) {
		return w.wait(j, trigger, "overlap")
	}
	defer w.release(j.Args.Job)
	complete := func(ctx context.Context, tx pgx.Tx) error {
		_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, j)
		return err
	}
	w.ops.runEvent(schedule.Event{Kind: schedule.EventStarted, Job: j.Args.Job, Trigger: trigger, Attempt: j.Attempt, MaxAttempts: j.MaxAttempts})
	run, err := w.launch(ctx, j.Args.Job, trigger, complete)
	if errors.Is(err, etl.ErrLeaseHeld) {
		return w.wait(j, trigger, "lease")
	}
	w.ops.runEvent(schedule.Event{Kind: schedule.EventFinished, Job: j.Args.Job, Trigger: trigger, Run: run, Err: err,
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, Final: err == nil || j.Attempt >= j.MaxAttempts || etl.IsPermanent(err)})
	if err != nil {
		if etl.IsPermanent(err) {
			return river.JobCancel(err)
		}
		return err
	}
	w.logger.Info("run finished", "job", j.Args.Job, "tick", j.Args.Tick, "run", run.ID, "read", run.Read, "written", run.Written)
	return nil
}

// wait answers a tick whose job is running (reason "lease": in another
// process; "overlap": in this one). Each tick runs once: it waits for the
// run in flight (a caught-up tick after a change of leader, or a run
// longer than the interval), unless it is older than CatchupWindow.
func (w *tickWorker) wait(j *river.Job[TickArgs], trigger, reason string) error {
	w.ops.runEvent(schedule.Event{Kind: schedule.EventSkipped, Job: j.Args.Job, Trigger: trigger, Reason: reason})
	if w.clock.Now().Sub(j.Args.Tick) <= CatchupWindow {
		w.logger.Debug("job is running: the tick waits", "job", j.Args.Job, "tick", j.Args.Tick, "reason", reason)
		return river.JobSnooze(leaseWait)
	}
	w.logger.Info("job is running: skipping this tick", "job", j.Args.Job, "tick", j.Args.Tick, "reason", reason)
	return nil
}

// claim marks job running in this process, unless a tick of it already is.
func (w *tickWorker) claim(job string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running[job] {
		return false
	}
	if w.running == nil {
		w.running = map[string]bool{}
	}
	w.running[job] = true
	return true
}

func (w *tickWorker) release(job string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.running, job)
}

// Timeout is the job's timeout: River cancels the run after it (a
// failure, retried as the job's retries: say), and only a tick with a
// timeout is ever rescued: River's rescuer ignores a running job whose
// timeout is negative (river v0.51.2, internal/maintenance/job_rescuer.go,
// makeRetryDecision), so a tick of a job without timeout: whose worker
// died stays running in River (the next ticks run; its run's rows are
// resumed from the checkpoint by the next run).
func (w *tickWorker) Timeout(j *river.Job[TickArgs]) time.Duration {
	if d := w.timeouts[j.Args.Job]; d > 0 {
		return d
	}
	return -1
}

// tick is the River job of js's scheduled time at or before now: unique
// by its arguments, retried as the job's retries: say.
func tick(js *config.JobSpec, sched cron.Schedule, now time.Time) (river.JobArgs, *river.InsertOpts) {
	return TickArgs{Job: js.Name, Tick: LastTick(sched, now).UTC()}, tickOpts(js)
}

// tickOpts are the insert options of js's ticks.
func tickOpts(js *config.JobSpec) *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: js.Retries + 1, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Options configure a Worker.
type Options struct {
	// ID names this River client (and the leader in river_leader).
	ID string
	// Workers is how many ticks this process runs at once (default 4).
	Workers int
	// RescueAfter is how long a tick may stay running before River gives
	// it to another worker, its process presumed dead (default 1 minute):
	// only the ticks of jobs with a timeout:, and not before it has run
	// out (see tickWorker.Timeout).
	RescueAfter time.Duration
	Logger      *slog.Logger
	// Clock is the time the worker's own code reads (the scheduled time of
	// a tick River's periodic enqueuer asks for, the catch-up's now);
	// River's enqueuer, elector and rescuer wait on their own real clock.
	// Default etl.SystemClock.
	Clock etl.Clock
	// Partitions, if set, splits the ticks of files jobs into partitions
	// (partitions.go).
	Partitions *PartitionOptions
}

// Worker is a running River client.
type Worker struct {
	client *river.Client[pgx.Tx]
	pool   *pgxpool.Pool
	ops    *workerOps
}

// Start migrates River's tables into schema (under an advisory lock, so
// workers starting together migrate once), and starts a River client that
// runs the ticks of cfg's scheduled jobs with launch.
func Start(ctx context.Context, pool *pgxpool.Pool, schema string, cfg *config.Config, launch Launch, opts Options) (*Worker, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	clock := etl.SystemClockOr(opts.Clock)
	driver := riverpgxv5.New(pool)
	if err := migrate(ctx, pool, driver, schema, logger); err != nil {
		return nil, err
	}
	var periodic []*river.PeriodicJob
	var client *river.Client[pgx.Tx]
	timeouts := map[string]time.Duration{}
	cu := &catchup{pool: pool, schema: schema, logger: logger, client: func() *river.Client[pgx.Tx] { return client }, now: clock.Now}
	for _, name := range cfg.JobNames() {
		js, _ := cfg.Job(name)
		if js.Schedule == "" {
			continue
		}
		sched, err := config.ParseSchedule(js.Schedule)
		if err != nil {
			return nil, fmt.Errorf("job %s: schedule: %w", name, err)
		}
		cu.jobs = append(cu.jobs, scheduledJob{js, sched})
		if js.Timeout > 0 {
			timeouts[name] = js.Timeout
		}
		periodic = append(periodic, river.NewPeriodicJob(
			alignedSchedule{sched},
			// River calls this on its own (real) clock; the tick is read
			// from the worker's, the same in production.
			func() (river.JobArgs, *river.InsertOpts) { return tick(js, sched, clock.Now()) },
			// A newly elected leader inserts the latest scheduled time at
			// once (after the catch-up hook has inserted the ticks missed
			// in a change of leader, see CatchupWindow); after a longer
			// outage the missed ticks collapse into this one run, as the
			// daemon's catch-up (latest) does after downtime. When the old
			// leader had inserted it, uniqueness drops it. No ID: River
			// wants one of two characters or more from a narrower set than
			// job names (a job named "a" made River panic), and uses it only
			// to remove a periodic job or keep one durable.
			&river.PeriodicJobOpts{RunOnStart: js.CatchupPolicy() == config.CatchupLatest},
		))
	}
	workers := river.NewWorkers()
	wops := newWorkerOps(cfg)
	if opts.Partitions != nil {
		launch = opts.Partitions.split(launch)
		river.AddWorker(workers, &partitionWorker{o: opts.Partitions})
	}
	river.AddWorker(workers, &tickWorker{launch: launch, clock: clock, logger: logger, ops: wops, timeouts: timeouts})
	c, err := river.NewClient(driver, &river.Config{
		ID:                   opts.ID,
		Hooks:                []rivertype.Hook{cu.hook()},
		Schema:               schema,
		Logger:               logger,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cmpOr(opts.Workers, 4)}},
		Workers:              workers,
		PeriodicJobs:         periodic,
		RescueStuckJobsAfter: cmpOr(opts.RescueAfter, time.Minute),
		JobTimeout:           -1,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	client = c
	events, _ := client.SubscribeConfig(&river.SubscribeConfig{ChanSize: 100_000, Kinds: []river.EventKind{
		river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed}})
	go wops.observe(events)
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("start river client: %w", err)
	}
	wops.started.Store(true)
	if opts.Partitions != nil {
		sweepCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		go opts.Partitions.sweep(sweepCtx)
		go func() {
			<-client.Stopped()
			stop()
		}()
	}
	return &Worker{client: client, pool: pool, ops: wops}, nil
}

// Stop drains: no new ticks are fetched, running ones finish, until ctx
// ends (then they are cancelled).
func (w *Worker) Stop(ctx context.Context) error {
	return w.client.Stop(ctx)
}

// Stopped is closed when the client has stopped.
func (w *Worker) Stopped() <-chan struct{} { return w.client.Stopped() }

func migrate(ctx context.Context, pool *pgxpool.Pool, driver *riverpgxv5.Driver, schema string, logger *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	defer conn.Release()
	const lock = `hashtextextended('nightjar river ' || $1, 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lock+`)`, schema); err != nil {
		return fmt.Errorf("migrate river: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+lock+`)`, schema)
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema, Logger: logger})
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	return nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// alignedSchedule is a cron schedule whose constant delays (@every) fall
// on a grid from the Unix epoch rather than from when the leader started:
// every leader computes the same scheduled times.
type alignedSchedule struct{ cron.Schedule }

// Next returns the first scheduled time after t.
func (s alignedSchedule) Next(t time.Time) time.Time {
	if d, ok := s.Schedule.(cron.ConstantDelaySchedule); ok {
		return epochFloor(t, d.Delay).Add(d.Delay)
	}
	return s.Schedule.Next(t)
}

// epochFloor rounds t down to a multiple of d since the Unix epoch, the
// grid of @every ticks. (time.Truncate counts from year 1, whose grid
// differs from the epoch's for a delay that does not divide a day, such as
// 7s: TestMissed found it.)
func epochFloor(t time.Time, d time.Duration) time.Time {
	n := t.UnixNano()
	m := n % int64(d)
	if m < 0 {
		m += int64(d)
	}
	return time.Unix(0, n-m).In(t.Location())
}

// LastTick returns the latest scheduled time of sched at or before now
// (grid-aligned for @every).
func LastTick(sched cron.Schedule, now time.Time) time.Time {
	if d, ok := sched.(cron.ConstantDelaySchedule); ok {
		return epochFloor(now, d.Delay)
	}
	// Cron times are whole seconds: the latest t ≤ now with Next(t-1s) = t.
	for _, back := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 32 * 24 * time.Hour, 366 * 24 * time.Hour} {
		t := sched.Next(now.Add(-back))
		if t.IsZero() || t.After(now) {
			continue
		}
		for {
			next := sched.Next(t)
			if next.IsZero() || next.After(now) {
				return t
			}
			t = next
		}
	}
	return now.Truncate(time.Second)
}
