package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
	"github.com/nightjar-etl/nightjar/internal/cluster"
)

// TestLostPartitionEndsItsRun: a files job split into partitions (one file
// each, or a few files by a random --partition-size), one file of which always fails its run (a row the job's validate
// step fails on, at a random row of the file: batches before it are
// committed, 10 rows each), retried as the job's retries say. Between two
// attempts the poison partition is cancelled through River's own client
// (as from River's UI): no worker runs it again, so no worker records it.
// The worker's sweep finds it and records it failed: the run ends failed
// with the counters of what loaded (the other files, and the poison file's
// batches before its bad row), history and status show the failed
// partition, and the ledger gives its file back. Later ticks claim it
// again, each into a partition continuing the failed one's load, and fail
// it again. A worker restarted with the validate step relaxed then claims
// it again and loads the rest of it: in the end every row of every file is
// in the target exactly once, against the keys written to the files, the
// job's runs wrote as many rows as the files hold, and the ledger counts
// each file's rows. NIGHTJAR_LOST_SEED replays a seed.
func TestLostPartitionEndsItsRun(t *testing.T) {
	t.Parallel()
	dsn, schema := workerSchema(t, "nightjar_lost_")
	bin := nightjarBinary(t)
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("NIGHTJAR_LOST_SEED"), 10, 64); err == nil {
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, 14))
	t.Logf("seed %d (NIGHTJAR_LOST_SEED=%d replays it)", seed, seed)
	ctx := t.Context()

	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	table := publicTable(t, dsn, schema+"_rows")
	nfiles := 3 + rng.IntN(4)
	poison := rng.IntN(nfiles)
	// The row that fails, anywhere in its file: the batches before it
	// (batch_size and commit_rows 10) may be committed before it fails.
	poisonRow := -1
	want := map[string]bool{}
	var goodRows, poisonRows int64
	var dropped []etl.FileDone // as the ledger names them, with their rows
	for f := range nfiles {
		var b strings.Builder
		b.WriteString("id,file,amount\n")
		nrows := 80 + rng.IntN(40)
		if f == poison {
			poisonRow = rng.IntN(nrows)
		}
		for r := range nrows {
			id := fmt.Sprintf("f%04d-%05d", f, r)
			want[id] = true
			amount := rng.IntN(1_000_000)
			if f == poison && r == poisonRow {
				amount = -1 // fails the validate step
			}
			fmt.Fprintf(&b, "%s,%d,%d\n", id, f, amount)
			if f == poison {
				poisonRows++
			} else {
				goodRows++
			}
		}
		writeFile(t, filepath.Join(in, fmt.Sprintf("drop-%04d.csv", f)), b.String())
		dropped = append(dropped, etl.FileDone{Path: fmt.Sprintf("in/drop-%04d.csv", f), Size: int64(b.Len()), Rows: int64(nrows)})
	}
	poisonPath := dropped[poison].Path
	// Partitions of one file each, or of a few (files of about 2.5 KB): the
	// first tick finds every file settled and groups them as Group does.
	partBytes := int64(1)
	if rng.IntN(2) == 0 {
		partBytes = 3000 + rng.Int64N(6000)
	}
	groups := cluster.Group(dropped, partBytes)
	// partRows are the rows of the poison file's partition; partBefore
	// those of its files before the poison file, which it may load first.
	var partRows, partBefore int64
	for _, g := range groups {
		if !slices.ContainsFunc(g, func(f etl.FileDone) bool { return f.Path == poisonPath }) {
			continue
		}
		for _, f := range g {
			partRows += f.Rows
			if f.Path < poisonPath {
				partBefore += f.Rows
			}
		}
	}
	cfg := filepath.Join(dir, "nightjar.yaml")
	config := func(action string) string {
		return `state: {type: postgres, dsn: "${NIGHTJAR_TEST_STATE_DSN}", schema: ` + schema + `}
connections:
  pg: { type: postgres, dsn: "${NIGHTJAR_TEST_STATE_DSN}" }
jobs:
  drops:
    schedule: "@every 2s"
    retries: 4
    batch_size: 10
    source: { type: files, path: in/*.csv, settle: 0s, archive: done }
    steps:
      - cast: { amount: int }
      - validate: { amount: { min: 0, action: ` + action + ` } }
    targets:
      - { type: table, connection: pg, table: ` + table + `, mode: append, commit_rows: 10 }
`
	}
	writeFile(t, cfg, config("fail"))
	env := "NIGHTJAR_TEST_STATE_DSN=" + dsn
	flags := []string{"--partition-size", fmt.Sprintf("%dB", partBytes), "--partition-rescue-after", "3s"}
	w := startWorkerArgs(t, bin, cfg, flags, env)

	st, err := pgstore.Open(ctx, dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitFor := func(what string, within time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !ok() {
			if time.Now().After(deadline) {
				w.cmd.Process.Kill()
				w.cmd.Wait()
				var dump []string
				st.DB().SelectContext(ctx, &dump, `SELECT format('%s %s %s %s', "id", "status", "run_id", "error") FROM "partitions" UNION ALL SELECT format('job %s %s %s', "id", "state", "args") FROM "river_job" WHERE "kind" = 'nightjar_partition' UNION ALL SELECT format('lease %s %s %s', "job", "owner", "expires_at") FROM "leases"`)
				t.Logf("partitions, River jobs and leases:\n%s", strings.Join(dump, "\n"))
				t.Fatalf("%s: not after %s; worker output:\n%s", what, within, w.out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The poison partition, once it failed an attempt (cancelled waiting
	// for its next, or running it: River cancels either).
	var poisoned struct {
		JobID int64 `db:"id"`
		RunID int64 `db:"run"`
	}
	waitFor("the poison partition to fail an attempt", 90*time.Second, func() bool {
		err := st.DB().GetContext(ctx, &poisoned, `SELECT "id", ("args"->>'run')::bigint AS "run" FROM "river_job"
WHERE "kind" = 'nightjar_partition' AND cardinality("errors") > 0 AND "args"->'files' ? $1`, poisonPath)
		return err == nil
	})
	jobID := poisoned.JobID
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.JobCancel(ctx, jobID); err != nil {
		t.Fatal(err)
	}
	waitFor("River to cancel the poison partition", 30*time.Second, func() bool {
		var state string
		return st.DB().GetContext(ctx, &state, `SELECT "state"::text FROM "river_job" WHERE "id" = $1`, jobID) == nil && state == "cancelled"
	})
	t.Logf("%d files in %d partitions (%d bytes at most), file %d poison at row %d; cancelled its partition (River job %d)", nfiles, len(groups), partBytes, poison, poisonRow+1, jobID)

	// The run ends, failed, with what loaded.
	var run etl.Run
	waitFor("the split run to end", 30*time.Second, func() bool {
		runs, err := st.Runs(ctx, "drops", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.ID == poisoned.RunID {
				run = r
			}
		}
		return run.ID != 0 && run.Status != etl.RunRunning
	})
	// The poison partition's files before the poison file, and the poison
	// file's batches before the one holding its bad row, may have been
	// committed before it failed, and count.
	before := int64(poisonRow / 10 * 10)
	others := goodRows + poisonRows - partRows
	if run.Status != etl.RunFailed || run.Written < others || run.Written > others+partBefore+before || run.Rejected != 0 || !strings.Contains(run.Error, "River cancelled its job") {
		t.Errorf("run %d: %s, written %d, rejected %d (%s); want failed with %d to %d rows written, naming the cancelled partition",
			run.ID, run.Status, run.Written, run.Rejected, run.Error, others, others+partBefore+before)
	}
	t.Logf("run %d wrote %d rows of the poison partition before it failed", run.ID, run.Written-others)
	parts, err := st.Partitions(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, p := range parts {
		isPoison := slices.ContainsFunc(p.Files, func(f pgstore.PartitionFile) bool { return f.Path == poisonPath })
		switch {
		case isPoison && p.Status == pgstore.PartitionFailed:
			failed++
		case isPoison:
			t.Errorf("poison partition %d: %s, want failed", p.Number, p.Status)
		case p.Status != pgstore.PartitionDone:
			t.Errorf("partition %d: %s (%s), want done", p.Number, p.Status, p.Error)
		}
	}
	if failed != 1 || len(parts) != len(groups) {
		t.Errorf("%d partitions, %d failed; want %d, 1 failed", len(parts), failed, len(groups))
	}
	// history shows it; status counts it failed.
	history := exec.Command(bin, "history", "-c", cfg, "drops", "--limit", "1000")
	history.Env = append(os.Environ(), env)
	out, err := history.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "River cancelled its job") {
		t.Errorf("nightjar history drops: %v\n%s", err, out)
	}
	byWorker, out := partitionStatusOf(t, bin, cfg, env)
	nfailed := 0
	for _, p := range byWorker {
		nfailed += p.Failed
	}
	if nfailed != 1 {
		t.Errorf("status: %d partitions failed, want 1\n%s", nfailed, out)
	}

	// A later tick claims the file again, into a partition continuing the
	// failed one's load, which fails in turn (past its retries) and gives
	// the file back as its own.
	poisonPart := 0
	for _, p := range parts {
		if p.Status == pgstore.PartitionFailed {
			poisonPart = int(p.ID)
		}
	}
	var again etl.Run
	waitFor("a later run to fail the poison file again", 120*time.Second, func() bool {
		runs, err := st.Runs(ctx, "drops", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.ID > run.ID && r.Status == etl.RunFailed {
				again = r
			}
		}
		return again.ID != 0
	})
	if parts, err := st.Partitions(ctx, again.ID); err != nil {
		t.Fatal(err)
	} else if len(parts) != 1 || parts[0].Resumes != int64(poisonPart) || parts[0].Status != pgstore.PartitionFailed {
		t.Errorf("run %d: partitions %+v; want one continuing partition %d's load, failed", again.ID, parts, poisonPart)
	}

	// With the row let through, a later tick claims the file again (the
	// worker's ticks meanwhile claimed it and failed it again, each run
	// giving it back) and loads the rest of it, continuing the load of the
	// partition that last failed.
	w.cmd.Process.Signal(syscall.SIGTERM)
	if err := w.cmd.Wait(); err != nil {
		t.Errorf("worker after SIGTERM: %v\n%s", err, w.out)
	}
	writeFile(t, cfg, config("warn"))
	w = startWorkerArgs(t, bin, cfg, flags, env)
	var later etl.Run
	waitFor("a later run to load the poison file", 90*time.Second, func() bool {
		runs, err := st.Runs(ctx, "drops", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.ID > run.ID && r.Read > 0 && r.Status == etl.RunSucceeded {
				later = r
			}
		}
		return later.ID != 0
	})
	// It reads from where the failed partitions' checkpoint left the file
	// (its read counts the rows its partition's failed attempts read too).
	if later.Status != etl.RunSucceeded || later.Read < poisonRows-before || later.Written > partRows || later.Written < poisonRows-before {
		t.Errorf("run %d: %s, read %d, written %d (%s); want succeeded with %d to %d rows of the poison partition written",
			later.ID, later.Status, later.Read, later.Written, later.Error, poisonRows-before, partRows)
	}
	w.cmd.Process.Signal(syscall.SIGTERM)
	w.cmd.Wait()
	if parts, err := st.Partitions(ctx, later.ID); err != nil {
		t.Fatal(err)
	} else if len(parts) != 1 || parts[0].Resumes == 0 {
		t.Errorf("run %d: partitions %+v; want one continuing a failed partition's load", later.ID, parts)
	}

	// Counters count what happened: the job's runs (the split runs, each
	// summing its partitions) wrote, together, each row once.
	runs, err := st.Runs(ctx, "drops", 0)
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	for _, r := range runs {
		written += r.Written
		if r.Status == etl.RunRunning {
			t.Errorf("run %d still running", r.ID)
		}
	}
	if written != goodRows+poisonRows {
		t.Errorf("the job's %d runs wrote %d rows, the files hold %d", len(runs), written, goodRows+poisonRows)
	}
	ledger, err := st.Files(ctx, "drops")
	if err != nil {
		t.Fatal(err)
	}
	inLedger := map[string]etl.FileRecord{}
	for _, f := range ledger {
		inLedger[f.Path] = f
	}
	for _, f := range dropped {
		if got := inLedger[f.Path]; got.Status != "loaded" || got.Rows != f.Rows {
			t.Errorf("ledger: %s %q with %d rows, want loaded with %d", f.Path, got.Status, got.Rows, f.Rows)
		}
	}

	ids, got := targetKeys(t, st, table)
	for id := range want {
		if got[id] != 1 {
			t.Errorf("key %s in the table %d times, want once", id, got[id])
		}
	}
	if len(ids) != len(want) {
		t.Errorf("%d rows in the table, %d written to the files", len(ids), len(want))
	}
}
