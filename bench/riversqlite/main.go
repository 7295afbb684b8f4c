// Command riversqlite is the trial of River's SQLite driver
// (riverdriver/riversqlite) with mattn/go-sqlite3 that docs/scale-out.md
// reports ("One scheduler, not two"): periodic @every 1s ticks unique by
// their arguments, each run recorded with JobCompleteTx in one
// transaction, N worker processes on one SQLite file; after 20 s the
// leader is SIGKILLed, after 25 s more (TRIAL_KILL_RUNNING) a worker that
// is running a job, and 70 s later the rest are SIGTERMed. It prints the
// River jobs by state, the runs per tick and the gaps between ticks.
//
// It is a module of its own so that nightjar's go.mod does not take the
// driver:
//
//	cd bench/riversqlite && go build -o /tmp/trial . &&
//	TRIAL_WORKERS=3 TRIAL_LOAD=1 TRIAL_WORK=1500ms TRIAL_KILL_RUNNING=1 /tmp/trial trial /tmp/t.db
//
// TRIAL_LOAD makes each run write 50 rows through a second pool on the
// file (the state store's checkpoints); TRIAL_WORK is a run's duration
// outside any transaction.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

type TickArgs struct {
	Tick time.Time `json:"tick"`
}

func (TickArgs) Kind() string { return "trial_tick" }

type tickWorker struct {
	river.WorkerDefaults[TickArgs]
	db    *sql.DB
	store *sql.DB
}

func (w *tickWorker) Work(ctx context.Context, j *river.Job[TickArgs]) error {
	if d, _ := time.ParseDuration(os.Getenv("TRIAL_WORK")); d > 0 {
		select { // the run's work, outside any transaction
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if w.store != nil {
		// The state store's own pool on the same file: a run's checkpoints.
		for i := 0; i < 50; i++ {
			if _, err := w.store.ExecContext(ctx, `INSERT INTO trial_load (pid, i) VALUES (?, ?)`, os.Getpid(), i); err != nil {
				return fmt.Errorf("store write: %w", err)
			}
		}
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO trial_runs (tick, pid) VALUES (?, ?)`, j.Args.Tick.UTC().Format(time.RFC3339), os.Getpid()); err != nil {
		return err
	}
	if _, err := river.JobCompleteTx[*riversqlite.Driver](ctx, tx, j); err != nil {
		return err
	}
	return tx.Commit()
}

type every struct{ d time.Duration }

func (e every) Next(t time.Time) time.Time { return t.Truncate(e.d).Add(e.d) }

func open(path string) *sql.DB {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

func main() {
	path := os.Args[2]
	switch os.Args[1] {
	case "worker":
		worker(path)
	case "trial":
		trial(path)
	}
}

func worker(path string) {
	db := open(path)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	workers := river.NewWorkers()
	tw := &tickWorker{db: db}
	if os.Getenv("TRIAL_LOAD") != "" {
		tw.store = open(path)
		tw.store.SetMaxOpenConns(4)
	}
	river.AddWorker(workers, tw)
	id := "w" + strconv.Itoa(os.Getpid())
	c, err := river.NewClient(riversqlite.New(db), &river.Config{
		ID: id, Logger: logger, Workers: workers, RescueStuckJobsAfter: 5 * time.Second, JobTimeout: -1,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(every{time.Second}, func() (river.JobArgs, *river.InsertOpts) {
			return TickArgs{Tick: time.Now().Truncate(time.Second)}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
		}, &river.PeriodicJobOpts{RunOnStart: true, ID: "tick"})},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Stop(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "stop:", err)
		os.Exit(1)
	}
}

func trial(path string) {
	ctx := context.Background()
	db := open(path)
	m, err := rivermigrate.New(riversqlite.New(db), nil)
	if err != nil {
		panic(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		panic(err)
	}
	if _, err := db.Exec(`CREATE TABLE trial_runs (tick TEXT NOT NULL, pid INTEGER NOT NULL); CREATE TABLE trial_load (pid INTEGER, i INTEGER)`); err != nil {
		panic(err)
	}
	n, _ := strconv.Atoi(os.Getenv("TRIAL_WORKERS"))
	if n == 0 {
		n = 2
	}
	var procs []*exec.Cmd
	logs := map[int]*os.File{}
	for i := 0; i < n; i++ {
		cmd := exec.Command(os.Args[0], "worker", path)
		f, _ := os.Create(fmt.Sprintf("%s.w%d.log", path, i))
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		logs[cmd.Process.Pid] = f
		procs = append(procs, cmd)
	}
	time.Sleep(20 * time.Second)
	var leader string
	if err := db.QueryRow(`SELECT leader_id FROM river_leader`).Scan(&leader); err != nil {
		fmt.Println("leader:", err)
	}
	killedAt := time.Now()
	for _, p := range procs {
		if "w"+strconv.Itoa(p.Process.Pid) == leader {
			p.Process.Signal(syscall.SIGKILL)
			p.Wait()
			fmt.Printf("SIGKILLed leader %s at %s\n", leader, killedAt.Format("15:04:05"))
		}
	}
	time.Sleep(25 * time.Second)
	if os.Getenv("TRIAL_KILL_RUNNING") != "" {
		// SIGKILL a worker that is running a job now.
		for _, p := range procs {
			if p.ProcessState == nil {
				var n int
				db.QueryRow(`SELECT count(*) FROM river_job WHERE state = 'running' AND json(attempted_by) LIKE ?`, `%"w`+strconv.Itoa(p.Process.Pid)+`"%`).Scan(&n)
				if n > 0 {
					p.Process.Signal(syscall.SIGKILL)
					p.Wait()
					fmt.Printf("SIGKILLed worker w%d running %d job(s) at %s\n", p.Process.Pid, n, time.Now().Format("15:04:05"))
					break
				}
			}
		}
	}
	time.Sleep(70 * time.Second)
	for _, p := range procs {
		if p.ProcessState == nil {
			p.Process.Signal(syscall.SIGTERM)
			err := p.Wait()
			fmt.Printf("worker %d after SIGTERM: %v\n", p.Process.Pid, err)
		}
	}
	report(db)
}

func report(db *sql.DB) {
	rows, err := db.Query(`SELECT json_extract(args, '$.tick'), state, attempt, COALESCE(json_array_length(errors), 0) FROM river_job ORDER BY 1`)
	if err != nil {
		panic(err)
	}
	var prev time.Time
	jobs, errs, gaps := 0, 0, []string{}
	states := map[string]int{}
	for rows.Next() {
		var tick, state string
		var attempt, nerr int
		rows.Scan(&tick, &state, &attempt, &nerr)
		t, _ := time.Parse(time.RFC3339, tick)
		if !prev.IsZero() && t.Sub(prev) != time.Second {
			gaps = append(gaps, prev.Format("15:04:05")+"→"+t.Format("15:04:05"))
		}
		prev = t
		jobs++
		errs += nerr
		states[state]++
	}
	var runs, distinct int
	db.QueryRow(`SELECT count(*), count(DISTINCT tick) FROM trial_runs`).Scan(&runs, &distinct)
	var attempts2 int
	db.QueryRow(`SELECT count(*) FROM river_job WHERE attempt > 1`).Scan(&attempts2)
	fmt.Printf("jobs attempted more than once (rescued): %d\n", attempts2)
	fmt.Printf("river jobs %d (states %v, job errors recorded %d), runs %d for %d distinct ticks, gaps %v\n", jobs, states, errs, runs, distinct, gaps)
}
