-- A file source asks whether the ledger holds a file of a given size: a
-- file of a size it holds none of is none it has seen, and is read
-- without hashing it first (its hash is taken while it is read).
CREATE INDEX "files_job_size" ON "files" ("job", "size");
