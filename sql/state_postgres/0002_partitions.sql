-- Partitions (nightjar worker): a files job's run split into shares of its
-- files, each a River job that any worker runs.
--
-- A partition's runs are rows of "runs" with the job's name and the
-- partition's id in "partition"; the run that planned them (its parent)
-- has "partition" = '' and rows in "partitions". Listings of a job's runs
-- show parents and plain runs; a parent's partitions are listed with it.
ALTER TABLE "runs" ADD COLUMN "partition" text NOT NULL DEFAULT '';
CREATE INDEX "runs_partition" ON "runs" ("job", "partition") WHERE "partition" <> '';

-- partitions: one row per partition of a run. files is a JSON array of
-- {"path", "sha256", "size"}: the files claimed for it in the file ledger
-- (status 'claimed', run_id the parent run) in the transaction that
-- inserted its River job. status: queued (not finished), done, failed.
CREATE TABLE "partitions" (
	"id"         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	"job"        text COLLATE "C" NOT NULL,
	"run_id"     bigint      NOT NULL REFERENCES "runs" ("id"),
	"number"     int         NOT NULL,
	"files"      text        NOT NULL,
	"bytes"      bigint      NOT NULL DEFAULT 0,
	"status"     text        NOT NULL DEFAULT 'queued',
	"error"      text        NOT NULL DEFAULT '',
	"created_at" timestamptz NOT NULL,
	"ended_at"   timestamptz,
	UNIQUE ("run_id", "number")
);
