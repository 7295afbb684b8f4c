package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
	"github.com/nightjar-etl/nightjar/jobs/config"
	"github.com/nightjar-etl/nightjar/jobs/schedule"
)

// wait bounds every wait for the daemon to act (a run to end, timers to
// be set): a bound, not a duration any test takes. 5 s failed once on a
// busy CI machine ("no run ended within 5s").
const wait = 30 * time.Second

// probe components: a source of generated rows and a target that records
// how many runs are writing to it at once, across daemons.

type probeSourceConfig struct {
	Rows    int           `yaml:"rows"`
	Rejects int           `yaml:"rejects"` // rows rejected in each batch, besides Rows
	Batches int           `yaml:"batches"`
	Delay   time.Duration `yaml:"delay"`
	Probe   string        `yaml:"probe,required"`
}

type probeSource struct {
	cfg  probeSourceConfig
	sent int
}

func (s *probeSource) Open(context.Context, etl.SourceEnv) error { return nil }
func (s *probeSource) Close(context.Context) error               { return nil }
func (s *probeSource) Next(ctx context.Context) (*etl.Batch, error) {
	if probes.get(s.cfg.Probe).fail.Load() {
		return nil, errors.New("probe source told to fail")
	}
	if s.sent >= s.cfg.Batches {
		return nil, etl.ErrEndOfInput
	}
	s.sent++
	if s.cfg.Delay > 0 {
		select {
		case <-time.After(s.cfg.Delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	rows := make([][]string, s.cfg.Rows)
	for i := range rows {
		rows[i] = []string{fmt.Sprint(s.sent*1000 + i)}
	}
	b := etltest.StringBatch("probe", 1, fmt.Sprintf(`{"batch":%d}`, s.sent), []string{"n"}, rows...)
	for i := range s.cfg.Rejects {
		b.Rejects = append(b.Rejects, etl.Reject{Step: "probesrc", Origin: etl.Origin{File: "probe", Line: int64(s.cfg.Rows + i + 1)},
			Field: "n", Value: "x", Reason: "not a number"})
	}
	return b, nil
}

type probeTargetConfig struct {
	Probe string `yaml:"probe,required"`
}

type probe struct {
	active, maxActive, rows atomic.Int64
	fail                    atomic.Bool
}

type probeSet struct {
	mu sync.Mutex
	m  map[string]*probe
}

func (p *probeSet) get(name string) *probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[name] == nil {
		p.m[name] = &probe{}
	}
	return p.m[name]
}

var probes = &probeSet{m: map[string]*probe{}}

var probeSeq atomic.Int64

// probeName returns a probe name of its own for each test run (-count).
func probeName(prefix string) string { return fmt.Sprintf("%s-%d", prefix, probeSeq.Add(1)) }

type probeTarget struct{ p *probe }

func (t *probeTarget) Open(context.Context, etl.TargetEnv) error {
	n := t.p.active.Add(1)
	for {
		m := t.p.maxActive.Load()
		if n <= m || t.p.maxActive.CompareAndSwap(m, n) {
			break
		}
	}
	return nil
}
func (t *probeTarget) Write(_ context.Context, b *etl.Batch) error {
	t.p.rows.Add(int64(b.Len()))
	return nil
}
func (t *probeTarget) Commit(context.Context) error { return nil }
func (t *probeTarget) Close() error {
	t.p.active.Add(-1)
	return nil
}
func (t *probeTarget) Durability() etl.Durability { return etl.DurablePerBatch }

func init() {
	etl.RegisterSource(etl.SourceSpec{
		Spec: etl.Spec{Type: "probesrc", Config: func() any { return &probeSourceConfig{Rows: 10, Batches: 1} }},
		New: func(cfg any, _ etl.BuildEnv) (etl.Source, error) {
			return &probeSource{cfg: *cfg.(*probeSourceConfig)}, nil
		},
	})
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{Type: "probe", Config: func() any { return &probeTargetConfig{} }},
		New: func(cfg any, _ etl.BuildEnv) (etl.Target, error) {
			return &probeTarget{p: probes.get(cfg.(*probeTargetConfig).Probe)}, nil
		},
	})
}

