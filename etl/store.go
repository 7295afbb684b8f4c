package etl

import (
	"context"
	"errors"
	"time"
)

// RunStatus is the state of a run.
type RunStatus string

// Run statuses.
const (
	RunRunning     RunStatus = "running"
	RunSucceeded   RunStatus = "succeeded"
	RunFailed      RunStatus = "failed"
	RunCancelled   RunStatus = "cancelled"
	RunInterrupted RunStatus = "interrupted" // found running after a crash
)

// Counters are a run's row and byte counts. They count what happened,
// never what was attempted.
type Counters struct {
	// Read is the rows the source gave (loaded or rejected).
	Read int64 `json:"read" db:"rows_read"`
	// Written is the rows that landed: made durable by every target
	// (committed, synced, renamed into place). A dry run writes none.
	Written int64 `json:"written" db:"rows_written"`
	// Skipped is the rows of replayed batches a target already held and
	// did not load again (its replay marker matched); with several
	// targets, the most any one of them skipped. They are not in Written.
	Skipped int64 `json:"skipped" db:"rows_skipped"`
	// Rejected is the rows recorded in the quarantine (in a dry run: the
	// rows that would have been).
	Rejected int64 `json:"rejected" db:"rows_rejected"`
	Batches  int64 `json:"batches" db:"batches"`
	Bytes    int64 `json:"bytes" db:"bytes_read"`
}

// Run is one execution of a job.
type Run struct {
	ID        int64     `json:"id" db:"id"`
	Job       string    `json:"job" db:"job"`
	Trigger   string    `json:"trigger" db:"trigger"`
	Status    RunStatus `json:"status" db:"status"`
	StartedAt time.Time `json:"started_at" db:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero" db:"ended_at"`
	Counters
	Error string `json:"error,omitempty" db:"error"`
}

// Checkpoint is a job stream's last committed position.
type Checkpoint struct {
	Job      string   `json:"job" db:"job"`
	Stream   string   `json:"stream" db:"stream"`
	Position Position `json:"position" db:"position"`
	Seq      int64    `json:"seq" db:"seq"`
	// Load identifies the load the position belongs to: chosen when a job
	// starts from nothing (its first run, after a state reset, a full
	// refresh), kept by the runs that resume it. Batch keys carry it, so a
	// replay marker of an earlier load never matches a batch of this one.
	Load      string    `json:"load,omitempty" db:"load_id"`
	RunID     int64     `json:"run_id" db:"run_id"`
	UpdatedAt time.Time `json:"updated_at" db:"updated_at"`
}

// FileRecord is a file-ledger entry.
type FileRecord struct {
	Job      string    `json:"job" db:"job"`
	Path     string    `json:"path" db:"path"`
	Size     int64     `json:"size" db:"size"`
	MTime    time.Time `json:"mtime" db:"mtime"`
	SHA256   string    `json:"sha256" db:"sha256"`
	Status   string    `json:"status" db:"status"`
	Rows     int64     `json:"rows" db:"rows"`
	RunID    int64     `json:"run_id" db:"run_id"`
	LoadedAt time.Time `json:"loaded_at" db:"loaded_at"`
}

// QuarantineRecord is a rejected row as stored.
type QuarantineRecord struct {
	ID      int64     `json:"id" db:"id"`
	Job     string    `json:"job" db:"job"`
	RunID   int64     `json:"run_id" db:"run_id"`
	At      time.Time `json:"at" db:"created_at"`
	Step    string    `json:"step" db:"step"`
	Origin  string    `json:"origin" db:"origin"`
	Field   string    `json:"field,omitempty" db:"field"`
	Value   string    `json:"value,omitempty" db:"value"`
	Reason  string    `json:"reason" db:"reason"`
	RowJSON string    `json:"row" db:"row_json"`
}

