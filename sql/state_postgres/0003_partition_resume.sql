-- Resuming a failed partition's load (nightjar worker).
--
-- released_files: the files a failed partition gave back (their claims
-- not loaded), by content, with that partition. The next run that claims
-- such a file takes its row, and puts the files one failed partition gave
-- back into one partition of their own that continues its load: seeded
-- with its checkpoint (position, sequence and load), it resumes the file
-- it was reading where its last checkpoint left it, so rows it committed
-- are not loaded again. A row left for a file that changed or went away
-- is never taken, and does no harm.
CREATE TABLE "released_files" (
	"job"       text COLLATE "C" NOT NULL,
	"sha256"    text   NOT NULL,
	"partition" bigint NOT NULL REFERENCES "partitions" ("id"),
	PRIMARY KEY ("job", "sha256")
);

-- partitions.resumes: the failed partition whose load this one continues
-- (its checkpoint copied into this one's position stream), if any.
ALTER TABLE "partitions" ADD COLUMN "resumes" bigint REFERENCES "partitions" ("id");
