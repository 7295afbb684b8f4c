package main

import (
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// The fault matrix: every table target (SQLite, DuckDB, PostgreSQL,
// MariaDB) × mode × shape × event, each run by the real binary, against a plain
// reference of what the tables must hold afterwards.
//
// Shapes: one table; two tables in one database; a table plus a file
// target (which holds the checkpoint back to the end of the run); two jobs
// on one database run at once by the daemon.
//
// Events, after a load that was itself killed at random moments:
//   - kill: SIGKILL at random moments until a run completes;
//   - drop-reset: the tables dropped and `state reset`, then a reload
//     (killed once more);
//   - store-deleted: the state store deleted, then a reload (killed once
//     more): a new load, which an append table takes a second time;
//   - older-store: the state store replaced by the copy taken after the
//     first kill, then a rerun (killed once more): the batches loaded since
//     are replays, skipped by append's markers and absorbed by merge.
//
// The reference: each id once in every table, twice in an append table
// that took a second load; the file holds each id once; the notes as
// written. Counters: the completing run read = written + skipped; a run
// after everything reads, writes and skips nothing; with an append table
// and the checkpoint not held back, the runs' written add up to the rows
// loaded.
//
// CI runs SQLite's every cell, the other databases' core cells (coreCells)
// and a sample of their others drawn from the seed, with a small input and
// few kills; NIGHTJAR_FAULT_SWEEP=N runs each cell of SQLite, PostgreSQL
// and MariaDB, and DuckDB's core ones, N times with more rows and kills.

var (
	faultModes  = []string{"append", "merge", "replace"}
	faultShapes = []string{"one", "two-tables", "table+file", "two-jobs"}
	faultEvents = []string{"kill", "drop-reset", "store-deleted", "older-store"}
)

// faultDB is a warehouse of the matrix: connection "wh" of each cell lives
// in a database (SQLite file, PostgreSQL schema, MariaDB database) of its
// own.
type faultDB struct {
	name string
	// place returns the YAML of connection "wh" for a cell in dir, the
	// target keys placing its tables, how to open the database (nil while
	// it does not exist) and how to name a table in a query.
	place func(t *testing.T, dir, suffix string) (conn, at string, open func() *sql.DB, table func(string) string)
	// exclusive marks a database one process at a time may open (a DuckDB
	// file): place's open is then released (closed) by release before
	// each run of the binary, the test reading it only between runs, and
	// kills land at random delays, not at row counts it cannot watch.
	exclusive bool
	// cells, when set, limits the database's cells (CI time): the others
	// exercise code it shares with a database that runs them all.
	cells func(mode, shape, event string) bool
	// sample, when set, runs each cell that cells leaves out one time in
	// sample, drawn from the seed (a sweep runs them all): over CI runs
	// the search still covers them.
	sample int
	// rowsScale, when set, multiplies the rows of the database's cells: a
	// load of the matrix's few rows into DuckDB lasts a fraction of the
	// process's start-up, too short a window for kills at random delays
	// to land in (51 kills of 51 found the table empty or full).
	rowsScale int
}

func faultDBs(t *testing.T) []faultDB {
	dbs := []faultDB{{name: "sqlite", place: func(t *testing.T, dir, _ string) (string, string, func() *sql.DB, func(string) string) {
		path := filepath.Join(dir, "out", "wh.db")
		var db *sql.DB
		t.Cleanup(func() {
			if db != nil {
				db.Close()
			}
		})
		open := func() *sql.DB {
			if db == nil {
				if _, err := os.Stat(path); err != nil {
					return nil
				}
				var err error
				if db, err = sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000"); err != nil {
					t.Fatal(err)
				}
			}
			return db
		}
		return "  wh: { type: sqlite, path: out/wh.db }\n", "", open, func(n string) string { return `"` + n + `"` }
	}}}
	dbs = append(dbs, duckdbFaultDB(t))
	if dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES"); dsn != "" {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, faultDB{name: "postgres", cells: coreCells, sample: 4, place: func(t *testing.T, _, suffix string) (string, string, func() *sql.DB, func(string) string) {
			schema := "nj_fault_" + suffix
			t.Cleanup(func() { db.Exec(`DROP SCHEMA IF EXISTS "` + schema + `" CASCADE`) })
			return fmt.Sprintf("  wh: { type: postgres, dsn: %q }\n", dsn), ", schema_name: " + schema,
				func() *sql.DB { return db }, func(n string) string { return `"` + schema + `"."` + n + `"` }
		}})
	} else {
		t.Log("NIGHTJAR_TEST_POSTGRES not set: the fault matrix skips PostgreSQL")
	}
	if dsn := os.Getenv("NIGHTJAR_TEST_MYSQL"); dsn != "" {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, faultDB{name: "mysql", cells: coreCells, sample: 4, place: func(t *testing.T, _, suffix string) (string, string, func() *sql.DB, func(string) string) {
			database := "nj_fault_" + suffix
			t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS `" + database + "`") })
			return fmt.Sprintf("  wh: { type: mysql, dsn: %q }\n", dsn), ", database: " + database,
				func() *sql.DB { return db }, func(n string) string { return "`" + database + "`.`" + n + "`" }
		}})
	} else {
		t.Log("NIGHTJAR_TEST_MYSQL not set: the fault matrix skips MariaDB")
	}
	return dbs
}

