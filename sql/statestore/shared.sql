-- The state store's statements that SQLite and PostgreSQL run as written
-- here (etl/internal/sqlstore), one named block each: "-- name: X" starts
-- the block of the statement X, which runs to the next such line.
-- Parameters are positional (?, which the PostgreSQL store rebinds to $n),
-- in the order the store binds them. Where the two differ, each dialect
-- gives the statement in its own file (sqlite.sql, postgres.sql) with the
-- same parameters; a name stands in one file of a dialect only.

-- name: LedgerEntry
SELECT "job", "path", "size", "mtime", "sha256", "status", "rows", "run_id", "loaded_at" FROM "files"
WHERE "job" = ? AND "sha256" = ?

-- name: LedgerHoldsSize
SELECT EXISTS (SELECT 1 FROM "files" WHERE "job" = ? AND "size" = ?)

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

-- name: DiscardStagedQuarantineOfRun
DELETE FROM "staged_quarantine" WHERE "run_id" = ?

-- name: DiscardStagedFilesOfRun
DELETE FROM "staged_files" WHERE "run_id" = ?

-- name: BeginRun
INSERT INTO "runs" ("job", "trigger", "status", "started_at")
VALUES (?, ?, ?, ?) RETURNING "id"

-- name: CommitCounters
UPDATE "runs"
SET "rows_read" = ?, "rows_written" = ?, "rows_skipped" = ?, "rows_rejected" = ?, "batches" = ?, "bytes_read" = ?
WHERE "id" = ? AND "job" = ? AND "status" = ?

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

-- name: Run
SELECT "id", "job", "trigger", "status", "started_at", "ended_at",
"rows_read", "rows_written", "rows_skipped", "rows_rejected", "batches", "bytes_read", "error" FROM "runs" WHERE "id" = ?

-- name: RunQuarantineCount
SELECT count(*) FROM "quarantine" WHERE "run_id" = ?

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

-- name: AllFingerprints
SELECT "record_id", "fingerprint" FROM "fingerprints" WHERE "target" = ?
