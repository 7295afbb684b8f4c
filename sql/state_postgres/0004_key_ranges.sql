-- Key ranges (nightjar worker): a SQL table source with partition_rows is
-- split into partitions of key ranges of its range column.
--
-- partitions.key_range: the range, as JSON {"lo", "hi"} (etl.KeyRange),
-- for a partition of a SQL source (NULL for files; its files are then
-- '[]'); partitions.range_from: the job's position when the run was split,
-- where the first range starts (NULL for none).
ALTER TABLE "partitions" ADD COLUMN "key_range" text;
ALTER TABLE "partitions" ADD COLUMN "range_from" bytea;

-- key_ranges: the ranges handed out since the job's position last moved,
-- one row per range: origin is the partition it was first planned as,
-- partition the latest one that loads it (one continuing a failed one's
-- load, seeded with its checkpoint), status that partition's (queued,
-- done, failed). When a run ends and every row of its job is done, the
-- job's position moves to where the highest range's stream stopped and
-- the rows go: the next tick splits what is past it. While a row is not
-- done the job's position stays, and a tick plans only its failed ranges
-- again (or nothing, while some are queued).
CREATE TABLE "key_ranges" (
	"job"       text COLLATE "C" NOT NULL,
	"origin"    bigint NOT NULL REFERENCES "partitions" ("id"),
	"partition" bigint NOT NULL REFERENCES "partitions" ("id"),
	"status"    text   NOT NULL DEFAULT 'queued',
	PRIMARY KEY ("job", "origin")
);
CREATE INDEX "key_ranges_partition" ON "key_ranges" ("partition");