// writeConfig writes a config to dir and loads it.
func writeConfig(t *testing.T, dir, text string) (*config.Config, string) {
	t.Helper()
	path := filepath.Join(dir, "nightjar.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return cfg, path
}

func openStore(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// running is a daemon started by a test, stopped at its end.
type running struct {
	d      *Daemon
	store  *sqlitestore.Store
	events chan schedule.Event
	stop   chan struct{}
	done   chan error
}

func startDaemon(t *testing.T, cfg *config.Config, cfgPath string, clock etl.Clock, owner string, opts func(*Options)) *running {
	t.Helper()
	st := openStore(t, cfg.State)
	o := Options{Config: cfg, ConfigPath: cfgPath, Store: st, Owner: owner, Clock: clock}
	if opts != nil {
		opts(&o)
	}
	r := &running{d: New(o), store: st, events: make(chan schedule.Event, 1000), stop: make(chan struct{}), done: make(chan error, 1)}
	r.d.onEvent = func(e schedule.Event) {
		select {
		case r.events <- e:
		default:
		}
	}
	go func() { r.done <- r.d.Run(context.Background(), r.stop) }()
	t.Cleanup(func() { r.shutdown(t) })
	return r
}

func (r *running) shutdown(t *testing.T) {
	t.Helper()
	select {
	case <-r.stop:
		return
	default:
	}
	close(r.stop)
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("daemon: %v", err)
		}
	case <-time.After(wait):
		t.Errorf("daemon did not stop within %s", wait)
	}
}

// attemptEnded waits for the next EventFinished, final or not.
func (r *running) attemptEnded(t *testing.T) schedule.Event {
	t.Helper()
	return r.await(t, func(e schedule.Event) bool { return e.Kind == schedule.EventFinished })
}

// finished waits for the next final EventFinished.
func (r *running) finished(t *testing.T) schedule.Event {
	t.Helper()
	return r.await(t, func(e schedule.Event) bool { return e.Kind == schedule.EventFinished && e.Final })
}

// await waits for the next event that matches.
func (r *running) await(t *testing.T, match func(schedule.Event) bool) schedule.Event {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case e := <-r.events:
			if match(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no run ended within %s", wait)
		}
	}
}

