package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/internal/sqlstore"
)

// A run split into partitions (nightjar worker): the worker that plans it
// begins the run, claims the files it found in the file ledger (status
// "claimed", run_id the run), records its partitions and inserts their
// River jobs, all in one transaction (BeginSplitRun). Each partition is
// then run by any worker as runs of its own (etl.RunOptions.Partition,
// BeginPartitionRun): a dead worker's run of a partition is interrupted by
// the next attempt, which resumes from the partition's position. When the
// last partition ends (FinishPartition, in the transaction of the run that
// ends it), the run ends with their counters summed. A partition that
// fails for good gives its files back (those not loaded) and remembers
// them as its own (released_files): the run that claims them again puts
// them into one partition that continues its load (TakeReleased,
// AddPartition's resumes), so no row it committed is loaded twice.

var _ etl.PartitionStore = (*Store)(nil)

// PartitionFile is a file of a partition, as its ledger claim has it.
type PartitionFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Partition statuses.
const (
	PartitionQueued = "queued" // not finished: waiting, running or to be retried
	PartitionDone   = "done"
	PartitionFailed = "failed"
)

// Partition is one share of a run's input: files, or a key range of a
// SQL table (Range).
type Partition struct {
	ID     int64           `json:"id"`
	Job    string          `json:"job"`
	RunID  int64           `json:"run_id"`
	Number int             `json:"number"`
	Files  []PartitionFile `json:"files"`
	Bytes  int64           `json:"bytes"`
	Status string          `json:"status"`
	Error  string          `json:"error,omitempty"`
	// Range is the key range a partition of a SQL table source loads
	// (AddRangePartition); nil for files.
	Range *etl.KeyRange `json:"range,omitempty"`
	// Resumes is the failed partition whose load this one continues
	// (AddPartition); 0 for none.
	Resumes   int64     `json:"resumes,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Runs are the partition's runs (one per attempt), oldest first.
	Runs []etl.Run `json:"runs"`
}

// Split plans a run inside BeginSplitRun's transaction and returns how many
// partitions it recorded.
type Split func(ctx context.Context, tx pgx.Tx, runID int64) (int, error)

// BeginSplitRun begins a run of job and calls split in the same
// transaction, which claims files (ClaimFiles), records partitions
// (AddPartition) and inserts their River jobs in tx. A run with no
// partition ends at once, succeeded. Two plans of one job are serialised.
func (s *Store) BeginSplitRun(ctx context.Context, job, trigger string, at time.Time, split Split) (runID int64, partitions int, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := lockJob(ctx, tx, job); err != nil {
		return 0, 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	if err := tx.QueryRow(ctx, `INSERT INTO "runs" ("job", "trigger", "status", "started_at")
VALUES ($1, $2, $3, $4) RETURNING "id"`, job, trigger, etl.RunRunning, dbTime(at)).Scan(&runID); err != nil {
		return 0, 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	if partitions, err = split(ctx, tx, runID); err != nil {
		return 0, 0, fmt.Errorf("run %d of %s: split: %w", runID, job, err)
	}
	if partitions == 0 {
		if _, err := tx.Exec(ctx, `UPDATE "runs" SET "status" = $1, "ended_at" = $2 WHERE "id" = $3`,
			etl.RunSucceeded, dbTime(at), runID); err != nil {
			return 0, 0, fmt.Errorf("end run %d of %s: %w", runID, job, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("begin run of %s: commit: %w", job, err)
	}
	return runID, partitions, nil
}

// ClaimFiles records files in job's ledger as claimed by run, in tx, and
// returns those it claimed: a file the ledger holds already (loaded,
// failed, or claimed by another run) is not claimed again.
func (s *Store) ClaimFiles(ctx context.Context, tx pgx.Tx, job string, runID int64, files []etl.FileDone, at time.Time) ([]etl.FileDone, error) {
	var claimed []etl.FileDone
	for _, f := range files {
		var sum string
		err := tx.QueryRow(ctx, `INSERT INTO "files" ("job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at")
VALUES ($1, $2, $3, $4, $5, 'claimed', 0, $6, $7)
ON CONFLICT ("job", "sha256") DO NOTHING RETURNING "sha256"`,
			job, f.Path, f.Size, dbTime(f.MTime), f.SHA256, runID, dbTime(at)).Scan(&sum)
		if err == pgx.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("claim %s: %w", f.Path, err)
		}
		claimed = append(claimed, f)
	}
	return claimed, nil
}

// AddPartition records partition number of run in tx and returns its id.
// resumes, when not 0, is a failed partition of the job whose files (those
// it gave back, TakeReleased) this one loads: its checkpoint (position,
// sequence and load) becomes the new partition's, so the file it was
// reading resumes where it left it, replays keep their batch keys, and the
// files it loaded stay loaded (the ledger has them).
func (s *Store) AddPartition(ctx context.Context, tx pgx.Tx, job string, runID int64, number int, files []PartitionFile, resumes int64, at time.Time) (int64, error) {
	list, err := json.Marshal(files)
	if err != nil {
		return 0, fmt.Errorf("partition %d of run %d: %w", number, runID, err)
	}
	var bytes int64
	for _, f := range files {
		bytes += f.Size
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO "partitions" ("job", "run_id", "number", "files", "bytes", "created_at", "resumes")
VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, 0)) RETURNING "id"`, job, runID, number, string(list), bytes, dbTime(at), resumes).Scan(&id); err != nil {
		return 0, fmt.Errorf("partition %d of run %d: %w", number, runID, err)
	}
	if resumes != 0 {
		if err := continueLoad(ctx, tx, job, id, resumes, at); err != nil {
			return 0, fmt.Errorf("partition %d of run %d: %w", number, runID, err)
		}
	}
	return id, nil
}

