package main

import (
	"encoding/json"
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

	"github.com/jackc/pgx/v5"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
)

// rangeSource is a PostgreSQL source table of the key range tests: rows
// (id, at, amount) with gaps in id and ties in at, and the reference of
// what it holds.
type rangeSource struct {
	t     *testing.T
	st    *pgstore.Store
	table string
	// byTime: the range column is the cursor at (ties broken by id);
	// otherwise the key id alone.
	byTime bool
	ids    []int64 // every id inserted, in order
	nextID int64
	at     time.Time
}

// rangeColumn names the column the table is split by.
func (s *rangeSource) rangeColumn() string {
	if s.byTime {
		return "at"
	}
	return "id"
}

// add inserts n rows past the last one, amount -1 for the row numbered
// poison among them (-1: none), and returns the first id added.
func (s *rangeSource) add(rng *rand.Rand, n, poison int) int64 {
	s.t.Helper()
	rows := make([][]any, n)
	first := int64(-1)
	for i := range n {
		s.nextID += 1 + int64(rng.IntN(3)*rng.IntN(20)) // gaps, some wide
		if rng.IntN(500) == 0 {
			s.nextID += 100_000 // a wide hole
		}
		if rng.IntN(3) == 0 {
			s.at = s.at.Add(time.Duration(1+rng.IntN(3)) * time.Second) // else a tie
		}
		amount := rng.IntN(1_000_000)
		if i == poison {
			amount = -1
		}
		rows[i] = []any{s.nextID, s.at, amount}
		s.ids = append(s.ids, s.nextID)
		if first < 0 {
			first = s.nextID
		}
	}
	conn, err := s.st.Pool().Acquire(s.t.Context())
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Conn().CopyFrom(s.t.Context(), pgx.Identifier{"public", s.table}, []string{"id", "at", "amount"}, pgx.CopyFromRows(rows)); err != nil {
		s.t.Fatal(err)
	}
	return first
}

// rangeTestConfig is the config of the key range tests: a job loading the
// source table split into key ranges into an append table.
func rangeTestConfig(schema, src, dst string, byTime bool, partitionRows, batch int) string {
	cursor := ""
	if byTime {
		cursor = "cursor: at, "
	}
	return fmt.Sprintf(`state: {type: postgres, dsn: "${NIGHTJAR_TEST_STATE_DSN}", schema: %s}
connections:
  pg: { type: postgres, dsn: "${NIGHTJAR_TEST_STATE_DSN}" }
jobs:
  ranges:
    schedule: "@every 2s"
    retries: 1
    batch_size: %d
    source: { type: sql, connection: pg, table: %s, %skey: id, partition_rows: %d }
    steps:
      - validate: { amount: { min: 0, action: fail } }
    targets:
      - { type: table, connection: pg, table: %s, mode: append, commit_rows: %d }
`, schema, batch, src, cursor, partitionRows, dst, batch)
}

// rangeTest is the setup of a key range test.
type rangeTest struct {
	t       *testing.T
	rng     *rand.Rand
	bin     string
	dir     string
	cfg     string
	env     string
	st      *pgstore.Store
	src     *rangeSource
	dst     string
	workers []*workerProc
}