// coreCells are the cells every database but SQLite runs each time: each
// mode and shape killed, each event on one table. The events' handling of
// state (reset, deleted or older store) with two tables, a file or two
// jobs is the engine's, run through every cell of SQLite's row; of these
// PostgreSQL and MariaDB run a sample (faultDB.sample), DuckDB none.
func coreCells(_, shape, event string) bool { return shape == "one" || event == "kill" }

// faultSize is a cell's input and kills: small in CI, larger in a sweep.
type faultSize struct {
	rows, batch, kills int
}

func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	// Beside the worker tests, which mostly wait: a serial test would
	// hold every parallel one back until its last cell.
	t.Parallel()
	bin := nightjarBinary(t)
	size, repeat, sweep := faultSize{rows: 1200, batch: 60, kills: 2}, 1, false
	if n, _ := strconv.Atoi(os.Getenv("NIGHTJAR_FAULT_SWEEP")); n > 0 {
		size, repeat, sweep = faultSize{rows: 6000, batch: 150, kills: 5}, n, true
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("NIGHTJAR_FAULT_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (NIGHTJAR_FAULT_SEED=%d reproduces the kill delays)", seed, seed)

	cell := 0
	pick := rand.New(rand.NewPCG(seed, 0)) // the sampled cells
	for _, db := range faultDBs(t) {
		// Each database's kills are counted apart: a database whose every
		// kill missed its loads would prove nothing for it.
		var stats faultStats
		t.Run(db.name, func(t *testing.T) {
			t.Cleanup(func() {
				t.Logf("%s: %d kills, %d of them with part of a table loaded", db.name, stats.kills.Load(), stats.midLoad.Load())
				if stats.kills.Load() > 0 && stats.midLoad.Load() == 0 {
					t.Errorf("%s: no kill landed in the middle of a load: the matrix proved nothing for it", db.name)
				}
			})
			for _, mode := range faultModes {
				for _, shape := range faultShapes {
					for _, event := range faultEvents {
						if db.cells != nil && !db.cells(mode, shape, event) &&
							(db.sample == 0 || (!sweep && pick.IntN(db.sample) != 0)) {
							continue
						}
						for r := range repeat {
							cell++
							name := fmt.Sprintf("%s/%s/%s", mode, shape, event)
							if repeat > 1 {
								name += fmt.Sprintf("/%d", r)
							}
							size := size
							if db.rowsScale > 0 {
								size.rows *= db.rowsScale
							}
							fc := &faultCell{
								t: t, bin: bin, mode: mode, shape: shape, event: event, size: size, stats: &stats,
								rng: rand.New(rand.NewPCG(seed, uint64(cell))),
							}
							suffix := fmt.Sprintf("%d_%d", os.Getpid(), cell)
							t.Run(name, func(t *testing.T) {
								t.Parallel()
								fc.t = t
								fc.dir = t.TempDir()
								fc.conn, fc.at, fc.open, fc.table = db.place(t, fc.dir, suffix)
								if db.exclusive {
									fc.release = func() { releaseDuckDB(fc.dir) }
								}
								fc.run()
							})
						}
					}
				}
			}
		})
	}
	t.Logf("%d cells", cell)
}

type faultStats struct {
	kills, midLoad atomicInt
	// killWindow bounds the random delay of a kill that cannot watch
	// rows (see faultDB.exclusive); 0 until first used.
	mu         sync.Mutex
	killWindow time.Duration
}

