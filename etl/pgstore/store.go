package pgstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
	nsql "github.com/nightjar-etl/nightjar/sql"
)

// DefaultSchema is the schema the store's tables live in when the config
// names none.
const DefaultSchema = "nightjar"

// Store is the PostgreSQL state store. It is safe for concurrent use by
// any number of processes on any number of machines.
type Store struct {
	pool   *pgxpool.Pool
	db     *sqlx.DB
	schema string
	where  string // the server and schema, for messages (no password)
}

var (
	_ etl.Store      = (*Store)(nil)
	_ etl.PathLedger = (*Store)(nil)
)

// ErrSchemaTooNew is returned by Open when the schema was migrated by a
// newer nightjar than this one.
var ErrSchemaTooNew = errors.New("state schema is newer than this nightjar")

// Open connects to the PostgreSQL server at dsn (a postgres:// URL or a
// key=value string), creates schema if it does not exist and brings its
// tables up to date. Every connection of the store has schema as its
// search_path, so the store's SQL names no schema.
func Open(ctx context.Context, dsn, schema string) (*Store, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the DSN's parts, password included.
		return nil, errors.New("open state store: the postgres connection string does not parse")
	}
	where := fmt.Sprintf("postgres %s:%d/%s schema %s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, schema)
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", where, err)
	}
	db := sqlx.NewDb(stdlib.OpenDBFromPool(pool), "pgx")
	s := &Store{pool: pool, db: db, schema: schema, where: where}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open state store %s: %w", where, err)
	}
	return s, nil
}

// Pool returns the connection pool under the store, for River's driver
// and for transactions that span the store and River's tables.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema the store's tables are in.
func (s *Store) Schema() string { return s.schema }

// DB returns the underlying database, for tests and diagnostics.
func (s *Store) DB() *sqlx.DB { return s.db }

// String names the server and schema (never the password).
func (s *Store) String() string { return s.where }

// Close closes the store's connections.
func (s *Store) Close() error {
	err := s.db.Close()
	s.pool.Close()
	if err != nil {
		return fmt.Errorf("close state store %s: %w", s.where, err)
	}
	return nil
}

// migrate creates the schema and applies the migrations it lacks, all in
// one transaction under an advisory lock on the schema's name, so that
// workers starting together migrate it once and none sees it half made.
func (s *Store) migrate(ctx context.Context) error {
	migrations, err := nsql.Migrations(nsql.StatePostgresMigrations, "state_postgres")
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('nightjar state ' || $1, 0))`, s.schema); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", s.schema, err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS "schema_migrations" (
	"version"    integer     NOT NULL PRIMARY KEY,
	"name"       text        NOT NULL,
	"applied_at" timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.GetContext(ctx, &current, `SELECT COALESCE(MAX("version"), 0) FROM "schema_migrations"`); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	known := 0
	if len(migrations) > 0 {
		known = migrations[len(migrations)-1].Version
	}
	if current > known {
		return fmt.Errorf("%w: schema version %d, this nightjar knows up to %d; upgrade nightjar", ErrSchemaTooNew, current, known)
	}
	for _, m := range migrations {
		if m.Version <= current {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO "schema_migrations" ("version", "name") VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("migration %s: record version: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// q turns the ? placeholders of query into PostgreSQL's $n.
func (s *Store) q(query string) string { return s.db.Rebind(query) }

// LedgerEntry reports the ledger entry of job's file with this content
// hash, if any: loaded, or failed (Status).
func (s *Store) LedgerEntry(ctx context.Context, job, sha256 string) (etl.FileRecord, bool, error) {
	var r fileRow
	err := s.db.GetContext(ctx, &r, s.q(`SELECT `+fileColumns+` FROM "files"
WHERE "job" = ? AND "sha256" = ?`), job, sha256)
	if errors.Is(err, sql.ErrNoRows) {
		return etl.FileRecord{}, false, nil
	}
	if err != nil {
		return etl.FileRecord{}, false, fmt.Errorf("look up file %s of job %s: %w", sha256, job, err)
	}
	return r.record(), true, nil
}

// LastLoaded reports the newest entry of job's file loaded from path.
func (s *Store) LastLoaded(ctx context.Context, job, path string) (etl.FileRecord, bool, error) {
	var r fileRow
	err := s.db.GetContext(ctx, &r, s.q(`SELECT `+fileColumns+` FROM "files"
