package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/jobs/config"
	"github.com/nightjar-etl/nightjar/jobs/schedule"
)

// The scheduler tests run on a fake clock: time moves only when the test
// advances it, so a week of schedules takes milliseconds and nothing
// sleeps. They use the fake components registered by fakes_test.go.

const wait = 5 * time.Second // real-time bound on any single step

// loadJobs writes a config whose jobs have the given extra keys.
func loadJobs(t *testing.T, jobKeys map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	text := "jobs:\n"
	for name, keys := range jobKeys {
		text += fmt.Sprintf("  %s:\n    source: { type: testsrc, path: in/*.csv }\n    targets: [ { type: testfile, path: out.csv } ]\n%s", name, keys)
	}
	path := filepath.Join(dir, "nightjar.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("load config: %v\n%s", err, text)
	}
	return cfg
}

type launch struct {
	Job, Trigger string
	At           time.Time
}

// launcher records launches at the fake time. With block set, each Launch
// waits for a value on release (or for its context).
type launcher struct {
	clock   *etltest.Clock
	block   bool
	release chan struct{}
	started chan launch
	result  func(req schedule.LaunchRequest, ctx context.Context) error

	mu       sync.Mutex
	launches []launch
}

func newLauncher(clock *etltest.Clock) *launcher {
	return &launcher{clock: clock, release: make(chan struct{}), started: make(chan launch, 100)}
}

func (l *launcher) Launch(ctx context.Context, req schedule.LaunchRequest) (etl.Run, error) {
	at := launch{Job: req.Job, Trigger: req.Trigger, At: l.clock.Now().UTC()}
	l.mu.Lock()
	l.launches = append(l.launches, at)
	id := int64(len(l.launches))
	l.mu.Unlock()
	l.started <- at
	if l.block {
		select {
		case <-l.release:
		case <-ctx.Done():
		}
	}
	var err error
	if l.result != nil {
		err = l.result(req, ctx)
	}
	status := etl.RunSucceeded
	if err != nil {
		status = etl.RunFailed
	}
	return etl.Run{ID: id, Job: req.Job, Trigger: req.Trigger, Status: status}, err
}

func (l *launcher) all() []launch {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]launch(nil), l.launches...)
}

// nextLaunch waits for the next launch to start.
func (l *launcher) nextLaunch(t *testing.T) launch {
	t.Helper()
	select {
	case at := <-l.started:
		return at
	case <-time.After(wait):
		t.Fatalf("no launch within %s; launches so far: %v", wait, l.all())
		return launch{}
	}
}

// history is a fake History holding each job's last run.
type history map[string]etl.Run

func (h history) Runs(_ context.Context, job string, limit int) ([]etl.Run, error) {
	if r, ok := h[job]; ok && limit != 0 {
		return []etl.Run{r}, nil
	}
	return nil, nil
}

// harness runs a scheduler on a fake clock until the test ends.
type harness struct {
	clock    *etltest.Clock
	launcher *launcher
	sched    *schedule.Scheduler
	events   chan schedule.Event
	stop     chan struct{}
	done     chan error
}

func start(t *testing.T, cfg *config.Config, now time.Time, configure func(*harness)) *harness {
	t.Helper()
	clock := etltest.NewClock(now)
	h := &harness{clock: clock, launcher: newLauncher(clock), events: make(chan schedule.Event, 100),
		stop: make(chan struct{}), done: make(chan error, 1)}
	h.sched = &schedule.Scheduler{Launcher: h.launcher, Clock: clock,
		OnEvent: func(e schedule.Event) { h.events <- e }}
	if configure != nil {
		configure(h)
	}
	go func() { h.done <- h.sched.Run(context.Background(), cfg, h.stop) }()
	t.Cleanup(func() {
		close(h.stop)
		close(h.launcher.release)
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("scheduler: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("scheduler did not stop within %s", wait)
		}
	})
	return h
}

// tick waits until the scheduler is waiting on n timers, then moves the
// fake time to the earliest one.
func (h *harness) tick(t *testing.T, n int) time.Time {
	t.Helper()
	if !h.clock.WaitTimers(n, wait) {
		t.Fatalf("scheduler is not waiting on %d timer(s) (has %d)", n, h.clock.Timers())
	}
	now, _ := h.clock.AdvanceToNext()
	return now
}

