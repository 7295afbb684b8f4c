package daemon

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/nightjar-etl/nightjar/connectors/all"
	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// TestWatchedFolderAndCron runs the daemon as it runs in production, with
// the real connectors, on a fake clock the test moves: CSV files dropped
// into a watched folder are loaded once they settled (200ms of the clock
// after they were first seen, within a poll after that), and an @every 1s
// job runs and its runs are in the history. Nothing waits on the real
// clock but for the goroutines to catch up.
func TestWatchedFolderAndCron(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"inbox", "exports"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeCSV := func(path string, from, n int) {
		var b strings.Builder
		b.WriteString("id,email\n")
		for i := from; i < from+n; i++ {
			fmt.Fprintf(&b, "%d,user%d@example.com\n", i, i)
		}
		// Written aside and renamed, as a careful uploader does.
		tmp := path + ".part"
		if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	writeCSV(filepath.Join(dir, "exports", "a.csv"), 0, 5)
	cfg, path := writeConfig(t, dir, `connections:
  wh: { type: sqlite, path: out/wh.db }
jobs:
  inbox:
    source: { type: files, path: inbox/*.csv, watch: true, settle: 200ms, poll: 200ms }
    targets: [ { type: table, connection: wh, table: leads, mode: append } ]
  exports:
    schedule: "@every 1s"
    source: { type: files, path: exports/*.csv }
    targets: [ { type: table, connection: wh, table: exports, mode: merge, key: [id] } ]
`)
	// The files' mtimes (the real clock's) are an hour before the fake
	// clock's time: the source finds them settled, as the watcher must
	// first see them settle on the fake clock.
	clock := etltest.NewClock(time.Now().Add(time.Hour).Truncate(time.Second))
	r := startDaemon(t, cfg, path, clock, "fake-clock", nil)

	count := func(table string) int {
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "out", "wh.db")+"?mode=ro&_busy_timeout=1000")
		if err != nil {
			return -1
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM "` + table + `"`).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	// advanceUntil moves the fake clock on in steps of step, giving the
	// daemon's goroutines time to act on each, until done holds; it
	// returns how much fake time that took.
	advanceUntil := func(step time.Duration, what string, done func() bool) time.Duration {
		t.Helper()
		from := clock.Now()
		for range 2000 {
			if done() {
				return clock.Now().Sub(from)
			}
			clock.Advance(step)
			time.Sleep(5 * time.Millisecond) // the goroutines', not the clock's
		}
		t.Fatalf("%s: not after %s of the fake clock", what, clock.Now().Sub(from))
		return 0
	}
	watchRuns := func() int {
		runs, err := r.store.Runs(context.Background(), "inbox", 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, run := range runs {
			if run.Status != etl.RunRunning {
				n++
			}
		}
		return n
	}
	// The watcher's first run finds the inbox empty; then files land.
	advanceUntil(50*time.Millisecond, "the watcher's first run", func() bool { return watchRuns() >= 1 })
	for i, name := range []string{"first.csv", "second.csv"} {
		landed := clock.Now()
		writeCSV(filepath.Join(dir, "inbox", name), i*100, 50)
		want := 50 * (i + 1)
		// Seen at once (an event) or at the next poll, then settled, then
		// one run: it starts never before the settle time, at most a poll
		// after. (The run's start on the fake clock, not the load's end:
		// the clock moves on while a busy machine loads the file.)
		var took time.Duration
		advanceUntil(50*time.Millisecond, name+" loaded", func() bool {
			if count("leads") != want {
				return false
			}
			runs, err := r.store.Runs(context.Background(), "inbox", 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, run := range runs {
				if run.Status != etl.RunRunning && run.Counters.Written == 50 && !run.StartedAt.Before(landed) {
					took = run.StartedAt.Sub(landed)
					return true
				}
			}
			return false
		})
		if took < 200*time.Millisecond || took > time.Second {
			t.Errorf("%s: its run started %s of the fake clock after it landed; want settle (200ms) to settle+poll", name, took)
		}
	}

	advanceUntil(250*time.Millisecond, "two runs of the @every 1s job", func() bool {
		runs, err := r.store.Runs(context.Background(), "exports", 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(runs) >= 2 && runs[1].Status == etl.RunSucceeded
	})
	runs, err := r.store.Runs(context.Background(), "exports", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range runs {
		if run.Trigger != "schedule" || run.Status == etl.RunFailed {
			t.Errorf("exports run %d: %s %s %s", run.ID, run.Trigger, run.Status, run.Error)
		}
	}
	if n := count("exports"); n != 5 {
		t.Errorf("exports has %d rows, want 5", n)
	}
	inboxRuns, _ := r.store.Runs(context.Background(), "inbox", 10)
	for _, run := range inboxRuns {
		if run.Trigger != "watch" || (run.Status != etl.RunSucceeded && run.Status != etl.RunRunning) {
			t.Errorf("inbox run %d: %s %s %s", run.ID, run.Trigger, run.Status, run.Error)
		}
	}
}
