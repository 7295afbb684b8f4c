-- The PostgreSQL state store's own statements, and those it writes its own
-- way (see shared.sql for the rest and the format): named blocks,
-- positional parameters (?, rebound to $n) in the order the store binds
-- them. They run with search_path set to the store's schema, so they name
-- no schema. A LIMIT of -1 is none (NULLIF makes it NULL).
--
-- Runs split into partitions (partitions.go) are rows of "runs" too: a
-- partition's runs carry its id in "partition", and the run that planned
-- them has rows in "partitions". Neither belongs to a process, so
-- BeginRun does not interrupt them, and listings of runs leave the
-- partitions' runs out.

-- name: LockSchema
-- Workers starting together migrate the schema once.
SELECT pg_advisory_xact_lock(hashtextextended('nightjar state ' || ?, 0))

-- name: CreateSchemaMigrations
CREATE TABLE IF NOT EXISTS "schema_migrations" (
	"version"    integer     NOT NULL PRIMARY KEY,
	"name"       text        NOT NULL,
	"applied_at" timestamptz NOT NULL DEFAULT now()
)

-- name: SchemaVersion
SELECT COALESCE(MAX("version"), 0) FROM "schema_migrations"

-- name: RecordMigration
INSERT INTO "schema_migrations" ("version", "name") VALUES (?, ?)

-- name: SynchronousCommitOff
-- Staged rows need not wait for the WAL's flush (sqlstore.Dialect).
SET LOCAL synchronous_commit = off

-- name: LockJob
-- Serialises, until the transaction ends, the transactions that begin a
-- run of the job: the SQLite store gets this from its one writer at a time.
SELECT pg_advisory_xact_lock(hashtextextended('nightjar job ' || ?, 0))

-- name: CheckpointsForReset
SELECT "job", "stream", "position", "seq", "load_id", "run_id", "updated_at" FROM "positions"
WHERE "job" = ? ORDER BY "stream" FOR UPDATE

-- name: InterruptStaleRuns
-- Runs of the job still marked running belong to a process that ended; a
-- run split into partitions, and its partitions' runs, go on.
UPDATE "runs"
SET "status" = ?, "ended_at" = ?, "error" = CASE WHEN "error" = '' THEN ? ELSE "error" END
WHERE "job" = ? AND "status" = ? AND "partition" = ''
	AND NOT EXISTS (SELECT 1 FROM "partitions" WHERE "partitions"."run_id" = "runs"."id")

-- name: DiscardStagedQuarantineOfJob
-- Bound as (job, job, 'running'): what the running runs of partitions
-- staged stays.
DELETE FROM "staged_quarantine" WHERE "job" = ? AND "run_id" NOT IN (
	SELECT "id" FROM "runs" WHERE "job" = ? AND "partition" <> '' AND "status" = ?)

-- name: DiscardStagedFilesOfJob
DELETE FROM "staged_files" WHERE "job" = ? AND "run_id" NOT IN (
	SELECT "id" FROM "runs" WHERE "job" = ? AND "partition" <> '' AND "status" = ?)

-- name: RunStatus
-- Locks the run until the transaction ends, so that it cannot end meanwhile.
SELECT "status" FROM "runs" WHERE "id" = ? AND "job" = ? FOR SHARE

-- name: LedgerStaged
-- A file staged twice keeps its last entry, as SQLite's row-by-row upsert
-- does (PostgreSQL refuses to update one row twice in one INSERT … ON
-- CONFLICT).
INSERT INTO "files"
("job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at")
SELECT "job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", ? FROM (
	SELECT DISTINCT ON ("job", "sha256") * FROM "staged_files" WHERE "run_id" = ? ORDER BY "job", "sha256", "id" DESC
) AS "last" ORDER BY "id"
ON CONFLICT ("job", "sha256") DO UPDATE SET
	"path" = excluded."path", "size" = excluded."size", "mtime" = excluded."mtime",
	"status" = excluded."status", "rows" = excluded."rows",
	"run_id" = excluded."run_id", "loaded_at" = excluded."loaded_at"

-- name: Runs
SELECT "id", "job", "trigger", "status", "started_at", "ended_at",
"rows_read", "rows_written", "rows_skipped", "rows_rejected", "batches", "bytes_read", "error" FROM "runs"
WHERE "partition" = '' ORDER BY "id" DESC LIMIT NULLIF(?, -1)

-- name: JobRuns
SELECT "id", "job", "trigger", "status", "started_at", "ended_at",
"rows_read", "rows_written", "rows_skipped", "rows_rejected", "batches", "bytes_read", "error" FROM "runs"
WHERE "job" = ? AND "partition" = '' ORDER BY "id" DESC LIMIT NULLIF(?, -1)

-- name: RunQuarantine
SELECT "id", "job", "run_id", "created_at", "step", "origin",
"field", "value", "reason", "row_json" FROM "quarantine"
WHERE "run_id" = ? ORDER BY "id" LIMIT NULLIF(?, -1) OFFSET ?

-- name: Quarantined
SELECT "id", "job", "run_id", "created_at", "step", "origin",
"field", "value", "reason", "row_json" FROM "quarantine"
WHERE "job" = ? ORDER BY "id" DESC LIMIT NULLIF(?, -1)

-- name: Fingerprints
-- The ids are one array.
SELECT "record_id", "fingerprint" FROM "fingerprints"
WHERE "target" = ? AND "record_id" = ANY(?)

-- name: SaveFingerprints
-- Bound as (target, at, ids, fingerprints): the digests as two arrays, in
-- one statement.
INSERT INTO "fingerprints" ("target", "record_id", "fingerprint", "updated_at")
SELECT ?, "id", "fp", ? FROM unnest(?::text[], ?::text[]) AS "d" ("id", "fp")
ON CONFLICT ("target", "record_id") DO UPDATE SET "fingerprint" = excluded."fingerprint", "updated_at" = excluded."updated_at"

-- name: ResetPositions
-- What nightjar worker keeps of loads in progress goes with the positions:
-- the key ranges handed out since the job's position last moved (the next
-- tick splits the whole table again), and the files failed partitions gave
-- back with their checkpoints (loaded again from their start, not from
-- where the failed load stopped).
WITH "ranges" AS (DELETE FROM "key_ranges" WHERE "job" = $1),
"released" AS (DELETE FROM "released_files" WHERE "job" = $1)
DELETE FROM "positions" WHERE "job" = $1
