-- Loads and skipped rows.
--
-- positions.load_id names the load a position belongs to: a random id
-- chosen when a job starts from nothing (first run, state reset, full
-- refresh). Targets put it in their replay markers' batch keys, so a marker
-- of an earlier load never skips a batch of a new one. '' for positions
-- recorded before this migration: their batch keys stay as they were.
ALTER TABLE "positions" ADD COLUMN "load_id" TEXT NOT NULL DEFAULT '';

-- runs.rows_skipped counts the rows of replayed batches that a target
-- already held and did not load again; rows_written counts rows that landed.
ALTER TABLE "runs" ADD COLUMN "rows_skipped" INTEGER NOT NULL DEFAULT 0;