WHERE "job" = ? AND "path" = ? AND "status" = 'loaded' ORDER BY "loaded_at" DESC, "id" DESC LIMIT 1`), job, path)
	if errors.Is(err, sql.ErrNoRows) {
		return etl.FileRecord{}, false, nil
	}
	if err != nil {
		return etl.FileRecord{}, false, fmt.Errorf("look up the file loaded from %s by job %s: %w", path, job, err)
	}
	return r.record(), true, nil
}

// Checkpoint returns the last committed position of a job stream; a zero
// Checkpoint (nil Position, Seq 0) when there is none.
func (s *Store) Checkpoint(ctx context.Context, job, stream string) (etl.Checkpoint, error) {
	var r positionRow
	err := s.db.GetContext(ctx, &r, s.q(`SELECT `+positionColumns+` FROM "positions"
WHERE "job" = ? AND "stream" = ?`), job, stream)
	if errors.Is(err, sql.ErrNoRows) {
		return etl.Checkpoint{}, nil
	}
	if err != nil {
		return etl.Checkpoint{}, fmt.Errorf("read checkpoint of %s stream %q: %w", job, stream, err)
	}
	return r.checkpoint(), nil
}

// Checkpoints lists every stream's checkpoint of a job, by stream name.
func (s *Store) Checkpoints(ctx context.Context, job string) ([]etl.Checkpoint, error) {
	var rows []positionRow
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT `+positionColumns+` FROM "positions"
WHERE "job" = ? ORDER BY "stream"`), job); err != nil {
		return nil, fmt.Errorf("read checkpoints of %s: %w", job, err)
	}
	out := make([]etl.Checkpoint, len(rows))
	for i := range rows {
		out[i] = rows[i].checkpoint()
	}
	return out, nil
}

