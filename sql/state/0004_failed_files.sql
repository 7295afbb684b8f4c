-- A file that could not be loaded is recorded in the ledger as failed, so
-- that the files beside it load and the same bytes are not tried again;
-- staged files carry the status to the final checkpoint.
ALTER TABLE "staged_files" ADD COLUMN "status" TEXT NOT NULL DEFAULT 'loaded';
