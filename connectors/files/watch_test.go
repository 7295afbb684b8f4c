package files_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// watchLoop runs a load job once, then on every report of w, until ctx
// ends; it returns the number of runs through runs.
func watchLoop(ctx context.Context, t *testing.T, e *loadEnv, w *files.Watcher, cfg files.SourceConfig) <-chan int {
	runs := make(chan int, 1)
	go func() {
		n := 0
		defer func() { runs <- n }()
		for {
			if _, err := e.run(cfg, 0, 0); err != nil {
				t.Errorf("run %d: %v", n+1, err)
				return
			}
			n++
			select {
			case <-ctx.Done():
				return
			case <-w.C():
			}
		}
	}()
	return runs
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWatchBurstLoadsEveryFileOnce(t *testing.T) {
	const nfiles, perFile = 1000, 2
	e := setupLoad(t)
	if err := os.MkdirAll(filepath.Join(e.dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := files.SourceConfig{Path: "in/*.csv", Settle: 100 * time.Millisecond, Archive: "done"}
	w := files.NewWatcher(files.WatchOptions{Pattern: filepath.Join(e.dir, "in", "*.csv"), Settle: cfg.Settle, Poll: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	runs := watchLoop(ctx, t, e, w, cfg)

	// The burst: written in two goroutines, each file in two writes so a
	// run may find it half written.
	var wg sync.WaitGroup
	for half := range 2 {
		wg.Go(func() {
			for i := half; i < nfiles; i += 2 {
				path := filepath.Join(e.dir, "in", fmt.Sprintf("f%04d.csv", i))
				body := csvRows(i*perFile, (i+1)*perFile)
				f, err := os.Create(path)
				if err != nil {
					t.Error(err)
					return
				}
				f.WriteString(body[:10])
				f.WriteString(body[10:])
				f.Close()
			}
		})
	}
	wg.Wait()
	waitFor(t, 90*time.Second, "every row", func() bool { return len(e.ids()) >= nfiles*perFile })
	// Quiet for a while: nothing more may load.
	time.Sleep(4 * cfg.Settle)
	cancel()
	n := <-runs
	if diff := cmp.Diff(seq(0, nfiles*perFile), e.ids()); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if got := len(e.ledger()); got != nfiles {
		t.Errorf("ledger holds %d files, want %d", got, nfiles)
	}
	if got := len(dirNames(t, filepath.Join(e.dir, "done"))); got != nfiles {
		t.Errorf("archive holds %d files, want %d", got, nfiles)
	}
	if left := dirNames(t, filepath.Join(e.dir, "in")); len(left) != 0 {
		t.Errorf("inbox still holds %d files", len(left))
	}
	t.Logf("%d files loaded in %d runs", nfiles, n)
}

func TestWatcherPollsAFolderCreatedLater(t *testing.T) {
	dir := t.TempDir()
	// The folder does not exist yet: no events can be had, polling finds it.
	w := files.NewWatcher(files.WatchOptions{Pattern: filepath.Join(dir, "in", "*.csv"), Settle: 30 * time.Millisecond, Poll: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeFile(t, dir, "in/a.csv", "id\n1\n")
	select {
	case <-w.C():
	case <-time.After(10 * time.Second):
		t.Fatal("no report for a file in a folder created after Start")
	}
	// Nothing changes: no further report.
	select {
	case <-w.C():
		t.Error("a second report without a change")
	case <-time.After(150 * time.Millisecond):
	}
}

// TestWatcherWaitsForSettle drives the watcher on a fake clock: a file
// still growing is never reported, and once it stops, the report comes no
// sooner than the settle time of the clock after its last change.
func TestWatcherWaitsForSettle(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "old.csv", "id\n1\n")
	const settle, poll = 300 * time.Millisecond, 20 * time.Millisecond
	clock := etltest.NewClock(time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC))
	w := files.NewWatcher(files.WatchOptions{Pattern: filepath.Join(dir, "*.csv"), Settle: settle, Poll: poll, Clock: clock})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// step moves the clock one poll on and gives the watcher's goroutine
	// (real) time to list the folder; it reports whether a report came.
	step := func() bool {
		clock.Advance(poll)
		select {
		case <-w.C():
			return true
		case <-time.After(5 * time.Millisecond):
			return false
		}
	}
	// A file present at Start is known: no report for it.
	path := filepath.Join(dir, "slow.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 5 {
		fmt.Fprintf(f, "%d\n", i)
		// Its size changes at each write, well within the settle time.
		for range 5 {
			if step() {
				t.Fatalf("reported while the file was still being written (write %d)", i+1)
			}
		}
	}
	lastWrite := clock.Now().Add(-5 * poll)
	for range 1000 {
		if step() {
			if quiet := clock.Now().Sub(lastWrite); quiet < settle {
				t.Errorf("reported %s of the clock after the last write, want at least %s", quiet, settle)
			}
			return
		}
	}
	t.Fatalf("never reported, %s of the clock after the last write", clock.Now().Sub(lastWrite))
}