// lockJob serialises, until tx ends, the transactions that begin a run of
// job: the SQLite store gets this from its one writer at a time.
func lockJob(ctx context.Context, tx *sqlx.Tx, job string) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('nightjar job ' || $1, 0))`, job)
	return err
}

// BeginRun records a new running run and returns its id. Runs of the job
// still marked running (a crashed process) become interrupted, with at as
// their end; a run split into partitions, and its partitions' runs, are
// no process's: they go on.
func (s *Store) BeginRun(ctx context.Context, job, trigger string, at time.Time) (int64, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	defer tx.Rollback()
	if err := lockJob(ctx, tx, job); err != nil {
		return 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE "runs"
SET "status" = ?, "ended_at" = ?, "error" = CASE WHEN "error" = '' THEN ? ELSE "error" END
WHERE "job" = ? AND "status" = ? AND "partition" = ''
	AND NOT EXISTS (SELECT 1 FROM "partitions" WHERE "partitions"."run_id" = "runs"."id")`),
		etl.RunInterrupted, dbTime(at), "the process running it ended before the run did",
		job, etl.RunRunning); err != nil {
		return 0, fmt.Errorf("begin run of %s: mark stale runs interrupted: %w", job, err)
	}
	// Runs of partitions go on on their workers (see partitions.go): what
	// they staged stays.
	for _, table := range stagingTables {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM "`+table+`" WHERE "job" = ? AND "run_id" NOT IN (
	SELECT "id" FROM "runs" WHERE "job" = ? AND "partition" <> '' AND "status" = ?)`), job, job, etl.RunRunning); err != nil {
			return 0, fmt.Errorf("begin run of %s: discard what interrupted runs staged: %w", job, err)
		}
	}
	var id int64
	if err := tx.GetContext(ctx, &id, s.q(`INSERT INTO "runs" ("job", "trigger", "status", "started_at")
VALUES (?, ?, ?, ?) RETURNING "id"`), job, trigger, etl.RunRunning, dbTime(at)); err != nil {
		return 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("begin run of %s: commit: %w", job, err)
	}
	return id, nil
}

// Commit records position, counters, rejects and finished files in one
// transaction: all or nothing. The run must exist, belong to c.Job and
// still be running: a run another process marked interrupted (its lease
// was lost) must not move the job's position.
func (s *Store) Commit(ctx context.Context, c etl.Commit) error {
	if c.At.IsZero() {
		return fmt.Errorf("commit %s batch %d: At is zero", c.Job, c.Seq)
	}
	var position any
	if c.Position != nil {
		if !json.Valid(c.Position) {
			return fmt.Errorf("commit %s batch %d: position is not JSON: %q", c.Job, c.Seq, c.Position)
		}
		position = string(c.Position)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("commit %s batch %d: begin: %w", c.Job, c.Seq, err)
	}
	defer tx.Rollback()
	if err := s.commitTx(ctx, tx, c, position); err != nil {
		return fmt.Errorf("commit %s batch %d: %w", c.Job, c.Seq, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %s batch %d: %w", c.Job, c.Seq, err)
	}
	return nil
}

func (s *Store) commitTx(ctx context.Context, tx *sqlx.Tx, c etl.Commit, position any) error {
	at := dbTime(c.At)
	res, err := tx.ExecContext(ctx, s.q(`UPDATE "runs"
SET "rows_read" = ?, "rows_written" = ?, "rows_skipped" = ?, "rows_rejected" = ?, "batches" = ?, "bytes_read" = ?
WHERE "id" = ? AND "job" = ? AND "status" = ?`),
		c.Counters.Read, c.Counters.Written, c.Counters.Skipped, c.Counters.Rejected, c.Counters.Batches, c.Counters.Bytes,
		c.RunID, c.Job, etl.RunRunning)
	if err != nil {
		return fmt.Errorf("update run %d: %w", c.RunID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update run %d: %w", c.RunID, err)
	} else if n != 1 {
		return s.notRunning(ctx, tx, c.RunID, c.Job)
	}
	if err := s.upsertPosition(ctx, tx, c.Job, c.Stream, position, c.Seq, c.Load, c.RunID, at); err != nil {
		return err
	}
	if c.Staged {
		if err := s.moveStaged(ctx, tx, c.RunID, at); err != nil {
			return err
		}
	}
	if err := s.insertRejects(ctx, tx, "quarantine", c, at); err != nil {
		return err
	}
	return s.upsertFiles(ctx, tx, c, at)
}

// stagingTables hold what Stage set aside, by run.
var stagingTables = []string{"staged_quarantine", "staged_files"}

// Stage sets aside c.Rejects and c.Files of run c.RunID for the run's
// Commit with Staged set. The run must be running.
func (s *Store) Stage(ctx context.Context, c etl.Commit) error {
	if len(c.Rejects) == 0 && len(c.Files) == 0 {
		return nil
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	defer tx.Rollback()
	// Staged rows are worth nothing after a crash (the run's rows are read
	// again): their commit need not wait for the WAL's flush.
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	if err := s.requireRunning(ctx, tx, c.RunID, c.Job); err != nil {
		return fmt.Errorf("stage rejects of %s: %w", c.Job, err)
	}
	at := dbTime(c.At)
	if err := s.insertRejects(ctx, tx, "staged_quarantine", c, at); err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	for _, f := range c.Files {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO "staged_files" ("job", "run_id", "path", "size", "mtime", "sha256", "rows", "status")
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), c.Job, c.RunID, f.Path, f.Size, dbTime(f.MTime), f.SHA256, f.Rows, f.Status()); err != nil {
			return fmt.Errorf("stage file %s: %w", f.Path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	return nil
}

// requireRunning locks run id and fails unless it is a running run of job.
func (s *Store) requireRunning(ctx context.Context, tx *sqlx.Tx, id int64, job string) error {
	var status string
	err := tx.GetContext(ctx, &status, s.q(`SELECT "status" FROM "runs" WHERE "id" = ? AND "job" = ? FOR SHARE`), id, job)
	if err == nil && status == string(etl.RunRunning) {
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read run %d: %w", id, err)
	}
	return s.notRunning(ctx, tx, id, job)
}

// moveStaged moves what run staged into the quarantine and the file
// ledger, in tx. A file staged twice keeps its last entry, as the SQLite
// store's row-by-row upsert does (PostgreSQL refuses to update one row
// twice in one INSERT … ON CONFLICT).
func (s *Store) moveStaged(ctx context.Context, tx *sqlx.Tx, run int64, at time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO "quarantine"
("job", "run_id", "created_at", "step", "origin", "origin_json", "field", "value", "reason", "row_json")
SELECT "job", "run_id", "created_at", "step", "origin", "origin_json", "field", "value", "reason", "row_json"
FROM "staged_quarantine" WHERE "run_id" = ? ORDER BY "id"`), run); err != nil {
		return fmt.Errorf("quarantine staged rejects: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO "files"
("job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at")
SELECT "job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", ? FROM (
	SELECT DISTINCT ON ("job", "sha256") * FROM "staged_files" WHERE "run_id" = ? ORDER BY "job", "sha256", "id" DESC
) AS "last" ORDER BY "id"
ON CONFLICT ("job", "sha256") DO UPDATE SET
	"path" = excluded."path", "size" = excluded."size", "mtime" = excluded."mtime",
	"status" = excluded."status", "rows" = excluded."rows",
	"run_id" = excluded."run_id", "loaded_at" = excluded."loaded_at"`), at, run); err != nil {
		return fmt.Errorf("file ledger of staged files: %w", err)
	}
	for _, table := range stagingTables {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM "`+table+`" WHERE "run_id" = ?`), run); err != nil {
			return fmt.Errorf("clear %s: %w", table, err)
		}
	}
	return nil
}

