-- The SQLite state store's statements (etl/sqlitestore), one named block
-- each: "-- name: X" starts the block of the store's query X, which runs
-- to the next such line. Parameters are positional (?), in the order the
-- store binds them. The schema they read is state/NNNN_name.sql.

-- name: JournalMode
PRAGMA journal_mode

-- name: SynchronousNormal
-- Staged rows need no fsync of their own (Store.stage).
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

-- name: LedgerEntry
SELECT "job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at" FROM "files"
WHERE "job" = ? AND "sha256" = ?

-- name: LastLoaded
SELECT "job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at" FROM "files"
WHERE "job" = ? AND "path" = ? AND "status" = 'loaded' ORDER BY "loaded_at" DESC, "id" DESC LIMIT 1

-- name: Files
SELECT "job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at" FROM "files"
WHERE "job" = ? ORDER BY "loaded_at" DESC, "id" DESC

-- name: Checkpoint
SELECT "job", "stream", "position", "seq", "load_id", "run_id", "updated_at" FROM "positions"
WHERE "job" = ? AND "stream" = ?

-- name: Checkpoints
SELECT "job", "stream", "position", "seq", "load_id", "run_id", "updated_at" FROM "positions"
WHERE "job" = ? ORDER BY "stream"

-- name: InterruptStaleRuns
-- Runs of the job still marked running belong to a process that ended.
UPDATE "runs"
SET "status" = ?, "ended_at" = ?, "error" = CASE WHEN "error" = '' THEN ? ELSE "error" END
WHERE "job" = ? AND "status" = ?

-- name: DiscardStagedQuarantineOfJob
DELETE FROM "staged_quarantine" WHERE "job" = ?

-- name: DiscardStagedFilesOfJob
DELETE FROM "staged_files" WHERE "job" = ?

-- name: DiscardStagedQuarantineOfRun
DELETE FROM "staged_quarantine" WHERE "run_id" = ?

-- name: DiscardStagedFilesOfRun
DELETE FROM "staged_files" WHERE "run_id" = ?

-- name: BeginRun
INSERT INTO "runs" ("job", "trigger", "status", "started_at")
VALUES (?, ?, ?, ?)

-- name: CommitCounters
UPDATE "runs"
SET "rows_read" = ?, "rows_written" = ?, "rows_skipped" = ?, "rows_rejected" = ?, "batches" = ?, "bytes_read" = ?
WHERE "id" = ? AND "job" = ? AND "status" = ?

-- name: RunStatus
SELECT "status" FROM "runs" WHERE "id" = ? AND "job" = ?

-- name: RunJobStatus
SELECT "job", "status" FROM "runs" WHERE "id" = ?

-- name: StageFile
INSERT INTO "staged_files" ("job", "run_id", "path", "size", "mtime", "sha256", "rows", "status")
VALUES (?, ?, ?, ?, ?, ?, ?, ?)

-- name: QuarantineStaged
INSERT INTO "quarantine"
("job", "run_id", "created_at", "step", "origin", "origin_json", "field", "value", "reason", "row_json")
SELECT "job", "run_id", "created_at", "step", "origin", "origin_json", "field", "value", "reason", "row_json"
FROM "staged_quarantine" WHERE "run_id" = ? ORDER BY "id"

-- name: LedgerStaged
INSERT INTO "files"
("job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at")
SELECT "job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", ?
FROM "staged_files" WHERE "run_id" = ? ORDER BY "id"
ON CONFLICT ("job", "sha256") DO UPDATE SET
	"path" = excluded."path", "size" = excluded."size", "mtime" = excluded."mtime",
	"status" = excluded."status", "rows" = excluded."rows",
	"run_id" = excluded."run_id", "loaded_at" = excluded."loaded_at"

-- name: UpsertPosition
INSERT INTO "positions" ("job", "stream", "position", "seq", "load_id", "run_id", "updated_at")
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT ("job", "stream") DO UPDATE SET
	"position" = excluded."position", "seq" = excluded."seq", "load_id" = excluded."load_id",
	"run_id" = excluded."run_id", "updated_at" = excluded."updated_at"

