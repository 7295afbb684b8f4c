-- The SQLite state store's own statements, and those it writes its own way
-- (see shared.sql for the rest and the format): named blocks, positional
-- parameters (?) in the order the store binds them. Times are fixed-width
-- TEXT (etl/sqlitestore/timestamp.go); a LIMIT of -1 is none. The schema
-- they read is state/NNNN_name.sql.

-- name: JournalMode
PRAGMA journal_mode

-- name: SynchronousNormal
-- Staged rows need no fsync of their own (beginUnsynced).
PRAGMA synchronous = NORMAL

-- name: SynchronousFull
PRAGMA synchronous = FULL

-- name: CreateSchemaMigrations
CREATE TABLE IF NOT EXISTS "schema_migrations" (
	"version"    INTEGER NOT NULL PRIMARY KEY,
	"name"       TEXT    NOT NULL,
	"applied_at" TEXT    NOT NULL
)

-- name: SchemaVersion
SELECT COALESCE(MAX("version"), 0) FROM "schema_migrations"

-- name: MigrationApplied
SELECT COUNT(*) FROM "schema_migrations" WHERE "version" = ?

-- name: RecordMigration
INSERT INTO "schema_migrations" ("version", "name", "applied_at") VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))

-- name: CheckpointsForReset
-- The transaction holds the write lock already: no row lock to take.
SELECT "job", "stream", "position", "seq", "load_id", "run_id", "updated_at" FROM "positions"
WHERE "job" = ? ORDER BY "stream"

-- name: InterruptStaleRuns
-- Runs of the job still marked running belong to a process that ended.
UPDATE "runs"
SET "status" = ?, "ended_at" = ?, "error" = CASE WHEN "error" = '' THEN ? ELSE "error" END
WHERE "job" = ? AND "status" = ?

-- name: DiscardStagedQuarantineOfJob
-- Bound as (job, job, 'running') after InterruptStaleRuns: no run of the
-- job is running any more, so this is all the job staged.
DELETE FROM "staged_quarantine" WHERE "job" = ? AND "run_id" NOT IN (
	SELECT "id" FROM "runs" WHERE "job" = ? AND "status" = ?)

-- name: DiscardStagedFilesOfJob
DELETE FROM "staged_files" WHERE "job" = ? AND "run_id" NOT IN (
	SELECT "id" FROM "runs" WHERE "job" = ? AND "status" = ?)

-- name: RunStatus
SELECT "status" FROM "runs" WHERE "id" = ? AND "job" = ?

-- name: LedgerStaged
INSERT INTO "files"
("job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at")
SELECT "job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", ?
FROM "staged_files" WHERE "run_id" = ? ORDER BY "id"
ON CONFLICT ("job", "sha256") DO UPDATE SET
	"path" = excluded."path", "size" = excluded."size", "mtime" = excluded."mtime",
	"status" = excluded."status", "rows" = excluded."rows",
	"run_id" = excluded."run_id", "loaded_at" = excluded."loaded_at"

-- name: Runs
-- A limit of -1 is none.
SELECT "id", "job", "trigger", "status", "started_at", "ended_at",
"rows_read", "rows_written", "rows_skipped", "rows_rejected", "batches", "bytes_read", "error" FROM "runs"
ORDER BY "id" DESC LIMIT ?

-- name: JobRuns
SELECT "id", "job", "trigger", "status", "started_at", "ended_at",
"rows_read", "rows_written", "rows_skipped", "rows_rejected", "batches", "bytes_read", "error" FROM "runs"
WHERE "job" = ? ORDER BY "id" DESC LIMIT ?

-- name: RunQuarantine
SELECT "id", "job", "run_id", "created_at", "step", "origin",
"field", "value", "reason", "row_json" FROM "quarantine"
WHERE "run_id" = ? ORDER BY "id" LIMIT ? OFFSET ?

-- name: Quarantined
SELECT "id", "job", "run_id", "created_at", "step", "origin",
"field", "value", "reason", "row_json" FROM "quarantine"
WHERE "job" = ? ORDER BY "id" DESC LIMIT ?

-- name: Fingerprints
-- The IN list is expanded (sqlx.In) to the chunk of ids.
SELECT "record_id", "fingerprint" FROM "fingerprints" WHERE "target" = ? AND "record_id" IN (?)

-- name: SaveFingerprints
-- One row's values; the store repeats them for a chunk of digests.
INSERT INTO "fingerprints" ("target", "record_id", "fingerprint", "updated_at") VALUES (?, ?, ?, ?)
ON CONFLICT ("target", "record_id") DO UPDATE SET "fingerprint" = excluded."fingerprint", "updated_at" = excluded."updated_at"

-- name: ResetPositions
DELETE FROM "positions" WHERE "job" = ?