func (s *Store) upsertPosition(ctx context.Context, tx *sqlx.Tx, job, stream string, position any, seq int64, load string, runID int64, at time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO "positions" ("job", "stream", "position", "seq", "load_id", "run_id", "updated_at")
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT ("job", "stream") DO UPDATE SET
	"position" = excluded."position", "seq" = excluded."seq", "load_id" = excluded."load_id",
	"run_id" = excluded."run_id", "updated_at" = excluded."updated_at"`),
		job, stream, position, seq, load, runID, at); err != nil {
		return fmt.Errorf("record position: %w", err)
	}
	return nil
}

// StartLoad records that run begins load from the start as the job
// stream's checkpoint: no position, sequence 0. The run must be running.
func (s *Store) StartLoad(ctx context.Context, job, stream, load string, runID int64, at time.Time) error {
	if load == "" {
		return fmt.Errorf("start load of %s: no load id", job)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	defer tx.Rollback()
	if err := s.requireRunning(ctx, tx, runID, job); err != nil {
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	if err := s.upsertPosition(ctx, tx, job, stream, nil, 0, load, runID, dbTime(at)); err != nil {
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	return nil
}

// notRunning explains why run id of job could not be updated.
func (s *Store) notRunning(ctx context.Context, tx *sqlx.Tx, id int64, job string) error {
	var r struct {
		Job    string `db:"job"`
		Status string `db:"status"`
	}
	err := tx.GetContext(ctx, &r, s.q(`SELECT "job", "status" FROM "runs" WHERE "id" = ?`), id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("run %d not found", id)
	case err != nil:
		return fmt.Errorf("read run %d: %w", id, err)
	case r.Job != job:
		return fmt.Errorf("run %d belongs to job %s", id, r.Job)
	default:
		return fmt.Errorf("run %d is %s, not running (did another process take the job over?)", id, r.Status)
	}
}

// rejectChunk is how many rejects one INSERT carries: ten parameters each,
// well under PostgreSQL's limit of 65535.
const rejectChunk = 500

// insertRejects inserts c's rejects into table: "quarantine", or
// "staged_quarantine". A reject's Row that is not valid JSON is stored as
// a JSON string holding it.
func (s *Store) insertRejects(ctx context.Context, tx *sqlx.Tx, table string, c etl.Commit, at time.Time) error {
	var query strings.Builder
	args := make([]any, 0, 10*min(len(c.Rejects), rejectChunk))
	for start := 0; start < len(c.Rejects); start += rejectChunk {
		chunk := c.Rejects[start:min(start+rejectChunk, len(c.Rejects))]
		query.Reset()
		query.WriteString(`INSERT INTO "` + table + `"
("job", "run_id", "created_at", "step", "origin", "origin_json", "field", "value", "reason", "row_json") VALUES `)
		args = args[:0]
		for i := range chunk {
			r := &chunk[i]
			origin, err := json.Marshal(r.Origin)
			if err != nil {
				return fmt.Errorf("quarantine %s: %w", r.Origin, err)
			}
			if i > 0 {
				query.WriteString(", ")
			}
			query.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, c.Job, c.RunID, at, r.Step, r.Origin.String(), string(origin),
				r.Field, r.Value, r.Reason, rowJSON(r.Row))
		}
		if _, err := tx.ExecContext(ctx, s.q(query.String()), args...); err != nil {
			return fmt.Errorf("quarantine rows from %s: %w", chunk[0].Origin, err)
		}
	}
	return nil
}

// rowJSON returns a reject's row as stored: "" for none, the JSON as is,
// or anything else as a JSON string.
func rowJSON(row json.RawMessage) string {
	if len(row) == 0 || json.Valid(row) {
		return string(row)
	}
	quoted, _ := json.Marshal(string(row))
	return string(quoted)
}

func (s *Store) upsertFiles(ctx context.Context, tx *sqlx.Tx, c etl.Commit, at time.Time) error {
	query := s.q(`INSERT INTO "files"
("job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at")
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT ("job", "sha256") DO UPDATE SET
	"path" = excluded."path", "size" = excluded."size", "mtime" = excluded."mtime",
	"status" = excluded."status", "rows" = excluded."rows",
	"run_id" = excluded."run_id", "loaded_at" = excluded."loaded_at"`)
	for _, f := range c.Files {
		if _, err := tx.ExecContext(ctx, query, c.Job, f.Path, f.Size, dbTime(f.MTime), f.SHA256, f.Status(),
			f.Rows, c.RunID, at); err != nil {
			return fmt.Errorf("file ledger %s: %w", f.Path, err)
		}
	}
	return nil
}

// EndRun records a run's final status, counters and error text, and
// discards what it staged.
func (s *Store) EndRun(ctx context.Context, runID int64, status etl.RunStatus, counters etl.Counters, errText string, at time.Time) error {
	return s.EndRunWith(ctx, runID, status, counters, errText, at, nil)
}

// EndRunWith is EndRun with also run in its transaction: a worker marks
// the River job of the run completed there, so that a run recorded as
// ended is never run again for the same job, and a job marked completed
// always has its run recorded. An error from also rolls both back.
func (s *Store) EndRunWith(ctx context.Context, runID int64, status etl.RunStatus, counters etl.Counters, errText string,
	at time.Time, also func(context.Context, pgx.Tx) error) error {
	switch status {
	case etl.RunSucceeded, etl.RunFailed, etl.RunCancelled, etl.RunInterrupted:
	default:
		return fmt.Errorf("end run %d: %q is not a final status", runID, status)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tag, err := tx.Exec(ctx, `UPDATE "runs"
SET "status" = $1, "ended_at" = $2, "error" = $3,
	"rows_read" = $4, "rows_written" = $5, "rows_skipped" = $6, "rows_rejected" = $7, "batches" = $8, "bytes_read" = $9
WHERE "id" = $10`,
		string(status), dbTime(at), errText,
		counters.Read, counters.Written, counters.Skipped, counters.Rejected, counters.Batches, counters.Bytes, runID)
	if err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("end run %d: run not found", runID)
	}
	for _, table := range stagingTables {
		if _, err := tx.Exec(ctx, `DELETE FROM "`+table+`" WHERE "run_id" = $1`, runID); err != nil {
			return fmt.Errorf("end run %d: discard what it staged: %w", runID, err)
		}
	}
	if also != nil {
		if err := also(ctx, tx); err != nil {
			return fmt.Errorf("end run %d: %w", runID, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	}
	return nil
}

// noLimit is a LIMIT that limits nothing: limit itself when positive,
// else NULL.
func noLimit(limit int) any {
	if limit <= 0 {
		return nil
	}
	return limit
}

// Runs lists the last runs, newest first; job "" means all jobs, and a
// limit of 0 or less means no limit. The runs of partitions are not
// among them: Partitions lists them with the run they belong to.
func (s *Store) Runs(ctx context.Context, job string, limit int) ([]etl.Run, error) {
	var rows []runRow
	var err error
	if job == "" {
		err = s.db.SelectContext(ctx, &rows, s.q(`SELECT `+runColumns+` FROM "runs"
WHERE "partition" = '' ORDER BY "id" DESC LIMIT ?`), noLimit(limit))
	} else {
		err = s.db.SelectContext(ctx, &rows, s.q(`SELECT `+runColumns+` FROM "runs"
WHERE "job" = ? AND "partition" = '' ORDER BY "id" DESC LIMIT ?`), job, noLimit(limit))
	}
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out := make([]etl.Run, len(rows))
	for i := range rows {
		out[i] = rows[i].run()
	}
	return out, nil
}

// Run returns the run with id; ok is false when there is none.
func (s *Store) Run(ctx context.Context, id int64) (run etl.Run, ok bool, err error) {
	var rows []runRow
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT `+runColumns+` FROM "runs" WHERE "id" = ?`), id); err != nil {
		return etl.Run{}, false, fmt.Errorf("run %d: %w", id, err)
	}
	if len(rows) == 0 {
		return etl.Run{}, false, nil
	}
	return rows[0].run(), true, nil
}