func (s *faultStats) window() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.killWindow == 0 {
		s.killWindow = time.Second
	}
	return s.killWindow
}

// adapt widens the window after a kill that found nothing loaded, and
// narrows it after one that found the load done.
func (s *faultStats) adapt(early, late bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case early && s.killWindow < 16*time.Second:
		s.killWindow *= 2
	case late && s.killWindow > 200*time.Millisecond:
		s.killWindow /= 2
	}
}

type atomicInt struct {
	mu sync.Mutex
	n  int
}

func (a *atomicInt) Add(d int) { a.mu.Lock(); a.n += d; a.mu.Unlock() }
func (a *atomicInt) Load() int { a.mu.Lock(); defer a.mu.Unlock(); return a.n }

// faultCell is one cell of the matrix.
type faultCell struct {
	t                  *testing.T
	bin, dir           string
	mode, shape, event string
	size               faultSize
	rng                *rand.Rand
	stats              *faultStats

	conn, at string
	open     func() *sql.DB
	table    func(string) string
	release  func() // see faultDB.exclusive

	cfg string
	// jobs are the cell's jobs, with the table each loads and its mode
	// and the ids of its input.
	jobs []faultJob
	// want is each id's notes.
	want map[string]string
	// secondLoad names the jobs whose append tables take every row a
	// second time.
	secondLoad map[string]bool
	// restored: the state store went back to an older copy.
	restored bool
}

type faultJob struct {
	name   string
	tables []faultTable
	ids    [2]int // [first, last)
}

type faultTable struct{ name, mode string }