// event waits for the next event of kind.
func (h *harness) event(t *testing.T, kind schedule.EventKind) schedule.Event {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case e := <-h.events:
			if e.Kind == kind {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", kind, wait)
		}
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestSchedulerAcrossDSTInBerlin(t *testing.T) {
	tests := []struct {
		name     string
		schedule string
		from     string
		want     []string // launch times, UTC
	}{
		{
			// 02:30 does not exist on 29 March 2026: the run comes at
			// 03:30 CEST (02:30 at the old offset), not a day late.
			name: "spring forward, fixed hour", schedule: "CRON_TZ=Europe/Berlin 30 2 * * *", from: "2026-03-27T12:00:00Z",
			want: []string{"2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"},
		},
		{
			// 02:30 occurs twice on 25 October 2026: one run, at the first.
			name: "fall back, fixed hour", schedule: "CRON_TZ=Europe/Berlin 30 2 * * *", from: "2026-10-23T12:00:00Z",
			want: []string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"},
		},
		{
			// An hourly job follows real time: every hour runs, the
			// repeated one too.
			name: "fall back, hourly", schedule: "CRON_TZ=Europe/Berlin 0 * * * *", from: "2026-10-24T23:30:00Z",
			want: []string{"2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"},
		},
		{
			name: "spring forward, daily at 3 with seconds", schedule: "CRON_TZ=Europe/Berlin 0 0 3 * * *", from: "2026-03-28T12:00:00Z",
			want: []string{"2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z", "2026-03-31T01:00:00Z", "2026-04-01T01:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadJobs(t, map[string]string{"nightly": fmt.Sprintf("    schedule: %q\n", tt.schedule)})
			h := start(t, cfg, utc(tt.from), nil)
			var got []string
			for range tt.want {
				now := h.tick(t, 1)
				at := h.launcher.nextLaunch(t)
				if !at.At.Equal(now) || at.Trigger != "schedule" {
					t.Errorf("launch %+v at fake time %s", at, now)
				}
				got = append(got, at.At.Format(time.RFC3339))
				h.event(t, schedule.EventFinished)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("launch times (-want +got):\n%s", diff)
			}
			// NextRun agrees with what the scheduler did.
			spec, _ := cfg.Job("nightly")
			next, _ := spec.Next(utc(tt.from))
			if next.UTC().Format(time.RFC3339) != tt.want[0] {
				t.Errorf("NextRun(%s) = %s, want %s", tt.from, next.UTC(), tt.want[0])
			}
		})
	}
}

func TestSchedulerCatchupAfterDowntime(t *testing.T) {
	// The daemon was down for three days: the 02:00 runs of the 2nd, 3rd
	// and 4th were missed.
	lastRun := etl.Run{ID: 7, Job: "nightly", Status: etl.RunSucceeded,
		StartedAt: utc("2026-05-01T00:00:00Z"), EndedAt: utc("2026-05-01T00:05:00Z")}
	now := utc("2026-05-04T08:00:00Z")
	tests := []struct {
		name    string
		catchup string
		last    etl.Run
		want    []launch // the launches before the next scheduled time, and it
	}{
		{name: "latest runs once", catchup: "latest", last: lastRun, want: []launch{
			{"nightly", "catchup", now}, {"nightly", "schedule", utc("2026-05-05T00:00:00Z")},
		}},
		{name: "none waits", catchup: "none", last: lastRun, want: []launch{
			{"nightly", "schedule", utc("2026-05-05T00:00:00Z")},
		}},
		{name: "nothing missed", catchup: "latest", last: etl.Run{Job: "nightly", Status: etl.RunSucceeded, StartedAt: utc("2026-05-04T00:00:00Z")},
			want: []launch{{"nightly", "schedule", utc("2026-05-05T00:00:00Z")}}},
		{name: "stopped run resumes", catchup: "none", last: etl.Run{Job: "nightly", Status: etl.RunCancelled, StartedAt: utc("2026-05-04T00:00:00Z")},
			want: []launch{{"nightly", "resume", now}, {"nightly", "schedule", utc("2026-05-05T00:00:00Z")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadJobs(t, map[string]string{"nightly": "    schedule: \"CRON_TZ=Europe/Berlin 0 2 * * *\"\n    catchup: " + tt.catchup + "\n"})
			h := start(t, cfg, now, func(h *harness) { h.sched.History = history{"nightly": tt.last} })
			for i := range len(tt.want) - 1 {
				h.launcher.nextLaunch(t)
				if e := h.event(t, schedule.EventFinished); e.Trigger != tt.want[i].Trigger {
					t.Errorf("finished run's trigger %q, want %q", e.Trigger, tt.want[i].Trigger)
				}
			}
			h.tick(t, 1)
			h.launcher.nextLaunch(t)
			h.event(t, schedule.EventFinished)
			if diff := cmp.Diff(tt.want, h.launcher.all()); diff != "" {
				t.Errorf("launches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchedulerSkipsOverlappingRuns(t *testing.T) {
	cfg := loadJobs(t, map[string]string{"sync": "    schedule: \"@every 1m\"\n"})
	h := start(t, cfg, utc("2026-05-04T08:00:00Z"), func(h *harness) { h.launcher.block = true })

	h.tick(t, 1)
	first := h.launcher.nextLaunch(t)
	// Three more ticks while the first run is going: all skipped.
	for range 3 {
		h.tick(t, 1)
		if e := h.event(t, schedule.EventSkipped); e.Reason != "overlap" || e.Job != "sync" {
			t.Errorf("skip event %+v, want an overlap of sync", e)
		}
	}
	h.launcher.release <- struct{}{}
	h.event(t, schedule.EventFinished)
	now := h.tick(t, 1)
	second := h.launcher.nextLaunch(t)
	h.launcher.release <- struct{}{}
	h.event(t, schedule.EventFinished)

	want := []launch{{"sync", "schedule", utc("2026-05-04T08:01:00Z")}, {"sync", "schedule", now}}
	if diff := cmp.Diff(want, []launch{first, second}); diff != "" {
		t.Errorf("launches (-want +got):\n%s", diff)
	}
	if now != utc("2026-05-04T08:05:00Z") {
		t.Errorf("second run at %s, want the fifth tick", now)
	}
	if n := len(h.launcher.all()); n != 2 {
		t.Errorf("%d launches, want 2", n)
	}
}

// TestSchedulerRetriesWithBackoff: a transient failure is retried at the
// time its event announced, the waits following the job's RetryPolicy
// (retry_backoff doubling, within the policy's jitter).
func TestSchedulerRetriesWithBackoff(t *testing.T) {
	cfg := loadJobs(t, map[string]string{"flaky": "    schedule: \"@every 1h\"\n    retries: 3\n    retry_backoff: 10s\n"})
	fails := 2
	h := start(t, cfg, utc("2026-05-04T08:00:00Z"), func(h *harness) {
		h.launcher.result = func(schedule.LaunchRequest, context.Context) error {
			if fails > 0 {
				fails--
				return errors.New("target unreachable")
			}
			return nil
		}
	})
	start := h.tick(t, 1)
	h.launcher.nextLaunch(t)
	var finals []bool
	want := []launch{{"flaky", "schedule", start}}
	jitter := etl.DefaultBackoff.Jitter
	// The backoff doubles: about 10s, then about 20s.
	for i, centre := range []time.Duration{10 * time.Second, 20 * time.Second} {
		e := h.event(t, schedule.EventFinished)
		finals = append(finals, e.Final)
		if e.Attempt != i+1 || e.MaxAttempts != 4 {
			t.Errorf("failure %d: attempt %d of %d, want %d of 4", i+1, e.Attempt, e.MaxAttempts, i+1)
		}
		wait := e.RetryAt.Sub(e.At)
		if lo, hi := time.Duration(float64(centre)*(1-jitter)), time.Duration(float64(centre)*(1+jitter))+time.Microsecond; wait < lo || wait > hi {
			t.Errorf("failure %d: retry announced in %v, want within [%v, %v]", i+1, wait, lo, hi)
		}
		// Waiting on the next tick and on the backoff.
		if now := h.tick(t, 2); !now.Equal(e.RetryAt) {
			t.Errorf("retry %d at %s, announced for %s", i+1, now, e.RetryAt)
		}
		want = append(want, launch{"flaky", "retry", e.RetryAt})
		h.launcher.nextLaunch(t)
	}
	e := h.event(t, schedule.EventFinished)
	finals = append(finals, e.Final)
	if e.Err != nil || !e.RetryAt.IsZero() {
		t.Errorf("third attempt: err %v, retry at %v", e.Err, e.RetryAt)
	}
	if diff := cmp.Diff(want, h.launcher.all()); diff != "" {
		t.Errorf("launches (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{false, false, true}, finals); diff != "" {
		t.Errorf("Final flags (-want +got):\n%s", diff)
	}
}

// TestSchedulerNeverRetriesPermanentFailures: a job with retries whose run
// fails permanently gets one final event at once and no retry: its next
// run is the next scheduled one.
func TestSchedulerNeverRetriesPermanentFailures(t *testing.T) {
	buildErr := func() error {
		// A config error as the daemon meets it: the job is gone from
		// the config it builds from.
		_, err := loadJobs(t, map[string]string{"other": ""}).Build("nightly", nil, nil)
		return err
	}
	tests := []struct {
		name string
		err  func() error
	}{
		{"too many rejects", func() error { return fmt.Errorf("run nightly: %w: 9 of 10 rows", etl.ErrTooManyRejects) }},
		{"marked where born", func() error {
			return fmt.Errorf("target leads: %w", etl.Permanent(errors.New("HTTP 401: invalid token")))
		}},
		{"build error", buildErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadJobs(t, map[string]string{"nightly": "    schedule: \"@every 1h\"\n    retries: 3\n    retry_backoff: 10s\n"})
			first := true
			h := start(t, cfg, utc("2026-05-04T08:00:00Z"), func(h *harness) {
				h.launcher.result = func(schedule.LaunchRequest, context.Context) error {
					if first {
						first = false
						return tt.err()
					}
					return nil
				}
			})
			start := h.tick(t, 1)
			h.launcher.nextLaunch(t)
			e := h.event(t, schedule.EventFinished)
			if !e.Final || e.Attempt != 1 || e.MaxAttempts != 4 || !e.RetryAt.IsZero() || !etl.IsPermanent(e.Err) {
				t.Fatalf("first event: final %v, attempt %d of %d, retry at %v, err %v; want a final permanent failure of attempt 1 of 4",
					e.Final, e.Attempt, e.MaxAttempts, e.RetryAt, e.Err)
			}
			// The next launch is the schedule's, an hour on, not a retry.
			if now := h.tick(t, 1); !now.Equal(start.Add(time.Hour)) {
				t.Errorf("next launch at %s, want the next tick %s", now, start.Add(time.Hour))
			}
			h.launcher.nextLaunch(t)
			h.event(t, schedule.EventFinished)
			want := []launch{{"nightly", "schedule", start}, {"nightly", "schedule", start.Add(time.Hour)}}
			if diff := cmp.Diff(want, h.launcher.all()); diff != "" {
				t.Errorf("launches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchedulerTimeout(t *testing.T) {
	cfg := loadJobs(t, map[string]string{"slow": "    schedule: \"@every 1h\"\n    timeout: 5m\n"})
	h := start(t, cfg, utc("2026-05-04T08:00:00Z"), func(h *harness) {
		h.launcher.block = true
		h.launcher.result = func(_ schedule.LaunchRequest, ctx context.Context) error { return ctx.Err() }
	})
	start := h.tick(t, 1)
	h.launcher.nextLaunch(t)
	if now := h.tick(t, 2); now != start.Add(5*time.Minute) {
		t.Errorf("timeout fired at %s", now)
	}
	e := h.event(t, schedule.EventFinished)
	if !errors.Is(e.Err, schedule.ErrRunTimeout) {
		t.Errorf("run error %v, want ErrRunTimeout", e.Err)
	}
}

func TestSchedulerJitterDelaysScheduledRuns(t *testing.T) {
	cfg := loadJobs(t, map[string]string{"jittery": "    schedule: \"@every 1h\"\n    jitter: 10m\n"})
	h := start(t, cfg, utc("2026-05-04T08:00:00Z"), func(h *harness) {
		h.sched.Jitter = func(max time.Duration) time.Duration { return max / 4 }
	})
	h.tick(t, 1)
	// The jitter timer is the earlier of the two.
	if now := h.tick(t, 2); now != utc("2026-05-04T09:02:30Z") {
		t.Errorf("jittered run at %s", now)
	}
	if at := h.launcher.nextLaunch(t); at.At != utc("2026-05-04T09:02:30Z") {
		t.Errorf("launch %+v", at)
	}
}

// folder is a fake Watcher whose files settle when the test says so.
type folder struct{ ready chan func() }

func (f *folder) Watch(ctx context.Context, ready func()) error {
	f.ready <- ready
	<-ctx.Done()
	return nil
}

func TestSchedulerWatchedFolder(t *testing.T) {
	cfg := loadJobs(t, map[string]string{"inbox": "", "nightly": "    schedule: \"@daily\"\n"})
	f := &folder{ready: make(chan func(), 1)}
	h := start(t, cfg, utc("2026-05-04T08:00:00Z"), func(h *harness) {
		h.launcher.block = true
		h.sched.Watchers = func(_ *config.Config, js *config.JobSpec) schedule.Watcher {
			if js.Name == "inbox" {
				return f
			}
			return nil
		}
	})
	var ready func()
	select {
	case ready = <-f.ready:
	case <-time.After(wait):
		t.Fatal("the watcher was not started")
	}
	ready()
	if at := h.launcher.nextLaunch(t); at.Trigger != "watch" || at.Job != "inbox" {
		t.Errorf("launch %+v, want a watch run of inbox", at)
	}
	// Files settling while the run goes on make one more run after it.
	// The loop takes the signal asynchronously: the run is released only
	// once the scheduler says a run follows, or the signal could land
	// after the run and start the second run itself (which hid a broken
	// follow-up), or land during the follow-up and ask for a third.
	ready()
	again := func() bool {
		for _, js := range h.sched.Jobs() {
			if js.Name == "inbox" {
				return js.Again
			}
		}
		return false
	}
	for deadline := time.Now().Add(wait); !again(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("files settled during a run, but no run follows it")
		}
	}
	h.launcher.release <- struct{}{}
	h.event(t, schedule.EventFinished)
	if at := h.launcher.nextLaunch(t); at.Trigger != "watch" {
		t.Errorf("follow-up launch %+v", at)
	}
	h.launcher.release <- struct{}{}
	h.event(t, schedule.EventFinished)
	if n := len(h.launcher.all()); n != 2 {
		t.Errorf("%d launches, want 2", n)
	}
	var watched []string
	for _, js := range h.sched.Jobs() {
		if js.Watched {
			watched = append(watched, js.Name)
		}
	}
	if diff := cmp.Diff([]string{"inbox"}, watched); diff != "" {
		t.Errorf("watched jobs (-want +got):\n%s", diff)
	}
}

func TestSchedulerStopFinishesRunInFlight(t *testing.T) {
	cfg := loadJobs(t, map[string]string{"sync": "    schedule: \"@every 1m\"\n"})
	clock := etltest.NewClock(utc("2026-05-04T08:00:00Z"))
	l := newLauncher(clock)
	var stopSeen bool
	l.block = true
	stop := make(chan struct{})
	l.result = func(req schedule.LaunchRequest, _ context.Context) error {
		select {
		case <-req.Stop:
			stopSeen = true
			return etl.ErrStopped
		default:
			return nil
		}
	}
	sched := &schedule.Scheduler{Launcher: l, Clock: clock}
	done := make(chan error, 1)
	go func() { done <- sched.Run(context.Background(), cfg, stop) }()
	clock.WaitTimers(1, wait)
	clock.AdvanceToNext()
	l.nextLaunch(t)
	close(stop)
	select {
	case err := <-done:
		t.Fatalf("Run returned %v before the run in flight ended", err)
	case <-time.After(50 * time.Millisecond):
	}
	l.release <- struct{}{}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return after the run in flight ended")
	}
	if !stopSeen {
		t.Error("the run in flight was not asked to stop")
	}
	clock.Advance(time.Hour)
	if n := len(l.all()); n != 1 {
		t.Errorf("%d launches after stop, want 1", n)
	}
}

func TestSchedulerReloadChangesSchedule(t *testing.T) {
	cfg := loadJobs(t, map[string]string{"sync": "    schedule: \"@every 1h\"\n"})
	h := start(t, cfg, utc("2026-05-04T08:00:00Z"), nil)
	h.clock.WaitTimers(1, wait)
	h.sched.Reload(loadJobs(t, map[string]string{"sync": "    schedule: \"@every 5m\"\n", "other": ""}))
	// Wait for the loop to take the new config (it re-arms its timer).
	deadline := time.Now().Add(wait)
	for len(h.sched.Jobs()) != 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if now := h.tick(t, 1); now != utc("2026-05-04T08:05:00Z") {
		t.Errorf("first run after reload at %s, want 08:05", now)
	}
	h.launcher.nextLaunch(t)
}