// Files lists a job's file ledger, newest first.
func (s *Store) Files(ctx context.Context, job string) ([]etl.FileRecord, error) {
	var rows []fileRow
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT `+fileColumns+` FROM "files"
WHERE "job" = ? ORDER BY "loaded_at" DESC, "id" DESC`), job); err != nil {
		return nil, fmt.Errorf("list files of %s: %w", job, err)
	}
	out := make([]etl.FileRecord, len(rows))
	for i := range rows {
		out[i] = rows[i].record()
	}
	return out, nil
}

// RunQuarantine lists the rows a run rejected, in the order they were
// quarantined, limit of them from offset, with how many there are.
func (s *Store) RunQuarantine(ctx context.Context, runID int64, offset, limit int) ([]etl.QuarantineRecord, int, error) {
	var total int
	if err := s.db.GetContext(ctx, &total, s.q(`SELECT count(*) FROM "quarantine" WHERE "run_id" = ?`), runID); err != nil {
		return nil, 0, fmt.Errorf("count quarantine of run %d: %w", runID, err)
	}
	var rows []quarantineRow
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT `+quarantineColumns+` FROM "quarantine"
WHERE "run_id" = ? ORDER BY "id" LIMIT ? OFFSET ?`), runID, noLimit(limit), offset); err != nil {
		return nil, 0, fmt.Errorf("list quarantine of run %d: %w", runID, err)
	}
	out := make([]etl.QuarantineRecord, len(rows))
	for i := range rows {
		out[i] = rows[i].record()
	}
	return out, total, nil
}

