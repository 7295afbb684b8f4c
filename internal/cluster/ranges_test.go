package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
)

// memTable is a RangeSplitter over an in-memory table of distinct integer
// keys: a position is the last key read, as text; Ranges cuts the keys
// past it into ranges of PartitionRows keys.
type memTable struct {
	keys []int64 // sorted
	rows int
}

var _ RangeSplitter = (*memTable)(nil)

func (m *memTable) Open(context.Context, etl.SourceEnv) error { return nil }
func (m *memTable) Next(context.Context) (*etl.Batch, error)  { return nil, etl.ErrEndOfInput }
func (m *memTable) Close(context.Context) error               { return nil }
func (m *memTable) PartitionRows() int                        { return m.rows }
func (m *memTable) OnlyRange(etl.KeyRange, []byte)            {}
func (m *memTable) Schema() *etl.Schema                       { return nil }
func (m *memTable) after(pos []byte) int                      { return afterKey(m.keys, parseKey(pos)) }
func parseKey(b []byte) int64 {
	if b == nil {
		return -1
	}
	n, _ := strconv.ParseInt(string(b), 10, 64)
	return n
}

// afterKey is the index of the first key above k.
func afterKey(keys []int64, k int64) int {
	i, found := slices.BinarySearch(keys, k)
	if found {
		i++
	}
	return i
}

func (m *memTable) Ranges(_ context.Context, env etl.SourceEnv) ([]etl.KeyRange, string, error) {
	var out []etl.KeyRange
	lo := ""
	for i := m.after(env.Position); i < len(m.keys); i += m.rows {
		hi := strconv.FormatInt(m.keys[min(i+m.rows, len(m.keys))-1], 10)
		out = append(out, etl.KeyRange{Lo: lo, Hi: hi})
		lo = hi
	}
	return out, "", nil
}