-- name: InsertQuarantine
-- One row's values; the store repeats them for a chunk of rejects.
INSERT INTO "quarantine"
("job", "run_id", "created_at", "step", "origin", "origin_json", "field", "value", "reason", "row_json")
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: InsertStagedQuarantine
-- One row's values; the store repeats them for a chunk of rejects.
INSERT INTO "staged_quarantine"
("job", "run_id", "created_at", "step", "origin", "origin_json", "field", "value", "reason", "row_json")
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: UpsertFile
INSERT INTO "files"
("job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at")
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT ("job", "sha256") DO UPDATE SET
	"path" = excluded."path", "size" = excluded."size", "mtime" = excluded."mtime",
	"status" = excluded."status", "rows" = excluded."rows",
	"run_id" = excluded."run_id", "loaded_at" = excluded."loaded_at"

-- name: EndRun
UPDATE "runs"
SET "status" = ?, "ended_at" = ?, "error" = ?,
	"rows_read" = ?, "rows_written" = ?, "rows_skipped" = ?, "rows_rejected" = ?, "batches" = ?, "bytes_read" = ?
WHERE "id" = ?

-- name: Runs
-- A limit of -1 is none.
SELECT "id", "job", "trigger", "status", "started_at", "ended_at",
"rows_read", "rows_written", "rows_skipped", "rows_rejected", "batches", "bytes_read", "error" FROM "runs"
ORDER BY "id" DESC LIMIT ?

-- name: JobRuns
SELECT "id", "job", "trigger", "status", "started_at", "ended_at",
"rows_read", "rows_written", "rows_skipped", "rows_rejected", "batches", "bytes_read", "error" FROM "runs"
WHERE "job" = ? ORDER BY "id" DESC LIMIT ?

-- name: Run
SELECT "id", "job", "trigger", "status", "started_at", "ended_at",
"rows_read", "rows_written", "rows_skipped", "rows_rejected", "batches", "bytes_read", "error" FROM "runs" WHERE "id" = ?

-- name: RunQuarantineCount
SELECT count(*) FROM "quarantine" WHERE "run_id" = ?

-- name: RunQuarantine
SELECT "id", "job", "run_id", "created_at", "step", "origin",
"field", "value", "reason", "row_json" FROM "quarantine"
WHERE "run_id" = ? ORDER BY "id" LIMIT ? OFFSET ?

-- name: Quarantined
SELECT "id", "job", "run_id", "created_at", "step", "origin",
"field", "value", "reason", "row_json" FROM "quarantine"
WHERE "job" = ? ORDER BY "id" DESC LIMIT ?

-- name: ResetPositions
DELETE FROM "positions" WHERE "job" = ?

-- name: ResetFiles
DELETE FROM "files" WHERE "job" = ?

-- name: ResetFingerprints
-- Fingerprint targets are "<job>/<target>": bound as [job + "/", job + "0"),
-- '0' sorting right after '/'.
DELETE FROM "fingerprints" WHERE "target" >= ? AND "target" < ?

-- name: AcquireLease
-- One statement, so two processes racing for a free lease cannot both win.
INSERT INTO "leases" ("job", "owner", "expires_at") VALUES (?, ?, ?)
ON CONFLICT ("job") DO UPDATE SET "owner" = excluded."owner", "expires_at" = excluded."expires_at"
WHERE "leases"."owner" = excluded."owner" OR "leases"."expires_at" <= ?

-- name: ReleaseLease
DELETE FROM "leases" WHERE "job" = ? AND "owner" = ?

-- name: LeaseHolder
SELECT "owner", "expires_at" FROM "leases" WHERE "job" = ?

-- name: Fingerprints
-- The IN list is expanded (sqlx.In) to the chunk of ids.
SELECT "record_id", "fingerprint" FROM "fingerprints" WHERE "target" = ? AND "record_id" IN (?)

-- name: SaveFingerprints
-- One row's values; the store repeats them for a chunk of digests.
INSERT INTO "fingerprints" ("target", "record_id", "fingerprint", "updated_at") VALUES (?, ?, ?, ?)
ON CONFLICT ("target", "record_id") DO UPDATE SET "fingerprint" = excluded."fingerprint", "updated_at" = excluded."updated_at"
