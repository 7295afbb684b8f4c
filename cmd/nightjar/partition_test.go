package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
	"github.com/nightjar-etl/nightjar/internal/cluster"
)

// partitionFiles is how many files TestPartitionsLoadEachRowOnce drops:
// 100 unless NIGHTJAR_PARTITION_FILES says otherwise (the 200
// took 107 s with the binary's build, over the budget of a CI run).
func partitionFiles(t *testing.T) int {
	return envCount(t, "NIGHTJAR_PARTITION_FILES", 100, 4)
}

// TestPartitionsLoadEachRowOnce: four worker processes share a files job
// whose files (200, of random sizes, dropped at once) are split into
// partitions (one file each), loaded into a PostgreSQL table by append
// (replay markers). At a random moment one worker running a partition
// mid-file (not the leader: its failover is TestWorkersRunEachTickOnce's)
// is SIGKILLed, and at another a second one SIGTERMed. River rescues the
// killed worker's partition and another worker resumes it from its last
// checkpoint; the stopped worker's partitions resume at once. In the end
// every row is in the table exactly once (against the set of keys written
// to the files), the run's counters are exact and every file was archived
// once.
func TestPartitionsLoadEachRowOnce(t *testing.T) {
	t.Parallel()
	dsn, schema := workerSchema(t, "nightjar_parts_")
	bin := nightjarBinary(t)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 14))
	t.Logf("seed %d", seed)

	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	table := publicTable(t, dsn, schema+"_rows")
	// The reference: every key written to a file.
	want := map[string]bool{}
	nfiles := partitionFiles(t)
	for f := range nfiles {
		var b strings.Builder
		b.WriteString("id,file,amount\n")
		for r := range 100 + rng.IntN(400) {
			id := fmt.Sprintf("f%04d-%05d", f, r)
			want[id] = true
			fmt.Fprintf(&b, "%s,%d,%d\n", id, f, rng.IntN(1_000_000))
		}
		writeFile(t, filepath.Join(in, fmt.Sprintf("drop-%04d.csv", f)), b.String())
	}
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, `state: {type: postgres, dsn: "${NIGHTJAR_TEST_STATE_DSN}", schema: `+schema+`}
connections:
  pg: { type: postgres, dsn: "${NIGHTJAR_TEST_STATE_DSN}" }
jobs:
  drops:
    schedule: "@every 2s"
    batch_size: 20
    source: { type: files, path: in/*.csv, settle: 0s, archive: done }
    targets:
      - { type: table, connection: pg, table: `+table+`, mode: append, commit_rows: 20 }
`)
	env := "NIGHTJAR_TEST_STATE_DSN=" + dsn
	newWorker := func() *workerProc {
		return startWorkerArgs(t, bin, cfg, []string{"--runs", "2", "--partition-size", "1B", "--partition-rescue-after", "5s"}, env)
	}
	var ws []*workerProc
	for range 4 {
		ws = append(ws, newWorker())
	}
	outputs := func() string {
		var b strings.Builder
		for _, w := range ws {
			fmt.Fprintf(&b, "--- %s\n%s\n", w.id, w.out)
		}
		return b.String()
	}

	st, err := pgstore.Open(t.Context(), dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	waitFor := func(what string, within time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %s; worker output:\n%s", what, within, outputs())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// partitions counts the job's partition River jobs by state.
	partitions := func() map[string]int {
		var rows []struct {
			State string `db:"state"`
			N     int    `db:"n"`
		}
		if err := st.DB().SelectContext(ctx, &rows, `SELECT "state"::text AS "state", count(*) AS "n" FROM "river_job"
WHERE "kind" = 'nightjar_partition' GROUP BY 1`); err != nil {
			return map[string]int{} // River's tables are not made yet
		}
		m := map[string]int{}
		for _, r := range rows {
			m[r.State] = r.N
			m["all"] += r.N
		}
		return m
	}
	waitFor("partitions inserted", 60*time.Second, func() bool { return partitions()["all"] > 0 })
	total := partitions()["all"]
	// runningOn returns the live workers other than the leader running a
	// partition now; midFile, those whose partition's run has recorded rows
	// of its file (a partition is one file here) and not all.
	runningOn := func(midFile bool) []*workerProc {
		var ids []string
		if err := st.DB().SelectContext(ctx, &ids, `SELECT DISTINCT "j"."attempted_by"[cardinality("j"."attempted_by")] FROM "river_job" AS "j"
WHERE "j"."kind" = 'nightjar_partition' AND "j"."state" = 'running' AND (NOT $1 OR EXISTS (
	SELECT 1 FROM "runs" AS "r" WHERE "r"."partition" = "j"."args"->>'partition' AND "r"."status" = 'running' AND "r"."rows_read" > 0))`,
			midFile); err != nil {
			t.Fatal(err)
		}
		var leader string
		st.DB().GetContext(ctx, &leader, `SELECT "leader_id" FROM "river_leader"`)
		var out []*workerProc
		for _, w := range ws {
			if w.cmd.ProcessState == nil && slices.Contains(ids, w.id) && w.id != leader {
				out = append(out, w)
			}
		}
		return out
	}
	// A random moment within the load: after a random share of the
	// partitions completed, a worker running one, mid-file (its run
	// recorded rows of its file, and the rest is to come): the next run of
	// the partition must resume there, not load them again.
	killAt := rng.IntN(max(total/2, 1))
	var killed *workerProc
	for attempt := 1; ; attempt++ {
		killed = nil
		waitFor("a worker to kill", 60*time.Second, func() bool {
			if partitions()["completed"] < killAt {
				return false
			}
			if on := runningOn(true); len(on) > 0 {
				killed = on[rng.IntN(len(on))]
			}
			return killed != nil
		})
		killed.cmd.Process.Signal(syscall.SIGKILL)
		killed.cmd.Wait()
		t.Logf("SIGKILLed %s after %d of %d partitions completed", killed.id, partitions()["completed"], total)
		// The run seen mid-file may have ended before the signal came
		// (the machine busy): then the kill tested nothing, and another
		// worker is started and killed instead.
		var midRun bool
		if err := st.DB().GetContext(ctx, &midRun, `SELECT EXISTS (SELECT 1 FROM "river_job" AS "j"
WHERE "j"."kind" = 'nightjar_partition' AND "j"."state" = 'running' AND "j"."attempted_by"[cardinality("j"."attempted_by")] = $1 AND EXISTS (
	SELECT 1 FROM "runs" AS "r" WHERE "r"."partition" = "j"."args"->>'partition' AND "r"."status" = 'running' AND "r"."rows_read" > 0))`, killed.id); err != nil {
			t.Fatal(err)
		}
		if midRun || attempt == 5 {
			break
		}
		t.Logf("the SIGKILL of %s came after its partition's run ended: killing another", killed.id)
		ws = append(ws, newWorker())
	}

	stopAt := partitions()["completed"] + rng.IntN(max((total-partitions()["completed"])/2, 1))
	var stopped *workerProc
	waitFor("a worker to stop", 60*time.Second, func() bool {
		if c := partitions(); c["completed"] < stopAt && c["completed"] < c["all"] {
			return false
		}
		on := runningOn(false)
		if len(on) == 0 {
			for _, w := range ws {
				if w.cmd.ProcessState == nil {
					on = append(on, w)
				}
			}
		}
		stopped = on[rng.IntN(len(on))]
		return true
	})
	stopped.cmd.Process.Signal(syscall.SIGTERM)
	if err := stopped.cmd.Wait(); err != nil {
		t.Errorf("worker %s after SIGTERM: %v\n%s", stopped.id, err, stopped.out)
	}
	t.Logf("SIGTERMed %s after %d of %d partitions completed", stopped.id, partitions()["completed"], total)

	// The run that split the files ends when its last partition does.
	var run etl.Run
	waitFor("the split run to end", 90*time.Second, func() bool {
		runs, err := st.Runs(ctx, "drops", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.Read > 0 || r.Status == etl.RunRunning {
				run = r
			}
		}
		return run.ID != 0 && run.Status != etl.RunRunning
	})
	for _, w := range ws {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Signal(syscall.SIGTERM)
			if err := w.cmd.Wait(); err != nil {
				t.Errorf("worker %s after SIGTERM: %v\n%s", w.id, err, w.out)
			}
		}
	}

	// Every row exactly once.
	ids, got := targetKeys(t, st, table)
	var doubled, missing, extra []string
	for id, n := range got {
		if n > 1 {
			doubled = append(doubled, fmt.Sprintf("%s×%d", id, n))
		}
		if !want[id] {
			extra = append(extra, id)
		}
	}
	for id := range want {
		if got[id] == 0 {
			missing = append(missing, id)
		}
	}
	if len(doubled)+len(missing)+len(extra) > 0 {
		first := func(s []string) []string { return s[:min(len(s), 5)] }
		t.Errorf("%d rows in the table for %d written to the files: %d doubled (%v), %d missing (%v), %d unknown (%v)",
			len(ids), len(want), len(doubled), first(doubled), len(missing), first(missing), len(extra), first(extra))
	}
	// The run's counters are exact.
	rows := int64(len(want))
	if run.Status != etl.RunSucceeded || run.Read != rows || run.Written != rows || run.Skipped != 0 || run.Rejected != 0 {
		t.Errorf("run %d: %s, read %d, written %d, skipped %d, rejected %d; want succeeded with %d rows read and written (%s)",
			run.ID, run.Status, run.Read, run.Written, run.Skipped, run.Rejected, rows, run.Error)
	}
	// Every file archived once, none left behind.
	if left, _ := filepath.Glob(filepath.Join(in, "*.csv")); len(left) > 0 {
		t.Errorf("%d file(s) left in the inbox: %v", len(left), left[:min(len(left), 3)])
	}
	archived, _ := os.ReadDir(filepath.Join(dir, "done"))
	var names []string
	for _, e := range archived {
		names = append(names, e.Name())
	}
	if len(names) != nfiles {
		t.Errorf("%d file(s) in the archive, want %d", len(names), nfiles)
	}
	// The kill hit a partition mid-run: a run of it was interrupted and
	// another resumed it.
	parts, err := st.Partitions(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	interrupted, resumed := 0, 0
	for _, p := range parts {
		for _, r := range p.Runs {
			if r.Status == etl.RunInterrupted {
				interrupted++
			}
		}
		if len(p.Runs) > 1 {
			resumed++
		}
		if p.Status != pgstore.PartitionDone {
			t.Errorf("partition %d: %s (%s)", p.Number, p.Status, p.Error)
		}
	}
	if interrupted == 0 {
		t.Errorf("no partition's run was interrupted: the SIGKILL of %s hit no partition mid-run", killed.id)
	}
	if len(parts) != total {
		t.Errorf("%d partitions recorded, %d River jobs", len(parts), total)
	}
	// history shows the run with its partitions; status counts them per
	// worker: every one done, the resumed ones retried.
	history := exec.Command(bin, "history", "-c", cfg, "drops", "--limit", "1000")
	history.Env = append(os.Environ(), env)
	out, err := history.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("└ partition %d\t", len(parts))) && !strings.Contains(string(out), fmt.Sprintf("└ partition %d ", len(parts))) {
		t.Errorf("nightjar history drops: %v\n%s", err, out)
	}
	byWorker, out := partitionStatusOf(t, bin, cfg, env)
	done, retried := 0, 0
	for _, w := range byWorker {
		done += w.Done
		retried += w.Retried
	}
	if done != total || retried < resumed {
		t.Errorf("status: %d partitions done, %d retried; want %d done, %d retried at least\n%s", done, retried, total, resumed, out)
	}
	t.Logf("%d files, %d rows, %d partitions; %d run(s) interrupted, %d partition(s) resumed", nfiles, rows, len(parts), interrupted, resumed)
}

