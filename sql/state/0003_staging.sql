-- Staging for the rejects and finished files of a run whose position is
-- held back until its end (a file target, a step holding rows): the runner
-- hands them to the store as they come instead of holding them in memory,
-- and the run's final checkpoint moves them into "quarantine" and "files"
-- in its transaction. Rows of a run that did not end that way (failed,
-- interrupted) are deleted: its rows are read again.
CREATE TABLE "staged_quarantine" (
	"id"          INTEGER PRIMARY KEY,
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
CREATE INDEX "staged_quarantine_run_id" ON "staged_quarantine" ("run_id");

CREATE TABLE "staged_files" (
	"id"     INTEGER PRIMARY KEY,
	"job"    TEXT    NOT NULL,
	"run_id" INTEGER NOT NULL REFERENCES "runs" ("id"),
	"path"   TEXT    NOT NULL,
	"size"   INTEGER NOT NULL,
	"mtime"  TEXT    NOT NULL,
	"sha256" TEXT    NOT NULL CHECK ("sha256" <> ''),
	"rows"   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX "staged_files_run_id" ON "staged_files" ("run_id");
