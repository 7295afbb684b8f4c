package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/robfig/cron/v3"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/jobs/config"
)

// TestLastTick: for random instants and schedules, the tick is the latest
// scheduled time at or before now, and @every ticks lie on one grid
// whoever computes them.
func TestLastTick(t *testing.T) {
	t.Parallel()
	specs := []string{"@every 2s", "@every 1m", "@every 90s", "*/5 * * * *", "0 2 * * *", "30 1 1 * *"}
	rapid.Check(t, func(rt *rapid.T) {
		spec := rapid.SampledFrom(specs).Draw(rt, "spec")
		sched, err := config.ParseSchedule(spec)
		if err != nil {
			rt.Fatal(err)
		}
		now := time.Unix(rapid.Int64Range(1.7e9, 1.9e9).Draw(rt, "unix"), rapid.Int64Range(0, 999_999_999).Draw(rt, "nanos")).UTC()
		tick := LastTick(sched, now)
		if tick.After(now) {
			rt.Fatalf("LastTick(%s, %s) = %s, after now", spec, now, tick)
		}
		next := alignedSchedule{sched}.Next(tick)
		if !next.After(now) {
			rt.Fatalf("LastTick(%s, %s) = %s, but %s is a later tick at or before now", spec, now, tick, next)
		}
		if d, ok := sched.(cron.ConstantDelaySchedule); ok && tick.UnixNano()%int64(d.Delay) != 0 {
			rt.Fatalf("@every tick %s is off the grid of %s", tick, d.Delay)
		}
		if !tick.Equal(alignedSchedule{sched}.Next(tick.Add(-time.Nanosecond))) {
			rt.Fatalf("tick %s of %s is not a scheduled time", tick, spec)
		}
	})
}

// TestTickInsertedOnceByTwoLeaders: a leader dying and the one elected
// after it both insert the tick they see as due; River keeps one job.
func TestTickInsertedOnceByTwoLeaders(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("NIGHTJAR_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): skipping the River tests")
	}
	ctx := t.Context()
	var b [6]byte
	rand.Read(b[:])
	schema := "nightjar_cluster_" + hex.EncodeToString(b[:])
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`) })
	driver := riverpgxv5.New(pool)
	if err := migrate(ctx, pool, driver, schema, nil); err != nil {
		t.Fatal(err)
	}
	js := &config.JobSpec{Name: "leads", Retries: 2}
	sched, _ := config.ParseSchedule("@every 2s")
	now := time.Date(2026, 12, 6, 2, 0, 1, 500_000_000, time.UTC)
	var inserted []bool
	for _, leader := range []time.Time{now, now.Add(300 * time.Millisecond)} { // the old leader, the new one
		client, err := river.NewClient(driver, &river.Config{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		args, opts := tick(js, sched, leader)
		res, err := client.Insert(ctx, args, opts)
		if err != nil {
			t.Fatal(err)
		}
		inserted = append(inserted, !res.UniqueSkippedAsDuplicate)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "river_job"}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 || !inserted[0] || inserted[1] {
		t.Errorf("two leaders inserting tick %s: %d River jobs (inserted %v), want 1", LastTick(sched, now), n, inserted)
	}
	// The next tick is a job of its own.
	client, _ := river.NewClient(driver, &river.Config{Schema: schema})
	args, opts := tick(js, sched, now.Add(2*time.Second))
	if res, err := client.Insert(ctx, args, opts); err != nil || res.UniqueSkippedAsDuplicate {
		t.Errorf("the next tick was not inserted: %v", err)
	}
}
