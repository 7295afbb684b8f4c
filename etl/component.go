package etl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"
)

// Position is an opaque, JSON-encoded resume point chosen by a source: file
// + byte offset + line, cursor value + tie-breaker key, page token. nil
// means "from the start".
type Position = json.RawMessage

// ErrEndOfInput is returned by Source.Next when there is nothing more to read.
var ErrEndOfInput = errors.New("end of input")

// Ledger answers whether a file's content was already loaded by a job. The
// state store implements it; file sources consult it.
type Ledger interface {
	// LedgerEntry reports the ledger entry of job's file with this content
	// hash, if any: loaded, or failed (Status).
	LedgerEntry(ctx context.Context, job, sha256 string) (FileRecord, bool, error)
}

// PathLedger is a Ledger that also finds the file last loaded from a path,
// so that a file that only grew is read from where its load ended.
type PathLedger interface {
	Ledger
	// LastLoaded reports the newest entry of job's file loaded from path.
	LastLoaded(ctx context.Context, job, path string) (FileRecord, bool, error)
}

// SizeLedger is a Ledger that also tells whether it holds a file of a
// given size: a file of a size it holds none of is none it has seen, so a
// file source can read it without hashing it first and learn its content
// hash while reading it.
type SizeLedger interface {
	Ledger
	// HoldsSize reports whether job's ledger has an entry (of any status)
	// of size bytes.
	HoldsSize(ctx context.Context, job string, size int64) (bool, error)
}

// SourceEnv is what a source is opened with.
type SourceEnv struct {
	Job string
	// Position is the last committed position; nil to start from the start.
	Position Position
	// FullRefresh asks the source to ignore what was loaded before (the
	// file ledger, a cursor): everything is read again. Its Position is
	// nil, but for a Reopener opened again by a rewind (see
	// TargetEnv.Rewinds): the full refresh then reads on from there.
	FullRefresh bool
	BatchSize   int
	Ledger      Ledger
	// Notes keeps small records that the source writes at once, not with
	// a checkpoint, under keys of the job's (a state reset forgets them):
	// a broker source records there where it cut a batch short, before
	// the targets see the batch, so that a replay after a crash cuts it
	// the same way. Nil in a dry run and a preview: nothing to record.
	Notes  Fingerprints
	Logger *slog.Logger
	Clock  Clock
}

// KeyRange is a share of a SQL table source split by a worker into key
// ranges (partition_rows): the rows whose range column is above Lo and at
// most Hi, the bounds as text (FormatValue of the column's value). Lo ""
// is the first range: the rows after the job's position.
type KeyRange struct {
	Lo string `json:"lo,omitempty"`
	Hi string `json:"hi"`
}

// Source reads batches. Implementations are used by one goroutine.
type Source interface {
	// Open prepares to read from env.Position.
	Open(ctx context.Context, env SourceEnv) error
	// Next returns the next batch, or ErrEndOfInput. Each batch carries the
	// position to resume from after it; a batch may have no rows (a file
	// with a header only still reports the file done).
	Next(ctx context.Context) (*Batch, error)
	// Close releases the source's resources. The runner calls it once per
	// Open, last: after the run's final checkpoint commit and its Ack (see
	// Acker), and after the targets closed, also when the run failed. Its
	// error is part of the run's result (the run is reported failed, with
	// the error), but what was committed stays committed: a source must
	// not let go there of input whose rows it has not seen acked.
	Close(ctx context.Context) error
}

// Acker is a Source told when its batches are recorded: after the state
// store committed a checkpoint, the runner calls Ack with its position
// (the order is always checkpoint commit, then Ack; Source.Close comes
// after the last Ack),
// from one goroutine, in order, concurrently with Next. Everything the
// source gave up to that position is durable in every target and in the
// state store, so a source acts there on what it may now let go: the files
// source archives the files the ledger holds, a broker source acks its
// messages. An error fails the run; the rows stay loaded and recorded.
type Acker interface {
	Ack(ctx context.Context, pos Position) error
}

// Watcher is a Source whose input can be watched: it tells when new input
// is waiting (files that landed in a folder and settled), so a run started
// then finds it. The scheduler is its one user: the daemon watches the
// jobs whose config asks for it (Watching), run --watch the jobs it names.
type Watcher interface {
	// Watching reports whether the source's config asks for it to be
	// watched (the files source's `watch: true`).
	Watching() bool
	// Watch calls ready, from any goroutine, once it is watching (so that
	// a first run loads the input already there) and then each time new
	// input is waiting, until ctx ends; it then returns nil, or earlier
	// the error that stopped it from watching. It never reads the input:
	// the run ready triggers decides what is new. log receives its notes.
	Watch(ctx context.Context, log *slog.Logger, ready func()) error
}

