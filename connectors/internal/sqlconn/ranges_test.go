package sqlconn_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/connectors/postgres"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestKeyRangesReadEachRowOnce: PostgreSQL tables of random row counts
// with random gaps in their range column (an integer key alone, or a
// timestamp cursor whose values repeat, with an integer key breaking the
// ties), read from a random position (a run that stopped part-way) and
// split into key ranges of a random partition_rows. Each range is read by
// a source restricted to it, some cut short and resumed from their own
// position. Against a plain reference (SELECT of the table, less the rows
// read before the position), every row is read exactly once, and every
// range but the last holds partition_rows rows or more (more only when
// rows share the bound's value), exactly that many without ties.
func TestKeyRangesReadEachRowOnce(t *testing.T) {
	dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_POSTGRES is not set: skipping the key range tests")
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 14))
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("nj_ranges_%d", rng.Uint32())
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	pgConn := &etl.Connection{Name: "pg", Type: "postgres", Config: &postgres.ConnConfig{DSN: dsn}}

	for round := range 25 {
		byTime := rng.IntN(2) == 0
		table := fmt.Sprintf("Src %d", round) // a name that needs quoting
		qt := pgx.Identifier{schema, table}.Sanitize()
		if _, err := conn.Exec(ctx, `CREATE TABLE `+qt+` ("id" bigint PRIMARY KEY, "At" timestamptz NOT NULL, "v" text)`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `CREATE INDEX ON `+qt+` ("At", "id")`); err != nil {
			t.Fatal(err)
		}
		n := rng.IntN(400)
		id, at := int64(rng.IntN(100)), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			id += 1 + int64(rng.IntN(3)*rng.IntN(40)) // gaps, some wide
			if rng.IntN(3) > 0 {
				at = at.Add(time.Duration(rng.IntN(5)*rng.IntN(100)) * time.Millisecond) // repeats
			}
			if _, err := conn.Exec(ctx, `INSERT INTO `+qt+` VALUES ($1, $2, $3)`, id, at, fmt.Sprint("row ", i)); err != nil {
				t.Fatal(err)
			}
		}
		cfg := sqlconn.SourceConfig{Table: table, Key: sqlconn.Names{"id"}, ChunkSize: 1 + rng.IntN(30), PartitionRows: 1 + rng.IntN(60)}
		if byTime {
			cfg.Cursor = "At"
		}
		newSource := func() *sqlconn.Source {
			src, err := postgres.NewSource(&postgres.SourceConfig{SourceConfig: cfg, SchemaName: schema}, etl.BuildEnv{Connection: pgConn})
			if err != nil {
				t.Fatal(err)
			}
			return src.(*sqlconn.Source)
		}
		what := fmt.Sprintf("round %d (%d rows, cursor %q, partition_rows %d, chunk %d)", round, n, cfg.Cursor, cfg.PartitionRows, cfg.ChunkSize)

		// A run that read some chunks and stopped: the job's position.
		seen := map[int64]int{}
		var pos []byte
		src := newSource()
		if err := src.Open(ctx, etl.SourceEnv{Job: "j"}); err != nil {
			t.Fatal(err)
		}
		for range rng.IntN(4) {
			b, err := src.Next(ctx)
			if errors.Is(err, etl.ErrEndOfInput) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			addIDs(t, b, seen)
			pos = b.Position
		}
		src.Close(ctx)
		before := len(seen)

		ranges, why, err := newSource().Ranges(ctx, etl.SourceEnv{Job: "j", Position: pos})
		if err != nil || why != "" {
			t.Fatalf("%s: Ranges: %v %s", what, err, why)
		}
		var sizes []int
		for i, r := range ranges {
			got := map[int64]int{}
			var own []byte // the partition's own position stream
			for attempt := 0; ; attempt++ {
				src := newSource()
				src.OnlyRange(r, pos)
				if err := src.Open(ctx, etl.SourceEnv{Job: "j", Position: own}); err != nil {
					t.Fatalf("%s: range %d %+v: %v", what, i, r, err)
				}
				cut := attempt == 0 && rng.IntN(2) == 0
				done := true
				for k := 0; ; k++ {
					if cut && k == 1 {
						done = false // the run is cut short: resumed from own
						break
					}
					b, err := src.Next(ctx)
					if errors.Is(err, etl.ErrEndOfInput) {
						break
					}
					if err != nil {
						t.Fatalf("%s: range %d %+v: %v", what, i, r, err)
					}
					addIDs(t, b, got)
					own = b.Position
				}
				src.Close(ctx)
				if done {
					break
				}
			}
			for id, c := range got {
				seen[id] += c
			}
			sizes = append(sizes, len(got))
		}

		// The reference.
		rows, err := conn.Query(ctx, `SELECT "id" FROM `+qt)
		if err != nil {
			t.Fatal(err)
		}
		all, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		var bad []string
		for _, id := range all {
			if seen[id] != 1 {
				bad = append(bad, fmt.Sprintf("id %d read %d times", id, seen[id]))
			}
		}
		if len(seen) != len(all) {
			bad = append(bad, fmt.Sprintf("%d ids read, %d in the table", len(seen), len(all)))
		}
		if len(bad) > 0 {
			t.Fatalf("%s, %d read before the split, ranges %+v (sizes %v): %s", what, before, ranges, sizes, strings.Join(bad[:min(len(bad), 5)], "; "))
		}
		ties := byTime // only the timestamp cursor repeats
		for i, size := range sizes {
			if i < len(sizes)-1 && (size < cfg.PartitionRows || !ties && size != cfg.PartitionRows) || size == 0 {
				t.Fatalf("%s: range %d %+v holds %d rows (sizes %v)", what, i, ranges[i], size, sizes)
			}
		}
		t.Logf("%s: %d read before, %d ranges %v", what, before, len(ranges), sizes)
	}
}

// addIDs counts the ids of b.
func addIDs(t *testing.T, b *etl.Batch, seen map[int64]int) {
	t.Helper()
	i := b.Schema.Index("id")
	for r := range b.Len() {
		seen[b.Cols[i].Value(r).(int64)]++
	}
}
