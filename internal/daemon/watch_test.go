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
)

// TestWatchedFolderAndCronOnTheRealClock runs the daemon as it runs in
// production, with the real connectors: CSV files dropped into a watched
// folder are in the warehouse within 2 s, and an @every 1s job runs and its
// runs are in the history.
func TestWatchedFolderAndCronOnTheRealClock(t *testing.T) {
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
	r := startDaemon(t, cfg, path, nil, "real-clock", nil)

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
	// The watcher's first run finds the inbox empty; then files land.
	time.Sleep(300 * time.Millisecond)
	for i, name := range []string{"first.csv", "second.csv"} {
		dropped := time.Now()
		writeCSV(filepath.Join(dir, "inbox", name), i*100, 50)
		want := 50 * (i + 1)
		for count("leads") != want {
			if time.Since(dropped) > 2*time.Second {
				t.Fatalf("%s: %d rows in leads 2 s after the drop, want %d", name, count("leads"), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%s loaded %s after it landed", name, time.Since(dropped).Round(time.Millisecond))
	}

	deadline := time.Now().Add(5 * time.Second)
	var runs []etl.Run
	for {
		var err error
		if runs, err = r.store.Runs(context.Background(), "exports", 10); err != nil {
			t.Fatal(err)
		}
		if len(runs) >= 2 && runs[1].Status == etl.RunSucceeded || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(runs) < 2 {
		t.Fatalf("the @every 1s job ran %d times in 5 s", len(runs))
	}
	for _, run := range runs {
		if run.Trigger != "schedule" || run.Status == etl.RunFailed {
			t.Errorf("exports run %d: %s %s %s", run.ID, run.Trigger, run.Status, run.Error)
		}
	}
	if n := count("exports"); n != 5 {
		t.Errorf("exports has %d rows, want 5", n)
	}
	watchRuns, _ := r.store.Runs(context.Background(), "inbox", 10)
	for _, run := range watchRuns {
		if run.Trigger != "watch" || run.Status != etl.RunSucceeded {
			t.Errorf("inbox run %d: %s %s %s", run.ID, run.Trigger, run.Status, run.Error)
		}
	}
}