// TakeReleased returns, of the files just claimed in tx, those a failed
// partition of job gave back, each with that partition's id, and forgets
// them as given back: the partition that loads them now continues that
// load (AddPartition), and gives them back as its own if it fails too.
func (s *Store) TakeReleased(ctx context.Context, tx pgx.Tx, job string, files []etl.FileDone) (map[string]int64, error) {
	sums := make([]string, len(files))
	for i, f := range files {
		sums[i] = f.SHA256
	}
	rows, err := tx.Query(ctx, `DELETE FROM "released_files" WHERE "job" = $1 AND "sha256" = ANY($2) RETURNING "sha256", "partition"`, job, sums)
	if err != nil {
		return nil, fmt.Errorf("job %s: files given back by failed partitions: %w", job, err)
	}
	out := make(map[string]int64)
	var sum string
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&sum, &id}, func() error {
		out[sum] = id
		return nil
	}); err != nil {
		return nil, fmt.Errorf("job %s: files given back by failed partitions: %w", job, err)
	}
	return out, nil
}

// BeginPartitionRun records a new running run of job's partition (its id,
// as text) and returns its id. The partition's runs still marked running
// (a worker that died) become interrupted, and what they staged is
// discarded; the job's other runs go on.
func (s *Store) BeginPartitionRun(ctx context.Context, job, partition, trigger string, at time.Time) (int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin run of %s partition %s: %w", job, partition, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('nightjar job ' || $1 || '#' || $2, 0))`, job, partition); err != nil {
		return 0, fmt.Errorf("begin run of %s partition %s: %w", job, partition, err)
	}
	rows, err := tx.Query(ctx, `UPDATE "runs"
SET "status" = $1, "ended_at" = $2, "error" = CASE WHEN "error" = '' THEN $3 ELSE "error" END
WHERE "job" = $4 AND "partition" = $5 AND "status" = $6 RETURNING "id"`,
		etl.RunInterrupted, dbTime(at), "the worker running it ended before the run did", job, partition, etl.RunRunning)
	if err != nil {
		return 0, fmt.Errorf("begin run of %s partition %s: mark stale runs interrupted: %w", job, partition, err)
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("begin run of %s partition %s: mark stale runs interrupted: %w", job, partition, err)
	}
	for _, table := range stagingTables {
		if _, err := tx.Exec(ctx, `DELETE FROM "`+table+`" WHERE "run_id" = ANY($1)`, stale); err != nil {
			return 0, fmt.Errorf("begin run of %s partition %s: discard what interrupted runs staged: %w", job, partition, err)
		}
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO "runs" ("job", "trigger", "status", "started_at", "partition")
VALUES ($1, $2, $3, $4, $5) RETURNING "id"`, job, trigger, etl.RunRunning, dbTime(at), partition).Scan(&id); err != nil {
		return 0, fmt.Errorf("begin run of %s partition %s: %w", job, partition, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("begin run of %s partition %s: commit: %w", job, partition, err)
	}
	return id, nil
}

// FinishPartition records, in tx, that partition id ended with status
// (PartitionDone or PartitionFailed). A failed partition gives up its
// files' claims (those not loaded), so that a later run claims them again.
// When it was the run's last partition, the run ends: succeeded when every
// partition is done, failed otherwise, with its partitions' runs' counters
// summed. A partition already finished is left as it is. It reports
// whether the run ended.
func (s *Store) FinishPartition(ctx context.Context, tx pgx.Tx, id int64, status, errText string, at time.Time) (bool, error) {
	var job string
	var runID int64
	if err := tx.QueryRow(ctx, `SELECT "job", "run_id" FROM "partitions" WHERE "id" = $1`, id).Scan(&job, &runID); err != nil {
		return false, fmt.Errorf("finish partition %d: %w", id, err)
	}
	// The run's row lock orders its partitions' ends: the last one to
	// finish sees every other finished.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM "runs" WHERE "id" = $1 FOR UPDATE`, runID); err != nil {
		return false, fmt.Errorf("finish partition %d: lock run %d: %w", id, runID, err)
	}
	tag, err := tx.Exec(ctx, `UPDATE "partitions" SET "status" = $1, "error" = $2, "ended_at" = $3
WHERE "id" = $4 AND "status" = $5`, status, sqlstore.Text(errText), dbTime(at), id, PartitionQueued)
	if err != nil {
		return false, fmt.Errorf("finish partition %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	isRange, err := finishRange(ctx, tx, id, job, status)
	if err != nil {
		return false, err
	}
	if status == PartitionFailed && !isRange {
		// What it gave back is remembered as its own, for the partition
		// that loads those files next to continue its load (TakeReleased).
		if _, err := tx.Exec(ctx, `WITH "released" AS (
	DELETE FROM "files" WHERE "job" = $1 AND "run_id" = $2 AND "status" = 'claimed'
	AND "sha256" IN (SELECT "f"->>'sha256' FROM "partitions", json_array_elements("files"::json) AS "f" WHERE "id" = $3)
	RETURNING "sha256"
)
INSERT INTO "released_files" ("job", "sha256", "partition") SELECT $1, "sha256", $3 FROM "released"
ON CONFLICT ("job", "sha256") DO UPDATE SET "partition" = excluded."partition"`,
			job, runID, id); err != nil {
			return false, fmt.Errorf("finish partition %d: release its claims: %w", id, err)
		}
	}
	var queued, failed int
	var firstErr string
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE "status" = $2), count(*) FILTER (WHERE "status" = $3),
	COALESCE(min("number"::text || ': ' || "error") FILTER (WHERE "status" = $3), '')
FROM "partitions" WHERE "run_id" = $1`, runID, PartitionQueued, PartitionFailed).Scan(&queued, &failed, &firstErr); err != nil {
		return false, fmt.Errorf("finish partition %d: %w", id, err)
	}
	if queued > 0 {
		return false, nil
	}
	// A partition's load is its own (its position stream's), begun by its
	// first run or continued from a failed partition's: the rows a later
	// run of it skipped as replays landed in an earlier run of the same
	// load without a checkpoint, so no run counted them. They count as
	// written here.
	var c etl.Counters
	if err := tx.QueryRow(ctx, `SELECT COALESCE(sum("rows_read"), 0), COALESCE(sum("rows_written" + "rows_skipped"), 0),
	COALESCE(sum("rows_rejected"), 0), COALESCE(sum("batches"), 0), COALESCE(sum("bytes_read"), 0)
FROM "runs" WHERE "job" = $1 AND "partition" IN (SELECT "id"::text FROM "partitions" WHERE "run_id" = $2)`,
		job, runID).Scan(&c.Read, &c.Written, &c.Rejected, &c.Batches, &c.Bytes); err != nil {
		return false, fmt.Errorf("finish run %d: sum its partitions: %w", runID, err)
	}
	runStatus := etl.RunSucceeded
	if failed > 0 {
		runStatus = etl.RunFailed
		firstErr = fmt.Sprintf("%d partition(s) failed; partition %s", failed, firstErr)
	}
	if _, err := tx.Exec(ctx, `UPDATE "runs" SET "status" = $1, "ended_at" = $2, "error" = $3,
	"rows_read" = $4, "rows_written" = $5, "rows_skipped" = 0, "rows_rejected" = $6, "batches" = $7, "bytes_read" = $8
WHERE "id" = $9 AND "status" = $10`, runStatus, dbTime(at), firstErr, c.Read, c.Written, c.Rejected, c.Batches, c.Bytes,
		runID, etl.RunRunning); err != nil {
		return false, fmt.Errorf("finish run %d: %w", runID, err)
	}
	if isRange {
		if _, err := settleRanges(ctx, tx, job, runID, at); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Partitions lists run's partitions, by number, each with its runs.
func (s *Store) Partitions(ctx context.Context, runID int64) ([]Partition, error) {
	var rows []struct {
		ID        int64      `db:"id"`
		Job       string     `db:"job"`
		RunID     int64      `db:"run_id"`
		Number    int        `db:"number"`
		Files     string     `db:"files"`
		Bytes     int64      `db:"bytes"`
		Status    string     `db:"status"`
		Error     string     `db:"error"`
		CreatedAt time.Time  `db:"created_at"`
		EndedAt   *time.Time `db:"ended_at"`
		Resumes   *int64     `db:"resumes"`
		KeyRange  *string    `db:"key_range"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT "id", "job", "run_id", "number", "files", "bytes", "status", "error", "created_at", "ended_at", "resumes", "key_range"
FROM "partitions" WHERE "run_id" = $1 ORDER BY "number"`, runID); err != nil {
		return nil, fmt.Errorf("partitions of run %d: %w", runID, err)
	}
	out := make([]Partition, len(rows))
	for i, r := range rows {
		p := Partition{ID: r.ID, Job: r.Job, RunID: r.RunID, Number: r.Number, Bytes: r.Bytes, Status: r.Status, Error: r.Error, CreatedAt: r.CreatedAt.UTC()}
		if r.EndedAt != nil {
			p.EndedAt = r.EndedAt.UTC()
		}
		if r.Resumes != nil {
			p.Resumes = *r.Resumes
		}
		if r.KeyRange != nil {
			p.Range = new(etl.KeyRange)
			if err := json.Unmarshal([]byte(*r.KeyRange), p.Range); err != nil {
				return nil, fmt.Errorf("partition %d: key range: %w", r.ID, err)
			}
		}
		if err := json.Unmarshal([]byte(r.Files), &p.Files); err != nil {
			return nil, fmt.Errorf("partition %d: files: %w", r.ID, err)
		}
		var runs []runRow
		if err := s.db.SelectContext(ctx, &runs, `SELECT `+runColumns+` FROM "runs" WHERE "job" = $1 AND "partition" = $2 ORDER BY "id"`,
			r.Job, strconv.FormatInt(r.ID, 10)); err != nil {
			return nil, fmt.Errorf("runs of partition %d: %w", r.ID, err)
		}
		for j := range runs {
			p.Runs = append(p.Runs, runs[j].run())
		}
		out[i] = p
	}
	return out, nil
}
