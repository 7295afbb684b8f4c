package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
)

// workerSchema returns the test's PostgreSQL server and a schema of its
// own, dropped when the test ends.
func workerSchema(t *testing.T, prefix string) (dsn, schema string) {
	t.Helper()
	dsn = os.Getenv("NIGHTJAR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): skipping the tests of PostgreSQL state and workers")
	}
	var b [6]byte
	rand.Read(b[:])
	schema = prefix + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return dsn, schema
}

type workerProc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
	id  string // River client id: "worker-host:pid"
}

func startWorker(t *testing.T, bin, cfg string, env ...string) *workerProc {
	t.Helper()
	return startWorkerArgs(t, bin, cfg, nil, env...)
}

// startWorkerArgs starts `nightjar worker` with extra flags.
func startWorkerArgs(t *testing.T, bin, cfg string, flags []string, env ...string) *workerProc {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, append([]string{"worker", "-c", cfg, "--grace", "10s"}, flags...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	w := &workerProc{cmd: cmd, out: &out, id: "worker-" + host + ":" + strconv.Itoa(cmd.Process.Pid)}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return w
}

// tickTicks is how many scheduled times of @every 2s TestWorkersRunEachTickOnce
// waits for after the leader's death (NIGHTJAR_WORKER_TICKS raises it for
// a long run by hand).
func tickTicks(t *testing.T) int {
	if v := os.Getenv("NIGHTJAR_WORKER_TICKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("NIGHTJAR_WORKER_TICKS=%q: want a positive number", v)
		}
		return n
	}
	return 3
}

// TestWorkersRunEachTickOnce: three worker processes share a job scheduled
// @every 2s. River's leader inserts each scheduled time once and one worker
// runs it; the leader is SIGKILLed, another is elected and the schedule
// goes on, the ticks missed meanwhile collapsing into one catch-up run.
// Every tick is one River job and one run: none twice.
func TestWorkersRunEachTickOnce(t *testing.T) {
	t.Parallel() // it mostly waits for ticks and a new leader
	dsn, schema := workerSchema(t, "nightjar_ticks_")
	bin := nightjarBinary(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "in"), 0o755)
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, `state: {type: postgres, dsn: "${NIGHTJAR_TEST_STATE_DSN}", schema: `+schema+`}
connections:
  wh: { type: sqlite, path: out/wh.db }
jobs:
  ticks:
    schedule: "@every 2s"
    source: { type: files, path: in/*.csv, settle: 0s }
    targets:
      - { type: table, connection: wh, table: t, mode: append }
`)
	env := "NIGHTJAR_TEST_STATE_DSN=" + dsn
	ws := []*workerProc{startWorker(t, bin, cfg, env), startWorker(t, bin, cfg, env), startWorker(t, bin, cfg, env)}

	st, err := pgstore.Open(t.Context(), dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	runs := func() []etl.Run {
		rs, err := st.Runs(ctx, "ticks", 0)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	waitRuns := func(n int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for len(runs()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d run(s) after %s, want %d; worker output:\n%s\n%s\n%s", len(runs()), within, n, ws[0].out, ws[1].out, ws[2].out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitRuns(2, 60*time.Second)
	leaderProc := func() *workerProc {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var leader string
			err := st.DB().GetContext(ctx, &leader, `SELECT "leader_id" FROM "river_leader"`)
			i := slices.IndexFunc(ws, func(w *workerProc) bool { return w.id == leader && w.cmd.ProcessState == nil })
			if err == nil && i >= 0 {
				return ws[i]
			}
			if time.Now().After(deadline) {
				t.Fatalf("no live worker leads (river_leader: %q, %v)", leader, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// SIGKILL the leader: another is elected once its term runs out.
	killed := leaderProc()
	before := len(runs())
	killedAt := time.Now()
	killed.cmd.Process.Signal(syscall.SIGKILL)
	killed.cmd.Wait()
	waitRuns(before+tickTicks(t), time.Duration(tickTicks(t))*2*time.Second+60*time.Second)

	// SIGTERM the new leader: it drains and resigns, the last worker is
	// elected at once and inserts the latest tick on starting, which the
	// resigning leader has often inserted already: uniqueness keeps one.
	drained := leaderProc()
	before = len(runs())
	drained.cmd.Process.Signal(syscall.SIGTERM)
	if err := drained.cmd.Wait(); err != nil {
		t.Errorf("worker %s after SIGTERM: %v\n%s", drained.id, err, drained.out)
	}
	waitRuns(before+2, 30*time.Second)
	for _, w := range ws {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Signal(syscall.SIGTERM)
			if err := w.cmd.Wait(); err != nil {
				t.Errorf("worker %s after SIGTERM: %v\n%s", w.id, err, w.out)
			}
		}
	}
	leader := killed.id

	var ticks []struct {
		Tick  time.Time `db:"tick"`
		State string    `db:"state"`
	}
	if err := st.DB().SelectContext(ctx, &ticks, `SELECT ("args"->>'tick')::timestamptz AS "tick", "state"::text AS "state"
FROM "river_job" WHERE "kind" = 'nightjar_tick' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	all := runs()
	completed, seen := 0, map[time.Time]int{}
	for _, tk := range ticks {
		seen[tk.Tick.UTC()]++
		if tk.State == "completed" {
			completed++
		}
		if tk.Tick.UnixNano()%int64(2*time.Second) != 0 {
			t.Errorf("tick %s is not on the 2 s grid", tk.Tick)
		}
	}
	for tick, n := range seen {
		if n > 1 {
			t.Errorf("tick %s inserted %d times", tick, n)
		}
	}
	succeeded := 0
	for _, r := range all {
		if r.Status == etl.RunSucceeded {
			succeeded++
		}
	}
	if succeeded != completed {
		t.Errorf("%d runs succeeded for %d completed ticks (%d ticks in all): a tick ran twice or a run was lost", succeeded, completed, len(ticks))
	}
	// The schedule went on after the leader died: ticks after the kill.
	var after []time.Time
	for _, tk := range ticks {
		if tk.Tick.After(killedAt) {
			after = append(after, tk.Tick)
		}
	}
	if len(after) < tickTicks(t)-1 {
		t.Errorf("%d ticks after the leader's SIGKILL, want %d", len(after), tickTicks(t))
	}
	// Between ticks, gaps are 2 s but one: the failover.
	var gaps []string
	for k := 1; k < len(ticks); k++ {
		if d := ticks[k].Tick.Sub(ticks[k-1].Tick); d != 2*time.Second {
			gaps = append(gaps, fmt.Sprintf("%s→%s", ticks[k-1].Tick.Format("15:04:05"), ticks[k].Tick.Format("15:04:05")))
		}
	}
	if len(gaps) > 2 {
		t.Errorf("more than two gaps in the ticks (only the two changes of leader may leave one): %s", strings.Join(gaps, ", "))
	}
	t.Logf("%d ticks, %d runs succeeded; leader %s killed at %s; failover gap %v", len(ticks), succeeded, leader, killedAt.Format("15:04:05.000"), gaps)
}

// TestWorkerRefusesSQLiteState: a worker needs a state every machine
// shares; with the default SQLite file it says so and exits 2.
func TestWorkerRefusesSQLiteState(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := nightjar(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut := nightjar(t, "worker", "-c", filepath.Join(dir, "nightjar.yaml"))
	if code != 2 || !strings.Contains(errOut, "nightjar worker needs the state in PostgreSQL") {
		t.Errorf("worker with SQLite state: exit %d\n%s", code, errOut)
	}
}