// Quarantined lists a job's rejected rows, newest first; limit 0 means all.
func (s *Store) Quarantined(ctx context.Context, job string, limit int) ([]etl.QuarantineRecord, error) {
	var rows []quarantineRow
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT `+quarantineColumns+` FROM "quarantine"
WHERE "job" = ? ORDER BY "id" DESC LIMIT ?`), job, noLimit(limit)); err != nil {
		return nil, fmt.Errorf("list quarantine of %s: %w", job, err)
	}
	out := make([]etl.QuarantineRecord, len(rows))
	for i := range rows {
		out[i] = rows[i].record()
	}
	return out, nil
}

// Reset forgets a job's positions, file ledger and fingerprints, so it
// loads everything again; runs and quarantine are history and stay. It
// reports what it forgot.
func (s *Store) Reset(ctx context.Context, job string) (etl.ResetReport, error) {
	var report etl.ResetReport
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return report, fmt.Errorf("reset %s: %w", job, err)
	}
	defer tx.Rollback()
	var positions []positionRow
	if err := tx.SelectContext(ctx, &positions, s.q(`SELECT `+positionColumns+` FROM "positions"
WHERE "job" = ? ORDER BY "stream" FOR UPDATE`), job); err != nil {
		return report, fmt.Errorf("reset %s: positions: %w", job, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM "positions" WHERE "job" = ?`), job); err != nil {
		return report, fmt.Errorf("reset %s: positions: %w", job, err)
	}
	for i := range positions {
		report.Checkpoints = append(report.Checkpoints, positions[i].checkpoint())
	}
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM "files" WHERE "job" = ?`), job)
	if err == nil {
		report.Files, err = res.RowsAffected()
	}
	if err != nil {
		return report, fmt.Errorf("reset %s: file ledger: %w", job, err)
	}
	// Fingerprint targets are "<job>/<target>": '0' sorts right after '/'
	// (the column is COLLATE "C").
	res, err = tx.ExecContext(ctx, s.q(`DELETE FROM "fingerprints" WHERE "target" >= ? AND "target" < ?`), job+"/", job+"0")
	if err == nil {
		report.Fingerprints, err = res.RowsAffected()
	}
	if err != nil {
		return report, fmt.Errorf("reset %s: fingerprints: %w", job, err)
	}
	if err := tx.Commit(); err != nil {
		return report, fmt.Errorf("reset %s: %w", job, err)
	}
	return report, nil
}

// AcquireLease takes the job's lease until now+ttl, or returns
// etl.ErrLeaseHeld when another owner holds one that has not expired at
// now. Taking it again as the same owner extends it. It is one statement,
// so two processes racing for a free lease cannot both win.
func (s *Store) AcquireLease(ctx context.Context, job, owner string, ttl time.Duration, now time.Time) error {
	if ttl <= 0 {
		return fmt.Errorf("acquire lease of %s: ttl %s is not positive", job, ttl)
	}
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO "leases" ("job", "owner", "expires_at") VALUES (?, ?, ?)
ON CONFLICT ("job") DO UPDATE SET "owner" = excluded."owner", "expires_at" = excluded."expires_at"
WHERE "leases"."owner" = excluded."owner" OR "leases"."expires_at" <= ?`),
		job, owner, dbTime(now.Add(ttl)), dbTime(now))
	if err != nil {
		return fmt.Errorf("acquire lease of %s: %w", job, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("acquire lease of %s: %w", job, err)
	} else if n == 0 {
		return fmt.Errorf("%s: %w", job, etl.ErrLeaseHeld)
	}
	return nil
}