// Commit is what the runner records in one transaction once every target
// has durably written the batches up to Position.
type Commit struct {
	RunID    int64
	Job      string
	Stream   string
	Position Position
	Seq      int64
	// Load is the load Position belongs to (see Checkpoint.Load).
	Load string
	// Counters are the run's totals so far (not a delta).
	Counters Counters
	Rejects  []Reject
	Files    []FileDone
	// Staged asks the store to record, besides Rejects and Files, what
	// Stage set aside for this run.
	Staged bool
	At     time.Time

	// stage marks a Commit the runner hands to its commit stage for
	// Store.Stage rather than Store.Commit.
	stage bool
}

// ResetReport is what a Store.Reset forgot.
type ResetReport struct {
	// Checkpoints are the positions the job's streams had.
	Checkpoints []Checkpoint
	// Files and Fingerprints count the file-ledger entries and target
	// fingerprints removed.
	Files, Fingerprints int64
}

// ErrLeaseHeld is returned when another process holds a job's lease.
var ErrLeaseHeld = errors.New("job is running elsewhere (lease held)")

// Store is the state store: runs, positions, the file ledger, quarantine
// and leases. The embedded default is SQLite; a PostgreSQL store can take
// its place for several machines.
type Store interface {
	Ledger
	Fingerprints

	// Checkpoint returns the last committed position of a job stream; a
	// zero Checkpoint (nil Position, Seq 0) when there is none.
	Checkpoint(ctx context.Context, job, stream string) (Checkpoint, error)
	// Checkpoints lists every stream's checkpoint of a job.
	Checkpoints(ctx context.Context, job string) ([]Checkpoint, error)
	// StartLoad records that run begins load, a load from the start, as
	// the job stream's checkpoint (no position, sequence 0), before the
	// run writes anything: a run that crashes then resumes that load, and
	// its replayed batches keep their keys.
	StartLoad(ctx context.Context, job, stream, load string, runID int64, at time.Time) error
	// BeginRun records a new running run and returns its id. Runs of the
	// job still marked running (a crashed process) become interrupted.
	BeginRun(ctx context.Context, job, trigger string, at time.Time) (int64, error)
	// Commit records position, counters, rejects and finished files in one
	// transaction: all or nothing.
	Commit(ctx context.Context, c Commit) error
	// Stage sets aside c.Rejects and c.Files of run c.RunID, for the run's
	// Commit with Staged set to record in its transaction; the runner
	// stages what it would otherwise hold in memory until a checkpoint
	// held back to the run's end. Nothing staged is visible in the
	// quarantine or the file ledger before that Commit; what a run staged
	// is discarded when it ends without it.
	Stage(ctx context.Context, c Commit) error
	// EndRun records a run's final status, counters and error text.
	EndRun(ctx context.Context, runID int64, status RunStatus, counters Counters, errText string, at time.Time) error
	// Runs lists the last runs, newest first; job "" means all jobs.
	Runs(ctx context.Context, job string, limit int) ([]Run, error)
	// Files lists a job's file ledger, newest first.
	Files(ctx context.Context, job string) ([]FileRecord, error)
	// Quarantined lists a job's rejected rows, newest first; limit 0 means all.
	Quarantined(ctx context.Context, job string, limit int) ([]QuarantineRecord, error)
	// Reset forgets a job's positions, file ledger and fingerprints, so it
	// loads and sends everything again; runs and quarantine are history
	// and stay. It reports what it forgot.
	Reset(ctx context.Context, job string) (ResetReport, error)
	// AcquireLease takes the job's lease for ttl, or returns ErrLeaseHeld
	// when another owner holds an unexpired one. Taking it again as the
	// same owner extends it.
	AcquireLease(ctx context.Context, job, owner string, ttl time.Duration, now time.Time) error
	// ReleaseLease gives the lease up.
	ReleaseLease(ctx context.Context, job, owner string) error
	// LeaseHolder returns who holds the job's lease and until when; ok is
	// false when nobody does.
	LeaseHolder(ctx context.Context, job string) (owner string, expires time.Time, ok bool, err error)
	Close() error
}
