package files

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/nightjar-etl/nightjar/etl"
)

// eventDelay gathers the file system events of a burst into one listing.
const eventDelay = 50 * time.Millisecond

// WatchOptions configure a Watcher.
type WatchOptions struct {
	// Pattern is the absolute glob of the files to watch.
	Pattern string
	// Settle is how long a file's size and mtime must stay the same before
	// it is reported.
	Settle time.Duration
	// Poll is how often the glob is listed whatever the events say (the
	// fallback where the file system sends none); default DefaultPoll.
	Poll   time.Duration
	Clock  etl.Clock
	Logger *slog.Logger
}

// Watcher reports, on C, that files matching a glob appeared or changed
// and have since settled. It listens to file system events (fsnotify) on
// the glob's folder and lists the glob every Poll as well, so folders on
// file systems without events (NFS, some containers) are watched too.
//
// Files present when Start is called are taken as known: the caller loads
// them with a run of its own (run the job once after Start, so a file
// landing in between is not missed). A watcher never reads a file; the
// run it triggers decides what is new by content (the file ledger), so a
// spurious report costs one run that loads nothing.
type Watcher struct {
	opts WatchOptions
	c    chan struct{}

	mu     sync.Mutex
	known  map[string]watchedFile
	cancel context.CancelFunc
	done   chan struct{}
}

type watchedFile struct {
	size     int64
	mtime    time.Time
	since    time.Time // when this size and mtime were first seen
	reported bool
}

// NewWatcher returns a watcher; it does no I/O until Start.
func NewWatcher(opts WatchOptions) *Watcher {
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	opts.Clock = etl.SystemClockOr(opts.Clock)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{opts: opts, c: make(chan struct{}, 1), known: make(map[string]watchedFile)}
}

// C receives a value when at least one new or changed file has settled
// since the last value was received; reports coalesce, none is lost.
func (w *Watcher) C() <-chan struct{} { return w.c }

// Start lists the files present (taken as known) and starts watching
// until ctx is cancelled or Close is called.
func (w *Watcher) Start(ctx context.Context) error {
	if w.done != nil {
		return errors.New("watcher already started")
	}
	if _, err := filepath.Match(w.opts.Pattern, ""); err != nil {
		return err
	}
	w.scan(true)
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan struct{})
	var events <-chan fsnotify.Event
	var errs <-chan error
	fsw, err := fsnotify.NewWatcher()
	if err == nil {
		if err = fsw.Add(staticDir(w.opts.Pattern)); err == nil {
			events, errs = fsw.Events, fsw.Errors
		} else {
			fsw.Close()
			fsw = nil
		}
	}
	if err != nil {
		w.opts.Logger.Info("no file system events; polling", "glob", w.opts.Pattern, "every", w.opts.Poll, "reason", err)
	}
	go func() {
		defer close(w.done)
		if fsw != nil {
			defer fsw.Close()
		}
		w.loop(ctx, events, errs)
	}()
	return nil
}

// Close stops the watcher and waits for it to end.
func (w *Watcher) Close() error {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
	return nil
}

func (w *Watcher) loop(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error) {
	// Both waits are on the watcher's clock, so tests move it instead of
	// sleeping: poll lists the glob every Poll, wake when the next burst
	// of events has gathered or the next pending file will have settled.
	clock := w.opts.Clock
	poll := clock.NewTimer(w.opts.Poll)
	defer poll.Stop()
	var (
		wake   etl.Timer
		wakeC  <-chan time.Time
		wakeAt time.Time
	)
	defer func() {
		if wake != nil {
			wake.Stop()
		}
	}()
	schedule := func(d time.Duration) {
		at := clock.Now().Add(d)
		if !wakeAt.IsZero() && !at.Before(wakeAt) {
			return
		}
		wakeAt = at
		if wake == nil {
			wake = clock.NewTimer(d)
			wakeC = wake.C()
		} else {
			wake.Reset(d)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			schedule(eventDelay)
			continue
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An overflowed event queue loses events: the listing catches up.
			w.opts.Logger.Warn("file system events", "err", err)
			schedule(eventDelay)
			continue
		case <-poll.C():
			poll.Reset(w.opts.Poll)
		case <-wakeC:
			wakeAt = time.Time{}
		}
		if next := w.scan(false); next > 0 {
			schedule(next)
		}
	}
}

// scan lists the glob, notes new and changed files and reports the ones
// that settled; it returns when the next pending file will have settled
// (0: none pending). With baseline, every file found is taken as known.
func (w *Watcher) scan(baseline bool) time.Duration {
	matches, err := filepath.Glob(w.opts.Pattern)
	if err != nil {
		w.opts.Logger.Warn("list watched files", "glob", w.opts.Pattern, "err", err)
		return 0
	}
	now := w.opts.Clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := make(map[string]bool, len(matches))
	ready := false
	var next time.Duration
	for _, path := range matches {
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		seen[path] = true
		f, ok := w.known[path]
		if !ok || f.size != st.Size() || !f.mtime.Equal(st.ModTime()) {
			f = watchedFile{size: st.Size(), mtime: st.ModTime(), since: now, reported: baseline}
		}
		if !f.reported {
			if wait := w.opts.Settle - now.Sub(f.since); wait <= 0 {
				f.reported, ready = true, true
			} else if next == 0 || wait < next {
				next = wait
			}
		}
		w.known[path] = f
	}
	for path := range w.known {
		if !seen[path] {
			delete(w.known, path)
		}
	}
	if ready {
		select {
		case w.c <- struct{}{}:
		default: // a report is already waiting
		}
	}
	return next
}

var _ etl.Watcher = (*Source)(nil)

// Watch watches the source's folder (etl.Watcher): a Watcher on its glob,
// settle time and polling interval. The files present when it starts are
// taken as known, after which ready is first called: a first run then
// loads them without a gap.
func (s *Source) Watch(ctx context.Context, log *slog.Logger, ready func()) error {
	w := NewWatcher(WatchOptions{Pattern: s.pattern, Settle: s.settle, Poll: s.poll, Clock: s.watchClock, Logger: log})
	if err := w.Start(ctx); err != nil {
		return err
	}
	defer w.Close()
	ready()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.C():
			ready()
		}
	}
}