// ReleaseLease gives the lease up. Releasing a lease one does not hold
// does nothing.
func (s *Store) ReleaseLease(ctx context.Context, job, owner string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM "leases" WHERE "job" = ? AND "owner" = ?`), job, owner); err != nil {
		return fmt.Errorf("release lease of %s: %w", job, err)
	}
	return nil
}

// LeaseHolder returns who holds the job's lease and until when; ok is false
// when nobody does.
func (s *Store) LeaseHolder(ctx context.Context, job string) (string, time.Time, bool, error) {
	var row struct {
		Owner   string    `db:"owner"`
		Expires time.Time `db:"expires_at"`
	}
	err := s.db.GetContext(ctx, &row, s.q(`SELECT "owner", "expires_at" FROM "leases" WHERE "job" = ?`), job)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("lease of %s: %w", job, err)
	}
	return row.Owner, row.Expires.UTC(), true, nil
}

// Fingerprints returns the stored digests of ids for target; ids never
// sent are absent.
func (s *Store) Fingerprints(ctx context.Context, target string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT "record_id", "fingerprint" FROM "fingerprints"
WHERE "target" = $1 AND "record_id" = ANY($2)`, target, ids)
	if err != nil {
		return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, fp string
		if err := rows.Scan(&id, &fp); err != nil {
			return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
		}
		out[id] = fp
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
	}
	return out, nil
}

// AllFingerprints returns every record id of target with its digest.
func (s *Store) AllFingerprints(ctx context.Context, target string) (map[string]string, error) {
	var rows []struct {
		ID string `db:"record_id"`
		FP string `db:"fingerprint"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT "record_id", "fingerprint" FROM "fingerprints" WHERE "target" = $1`, target); err != nil {
		return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.FP
	}
	return out, nil
}

var _ etl.FingerprintLister = (*Store)(nil)

// SaveFingerprints records digests for target in one statement.
func (s *Store) SaveFingerprints(ctx context.Context, target string, digests map[string]string, at time.Time) error {
	if len(digests) == 0 {
		return nil
	}
	ids := make([]string, 0, len(digests))
	fps := make([]string, 0, len(digests))
	for id, fp := range digests {
		ids = append(ids, id)
		fps = append(fps, fp)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO "fingerprints" ("target", "record_id", "fingerprint", "updated_at")
SELECT $1, "id", "fp", $4 FROM unnest($2::text[], $3::text[]) AS "d" ("id", "fp")
ON CONFLICT ("target", "record_id") DO UPDATE SET "fingerprint" = excluded."fingerprint", "updated_at" = excluded."updated_at"`,
		target, ids, fps, dbTime(at)); err != nil {
		return fmt.Errorf("save fingerprints of %s: %w", target, err)
	}
	return nil
}