func (fc *faultCell) run() {
	t := fc.t
	fc.configure()
	older := filepath.Join(fc.dir, "older")
	var afterFirstKill func()
	if fc.event == "older-store" {
		// The copy of the state store the event goes back to.
		afterFirstKill = func() {
			if err := os.MkdirAll(older, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range fc.storeFiles() {
				copyFile(t, f, filepath.Join(older, filepath.Base(f)))
			}
		}
	}
	fc.load(max(fc.size.kills, 1), afterFirstKill)
	switch fc.event {
	case "kill":
	case "drop-reset":
		db := fc.open()
		for _, j := range fc.jobs {
			for _, tb := range j.tables {
				if _, err := db.Exec("DROP TABLE IF EXISTS " + fc.table(tb.name)); err != nil {
					t.Fatal(err)
				}
			}
			if code, out, errOut := nightjar(t, "state", "reset", "-c", fc.cfg, j.name, "--yes"); code != 0 {
				t.Fatalf("state reset: exit %d\n%s%s", code, out, errOut)
			}
		}
		fc.load(1, nil)
	case "store-deleted":
		fc.removeStore()
		for _, j := range fc.jobs {
			fc.secondLoad[j.name] = true
		}
		fc.load(1, nil)
	case "older-store":
		fc.removeStore()
		for _, f := range fc.storeFiles() {
			copyFile(t, filepath.Join(older, filepath.Base(f)), f)
		}
		// A copy taken before the load began (the run was killed before
		// it recorded one) is as good as no state: the rerun starts a new
		// load, which append takes again.
		for _, j := range fc.jobs {
			fc.secondLoad[j.name] = !fc.loadBegun(j.name)
		}
		fc.restored = true
		fc.load(1, nil)
	}
	fc.check()
}

// loadBegun reports whether the state store records a load of job.
func (fc *faultCell) loadBegun(job string) bool {
	code, out, errOut := nightjar(fc.t, "state", "show", "-c", fc.cfg, job)
	if code != 0 {
		fc.t.Fatalf("state show: exit %d\n%s", code, errOut)
	}
	var state struct {
		Positions []etl.Checkpoint `json:"positions"`
	}
	if err := json.Unmarshal([]byte(out), &state); err != nil {
		fc.t.Fatalf("state show: %v\n%s", err, out)
	}
	return len(state.Positions) > 0 && state.Positions[0].Load != ""
}

func (fc *faultCell) storeFiles() []string {
	p := filepath.Join(fc.dir, ".nightjar", "state.db")
	return []string{p, p + "-wal", p + "-shm"}
}

func (fc *faultCell) removeStore() {
	for _, f := range fc.storeFiles() {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			fc.t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if errors.Is(err, os.ErrNotExist) {
		os.Remove(to)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// configure writes the inputs and the config of the cell's shape.
func (fc *faultCell) configure() {
	t := fc.t
	n := fc.size.rows
	fc.want = map[string]string{}
	fc.secondLoad = map[string]bool{}
	other := "merge"
	if fc.mode == "merge" {
		other = "append"
	}
	switch fc.shape {
	case "one", "table+file":
		fc.jobs = []faultJob{{name: "leads", tables: []faultTable{{"t1", fc.mode}}, ids: [2]int{0, n}}}
	case "two-tables":
		fc.jobs = []faultJob{{name: "leads", tables: []faultTable{{"t1", fc.mode}, {"t2", other}}, ids: [2]int{0, n}}}
	case "two-jobs":
		fc.jobs = []faultJob{
			{name: "leads", tables: []faultTable{{"t1", fc.mode}}, ids: [2]int{0, n}},
			{name: "more", tables: []faultTable{{"t2", fc.mode}}, ids: [2]int{n, 2 * n}},
		}
	}
	var cfg strings.Builder
	cfg.WriteString("connections:\n" + fc.conn + "jobs:\n")
	for _, j := range fc.jobs {
		for id, notes := range writeLeadRange(t, filepath.Join(fc.dir, "in", j.name, "leads.csv"), j.ids[0], j.ids[1]) {
			fc.want[id] = notes
		}
		watch := ""
		if fc.shape == "two-jobs" {
			watch = ", watch: true"
		}
		fmt.Fprintf(&cfg, "  %s:\n    batch_size: %d\n    source: { type: files, path: in/%s/*.csv, settle: 0s%s }\n    targets:\n",
			j.name, fc.size.batch, j.name, watch)
		for _, tb := range j.tables {
			key := ""
			if tb.mode == "merge" {
				key = ", key: [id]"
			}
			fmt.Fprintf(&cfg, "      - { type: table, connection: wh, table: %s, mode: %s%s, commit_rows: %d%s }\n",
				tb.name, tb.mode, key, 3*fc.size.batch, fc.at)
		}
		if fc.shape == "table+file" {
			cfg.WriteString("      - { type: file, path: out/leads.csv }\n")
		}
	}
	fc.cfg = filepath.Join(fc.dir, "nightjar.yaml")
	writeFile(t, fc.cfg, cfg.String())
}

// writeLeadRange writes the leads of ids [from, to) as writeLeads does.
func writeLeadRange(t *testing.T, path string, from, to int) map[string]string {
	t.Helper()
	var b strings.Builder
	want := make(map[string]string, to-from)
	b.WriteString("id,email,company,notes\n")
	for i := from; i < to; i++ {
		notes := fmt.Sprintf("plain %d", i)
		switch i % 4 {
		case 1:
			notes = fmt.Sprintf("asked about pricing, plan %d\nfollow up \"soon\"", i%7)
		case 2:
			notes = fmt.Sprintf("line one\r\nline two, %d", i)
		}
		want[fmt.Sprint(i)] = notes
		fmt.Fprintf(&b, "%d,user%d@example.com,\"Company %d, Inc.\",\"%s\"\n", i, i, i%97, strings.ReplaceAll(notes, `"`, `""`))
	}
	writeFile(t, path, b.String())
	return want
}

// load runs the cell's jobs until they complete, killing the process
// kills times first; afterFirstKill runs once, after the first kill.
func (fc *faultCell) load(kills int, afterFirstKill func()) {
	t := fc.t
	var first int64 // the first run of this load has a greater id
	if runs := history(t, fc.cfg); len(runs) > 0 {
		first = runs[len(runs)-1].ID
	}
	defer func() {
		if !t.Failed() {
			fc.checkCounters(first)
		}
	}()
	for attempt := 1; ; attempt++ {
		if attempt > 60 {
			t.Fatalf("no run completed after %d attempts", attempt-1)
		}
		var cmd *exec.Cmd
		var lastRun int64
		if fc.shape == "two-jobs" {
			if runs := history(t, fc.cfg); len(runs) > 0 {
				lastRun = runs[len(runs)-1].ID
			}
			cmd = exec.Command(fc.bin, "daemon", "-c", fc.cfg, "--http", "")
		} else {
			cmd = exec.Command(fc.bin, "run", "-c", fc.cfg, "--all")
		}
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if fc.release != nil {
			fc.release()
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() }) // a test that failed mid-run
		if attempt <= kills {
			if fc.kill(cmd, done) {
				if afterFirstKill != nil {
					afterFirstKill()
					afterFirstKill = nil
				}
				continue
			}
			// It ended before its kill.
			if err := <-done; err != nil {
				t.Fatalf("attempt %d failed without being killed: %v\n%s", attempt, err, out)
			}
			return
		}
		if fc.shape != "two-jobs" {
			if err := <-done; err != nil {
				t.Fatalf("run failed: %v\n%s", err, out)
			}
			return
		}
		// The daemon runs each job at start (its files are there): wait
		// until each has a run since then that succeeded, then stop it.
		deadline := time.Now().Add(60 * time.Second)
		for !fc.jobsSucceededAfter(lastRun) || !strings.Contains(out.String(), "daemon started") {
			select {
			case err := <-done:
				t.Fatalf("daemon exited: %v\n%s", err, out)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("jobs not done 60 s after the daemon started\n%s", out)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("daemon exited with %v after SIGTERM\n%s", err, out)
			}
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("daemon still running 40 s after SIGTERM\n%s", out)
		}
		return
	}
}

// kill sends SIGKILL at a random moment: half the time after a random
// delay (at start, mid-load, after the last batch, before or after the
// checkpoint), half the time once a random share of the first table's rows
// (its staging table's for replace) has landed, so that kills land mid-load
// however fast the machine is. It reports false when the process ended
// first; done then still holds its result.
func (fc *faultCell) kill(cmd *exec.Cmd, done chan error) bool {
	watch := fc.jobs[0].tables[0].name
	if fc.mode == "replace" {
		watch += "__nightjar_staging"
	}
	var deadline <-chan time.Time
	threshold := 0
	switch {
	case fc.release != nil:
		// The process holds the database: no row count to watch. The
		// delay is drawn from a window that grows while kills find no
		// row loaded and shrinks when they find the load done.
		deadline = time.After(time.Duration(fc.rng.Int64N(int64(fc.stats.window()))))
	case fc.rng.IntN(2) == 0:
		deadline = time.After(time.Duration(fc.rng.IntN(120)) * time.Millisecond)
	default:
		threshold = 1 + fc.rng.IntN(fc.size.rows-1)
		deadline = time.After(30 * time.Second)
	}
	if !awaitKill(fc.rng, done, deadline, threshold, func() int { return fc.rows(watch) }) {
		return false
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	if err := <-done; err == nil {
		done <- err // it ended just before the kill
		return false
	}
	fc.stats.kills.Add(1)
	n := fc.rows(fc.jobs[0].tables[0].name)
	if n > 0 && n < fc.size.rows {
		fc.stats.midLoad.Add(1)
	}
	if fc.release != nil {
		fc.stats.adapt(n == 0, n >= fc.size.rows)
	}
	return true
}

// awaitKill waits for the moment of a kill: deadline, or with a threshold
// count() reaching it, then 0–9 ms more. Between polls only a threshold
// reached ends the wait: a kill at the first poll would land 2 ms in,
// whatever the delay drawn (the fault matrix's did, until its DuckDB cells'
// count of kills mid-load showed it: 51 kills, none mid-load). It reports
// false when the process ended first; done then still holds its result.
func awaitKill(rng *rand.Rand, done chan error, deadline <-chan time.Time, threshold int, count func() int) bool {
	for {
		select {
		case err := <-done:
			done <- err
			return false
		case <-deadline:
			return true
		case <-time.After(2 * time.Millisecond):
		}
		if threshold > 0 && count() >= threshold {
			time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
			return true
		}
	}
}

// syncBuffer is an output buffer the test reads while a process writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// checkCounters checks the runs after run id first, those of one load:
// each batch is counted once, written or skipped, by the run that
// checkpointed it (a killed run's counters are those of its last
// checkpoint; a replayed batch is counted by the run that checkpointed it
// after all), so together they account for every row of the input. But a
// load that resumed from an older state store began before those runs.
func (fc *faultCell) checkCounters(first int64) {
	if fc.event == "older-store" && fc.restored {
		return
	}
	sums := map[string]int64{}
	for _, r := range history(fc.t, fc.cfg) {
		if r.ID > first {
			sums[r.Job] += r.Written + r.Skipped
		}
	}
	for _, j := range fc.jobs {
		if n := int64(j.ids[1] - j.ids[0]); sums[j.name] != n {
			fc.t.Errorf("%s: the runs of the load wrote and skipped %d rows in all, the input has %d", j.name, sums[j.name], n)
		}
	}
}

// jobsSucceededAfter reports whether every job has a succeeded run of an
// id above last; a failed one fails the test.
func (fc *faultCell) jobsSucceededAfter(last int64) bool {
	ok := map[string]bool{}
	for _, r := range history(fc.t, fc.cfg) {
		if r.ID > last && r.Status == etl.RunSucceeded {
			ok[r.Job] = true
		}
		if r.ID > last && r.Status == etl.RunFailed {
			fc.t.Fatalf("run %d of %s failed: %s", r.ID, r.Job, r.Error)
		}
	}
	for _, j := range fc.jobs {
		if !ok[j.name] {
			return false
		}
	}
	return true
}

// rows counts the rows of table; 0 while it does not exist.
func (fc *faultCell) rows(table string) int {
	db := fc.open()
	if db == nil {
		return 0
	}
	var n int
	_ = db.QueryRow("SELECT count(*) FROM " + fc.table(table)).Scan(&n)
	return n
}

// check compares the tables, the file and the counters with the
// reference.
func (fc *faultCell) check() {
	t := fc.t
	db := fc.open()
	if db == nil {
		t.Fatal("the warehouse does not exist")
	}
	for _, j := range fc.jobs {
		for _, tb := range j.tables {
			times := 1
			if tb.mode == "append" && fc.secondLoad[j.name] {
				times = 2
			}
			fc.checkTable(db, tb.name, j.ids, times)
		}
	}
	if fc.shape == "table+file" {
		fc.checkFile(filepath.Join(fc.dir, "out", "leads.csv"), fc.jobs[0].ids)
	}

	runs := history(t, fc.cfg)
	for _, r := range runs {
		if r.Status == etl.RunRunning {
			t.Errorf("run %d of %s still marked running", r.ID, r.Job)
		}
	}
	// The completing run of each job: every row read is written or
	// skipped.
	for _, j := range fc.jobs {
		for i := len(runs) - 1; i >= 0; i-- {
			r := runs[i]
			if r.Job != j.name || r.Status != etl.RunSucceeded || r.Read == 0 {
				continue
			}
			if r.Read != r.Written+r.Skipped {
				t.Errorf("run %d of %s: read %d, written %d, skipped %d: read must be written + skipped", r.ID, j.name, r.Read, r.Written, r.Skipped)
			}
			break
		}
	}
	// And once done, there is nothing left to do.
	code, out, errOut := nightjar(t, "run", "-c", fc.cfg, "--all")
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, " run ") && !strings.Contains(line, "read 0, written 0, rejected 0, skipped 0") {
			t.Errorf("rerun did something: %s", line)
		}
	}
}

func (fc *faultCell) checkTable(db *sql.DB, table string, ids [2]int, times int) {
	t := fc.t
	rows, err := db.Query("SELECT id, notes FROM " + fc.table(table))
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	defer rows.Close()
	seen := map[string]int{}
	for rows.Next() {
		var id, notes string
		if err := rows.Scan(&id, &notes); err != nil {
			t.Fatal(err)
		}
		seen[id]++
		if notes != fc.want[id] {
			t.Errorf("%s: id %s: notes %q, want %q", table, id, notes, fc.want[id])
			return
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i := ids[0]; i < ids[1]; i++ {
		if n := seen[fmt.Sprint(i)]; n != times {
			if bad++; bad <= 3 {
				t.Errorf("%s: id %d loaded %d times, want %d", table, i, n, times)
			}
		}
	}
	if len(seen) != ids[1]-ids[0] {
		t.Errorf("%s: %d distinct ids, want %d", table, len(seen), ids[1]-ids[0])
	}
}

func (fc *faultCell) checkFile(path string, ids [2]int) {
	t := fc.t
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("file target: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil || header[0] != "id" || header[3] != "notes" {
		t.Fatalf("file target header %v: %v", header, err)
	}
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[rec[0]]++
		// encoding/csv reads a quoted CR LF as LF.
		if want := strings.ReplaceAll(fc.want[rec[0]], "\r\n", "\n"); rec[3] != want {
			t.Errorf("file: id %s: notes %q, want %q", rec[0], rec[3], want)
			return
		}
	}
	for i := ids[0]; i < ids[1]; i++ {
		if n := seen[fmt.Sprint(i)]; n != 1 {
			t.Errorf("file: id %d written %d times, want once", i, n)
			return
		}
	}
}
