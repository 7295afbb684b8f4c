-- The state store's initial schema (SQLite).
--
-- Times are TEXT in one fixed-width UTC form,
-- 2006-01-02T15:04:05.000000000Z: valid RFC 3339, exact to the nanosecond,
-- and ordered the same as text and as time, so ORDER BY and lease expiry
-- comparisons work on the column as it is.

-- runs: one row per execution of a job. AUTOINCREMENT so a run id is never
-- reused, even after the newest runs are deleted: targets record run ids in
-- their replay markers.
CREATE TABLE "runs" (
	"id"            INTEGER PRIMARY KEY AUTOINCREMENT,
	"job"           TEXT    NOT NULL,
	"trigger"       TEXT    NOT NULL DEFAULT '',
	"status"        TEXT    NOT NULL,
	"started_at"    TEXT    NOT NULL,
	"ended_at"      TEXT,
	"rows_read"     INTEGER NOT NULL DEFAULT 0,
	"rows_written"  INTEGER NOT NULL DEFAULT 0,
	"rows_rejected" INTEGER NOT NULL DEFAULT 0,
	"batches"       INTEGER NOT NULL DEFAULT 0,
	"bytes_read"    INTEGER NOT NULL DEFAULT 0,
	"error"         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX "runs_job_id" ON "runs" ("job", "id");
CREATE INDEX "runs_running" ON "runs" ("job") WHERE "status" = 'running';

-- positions: the last committed position of each job stream. A NULL
-- position means "from the start".
CREATE TABLE "positions" (
	"job"        TEXT    NOT NULL,
	"stream"     TEXT    NOT NULL,
	"position"   TEXT,
	"seq"        INTEGER NOT NULL,
	"run_id"     INTEGER NOT NULL REFERENCES "runs" ("id"),
	"updated_at" TEXT    NOT NULL,
	PRIMARY KEY ("job", "stream")
);

-- files: the file ledger. A file is known by its content, so a file
-- renamed or copied back into an inbox is not loaded twice.
CREATE TABLE "files" (
	"id"        INTEGER PRIMARY KEY,
	"job"       TEXT    NOT NULL,
	"path"      TEXT    NOT NULL,
	"size"      INTEGER NOT NULL,
	"mtime"     TEXT    NOT NULL,
	"sha256"    TEXT    NOT NULL CHECK ("sha256" <> ''),
	"status"    TEXT    NOT NULL,
	"rows"      INTEGER NOT NULL DEFAULT 0,
	"run_id"    INTEGER NOT NULL REFERENCES "runs" ("id"),
	"loaded_at" TEXT    NOT NULL,
	UNIQUE ("job", "sha256")
);
CREATE INDEX "files_job_loaded_at" ON "files" ("job", "loaded_at");

-- quarantine: rejected rows, with where they came from and why. origin is
-- the readable form (file:line); origin_json keeps its parts for a retry.
CREATE TABLE "quarantine" (
	"id"          INTEGER PRIMARY KEY AUTOINCREMENT,
	"job"         TEXT    NOT NULL,
	"run_id"      INTEGER NOT NULL REFERENCES "runs" ("id"),
	"created_at"  TEXT    NOT NULL,
	"step"        TEXT    NOT NULL DEFAULT '',
	"origin"      TEXT    NOT NULL DEFAULT '',
	"origin_json" TEXT    NOT NULL DEFAULT '{}',
	"field"       TEXT    NOT NULL DEFAULT '',
	"value"       TEXT    NOT NULL DEFAULT '',
	"reason"      TEXT    NOT NULL DEFAULT '',
	"row_json"    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX "quarantine_job_id" ON "quarantine" ("job", "id");
CREATE INDEX "quarantine_run_id" ON "quarantine" ("run_id");

-- fingerprints: a digest of the record last sent to each CRM target, so
-- unchanged records are not sent again.
CREATE TABLE "fingerprints" (
	"target"      TEXT NOT NULL,
	"record_id"   TEXT NOT NULL,
	"fingerprint" TEXT NOT NULL,
	"updated_at"  TEXT NOT NULL,
	PRIMARY KEY ("target", "record_id")
) WITHOUT ROWID;

-- leases: which process runs a job, until when.
CREATE TABLE "leases" (
	"job"        TEXT NOT NULL PRIMARY KEY,
	"owner"      TEXT NOT NULL,
	"expires_at" TEXT NOT NULL
) WITHOUT ROWID;
