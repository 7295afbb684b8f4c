package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nightjar-etl/nightjar/etl"
)

// A run of a SQL table source split into key ranges (nightjar worker,
// partition_rows): the plan records each range as a partition
// (AddRangePartition) and as a row of the job's key_ranges, in the
// transaction that inserts their River jobs. Each partition loads its
// range under its own position stream. The job's position stays where it
// was until every range handed out since it last moved is done: then, in
// the transaction that ends the run (FinishPartition), it moves to where
// the highest range's stream stopped, and the ranges are forgotten
// (settleRanges). A range whose partition failed stays, failed: the next
// plan reruns only those (OpenRanges), each as a partition continuing the
// failed one's load from its checkpoint.

// RangePartition is a range handed out since the job's position last
// moved whose partition failed: a plan runs it again, continuing the
// failed partition's load.
type RangePartition struct {
	// Partition is the failed partition.
	Partition int64
	Range     etl.KeyRange
	// From is the job's position when the range was first planned (where
	// the first range starts).
	From []byte
}

// OpenRanges returns, in tx of a plan of job (BeginSplitRun, which
// serialises them with the ends of runs), the job's failed ranges in key
// order, how many ranges are queued (planned, not finished), and the
// job's position. A job with queued or failed ranges is not split again
// before they are done: its position has not moved past them.
func (s *Store) OpenRanges(ctx context.Context, tx pgx.Tx, job string) (failed []RangePartition, queued int, position []byte, err error) {
	rows, err := tx.Query(ctx, `SELECT "k"."partition", "k"."status", "p"."key_range", "p"."range_from"
FROM "key_ranges" AS "k" JOIN "partitions" AS "p" ON "p"."id" = "k"."partition"
WHERE "k"."job" = $1 AND "k"."status" <> $2 ORDER BY "k"."origin"`, job, PartitionDone)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("job %s: open key ranges: %w", job, err)
	}
	var (
		id     int64
		status string
		text   string
		from   []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &status, &text, &from}, func() error {
		if status != PartitionFailed {
			queued++
			return nil
		}
		r := RangePartition{Partition: id, From: from}
		if err := json.Unmarshal([]byte(text), &r.Range); err != nil {
			return fmt.Errorf("partition %d: key range: %w", id, err)
		}
		failed = append(failed, r)
		return nil
	}); err != nil {
		return nil, 0, nil, fmt.Errorf("job %s: open key ranges: %w", job, err)
	}
	err = tx.QueryRow(ctx, `SELECT "position" FROM "positions" WHERE "job" = $1 AND "stream" = ''`, job).Scan(&position)
	if err != nil && err != pgx.ErrNoRows {
		return nil, 0, nil, fmt.Errorf("job %s: position: %w", job, err)
	}
	return failed, queued, position, nil
}

// AddRangePartition records partition number of run, loading key range r
// of job, in tx, and returns its id. from is the job's position when the
// range was first planned. resumes, when not 0, is the failed partition of
// the range whose load this one continues: its checkpoint becomes the new
// partition's (as AddPartition's), and the range's row of key_ranges
// names the new one.
func (s *Store) AddRangePartition(ctx context.Context, tx pgx.Tx, job string, runID int64, number int, r etl.KeyRange, from []byte, resumes int64, at time.Time) (int64, error) {
	text, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("partition %d of run %d: %w", number, runID, err)
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO "partitions" ("job", "run_id", "number", "files", "created_at", "resumes", "key_range", "range_from")
VALUES ($1, $2, $3, '[]', $4, NULLIF($5, 0), $6, $7) RETURNING "id"`, job, runID, number, dbTime(at), resumes, string(text), from).Scan(&id); err != nil {
		return 0, fmt.Errorf("partition %d of run %d: %w", number, runID, err)
	}
	if resumes == 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO "key_ranges" ("job", "origin", "partition", "status") VALUES ($1, $2, $2, $3)`,
			job, id, PartitionQueued); err != nil {
			return 0, fmt.Errorf("partition %d of run %d: record key range: %w", number, runID, err)
		}
		return id, nil
	}
	tag, err := tx.Exec(ctx, `UPDATE "key_ranges" SET "partition" = $1, "status" = $2 WHERE "job" = $3 AND "partition" = $4 AND "status" = $5`,
		id, PartitionQueued, job, resumes, PartitionFailed)
	if err != nil {
		return 0, fmt.Errorf("partition %d of run %d: record key range: %w", number, runID, err)
	}
	if tag.RowsAffected() != 1 {
		return 0, fmt.Errorf("partition %d of run %d: partition %d is no failed key range of %s", number, runID, resumes, job)
	}
	if err := continueLoad(ctx, tx, job, id, resumes, at); err != nil {
		return 0, fmt.Errorf("partition %d of run %d: %w", number, runID, err)
	}
	return id, nil
}

