-- The state store's schema (PostgreSQL): the same tables, columns and
-- constraints as the SQLite store's migrations 0001-0004 (sql/state), so
-- the one conformance suite (etl/storetest) holds for both.
--
-- The statements run with search_path set to the store's own schema, so
-- nothing here names it. Names that are compared or ordered (job, stream,
-- target, path) are COLLATE "C": byte order, as SQLite compares them, so
-- a listing's order and Reset's range over "<job>/" are the same in both. Times are timestamptz (microseconds: the store
-- truncates what it is given). Positions and rows are TEXT, not jsonb:
-- a position is opaque and its bytes come back exactly as given.

-- runs: one row per execution of a job. An identity column never hands out
-- an id twice, even after rows are deleted: targets record run ids in
-- their replay markers.
CREATE TABLE "runs" (
	"id"            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	"job"           text        COLLATE "C" NOT NULL,
	"trigger"       text        NOT NULL DEFAULT '',
	"status"        text        NOT NULL,
	"started_at"    timestamptz NOT NULL,
	"ended_at"      timestamptz,
	"rows_read"     bigint      NOT NULL DEFAULT 0,
	"rows_written"  bigint      NOT NULL DEFAULT 0,
	"rows_skipped"  bigint      NOT NULL DEFAULT 0,
	"rows_rejected" bigint      NOT NULL DEFAULT 0,
	"batches"       bigint      NOT NULL DEFAULT 0,
	"bytes_read"    bigint      NOT NULL DEFAULT 0,
	"error"         text        NOT NULL DEFAULT ''
);
CREATE INDEX "runs_job_id" ON "runs" ("job", "id");
CREATE INDEX "runs_running" ON "runs" ("job") WHERE "status" = 'running';

-- positions: the last committed position of each job stream. A NULL
-- position means "from the start".
CREATE TABLE "positions" (
	"job"        text COLLATE "C"        NOT NULL,
	"stream"     text COLLATE "C"        NOT NULL,
	"position"   text,
	"seq"        bigint      NOT NULL,
	"load_id"    text        NOT NULL DEFAULT '',
	"run_id"     bigint      NOT NULL REFERENCES "runs" ("id"),
	"updated_at" timestamptz NOT NULL,
	PRIMARY KEY ("job", "stream")
);

-- files: the file ledger, known by content.
CREATE TABLE "files" (
	"id"        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	"job"       text COLLATE "C"        NOT NULL,
	"path"      text COLLATE "C"        NOT NULL,
	"size"      bigint      NOT NULL,
	"mtime"     timestamptz NOT NULL,
	"sha256"    text        NOT NULL CHECK ("sha256" <> ''),
	"status"    text        NOT NULL,
	"rows"      bigint      NOT NULL DEFAULT 0,
	"run_id"    bigint      NOT NULL REFERENCES "runs" ("id"),
	"loaded_at" timestamptz NOT NULL,
	UNIQUE ("job", "sha256")
);
CREATE INDEX "files_job_loaded_at" ON "files" ("job", "loaded_at");
CREATE INDEX "files_job_path" ON "files" ("job", "path");

-- quarantine: rejected rows, with where they came from and why.
CREATE TABLE "quarantine" (
	"id"          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	"job"         text COLLATE "C"        NOT NULL,
	"run_id"      bigint      NOT NULL REFERENCES "runs" ("id"),
	"created_at"  timestamptz NOT NULL,
	"step"        text        NOT NULL DEFAULT '',
	"origin"      text        NOT NULL DEFAULT '',
	"origin_json" text        NOT NULL DEFAULT '{}',
	"field"       text        NOT NULL DEFAULT '',
	"value"       text        NOT NULL DEFAULT '',
	"reason"      text        NOT NULL DEFAULT '',
	"row_json"    text        NOT NULL DEFAULT ''
);
CREATE INDEX "quarantine_job_id" ON "quarantine" ("job", "id");
CREATE INDEX "quarantine_run_id" ON "quarantine" ("run_id");

-- fingerprints: a digest of the record last sent to each CRM target.
CREATE TABLE "fingerprints" (
	"target"      text COLLATE "C"        NOT NULL,
	"record_id"   text COLLATE "C"        NOT NULL,
	"fingerprint" text        NOT NULL,
	"updated_at"  timestamptz NOT NULL,
	PRIMARY KEY ("target", "record_id")
);

-- leases: which process runs a job, until when.
CREATE TABLE "leases" (
	"job"        text COLLATE "C"        NOT NULL PRIMARY KEY,
	"owner"      text        NOT NULL,
	"expires_at" timestamptz NOT NULL
);

-- Staging for the rejects and finished files of a run whose position is
-- held back until its end (see the SQLite store's 0003_staging.sql).
CREATE TABLE "staged_quarantine" (
	"id"          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	"job"         text COLLATE "C"        NOT NULL,
	"run_id"      bigint      NOT NULL REFERENCES "runs" ("id"),
	"created_at"  timestamptz NOT NULL,
	"step"        text        NOT NULL DEFAULT '',
	"origin"      text        NOT NULL DEFAULT '',
	"origin_json" text        NOT NULL DEFAULT '{}',
	"field"       text        NOT NULL DEFAULT '',
	"value"       text        NOT NULL DEFAULT '',
	"reason"      text        NOT NULL DEFAULT '',
	"row_json"    text        NOT NULL DEFAULT ''
);
CREATE INDEX "staged_quarantine_run_id" ON "staged_quarantine" ("run_id");

CREATE TABLE "staged_files" (
	"id"     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	"job"    text COLLATE "C"        NOT NULL,
	"run_id" bigint      NOT NULL REFERENCES "runs" ("id"),
	"path"   text COLLATE "C"        NOT NULL,
	"size"   bigint      NOT NULL,
	"mtime"  timestamptz NOT NULL,
	"sha256" text        NOT NULL CHECK ("sha256" <> ''),
	"rows"   bigint      NOT NULL DEFAULT 0,
	"status" text        NOT NULL DEFAULT 'loaded'
);
CREATE INDEX "staged_files_run_id" ON "staged_files" ("run_id");