func setupRangeTest(t *testing.T, prefix string) *rangeTest {
	t.Helper()
	dsn, schema := workerSchema(t, prefix)
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("NIGHTJAR_RANGES_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (NIGHTJAR_RANGES_SEED=%d replays it)", seed, seed)
	rt := &rangeTest{t: t, rng: rand.New(rand.NewPCG(seed, 14)), bin: nightjarBinary(t), dir: t.TempDir(), env: "NIGHTJAR_TEST_STATE_DSN=" + dsn}
	st, err := pgstore.Open(t.Context(), dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rt.st = st
	src := publicTable(t, dsn, schema+"_src")
	rt.dst = publicTable(t, dsn, schema+"_rows")
	if _, err := st.Pool().Exec(t.Context(), `CREATE TABLE public.`+pgx.Identifier{src}.Sanitize()+` ("id" bigint PRIMARY KEY, "at" timestamptz NOT NULL, "amount" bigint NOT NULL);
CREATE INDEX ON public.`+pgx.Identifier{src}.Sanitize()+` ("at", "id")`); err != nil {
		t.Fatal(err)
	}
	rt.src = &rangeSource{t: t, st: st, table: src, byTime: rt.rng.IntN(2) == 0, nextID: int64(rt.rng.IntN(100)), at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rt.cfg = filepath.Join(rt.dir, "nightjar.yaml")
	return rt
}

func (rt *rangeTest) outputs() string {
	var b strings.Builder
	for _, w := range rt.workers {
		fmt.Fprintf(&b, "--- %s\n%s\n", w.id, w.out)
	}
	return b.String()
}

func (rt *rangeTest) waitFor(what string, within time.Duration, ok func() bool) {
	rt.t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			var dump []string
			rt.st.DB().SelectContext(rt.t.Context(), &dump, `SELECT format('partition %s run %s %s %s %s', "id", "run_id", "status", "key_range", "error") FROM "partitions"
UNION ALL SELECT format('key range %s %s %s', "origin", "partition", "status") FROM "key_ranges"`)
			rt.t.Logf("partitions and key ranges:\n%s", strings.Join(dump, "\n"))
			rt.t.Fatalf("%s: not after %s; worker output:\n%s", what, within, rt.outputs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// splitRuns returns the job's runs that were split into partitions, oldest
// first, with their partitions.
func (rt *rangeTest) splitRuns() []historyRun {
	rt.t.Helper()
	runs, err := rt.st.Runs(rt.t.Context(), "ranges", 0)
	if err != nil {
		rt.t.Fatal(err)
	}
	slices.Reverse(runs)
	all, err := withPartitions(rt.t.Context(), rt.st, runs)
	if err != nil {
		rt.t.Fatal(err)
	}
	var out []historyRun
	for _, r := range all {
		if len(r.Partitions) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// firstSplitRun waits for the job's first run split into partitions to
// end, and returns it.
func (rt *rangeTest) firstSplitRun() historyRun {
	rt.t.Helper()
	var first historyRun
	rt.waitFor("the split run to end", 120*time.Second, func() bool {
		runs := rt.splitRuns()
		if len(runs) == 0 {
			return false
		}
		first = runs[0]
		return first.Status != etl.RunRunning
	})
	return first
}

// checkRows checks that every id of the source is in the target exactly
// once, and nothing else.
func (rt *rangeTest) checkRows() {
	rt.t.Helper()
	var ids []int64
	if err := rt.st.DB().SelectContext(rt.t.Context(), &ids, `SELECT "id" FROM public.`+pgx.Identifier{rt.dst}.Sanitize()); err != nil {
		rt.t.Fatal(err)
	}
	got := map[int64]int{}
	for _, id := range ids {
		got[id]++
	}
	var doubled, missing, extra []string
	want := map[int64]bool{}
	for _, id := range rt.src.ids {
		want[id] = true
		if got[id] == 0 {
			missing = append(missing, strconv.FormatInt(id, 10))
		}
	}
	for id, n := range got {
		if n > 1 {
			doubled = append(doubled, fmt.Sprintf("%d×%d", id, n))
		}
		if !want[id] {
			extra = append(extra, strconv.FormatInt(id, 10))
		}
	}
	if len(doubled)+len(missing)+len(extra) > 0 {
		first := func(s []string) []string { return s[:min(len(s), 5)] }
		rt.t.Errorf("%d rows in the table for %d in the source: %d doubled (%v), %d missing (%v), %d unknown (%v)",
			len(ids), len(want), len(doubled), first(doubled), len(missing), first(missing), len(extra), first(extra))
	}
}

// positionID returns the last id of the job's position (0 for none).
func (rt *rangeTest) positionID() int64 {
	rt.t.Helper()
	cp, err := rt.st.Checkpoint(rt.t.Context(), "ranges", "")
	if err != nil {
		rt.t.Fatal(err)
	}
	if cp.Position == nil {
		return 0
	}
	var p struct {
		Key []json.Number `json:"key"`
	}
	if err := json.Unmarshal(cp.Position, &p); err != nil || len(p.Key) != 1 {
		rt.t.Fatalf("position %s: %v", cp.Position, err)
	}
	id, _ := p.Key[0].Int64()
	return id
}

func (rt *rangeTest) stopWorkers() {
	for _, w := range rt.workers {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Signal(syscall.SIGTERM)
			if err := w.cmd.Wait(); err != nil {
				rt.t.Errorf("worker %s after SIGTERM: %v\n%s", w.id, err, w.out)
			}
		}
	}
}

// TestKeyRangesLoadEachRowOnce: a PostgreSQL table of tens of thousands of
// rows (NIGHTJAR_RANGE_ROWS, default 12,000), with gaps in its key and,
// half the time, a timestamp cursor with ties, is split by a tick into
// key ranges of a random partition_rows, loaded by three worker processes
// into an append table. One worker running a range mid-way is SIGKILLed:
// River gives its partition to another, which resumes it from the range's
// own checkpoint. In the end every source row is in the target exactly
// once, the run's counters are exact, and the job's position is past the
// highest range (the last row). Then rows are added past it: the next
// tick splits only those, and loads each once.
func TestKeyRangesLoadEachRowOnce(t *testing.T) {
	t.Parallel()
	rt := setupRangeTest(t, "nightjar_kr_")
	ctx := t.Context()
	nrows := envCount(t, "NIGHTJAR_RANGE_ROWS", 12_000, 100)
	rt.src.add(rt.rng, nrows, -1)
	partitionRows := nrows/20 + rt.rng.IntN(nrows/10)
	writeFile(t, rt.cfg, rangeTestConfig(rt.st.Schema(), rt.src.table, rt.dst, rt.src.byTime, partitionRows, 200))
	for range 3 {
		rt.workers = append(rt.workers, startWorkerArgs(t, rt.bin, rt.cfg, []string{"--runs", "2", "--partition-rescue-after", "5s"}, rt.env))
	}

	// A worker (not the leader) running a range whose run recorded rows.
	var killed *workerProc
	rt.waitFor("a worker running a range mid-way", 90*time.Second, func() bool {
		var ids []string
		if err := rt.st.DB().SelectContext(ctx, &ids, `SELECT DISTINCT "j"."attempted_by"[cardinality("j"."attempted_by")] FROM "river_job" AS "j"
WHERE "j"."kind" = 'nightjar_partition' AND "j"."state" = 'running' AND EXISTS (
	SELECT 1 FROM "runs" AS "r" WHERE "r"."partition" = "j"."args"->>'partition' AND "r"."status" = 'running' AND "r"."rows_read" > 0)`); err != nil {
			return false // River's tables are not made yet
		}
		var leader string
		rt.st.DB().GetContext(ctx, &leader, `SELECT "leader_id" FROM "river_leader"`)
		var on []*workerProc
		for _, w := range rt.workers {
			if w.cmd.ProcessState == nil && slices.Contains(ids, w.id) && w.id != leader {
				on = append(on, w)
			}
		}
		if len(on) == 0 {
			return false
		}
		killed = on[rt.rng.IntN(len(on))]
		return true
	})
	killed.cmd.Process.Signal(syscall.SIGKILL)
	killed.cmd.Wait()
	t.Logf("SIGKILLed %s", killed.id)

	first := rt.firstSplitRun()
	rows := int64(nrows)
	if first.Status != etl.RunSucceeded || first.Read != rows || first.Written != rows || first.Skipped != 0 || first.Rejected != 0 {
		t.Errorf("run %d: %s, read %d, written %d, skipped %d, rejected %d; want succeeded with %d rows read and written (%s)",
			first.ID, first.Status, first.Read, first.Written, first.Skipped, first.Rejected, rows, first.Error)
	}
	interrupted, resumed := 0, 0
	for i, p := range first.Partitions {
		if p.Range == nil || p.Status != pgstore.PartitionDone {
			t.Errorf("partition %d: range %v, %s (%s); want a key range, done", p.Number, p.Range, p.Status, p.Error)
			continue
		}
		if i > 0 && p.Range.Lo != first.Partitions[i-1].Range.Hi {
			t.Errorf("partition %d: range %+v does not follow %+v", p.Number, *p.Range, *first.Partitions[i-1].Range)
		}
		for _, r := range p.Runs {
			if r.Status == etl.RunInterrupted {
				interrupted++
			}
		}
		if len(p.Runs) > 1 {
			resumed++
		}
	}
	if interrupted == 0 {
		t.Errorf("no range's run was interrupted: the SIGKILL of %s hit none mid-run", killed.id)
	}
	rt.checkRows()
	if got, want := rt.positionID(), slices.Max(rt.src.ids); got != want {
		t.Errorf("the job's position ends at id %d, want the last row's, %d", got, want)
	}
	t.Logf("%d rows (range column %s), partition_rows %d: %d ranges, %d run(s) interrupted, %d range(s) resumed",
		nrows, rt.src.rangeColumn(), partitionRows, len(first.Partitions), interrupted, resumed)

	// Rows added past the highest range: the next tick splits only those.
	added := partitionRows + rt.rng.IntN(2*partitionRows)
	firstNew := rt.src.add(rt.rng, added, -1)
	var next historyRun
	rt.waitFor("a run of the rows added", 60*time.Second, func() bool {
		for _, r := range rt.splitRuns() {
			if r.ID > first.ID && r.Status != etl.RunRunning {
				next = r
				return true
			}
		}
		return false
	})
	if next.Status != etl.RunSucceeded || next.Read != int64(added) || next.Written != int64(added) {
		t.Errorf("run %d of the %d rows added: %s, read %d, written %d (%s)", next.ID, added, next.Status, next.Read, next.Written, next.Error)
	}
	for _, p := range next.Partitions {
		if p.Range == nil {
			t.Fatalf("partition %d of run %d has no key range", p.Number, next.ID)
		}
	}
	rt.stopWorkers()
	rt.checkRows()
	if got, want := rt.positionID(), slices.Max(rt.src.ids); got != want {
		t.Errorf("after the rows added (from id %d) the job's position is at id %d, want %d", firstNew, got, want)
	}
	// history shows the ranges.
	history := exec.Command(rt.bin, "history", "-c", rt.cfg, "ranges", "--limit", "1000")
	history.Env = append(os.Environ(), rt.env)
	out, err := history.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "keys (position, ") {
		t.Errorf("nightjar history ranges: %v\n%s", err, out)
	}
}

// TestFailedKeyRangeRerunsAlone: a table split into key ranges holds a row
// the job's validate step fails on, in a random range. That range's
// partition fails for good (after its retries); the others load, and the
// run ends failed without moving the job's position. The following ticks
// run that range alone again, each continuing its load from its
// checkpoint, and fail. Once the row is fixed in the source, the next
// tick loads the rest of the range: every row is in the target exactly
// once, no other range was run twice, the runs' written rows add up to
// the table's, and the job's position is past the highest range.
func TestFailedKeyRangeRerunsAlone(t *testing.T) {
	t.Parallel()
	rt := setupRangeTest(t, "nightjar_krf_")
	ctx := t.Context()
	nrows := 2000 + rt.rng.IntN(3000)
	partitionRows := 300 + rt.rng.IntN(500)
	// The poison row lies in the second half of a range, past batches (20
	// rows) that are committed before it fails: its range's next run must
	// continue after them, not load them again.
	poison := rt.rng.IntN(nrows/partitionRows)*partitionRows + partitionRows/2 + rt.rng.IntN(partitionRows/2-5)
	rt.src.add(rt.rng, nrows, poison)
	poisonID := rt.src.ids[poison]
	writeFile(t, rt.cfg, rangeTestConfig(rt.st.Schema(), rt.src.table, rt.dst, rt.src.byTime, partitionRows, 20))
	for range 2 {
		rt.workers = append(rt.workers, startWorkerArgs(t, rt.bin, rt.cfg, []string{"--runs", "2", "--partition-rescue-after", "5s"}, rt.env))
	}
	t.Logf("%d rows (range column %s), poison id %d (row %d), partition_rows %d", nrows, rt.src.rangeColumn(), poisonID, poison, partitionRows)

	// The first run ends failed, the poison range's partition failed.
	first := rt.firstSplitRun()
	var bad etl.KeyRange
	failed := 0
	var committed int64 // rows the failed range committed before it failed
	for _, p := range first.Partitions {
		if p.Status == pgstore.PartitionFailed {
			failed++
			bad = *p.Range
			for _, r := range p.Runs {
				committed += r.Written
			}
		} else if p.Status != pgstore.PartitionDone {
			t.Errorf("partition %d: %s", p.Number, p.Status)
		}
	}
	if first.Status != etl.RunFailed || failed != 1 {
		t.Fatalf("run %d: %s with %d failed partition(s) of %d; want failed with 1 (%s)", first.ID, first.Status, failed, len(first.Partitions), first.Error)
	}
	if got := rt.positionID(); got != 0 {
		t.Errorf("the job's position moved to id %d with a range failed", got)
	}
	if committed == 0 {
		t.Errorf("the failed range committed no row before it failed: its later runs continuing its load prove nothing")
	}
	// Later ticks run the failed range alone, continuing its load.
	rt.waitFor("two later runs of the failed range", 90*time.Second, func() bool {
		n := 0
		for _, r := range rt.splitRuns()[1:] {
			if r.Status != etl.RunRunning {
				n++
			}
		}
		return n >= 2
	})
	if got := rt.positionID(); got != 0 {
		t.Errorf("the job's position moved to id %d with a range failed", got)
	}
	// Fixed in the source: the next tick loads the rest of the range.
	if _, err := rt.st.Pool().Exec(ctx, `UPDATE public.`+pgx.Identifier{rt.src.table}.Sanitize()+` SET "amount" = 1 WHERE "id" = $1`, poisonID); err != nil {
		t.Fatal(err)
	}
	var runs []historyRun
	rt.waitFor("a run of the fixed range to succeed", 90*time.Second, func() bool {
		runs = rt.splitRuns()
		last := runs[len(runs)-1]
		return len(runs) > 1 && last.Status == etl.RunSucceeded
	})
	rt.stopWorkers()
	runs = rt.splitRuns()
	rt.checkRows()
	var written int64
	for i, r := range runs {
		written += r.Written
		if i == 0 {
			continue
		}
		for _, p := range r.Partitions {
			if p.Range == nil || *p.Range != bad || p.Resumes == 0 {
				t.Errorf("run %d (after the first) partition %d: range %v resuming %d; want the failed range %+v, continuing a failed partition",
					r.ID, p.Number, p.Range, p.Resumes, bad)
			}
		}
	}
	if written != int64(nrows) {
		t.Errorf("the runs wrote %d rows in all, the table holds %d", written, nrows)
	}
	if got, want := rt.positionID(), slices.Max(rt.src.ids); got != want {
		t.Errorf("the job's position ends at id %d, want the last row's, %d", got, want)
	}
	t.Logf("%d ranges; the range (%s, %s] failed after committing %d rows, then ran alone in %d later run(s)", len(first.Partitions), bad.Lo, bad.Hi, committed, len(runs)-1)
}