// continueLoad seeds partition id's position stream with the checkpoint
// (position, sequence and load) of the failed partition resumes.
func continueLoad(ctx context.Context, tx pgx.Tx, job string, id, resumes int64, at time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO "positions" ("job", "stream", "position", "seq", "load_id", "run_id", "updated_at")
SELECT "job", $2, "position", "seq", "load_id", "run_id", $4 FROM "positions" WHERE "job" = $1 AND "stream" = $3`,
		job, etl.PartitionStream(strconv.FormatInt(id, 10)), etl.PartitionStream(strconv.FormatInt(resumes, 10)), dbTime(at)); err != nil {
		return fmt.Errorf("continue the load of partition %d: %w", resumes, err)
	}
	return nil
}

// finishRange records in tx that partition id, of job, ended with status
// when it loads a key range, and reports whether it does. The plans of
// the job are serialised with it (their lock is taken first), so that a
// plan sees the ranges and the job's position both before or both after
// a run's end settles them.
func finishRange(ctx context.Context, tx pgx.Tx, id int64, job, status string) (bool, error) {
	var isRange bool
	if err := tx.QueryRow(ctx, `SELECT "key_range" IS NOT NULL FROM "partitions" WHERE "id" = $1`, id).Scan(&isRange); err != nil {
		return false, fmt.Errorf("finish partition %d: %w", id, err)
	}
	if !isRange {
		return false, nil
	}
	if err := lockJob(ctx, tx, job); err != nil {
		return false, fmt.Errorf("finish partition %d: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE "key_ranges" SET "status" = $1 WHERE "partition" = $2 AND "status" = $3`, status, id, PartitionQueued); err != nil {
		return false, fmt.Errorf("finish partition %d: key range: %w", id, err)
	}
	return true, nil
}

// lockJob takes, until tx ends, the lock that serialises the plans of job.
func lockJob(ctx context.Context, tx pgx.Tx, job string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('nightjar job ' || $1, 0))`, job)
	return err
}

// settleRanges, in tx of the end of a run of job, moves the job's position
// past its key ranges when every one handed out since it last moved is
// done: to the position where the stream of the highest range that read
// anything stopped. The job's load and sequence stay (a new load begins if
// it had none). The ranges are then forgotten, so the next plan splits
// what is past the position. It reports whether it moved the position.
func settleRanges(ctx context.Context, tx pgx.Tx, job string, runID int64, at time.Time) (bool, error) {
	var open, all int
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE "status" <> $2), count(*) FROM "key_ranges" WHERE "job" = $1`,
		job, PartitionDone).Scan(&open, &all); err != nil {
		return false, fmt.Errorf("job %s: settle key ranges: %w", job, err)
	}
	if open > 0 || all == 0 {
		return false, nil
	}
	tag, err := tx.Exec(ctx, `INSERT INTO "positions" ("job", "stream", "position", "seq", "load_id", "run_id", "updated_at")
SELECT $1, '', "p"."position", 0, md5(random()::text || clock_timestamp()::text), $2, $3
FROM "key_ranges" AS "k" JOIN "positions" AS "p" ON "p"."job" = "k"."job" AND "p"."stream" = 'partition/' || "k"."partition"
WHERE "k"."job" = $1 AND "p"."position" IS NOT NULL
ORDER BY "k"."origin" DESC LIMIT 1
ON CONFLICT ("job", "stream") DO UPDATE SET "position" = excluded."position", "run_id" = excluded."run_id", "updated_at" = excluded."updated_at"`,
		job, runID, dbTime(at))
	if err != nil {
		return false, fmt.Errorf("job %s: move its position past its key ranges: %w", job, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM "key_ranges" WHERE "job" = $1`, job); err != nil {
		return false, fmt.Errorf("job %s: settle key ranges: %w", job, err)
	}
	return tag.RowsAffected() > 0, nil
}

// StartLoad records that run begins load from the start (see
// sqlstore.Store.StartLoad). A new load of the job's own stream (a full
// refresh) forgets the key ranges handed out in the old one, so that the
// end of a run of them does not move the position back.
func (s *Store) StartLoad(ctx context.Context, job, stream, load string, runID int64, at time.Time) error {
	if stream == "" {
		if _, err := s.pool.Exec(ctx, `DELETE FROM "key_ranges" WHERE "job" = $1`, job); err != nil {
			return fmt.Errorf("start load of %s: forget key ranges: %w", job, err)
		}
	}
	return s.base.StartLoad(ctx, job, stream, load, runID, at)
}
