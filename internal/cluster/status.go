package cluster

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// WorkerPartitions counts, for one worker, the partitions River holds (its
// jobs of kind nightjar_partition still kept: River deletes finished jobs
// after a day): Worker is the River client that took a partition last
// ("" for those no worker took yet).
type WorkerPartitions struct {
	Worker string `json:"worker"`
	// Queued wait for a worker (never taken, or taken back: a retry or
	// a rescue, not yet due); Running are being run; Done completed;
	// Failed cancelled or discarded.
	Queued  int `json:"queued"`
	Running int `json:"running"`
	Done    int `json:"done"`
	Failed  int `json:"failed"`
	// Retried is how many of them ran more than once (a failure, a
	// rescue from a dead worker, a worker stopped).
	Retried int `json:"retried"`
}

// PartitionStatus counts the partitions of job ("" for all jobs) per
// worker, from River's jobs in the pool's schema. Without River's tables
// (no worker ever ran) there are none.
func PartitionStatus(ctx context.Context, pool *pgxpool.Pool, job string) ([]WorkerPartitions, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('river_job') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	rows, err := pool.Query(ctx, `SELECT COALESCE("attempted_by"[cardinality("attempted_by")], '') AS "worker",
	count(*) FILTER (WHERE "state" IN ('available', 'scheduled', 'retryable', 'pending')),
	count(*) FILTER (WHERE "state" = 'running'),
	count(*) FILTER (WHERE "state" = 'completed'),
	count(*) FILTER (WHERE "state" IN ('cancelled', 'discarded')),
	count(*) FILTER (WHERE "attempt" > 1 OR cardinality("errors") > 0)
FROM "river_job" WHERE "kind" = $1 AND ($2 = '' OR "args"->>'job' = $2)
GROUP BY 1 ORDER BY 1`, PartitionArgs{}.Kind(), job)
	if err != nil {
		return nil, fmt.Errorf("partitions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkerPartitions, error) {
		var w WorkerPartitions
		err := r.Scan(&w.Worker, &w.Queued, &w.Running, &w.Done, &w.Failed, &w.Retried)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("partitions: %w", err)
	}
	return out, nil
}
