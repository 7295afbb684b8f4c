package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	out *syncBuffer // read while the process writes
	id  string      // River client id: "worker-host:pid"
}

func startWorker(t *testing.T, bin, cfg string, env ...string) *workerProc {
	t.Helper()
	return startWorkerArgs(t, bin, cfg, nil, env...)
}

// startWorkerArgs starts `nightjar worker` with extra flags.
func startWorkerArgs(t *testing.T, bin, cfg string, flags []string, env ...string) *workerProc {
	t.Helper()
	return startProc(t, bin, append([]string{"worker", "-c", cfg, "--grace", "10s"}, flags...), env...)
}

// startProc starts the nightjar binary with args, killed at the test's end
// if still running.
func startProc(t *testing.T, bin string, args []string, env ...string) *workerProc {
	t.Helper()
	out := new(syncBuffer)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	w := &workerProc{cmd: cmd, out: out, id: "worker-" + host + ":" + strconv.Itoa(cmd.Process.Pid)}
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
	return envCount(t, "NIGHTJAR_WORKER_TICKS", 3, 1)
}

// TestWorkersRunEachTickOnce: three worker processes share a job scheduled
// @every 2s. River's leader inserts each scheduled time once and one worker
// runs it; the leader is SIGKILLed, another is elected once its term runs
// out and inserts every scheduled time missed meanwhile (cluster's
// catch-up hook), then the schedule goes on; the new leader is SIGTERMed
// and the last worker takes over. Every scheduled time from the first to
// the last is one River job and one succeeded run: none missing, none twice.
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
	// The ticks caught up after the failover run one after the other (the
	// job's lease): wait until those due 6 s ago are all done.
	waitDone := func() {
		t.Helper()
		deadline := time.Now().Add(120 * time.Second)
		for {
			var pending int
			if err := st.DB().GetContext(ctx, &pending, `SELECT count(*) FROM "river_job" WHERE "kind" = 'nightjar_tick'
AND "state" <> 'completed' AND ("args"->>'tick')::timestamptz < now() - interval '6 seconds'`); err != nil {
				t.Fatal(err)
			}
			if pending == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d tick(s) due 6 s ago or more still not completed after 120 s; worker output:\n%s\n%s\n%s", pending, ws[0].out, ws[1].out, ws[2].out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitDone()

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
	waitDone()
	stoppedAt := time.Now()
	for _, w := range ws {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Signal(syscall.SIGTERM)
			if err := w.cmd.Wait(); err != nil {
				t.Errorf("worker %s after SIGTERM: %v\n%s", w.id, err, w.out)
			}
		}
	}
	checkEachTickOnce(t, st, 2*time.Second, killedAt, stoppedAt, tickTicks(t))
	t.Logf("leader %s killed at %s", killed.id, killedAt.Format("15:04:05.000"))
}

// checkEachTickOnce asserts that River holds one nightjar_tick job for
// every scheduled time on the grid of every, from the first to the last,
// with no gap (the leader's SIGKILL at killedAt included); that every tick
// before the workers stopped is completed; and that there is one
// succeeded run per completed tick.
func checkEachTickOnce(t *testing.T, st *pgstore.Store, every time.Duration, killedAt, stoppedAt time.Time, wantAfterKill int) {
	t.Helper()
	ctx := t.Context()
	var ticks []struct {
		Tick  time.Time `db:"tick"`
		State string    `db:"state"`
	}
	if err := st.DB().SelectContext(ctx, &ticks, `SELECT ("args"->>'tick')::timestamptz AS "tick", "state"::text AS "state"
FROM "river_job" WHERE "kind" = 'nightjar_tick' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(ticks) == 0 {
		t.Fatal("no ticks")
	}
	completed, after := 0, 0
	for k, tk := range ticks {
		if tk.Tick.UnixNano()%int64(every) != 0 {
			t.Errorf("tick %s is not on the %s grid", tk.Tick, every)
		}
		if k > 0 {
			switch d := tk.Tick.Sub(ticks[k-1].Tick); {
			case d == 0:
				t.Errorf("tick %s inserted twice", tk.Tick.Format("15:04:05"))
			case d != every:
				t.Errorf("no River job for the scheduled time(s) between %s and %s (a gap of %s)",
					ticks[k-1].Tick.Format("15:04:05"), tk.Tick.Format("15:04:05"), d)
			}
		}
		if tk.Tick.After(killedAt) {
			after++
		}
		switch {
		case tk.State == "completed":
			completed++
		case tk.Tick.Before(stoppedAt.Add(-3 * every)):
			t.Errorf("tick %s is %s, not completed, though the workers ran on after it", tk.Tick.Format("15:04:05"), tk.State)
		}
	}
	if after < wantAfterKill {
		t.Errorf("%d ticks after the leader's SIGKILL, want at least %d", after, wantAfterKill)
	}
	succeeded, _ := succeededRuns(t, st, "ticks")
	if succeeded != completed {
		t.Errorf("%d runs succeeded for %d completed ticks (%d ticks in all): a tick ran twice, skipped or a run was lost", succeeded, completed, len(ticks))
	}
	t.Logf("%d ticks (%s → %s), %d completed, %d runs succeeded, %d ticks after the SIGKILL",
		len(ticks), ticks[0].Tick.Format("15:04:05"), ticks[len(ticks)-1].Tick.Format("15:04:05"), completed, succeeded, after)
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