// TestKeyRangeLedgerLoadsEachRowOnce: random chains of ticks, partitions
// that load a random share of their range and then succeed, fail for good
// or die (left queued, run again later), and rows added past the end,
// against a real PostgreSQL state store. Each partition loads its range
// from its own stream's checkpoint as the worker does (the first range
// from the position the run was split at, a later one from its lower
// bound), recording each row with its checkpoint, as a target's replay
// marker does. Against the plain reference (the table's keys): no row is
// loaded twice, the job's position never passes a row not loaded, and once
// every partition is run to success the job's position is the last key
// and every row is loaded.
func TestKeyRangeLedgerLoadsEachRowOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := testStore(t, "nightjar_kranges_")
	clock := etl.SystemClockOr(nil)
	log := slog.New(slog.DiscardHandler)
	round := 0
	rapid.Check(t, func(rt *rapid.T) {
		round++
		name := fmt.Sprintf("job%d", round)
		job := &etl.Job{Name: name}
		table := &memTable{rows: rapid.IntRange(1, 8).Draw(rt, "partition_rows")}
		next := int64(0)
		add := func(n int) {
			for range n {
				next += 1 + int64(rapid.IntRange(0, 3).Draw(rt, "gap"))
				table.keys = append(table.keys, next)
			}
		}
		add(rapid.IntRange(0, 30).Draw(rt, "rows"))
		loaded := map[int64]int{}
		var queue []PartitionArgs

		tick := func() {
			var args []PartitionArgs
			_, _, err := st.BeginSplitRun(ctx, name, "schedule", clock.Now(), func(ctx context.Context, tx pgx.Tx, runID int64) (int, error) {
				var why string
				var err error
				args, why, err = rangePlan(ctx, tx, st, job, table, runID, clock, log)
				if why != "" {
					rt.Fatalf("not split: %s", why)
				}
				return len(args), err
			})
			if err != nil {
				rt.Fatal(err)
			}
			queue = append(queue, args...)
		}
		// work runs a partition: it loads up to n rows of its range (all
		// when n < 0) from its stream's checkpoint, then ends as fate says.
		work := func(a PartitionArgs, n int, fate string) {
			if fate == "succeeds" {
				n = -1 // a run succeeds once it read its range to the end
			}
			stream := etl.PartitionStream(strconv.FormatInt(a.Partition, 10))
			cp, err := st.Checkpoint(ctx, name, stream)
			if err != nil {
				rt.Fatal(err)
			}
			from := cp.Position
			if from == nil {
				from = a.From
				if a.Range.Lo != "" {
					from = []byte(a.Range.Lo)
				}
			}
			hi := parseKey([]byte(a.Range.Hi))
			for i := afterKey(table.keys, parseKey(from)); i < len(table.keys) && table.keys[i] <= hi && n != 0; i++ {
				k := table.keys[i]
				loaded[k]++
				if _, err := st.Pool().Exec(ctx, `INSERT INTO "positions" ("job", "stream", "position", "seq", "load_id", "run_id", "updated_at")
VALUES ($1, $2, $3, 0, 'l', $4, now()) ON CONFLICT ("job", "stream") DO UPDATE SET "position" = excluded."position"`,
					name, stream, strconv.FormatInt(k, 10), a.Run); err != nil {
					rt.Fatal(err)
				}
				n--
			}
			if fate == "dies" {
				return // River runs it again later
			}
			status := pgstore.PartitionDone
			if fate == "fails" {
				status = pgstore.PartitionFailed
			}
			tx, err := st.Pool().Begin(ctx)
			if err != nil {
				rt.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := st.FinishPartition(ctx, tx, a.Partition, status, fate, clock.Now()); err != nil {
				rt.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				rt.Fatal(err)
			}
			queue = slices.DeleteFunc(queue, func(q PartitionArgs) bool { return q.Partition == a.Partition })
		}
		// check: no row loaded twice; the position passes no row not loaded.
		check := func(when string) {
			for k, c := range loaded {
				if c > 1 {
					rt.Fatalf("%s: key %d loaded %d times", when, k, c)
				}
			}
			cp, err := st.Checkpoint(ctx, name, "")
			if err != nil {
				rt.Fatal(err)
			}
			pos := parseKey(cp.Position)
			for _, k := range table.keys {
				if k <= pos && loaded[k] == 0 {
					rt.Fatalf("%s: the job's position is at %d, past key %d, not loaded", when, pos, k)
				}
			}
		}

		for step := range rapid.IntRange(1, 25).Draw(rt, "steps") {
			switch action := rapid.SampledFrom([]string{"tick", "work", "work", "work", "add"}).Draw(rt, "action"); {
			case action == "tick":
				tick()
			case action == "add":
				add(rapid.IntRange(1, 10).Draw(rt, "added"))
			case len(queue) > 0:
				a := queue[rapid.IntRange(0, len(queue)-1).Draw(rt, "partition")]
				work(a, rapid.IntRange(-1, 5).Draw(rt, "rows loaded"), rapid.SampledFrom([]string{"succeeds", "fails", "dies"}).Draw(rt, "fate"))
			}
			check(fmt.Sprintf("step %d", step))
		}
		// Then every partition succeeds, ticks run the failed ranges and
		// what is past the position, until a tick plans nothing.
		for range 100 {
			for len(queue) > 0 {
				work(queue[0], -1, "succeeds")
			}
			check("drain")
			tick()
			if len(queue) == 0 {
				break
			}
		}
		for _, k := range table.keys {
			if loaded[k] != 1 {
				rt.Fatalf("key %d loaded %d times, want once (keys %v)", k, loaded[k], table.keys)
			}
		}
		cp, err := st.Checkpoint(ctx, name, "")
		if err != nil {
			rt.Fatal(err)
		}
		if len(table.keys) > 0 && parseKey(cp.Position) != slices.Max(table.keys) {
			rt.Fatalf("the job's position is %s at the end, want the last key %d", cp.Position, slices.Max(table.keys))
		}
	})
}

// testStore opens a PostgreSQL state store in a fresh schema named with
// prefix, dropped when the test ends; it skips the test without
// NIGHTJAR_TEST_POSTGRES.
func testStore(t *testing.T, prefix string) *pgstore.Store {
	t.Helper()
	dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_POSTGRES is not set: skipping the tests of the PostgreSQL state store")
	}
	var b [6]byte
	rand.Read(b[:])
	schema := prefix + hex.EncodeToString(b[:])
	st, err := pgstore.Open(t.Context(), dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Pool().Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		st.Close()
	})
	return st
}
