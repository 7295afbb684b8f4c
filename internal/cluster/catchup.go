package cluster

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/robfig/cron/v3"

	"github.com/nightjar-etl/nightjar/jobs/config"
)

// CatchupWindow bounds what a change of leader owes. River's periodic jobs
// are inserted by the leader alone, so the scheduled times that fall while
// no leader runs (a SIGKILLed leader's term running out: 14 to 18 s
// measured) would be lost. A newly elected leader therefore inserts, one
// River job each, every scheduled time of a job since the job's latest
// tick in River, when that tick is at most CatchupWindow old: a failover is
// not downtime, and each tick still runs once. When the latest tick is
// older (the whole cluster was down) or there is none, the job's catchup:
// policy applies as in the daemon: latest runs the latest scheduled time
// once, none waits for the next.
//
// A tick whose job is running in another process (its lease held) waits
// for it (River snooze) while the tick is at most CatchupWindow old, then
// is skipped: caught-up ticks run one after the other, not collapsed.
const CatchupWindow = 5 * time.Minute

// leaseWait is how long a tick waits before it tries its busy job again.
const leaseWait = 500 * time.Millisecond

// maxCatchup bounds the ticks one election inserts (the latest ones).
const maxCatchup = 300

// catchupMeta marks a tick inserted by a new leader's catch-up.
var catchupMeta = []byte(`{"nightjar_catchup":true}`)

// Missed returns the scheduled times of sched after last and at or before
// now, oldest first, when last is at most window before now: the ticks no
// leader inserted. It returns nil when last is zero or older than window,
// and at most limit times (the latest).
func Missed(sched cron.Schedule, last, now time.Time, window time.Duration, limit int) []time.Time {
	if last.IsZero() || now.Sub(last) > window || limit <= 0 {
		return nil
	}
	var out []time.Time
	for t := (alignedSchedule{sched}).Next(last); !t.IsZero() && !t.After(now); t = (alignedSchedule{sched}).Next(t) {
		out = append(out, t.UTC())
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

type scheduledJob struct {
	spec  *config.JobSpec
	sched cron.Schedule
}

// catchup is the hook River calls on a newly elected leader before it
// inserts any periodic job.
type catchup struct {
	pool   *pgxpool.Pool
	schema string
	jobs   []scheduledJob
	logger *slog.Logger
	client func() *river.Client[pgx.Tx]
	now    func() time.Time
	// inserted, if set, is told how many ticks an election inserted.
	inserted func(n int)
}

func (c *catchup) hook() rivertype.Hook {
	return river.HookPeriodicJobsStartFunc(func(ctx context.Context, _ *rivertype.HookPeriodicJobsStartParams) error {
		// An error here would keep this client from leading at all: log it,
		// and lead without the catch-up.
		if err := c.insert(ctx); err != nil {
			c.logger.Error("leader catch-up: ticks missed during the change of leader are not inserted", "err", err)
		}
		return nil
	})
}

func (c *catchup) insert(ctx context.Context) error {
	now := c.now()
	var params []river.InsertManyParams
	for _, sj := range c.jobs {
		if sj.spec.CatchupPolicy() == config.CatchupNone {
			continue
		}
		var last *time.Time
		err := c.pool.QueryRow(ctx, `SELECT max(("args"->>'tick')::timestamptz) FROM `+
			pgx.Identifier{c.schema, "river_job"}.Sanitize()+` WHERE "kind" = $1 AND "args"->>'job' = $2`,
			TickArgs{}.Kind(), sj.spec.Name).Scan(&last)
		if err != nil {
			return err
		}
		if last == nil {
			continue
		}
		for _, t := range Missed(sj.sched, *last, now, CatchupWindow, maxCatchup) {
			opts := tickOpts(sj.spec)
			opts.Metadata = catchupMeta
			params = append(params, river.InsertManyParams{Args: TickArgs{Job: sj.spec.Name, Tick: t}, InsertOpts: opts})
		}
	}
	if len(params) == 0 {
		return nil
	}
	client := c.client()
	if client == nil {
		return errors.New("no River client yet")
	}
	res, err := client.InsertMany(ctx, params)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			n++
		}
	}
	if c.inserted != nil {
		c.inserted(n)
	}
	c.logger.Info("leader catch-up: ticks missed during the change of leader inserted", "inserted", n, "already there", len(res)-n)
	return nil
}
