package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/internal/ops"
	"github.com/nightjar-etl/nightjar/jobs/config"
	"github.com/nightjar-etl/nightjar/jobs/schedule"
)

// Options configure a Daemon.
type Options struct {
	// Config is the loaded config; ConfigPath is read again by Reload.
	Config     *config.Config
	ConfigPath string
	// Store is the state store the runs checkpoint to and lease from.
	Store etl.Store
	// Owner names this process in job leases ("host:pid"); OwnerGone, if
	// set, reports whether the owner of a held lease is dead.
	Owner     string
	OwnerGone func(owner string) bool
	// Clock defaults to etl.SystemClock.
	Clock etl.Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Webhook, if set, is the URL of a Slack-compatible incoming webhook
	// told at once when a job's run fails (with the retry that follows and
	// when, or that none does), then of the retried run's outcome, and
	// when a failing job recovers. It is a secret: it is never logged.
	Webhook string
	// HTTPClient posts to the webhook; defaults to a client with a 10 s
	// timeout.
	HTTPClient *http.Client
}

// Daemon schedules a config's jobs and serves their status.
type Daemon struct {
	opts     Options
	log      *slog.Logger
	runner   *etl.Runner
	sched    *schedule.Scheduler
	metrics  *ops.Metrics
	notifier *notifier

	cfg      atomic.Pointer[config.Config]
	running  atomic.Bool // the scheduler is running and not stopping
	stopping atomic.Bool // stop was asked: the runs in flight are finishing
	// stop is Run's stop channel, set before running is: once stop is
	// closed, readiness says so at once, not when a goroutine notices.
	stop     <-chan struct{}
	reloadMu sync.Mutex
	globs    sync.Map             // job name → glob of its watched folder
	onEvent  func(schedule.Event) // tests' hook
}

// New returns a daemon for opts; it starts nothing.
func New(opts Options) *Daemon {
	if opts.Clock == nil {
		opts.Clock = etl.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{opts: opts, log: opts.Logger}
	d.metrics = ops.NewMetrics(d.filesWaiting)
	d.cfg.Store(opts.Config)
	d.runner = &etl.Runner{Store: opts.Store, Clock: opts.Clock, Logger: opts.Logger, Owner: opts.Owner, OwnerGone: opts.OwnerGone}
	if opts.Webhook != "" {
		d.notifier = newNotifier(opts.Webhook, opts.HTTPClient, opts.Logger)
	}
	d.sched = &schedule.Scheduler{
		Launcher: runnerLauncher{d},
		Clock:    opts.Clock,
		Logger:   opts.Logger,
		History:  opts.Store,
		Watchers: d.watcherFor,
		OnEvent:  d.observe,
	}
	return d
}

// Config returns the config in force.
func (d *Daemon) Config() *config.Config { return d.cfg.Load() }

// Run schedules the jobs until stop is closed (finish the runs in flight,
// checkpoint, return nil) or ctx ends (abort them, return ctx's error).
func (d *Daemon) Run(ctx context.Context, stop <-chan struct{}) error {
	d.metrics.Jobs(d.Config())
	if d.notifier != nil {
		d.notifier.seed(ctx, d.opts.Store, d.Config())
		defer func() {
			d.notifier.stopped()
			d.notifier.wait()
		}()
	}
	d.stop = stop
	d.running.Store(true)
	go func() {
		select {
		case <-stop:
		case <-ctx.Done():
		}
		d.stopping.Store(true)
		d.running.Store(false)
	}()
	d.log.Info("daemon started", "jobs", len(d.Config().Jobs))
	err := d.sched.Run(ctx, d.Config(), stop)
	d.running.Store(false)
	return err
}

// Reload reads the config file again; a config that does not validate is
// returned as the error and the one in force stays.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, err := config.Load(d.opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("reload %s: %w", d.opts.ConfigPath, err)
	}
	if cfg.State != d.Config().State {
		return fmt.Errorf("reload %s: the state store moved from %s to %s: restart the daemon to change it",
			d.opts.ConfigPath, d.Config().State, cfg.State)
	}
	d.cfg.Store(cfg)
	d.metrics.Jobs(cfg)
	d.sched.Reload(cfg)
	d.log.Info("config reloaded", "jobs", len(cfg.Jobs))
	return nil
}

// observe turns scheduler events into metrics and notifications.
func (d *Daemon) observe(e schedule.Event) {
	d.metrics.Observe(e)
	if d.onEvent != nil {
		d.onEvent(e)
	}
	if d.notifier != nil && e.Kind == schedule.EventFinished {
		d.notifier.finished(e, d.Config().Redact)
	}
}

// runnerLauncher runs jobs in this process with the etl.Runner.
type runnerLauncher struct{ d *Daemon }

var _ schedule.Launcher = runnerLauncher{}

func (l runnerLauncher) Launch(ctx context.Context, req schedule.LaunchRequest) (etl.Run, error) {
	d := l.d
	job, err := d.Config().Build(req.Job, d.log, d.opts.Clock)
	if err != nil {
		return etl.Run{}, err
	}
	run, err := d.runner.Run(ctx, job, etl.RunOptions{Trigger: req.Trigger, Stop: req.Stop})
	return run, err
}