// Step transforms batches. A step may return the batch it was given,
// modified in place, or a new one; it records rows it refuses with
// Batch.Reject and removes them.
type Step interface {
	Apply(ctx context.Context, b *Batch) (*Batch, error)
}

// Flusher is a step that holds rows across batches (dedupe, aggregate,
// sort). At the end of input the runner calls Flush repeatedly until it
// returns a nil batch: each call returns the next of the rows the step
// held, at most DefaultBatchSize (or the step's configured batch size) of
// them, so that a step's output need not fit in memory at once; after the
// last rows, Flush returns nil, and keeps returning nil if called again.
// A pipeline holding such a step is only checkpointed after the last
// flushed batch.
type Flusher interface {
	Step
	Flush(ctx context.Context) (*Batch, error)
}

// Durability says when a target's writes survive a crash.
type Durability int

const (
	// DurablePerBatch: Write returns once the batch is durable (a committed
	// transaction, an HTTP 2xx).
	DurablePerBatch Durability = iota
	// DurableAtCommit: nothing is durable before Commit returns (a file
	// written to a temporary name and renamed on commit).
	DurableAtCommit
)

// TargetEnv is what a target is opened with.
type TargetEnv struct {
	Job string
	// Name identifies the target within the job ("leads[0] table leads"),
	// for replay markers and messages.
	Name    string
	RunID   int64
	RunDate time.Time
	Logger  *slog.Logger
	Clock   Clock
	// Partition names the partition of the job's input this run loads
	// (RunOptions.Partition); "" for a run of the whole job. A file target
	// names its output per partition with it.
	Partition string
	// FullRefresh is set when the run reloads everything: a target that
	// skips unchanged records (fingerprints) sends them all.
	FullRefresh bool
	// Fingerprints remembers what the target last sent per record, for
	// change detection; keys are scoped to Job and Name.
	Fingerprints Fingerprints
	// FullPass, called from Commit, reports whether this run read the
	// job's whole input: a full refresh (RunOptions.FullRefresh) whose
	// source reached its end, not cut by a row limit or a stop, and not
	// failing for too many rejects. Any other run may have seen only part
	// of the input (the files source skips files already loaded, a cursor
	// reads what changed), so a target that acts on what it did NOT see (a
	// segment's tag removed from members absent from the output) acts only
	// when it reports true. Nil means false.
	FullPass func() bool
	// Syncs is set when the runner will call Sync on the target (it is a
	// Syncer). Without it a Syncer must make every batch durable before
	// its Write returns: a target wrapped in one that hides Sync stays
	// durable per batch.
	Syncs bool
	// Rewinds is set when the runner answers a failure the target marks
	// with Rewind by reading again, from the last checkpoint, what the
	// target had not made durable (see Reopener): a Syncer then need not
	// keep the batches of its open transaction to load them again.
	Rewinds bool
}

// Reopener is an optional Source and Target interface: Reopens reports
// that Open may be called again after Close, and then starts afresh from
// the env it is given (a source reads from env.Position, in a full
// refresh too), as in a new run. The runner rewinds (TargetEnv.Rewinds)
// only a job whose source and targets all reopen.
type Reopener interface {
	Reopens() bool
}

func reopens(c any) bool {
	r, ok := c.(Reopener)
	return ok && r.Reopens()
}

// Fingerprints stores, per target and record id, a digest of the record
// last delivered, so unchanged records need not be sent again. The state
// store implements it.
type Fingerprints interface {
	// Fingerprints returns the stored digests of the given ids; ids never
	// sent are absent from the map.
	Fingerprints(ctx context.Context, target string, ids []string) (map[string]string, error)
	// SaveFingerprints records digests after the target accepted the
	// records. A crash before it only means records are sent again, which
	// upserts make harmless.
	SaveFingerprints(ctx context.Context, target string, digests map[string]string, at time.Time) error
}

// FingerprintLister is a Fingerprints store that can list every record
// of a target, for a target that must find the records it no longer sees
// (a segment's members). The state store implements it.
type FingerprintLister interface {
	AllFingerprints(ctx context.Context, target string) (map[string]string, error)
}

// Target writes batches. Write is called from one goroutine.
type Target interface {
	Open(ctx context.Context, env TargetEnv) error
	// Write delivers one batch. A batch replayed after a crash (same
	// BatchKey) must not be applied twice.
	Write(ctx context.Context, b *Batch) error
	// Commit makes everything written durable (renames a file into place).
	Commit(ctx context.Context) error
	// Close releases resources; without a Commit it abandons uncommitted
	// output (removes a temporary file).
	Close() error
	Durability() Durability
}