// partitionStatusOf runs `nightjar status --json` on cfg's only job and
// returns its partitions per worker, and the output.
func partitionStatusOf(t *testing.T, bin, cfg, env string) ([]cluster.WorkerPartitions, []byte) {
	t.Helper()
	status := exec.Command(bin, "status", "-c", cfg, "--json")
	status.Env = append(os.Environ(), env)
	out, err := status.Output()
	if err != nil {
		t.Fatalf("nightjar status: %v", err)
	}
	var js []struct {
		Partitions []cluster.WorkerPartitions `json:"partitions"`
	}
	if err := json.Unmarshal(out, &js); err != nil || len(js) != 1 {
		t.Fatalf("nightjar status --json: %v\n%s", err, out)
	}
	return js[0].Partitions, out
}

// targetKeys returns the ids in the PostgreSQL table public.table, and how
// many times each is there.
func targetKeys(t *testing.T, st *pgstore.Store, table string) ([]string, map[string]int) {
	t.Helper()
	var ids []string
	if err := st.DB().SelectContext(t.Context(), &ids, `SELECT "id" FROM public.`+pgx.Identifier{table}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, id := range ids {
		got[id]++
	}
	return ids, got
}

// publicTable returns name, a table in dsn's public schema that the test's
// job loads, dropped when the test ends.
func publicTable(t *testing.T, dsn, name string) string {
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			conn.Exec(context.Background(), `DROP TABLE IF EXISTS `+pgx.Identifier{name}.Sanitize())
			conn.Close(context.Background())
		}
	})
	return name
}