// TestTwoDaemonsNeverRunAJobAtOnce runs two daemons on one state file and
// one fake clock over many ticks: at each tick both try to run the job;
// the lease in the state store lets one at a time through.
func TestTwoDaemonsNeverRunAJobAtOnce(t *testing.T) {
	dir := t.TempDir()
	name := probeName("two-daemons")
	cfg, path := writeConfig(t, dir, fmt.Sprintf(`jobs:
  shared:
    schedule: "@every 1s"
    source: { type: probesrc, probe: %[1]s, rows: 5, batches: 3, delay: 1ms }
    targets: [ { type: probe, probe: %[1]s } ]
`, name))
	clock := etltest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
	var skips [2]map[string]int
	var ran [2]atomic.Int64
	var daemons [2]*running
	for i := range daemons {
		daemons[i] = startDaemon(t, cfg, path, clock, fmt.Sprintf("daemon-%d", i), nil)
		skips[i] = map[string]int{}
	}
	// drain counts the events daemon i has sent so far.
	drain := func(i int) {
		for {
			select {
			case e := <-daemons[i].events:
				switch e.Kind {
				case schedule.EventSkipped:
					skips[i][e.Reason]++
				case schedule.EventFinished:
					// The shutdown may stop a run gracefully.
					if e.Err != nil && !errors.Is(e.Err, etl.ErrStopped) {
						t.Errorf("daemon %d: run failed: %v", i, e.Err)
					}
					ran[i].Add(1)
				}
			default:
				return
			}
		}
	}
	// At least 80 ticks, and on until the daemons have competed for the
	// lease (a run refused for it), which a few ticks in a hundred see:
	// without that the test would prove nothing.
	const minTicks, maxTicks = 80, 2000
	rng := rand.New(rand.NewPCG(1, 2))
	for tick := 0; tick < maxTicks; tick++ {
		if tick >= minTicks && skips[0]["lease"]+skips[1]["lease"] > 0 {
			break
		}
		if !clock.WaitTimers(2, wait) {
			t.Fatalf("both schedulers should be waiting on their timers; %d are", clock.Timers())
		}
		clock.Advance(time.Second)
		// Let the runs progress a random while: some ticks come while a run
		// is going, some after.
		time.Sleep(time.Duration(rng.IntN(5000)) * time.Microsecond)
		drain(0)
		drain(1)
	}
	for i, r := range daemons {
		r.shutdown(t)
		drain(i)
	}
	p := probes.get(name)
	t.Logf("runs: daemon 0 %d, daemon 1 %d; skips: %v %v; rows %d", ran[0].Load(), ran[1].Load(), skips[0], skips[1], p.rows.Load())
	if m := p.maxActive.Load(); m != 1 {
		t.Errorf("at most %d runs of the job at once, want 1", m)
	}
	if skips[0]["lease"]+skips[1]["lease"] == 0 {
		t.Error("no run was refused for the lease: the daemons never competed, the test proved nothing")
	}
	runs, err := daemons[0].store.Runs(context.Background(), "shared", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	for _, r := range runs {
		written += r.Written
		if r.Status != etl.RunSucceeded && r.Status != etl.RunCancelled {
			t.Errorf("run %d: %s %s", r.ID, r.Status, r.Error)
		}
	}
	if total := int(ran[0].Load() + ran[1].Load()); len(runs) != total || total < 2 {
		t.Errorf("%d runs in the store, %d finished in the daemons", len(runs), total)
	}
	if p.rows.Load() != written {
		t.Errorf("%d rows reached the target, the runs recorded %d", p.rows.Load(), written)
	}
}

func TestReloadKeepsTheConfigInForceOnError(t *testing.T) {
	dir := t.TempDir()
	cfg, path := writeConfig(t, dir, `jobs:
  a:
    schedule: "@every 1h"
    source: { type: probesrc, probe: reload }
    targets: [ { type: probe, probe: reload } ]
`)
	clock := etltest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
	r := startDaemon(t, cfg, path, clock, "reload", nil)

	if err := os.WriteFile(path, []byte("jobs:\n  a:\n    schedule: \"every day\"\n    source: { type: probesrc, probe: reload }\n    targets: [ { type: probe, probe: reload } ]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := r.d.Reload()
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("reload of a bad config: %v, want config.Errors", err)
	}
	if r.d.Config() != cfg {
		t.Error("the config in force changed after a failed reload")
	}

	if err := os.WriteFile(path, []byte("jobs:\n  a:\n    schedule: \"@every 1h\"\n    source: { type: probesrc, probe: reload }\n    targets: [ { type: probe, probe: reload } ]\n  b:\n    schedule: \"@every 1m\"\n    source: { type: probesrc, probe: reload }\n    targets: [ { type: probe, probe: reload } ]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	// Job b, new, runs at its first tick. The scheduler stops its timer,
	// takes the new config, then arms the timer of the earliest tick: once
	// it lists both jobs, the next timer armed is b's. (Waiting for a timer
	// first found the old one, about to be stopped: advancing the clock
	// then fired nothing, and no run came.)
	deadline := time.Now().Add(wait)
	for len(r.d.sched.Jobs()) != 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !clock.WaitTimers(1, wait) {
		t.Fatalf("no timer armed %s after the reload", wait)
	}
	clock.AdvanceToNext()
	if e := r.finished(t); e.Job != "b" || e.Err != nil {
		t.Errorf("first run after reload: %s %v, want b succeeded", e.Job, e.Err)
	}
}