// DryRunner is an optional Target interface: in a dry run (where Open,
// Write and Commit are not called) DryRun says what the target would send
// for a batch, one line per item, without any I/O: the statements with
// their row counts for a table, the requests with their bodies (secrets
// masked) for an API, the path and row count for a file. env is what
// Open would get.
type DryRunner interface {
	DryRun(ctx context.Context, env TargetEnv, b *Batch) ([]string, error)
}

// Syncer is an optional Target interface for a target that makes many
// batches durable at once: a database loading several batches in one
// transaction, since a commit (an fsync) per batch is what bounds a bulk
// load. Its Write may return before the batch is durable; Sync makes every
// batch written so far durable. The runner records no position past a
// batch written to a Syncer until a Sync after it returned; it calls Sync
// after a Write for which SyncDue reports true, when no batch has arrived
// for a while (a slow source must not keep a transaction open), and at the
// end of input. A Syncer that is closed without a Sync abandons what it did
// not sync (its transaction rolls back), and the batches are read again
// next run.
type Syncer interface {
	Target
	Sync(ctx context.Context) error
	// SyncDue reports whether what was written since the last Sync is
	// worth syncing now (enough rows, or open long enough).
	SyncDue() bool
}

// Rejecter is a target that refuses some rows of a batch it otherwise
// delivered (per-record API errors). After each successful Write the runner
// calls TakeRejects, from the goroutine that called Write, and records the
// result in the quarantine in the same transaction as the batch's position.
// The target forgets them once taken.
type Rejecter interface {
	TakeRejects() []Reject
}

// BatchKey identifies a batch across replays: its load (see
// Checkpoint.Load), the job's batch sequence and a digest of the position
// after it. A batch replayed after a crash has all three the same; a batch
// cut differently (another batch size) has another key, so it is loaded
// again rather than skipped: at-least-once, never lost; and a batch of a
// new load (after a state reset or with a full refresh) has a key no
// earlier marker holds. A batch of no load (a position recorded before
// loads existed) keeps the key it had then.
func BatchKey(b *Batch) string {
	sum := sha256.Sum256(b.Position)
	key := strconv.FormatInt(b.Seq, 10) + "-" + hex.EncodeToString(sum[:8])
	if b.Load != "" {
		key = b.Load + "-" + key
	}
	return key
}

// Skipper is a target that skips the batches it already holds (replays
// after a crash, by BatchKey). TakeSkipped returns the rows it skipped and
// made final since the last call: after a Write for a target durable per
// batch, after a Sync for a Syncer, after Commit. The runner counts them
// as skipped, not written, and calls it from the goroutine that calls
// Write, only once every target has made the batches durable.
type Skipper interface {
	TakeSkipped() int64
}

// Releaser is an optional Step and Target interface: ReleasesBatches
// reports whether the step or target keeps no reference to a batch's
// column vectors or origins once it is done with the batch, so that they
// may be filled with a later batch's rows. A step is done with a batch
// when Apply returns (the batch it returns goes on down the chain; a
// Flusher holds rows, so it is never done); a target when Write returns,
// or for a Syncer when the next Sync returns. That includes the text its
// strings point to, which a source may read later rows into (the CSV
// decoder's arena): a string kept longer (a dedupe key, a cached lookup
// value) must be a copy (strings.Clone). The runner copies the rejects'
// strings it stores after the batch is released.
//
// The runner releases a batch only when every step and target of the job
// says so; one that does not implement Releaser is taken to keep batches.
type Releaser interface {
	ReleasesBatches() bool
}

// WriteReleaser is a Syncer and Releaser that keeps no batch past Write
// when ReleasesAtWrite reports true (a database whose open transaction is
// never loaded again): its batches are released without waiting for the
// Sync. Any other Syncer that releases its batches is taken to keep each
// one until the next Sync returns.
type WriteReleaser interface {
	ReleasesAtWrite() bool
}

// releasesBatches reports whether every step and target of job releases
// its batches (see Releaser).
func releasesBatches(job *Job) bool {
	if !(StepChain{Steps: job.Steps}).ReleasesBatches() {
		return false
	}
	for _, t := range job.Targets {
		if r, ok := t.Target.(Releaser); !ok || !r.ReleasesBatches() {
			return false
		}
	}
	return true
}

// ReleasesBatches reports whether every step of the chain releases its
// batches (see Releaser): a batch that went through the chain may then be
// released once its targets are done with it.
func (c StepChain) ReleasesBatches() bool {
	for _, s := range c.Steps {
		if _, ok := s.Step.(Flusher); ok {
			return false
		}
		if r, ok := s.Step.(Releaser); !ok || !r.ReleasesBatches() {
			return false
		}
	}
	return true
}
