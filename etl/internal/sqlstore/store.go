package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
)

// Chunk is how many rows one multi-row INSERT carries (and ids one of
// SQLite's IN lists): ten parameters a reject, well under SQLite's limit
// of 32766 and PostgreSQL's of 65535, and one statement per few hundred
// rows instead of one per row (about ten times faster on SQLite).
const Chunk = 500

// Dialect is what differs between the databases of the state store.
type Dialect struct {
	// Statements are the dialect's SQL (see Load), with ? placeholders.
	Statements *Statements
	// Time is how a time is bound: SQLite's fixed-width text, PostgreSQL's
	// timestamptz truncated to the microsecond.
	Time func(time.Time) any
	// BeginUnsynced begins the transaction of Stage. Staged rows are worth
	// nothing after a crash (the run reads them again), so their commit
	// need not wait for the disk; done, when not nil, runs after the
	// transaction has ended.
	BeginUnsynced func(ctx context.Context, db *sqlx.DB) (tx *sqlx.Tx, done func(), err error)
	// Explain returns the error of a write (Commit, Stage, EndRun,
	// AcquireLease) saying what to do about it, or as it is; nil keeps
	// every error as it is.
	Explain func(error) error
}

// Store is etl.Store over db in a dialect; the SQLite and PostgreSQL
// stores embed it. It is safe for concurrent use.
type Store struct {
	db   *sqlx.DB
	d    Dialect
	q    Statements        // d.Statements in the driver's placeholders
	full map[string]string // a one-row INSERT of d.Statements → its form for Chunk rows, rebound
}

var (
	_ etl.Ledger            = (*Store)(nil)
	_ etl.PathLedger        = (*Store)(nil)
	_ etl.FingerprintLister = (*Store)(nil)
)

// New returns the store of d over db.
func New(db *sqlx.DB, d Dialect) *Store {
	if d.Explain == nil {
		d.Explain = func(err error) error { return err }
	}
	s := &Store{db: db, d: d, q: rebound(d.Statements, db.Rebind), full: map[string]string{}}
	for _, one := range []string{d.Statements.InsertQuarantine, d.Statements.InsertStagedQuarantine} {
		s.full[one] = db.Rebind(RepeatValues(one, Chunk))
	}
	return s
}

// DB returns the underlying database, for tests and diagnostics.
func (s *Store) DB() *sqlx.DB { return s.db }

// values returns one, a one-row INSERT of d.Statements, for n rows at
// once, in the driver's placeholders.
func (s *Store) values(one string, n int) string {
	if n == Chunk {
		return s.full[one]
	}
	return s.db.Rebind(RepeatValues(one, n))
}

// file returns the ledger entry query finds, if any.
func (s *Store) file(ctx context.Context, query string, args ...any) (etl.FileRecord, bool, error) {
	var r fileRow
	err := s.db.GetContext(ctx, &r, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return etl.FileRecord{}, false, nil
	}
	if err != nil {
		return etl.FileRecord{}, false, err
	}
	return r.record(), true, nil
}

// LedgerEntry reports the ledger entry of job's file with this content
// hash, if any: loaded, or failed (Status).
func (s *Store) LedgerEntry(ctx context.Context, job, sha256 string) (etl.FileRecord, bool, error) {
	r, ok, err := s.file(ctx, s.q.LedgerEntry, job, sha256)
	if err != nil {
		return r, false, fmt.Errorf("look up file %s of job %s: %w", sha256, job, err)
	}
	return r, ok, nil
}

// HoldsSize reports whether job's ledger has an entry of size bytes.
func (s *Store) HoldsSize(ctx context.Context, job string, size int64) (bool, error) {
	var found bool
	if err := s.db.GetContext(ctx, &found, s.q.LedgerHoldsSize, job, size); err != nil {
		return false, fmt.Errorf("look up files of %d bytes of job %s: %w", size, job, err)
	}
	return found, nil
}

// LastLoaded reports the newest entry of job's file loaded from path.
func (s *Store) LastLoaded(ctx context.Context, job, path string) (etl.FileRecord, bool, error) {
	r, ok, err := s.file(ctx, s.q.LastLoaded, job, path)
	if err != nil {
		return r, false, fmt.Errorf("look up the file loaded from %s by job %s: %w", path, job, err)
	}
	return r, ok, nil
}

// Checkpoint returns the last committed position of a job stream; a zero
// Checkpoint (nil Position, Seq 0) when there is none.
func (s *Store) Checkpoint(ctx context.Context, job, stream string) (etl.Checkpoint, error) {
	var r positionRow
	err := s.db.GetContext(ctx, &r, s.q.Checkpoint, job, stream)
	if errors.Is(err, sql.ErrNoRows) {
		return etl.Checkpoint{}, nil
	}
	if err != nil {
		return etl.Checkpoint{}, fmt.Errorf("read checkpoint of %s stream %q: %w", job, stream, err)
	}
	return r.checkpoint(), nil
}

// Checkpoints lists every stream's checkpoint of a job, by stream name.
func (s *Store) Checkpoints(ctx context.Context, job string) ([]etl.Checkpoint, error) {
	var rows []positionRow
	if err := s.db.SelectContext(ctx, &rows, s.q.Checkpoints, job); err != nil {
		return nil, fmt.Errorf("read checkpoints of %s: %w", job, err)
	}
	return collect(rows, (*positionRow).checkpoint), nil
}

// BeginRun records a new running run and returns its id. Runs of the job
// still marked running (a crashed process) become interrupted, with at as
// their end, and what they staged is discarded; which runs count as the
// job's is the dialect's (PostgreSQL's runs of partitions go on).
func (s *Store) BeginRun(ctx context.Context, job, trigger string, at time.Time) (int64, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	defer tx.Rollback()
	if s.q.LockJob != "" {
		if _, err := tx.ExecContext(ctx, s.q.LockJob, job); err != nil {
			return 0, fmt.Errorf("begin run of %s: %w", job, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.q.InterruptStaleRuns,
		etl.RunInterrupted, s.d.Time(at), "the process running it ended before the run did",
		job, etl.RunRunning); err != nil {
		return 0, fmt.Errorf("begin run of %s: mark stale runs interrupted: %w", job, err)
	}
	for _, discard := range []string{s.q.DiscardStagedQuarantineOfJob, s.q.DiscardStagedFilesOfJob} {
		if _, err := tx.ExecContext(ctx, discard, job, job, etl.RunRunning); err != nil {
			return 0, fmt.Errorf("begin run of %s: discard what interrupted runs staged: %w", job, err)
		}
	}
	var id int64
	if err := tx.GetContext(ctx, &id, s.q.BeginRun, job, trigger, etl.RunRunning, s.d.Time(at)); err != nil {
		return 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("begin run of %s: commit: %w", job, err)
	}
	return id, nil
}

// Commit records position, counters, rejects and finished files in one
// transaction: all or nothing. The run must exist, belong to c.Job and
// still be running: a run another process marked interrupted (its lease
// was lost) must not move the job's position.
//
// A reject's Row that is not valid JSON is stored as a JSON string holding
// it, so the quarantine's row_json is always JSON.
func (s *Store) Commit(ctx context.Context, c etl.Commit) error {
	return s.d.Explain(s.commit(ctx, c))
}

func (s *Store) commit(ctx context.Context, c etl.Commit) error {
	if c.At.IsZero() {
		return fmt.Errorf("commit %s batch %d: At is zero", c.Job, c.Seq)
	}
	var position any
	if c.Position != nil {
		if !json.Valid(c.Position) {
			return fmt.Errorf("commit %s batch %d: position is not JSON: %q", c.Job, c.Seq, c.Position)
		}
		position = string(c.Position)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("commit %s batch %d: begin: %w", c.Job, c.Seq, err)
	}
	defer tx.Rollback()
	if err := s.commitTx(ctx, tx, c, position); err != nil {
		return fmt.Errorf("commit %s batch %d: %w", c.Job, c.Seq, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %s batch %d: %w", c.Job, c.Seq, err)
	}
	return nil
}

func (s *Store) commitTx(ctx context.Context, tx *sqlx.Tx, c etl.Commit, position any) error {
	at := s.d.Time(c.At)
	res, err := tx.ExecContext(ctx, s.q.CommitCounters,
		c.Counters.Read, c.Counters.Written, c.Counters.Skipped, c.Counters.Rejected, c.Counters.Batches, c.Counters.Bytes,
		c.RunID, c.Job, etl.RunRunning)
	if err != nil {
		return fmt.Errorf("update run %d: %w", c.RunID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update run %d: %w", c.RunID, err)
	} else if n != 1 {
		return s.notRunning(ctx, tx, c.RunID, c.Job)
	}
	if err := s.upsertPosition(ctx, tx, c.Job, c.Stream, position, c.Seq, c.Load, c.RunID, at); err != nil {
		return err
	}
	if c.Staged {
		if err := s.moveStaged(ctx, tx, c.RunID, at); err != nil {
			return err
		}
	}
	if err := s.insertRejects(ctx, tx, s.d.Statements.InsertQuarantine, c, at); err != nil {
		return err
	}
	for _, f := range c.Files {
		if _, err := tx.ExecContext(ctx, s.q.UpsertFile, c.Job, f.Path, f.Size, s.d.Time(f.MTime), f.SHA256, f.Status(),
			f.Rows, c.RunID, at); err != nil {
			return fmt.Errorf("file ledger %s: %w", f.Path, err)
		}
	}
	return nil
}

// Stage sets aside c.Rejects and c.Files of run c.RunID for the run's
// Commit with Staged set. The run must be running.
func (s *Store) Stage(ctx context.Context, c etl.Commit) error {
	return s.d.Explain(s.stage(ctx, c))
}

func (s *Store) stage(ctx context.Context, c etl.Commit) error {
	if len(c.Rejects) == 0 && len(c.Files) == 0 {
		return nil
	}
	tx, done, err := s.d.BeginUnsynced(ctx, s.db)
	if err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	if done != nil {
		defer done()
	}
	defer tx.Rollback()
	if err := s.requireRunning(ctx, tx, c.RunID, c.Job); err != nil {
		return fmt.Errorf("stage rejects of %s: %w", c.Job, err)
	}
	at := s.d.Time(c.At)
	if err := s.insertRejects(ctx, tx, s.d.Statements.InsertStagedQuarantine, c, at); err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	for _, f := range c.Files {
		if _, err := tx.ExecContext(ctx, s.q.StageFile, c.Job, c.RunID, f.Path, f.Size, s.d.Time(f.MTime), f.SHA256, f.Rows, f.Status()); err != nil {
			return fmt.Errorf("stage file %s: %w", f.Path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	return nil
}

// requireRunning fails unless run id is a running run of job; the
// dialect's RunStatus may lock the run's row until tx ends.
func (s *Store) requireRunning(ctx context.Context, tx *sqlx.Tx, id int64, job string) error {
	var status string
	err := tx.GetContext(ctx, &status, s.q.RunStatus, id, job)
	if err == nil && status == string(etl.RunRunning) {
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read run %d: %w", id, err)
	}
	return s.notRunning(ctx, tx, id, job)
}

// notRunning explains why run id of job could not be updated.
func (s *Store) notRunning(ctx context.Context, tx *sqlx.Tx, id int64, job string) error {
	var r struct {
		Job    string `db:"job"`
		Status string `db:"status"`
	}
	err := tx.GetContext(ctx, &r, s.q.RunJobStatus, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("run %d not found", id)
	case err != nil:
		return fmt.Errorf("read run %d: %w", id, err)
	case r.Job != job:
		return fmt.Errorf("run %d belongs to job %s", id, r.Job)
	default:
		return fmt.Errorf("run %d is %s, not running (did another process take the job over?)", id, r.Status)
	}
}

// moveStaged moves what run staged into the quarantine and the file
// ledger, in tx. A file staged twice keeps its last entry.
func (s *Store) moveStaged(ctx context.Context, tx *sqlx.Tx, run int64, at any) error {
	if _, err := tx.ExecContext(ctx, s.q.QuarantineStaged, run); err != nil {
		return fmt.Errorf("quarantine staged rejects: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q.LedgerStaged, at, run); err != nil {
		return fmt.Errorf("file ledger of staged files: %w", err)
	}
	for _, discard := range []string{s.q.DiscardStagedQuarantineOfRun, s.q.DiscardStagedFilesOfRun} {
		if _, err := tx.ExecContext(ctx, discard, run); err != nil {
			return fmt.Errorf("clear what run %d staged: %w", run, err)
		}
	}
	return nil
}

// upsertPosition records a job stream's position (nil: from the start).
func (s *Store) upsertPosition(ctx context.Context, tx *sqlx.Tx, job, stream string, position any, seq int64, load string, runID int64, at any) error {
	if _, err := tx.ExecContext(ctx, s.q.UpsertPosition, job, stream, position, seq, load, runID, at); err != nil {
		return fmt.Errorf("record position: %w", err)
	}
	return nil
}

// StartLoad records that run begins load from the start as the job
// stream's checkpoint: no position, sequence 0. The run must be running.
func (s *Store) StartLoad(ctx context.Context, job, stream, load string, runID int64, at time.Time) error {
	if load == "" {
		return fmt.Errorf("start load of %s: no load id", job)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	defer tx.Rollback()
	if err := s.requireRunning(ctx, tx, runID, job); err != nil {
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	if err := s.upsertPosition(ctx, tx, job, stream, nil, 0, load, runID, s.d.Time(at)); err != nil {
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	return nil
}

// insertRejects inserts c's rejects with one, the dialect's INSERT of one
// row (InsertQuarantine or InsertStagedQuarantine), repeated for chunks of
// rows.
func (s *Store) insertRejects(ctx context.Context, tx *sqlx.Tx, one string, c etl.Commit, at any) error {
	args := make([]any, 0, 10*min(len(c.Rejects), Chunk))
	for start := 0; start < len(c.Rejects); start += Chunk {
		chunk := c.Rejects[start:min(start+Chunk, len(c.Rejects))]
		args = args[:0]
		for i := range chunk {
			r := &chunk[i]
			origin, err := json.Marshal(r.Origin)
			if err != nil {
				return fmt.Errorf("quarantine %s: %w", r.Origin, err)
			}
			args = append(args, c.Job, c.RunID, at, Text(r.Step), Text(r.Origin.String()), Text(string(origin)),
				Text(r.Field), Text(r.Value), Text(r.Reason), jsonText(rowJSON(r.Row)))
		}
		if _, err := tx.ExecContext(ctx, s.values(one, len(chunk)), args...); err != nil {
			return fmt.Errorf("quarantine rows from %s: %w", chunk[0].Origin, err)
		}
	}
	return nil
}

// rowJSON returns a reject's row as stored: "" for none, the JSON as is,
// or anything else as a JSON string.
func rowJSON(row json.RawMessage) string {
	if len(row) == 0 || json.Valid(row) {
		return string(row)
	}
	quoted, _ := json.Marshal(string(row))
	return string(quoted)
}

// Text returns s as both stores keep it: a NUL, and each byte that is not
// part of valid UTF-8, becomes the four characters \xNN, as the
// quarantine's listing shows them. PostgreSQL's text can hold neither (a
// rejected row carrying one failed the commit, its rows with it); SQLite
// keeps the same, so that the stores do not differ, and the operator sees
// which bytes they were (a value holding the text \xNN itself reads the
// same: the one ambiguity).
func Text(s string) string { return escapeBytes(s, `\x`) }

// jsonText is Text for JSON: the bytes that are not UTF-8 can only sit in
// its strings (a NUL cannot, unescaped), where \\xNN keeps the JSON valid
// and reads as the text \xNN.
func jsonText(s string) string { return escapeBytes(s, `\\x`) }

func escapeBytes(s, prefix string) string {
	clean := true
	for i := 0; i < len(s) && clean; {
		r, n := utf8.DecodeRuneInString(s[i:])
		clean = r != 0 && !(r == utf8.RuneError && n == 1)
		i += n
	}
	if clean {
		return s
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 12)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == 0 || (r == utf8.RuneError && n == 1) {
			b.WriteString(prefix)
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&0xf])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Execer runs a statement: a *sqlx.Tx, or a transaction of the driver's
// own adapted to it.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// EndRun records a run's final status, counters and error text, and
// discards what it staged, in one transaction.
func (s *Store) EndRun(ctx context.Context, runID int64, status etl.RunStatus, counters etl.Counters, errText string, at time.Time) error {
	return s.d.Explain(s.endRun(ctx, runID, status, counters, errText, at))
}

func (s *Store) endRun(ctx context.Context, runID int64, status etl.RunStatus, counters etl.Counters, errText string, at time.Time) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	}
	defer tx.Rollback()
	if err := s.EndRunIn(ctx, tx, runID, status, counters, errText, at); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	}
	return nil
}

// EndRunIn is EndRun's statements, run in tx, which the caller began and
// ends: the PostgreSQL store ends a run in the transaction that marks its
// River job completed.
func (s *Store) EndRunIn(ctx context.Context, tx Execer, runID int64, status etl.RunStatus, counters etl.Counters, errText string, at time.Time) error {
	switch status {
	case etl.RunSucceeded, etl.RunFailed, etl.RunCancelled, etl.RunInterrupted:
	default:
		return fmt.Errorf("end run %d: %q is not a final status", runID, status)
	}
	res, err := tx.ExecContext(ctx, s.q.EndRun,
		status, s.d.Time(at), Text(errText),
		counters.Read, counters.Written, counters.Skipped, counters.Rejected, counters.Batches, counters.Bytes, runID)
	if err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	} else if n != 1 {
		return fmt.Errorf("end run %d: run not found", runID)
	}
	for _, discard := range []string{s.q.DiscardStagedQuarantineOfRun, s.q.DiscardStagedFilesOfRun} {
		if _, err := tx.ExecContext(ctx, discard, runID); err != nil {
			return fmt.Errorf("end run %d: discard what it staged: %w", runID, err)
		}
	}
	return nil
}

// limit is a LIMIT as the statements take it: -1 for none.
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// Runs lists the last runs, newest first; job "" means all jobs, and a
// limit of 0 or less means no limit.
func (s *Store) Runs(ctx context.Context, job string, n int) ([]etl.Run, error) {
	var rows []RunRow
	var err error
	if job == "" {
		err = s.db.SelectContext(ctx, &rows, s.q.Runs, limit(n))
	} else {
		err = s.db.SelectContext(ctx, &rows, s.q.JobRuns, job, limit(n))
	}
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return collect(rows, (*RunRow).Run), nil
}

// Run returns the run with id; ok is false when there is none.
func (s *Store) Run(ctx context.Context, id int64) (run etl.Run, ok bool, err error) {
	var rows []RunRow
	if err := s.db.SelectContext(ctx, &rows, s.q.Run, id); err != nil {
		return etl.Run{}, false, fmt.Errorf("run %d: %w", id, err)
	}
	if len(rows) == 0 {
		return etl.Run{}, false, nil
	}
	return rows[0].Run(), true, nil
}

// Files lists a job's file ledger, newest first.
func (s *Store) Files(ctx context.Context, job string) ([]etl.FileRecord, error) {
	var rows []fileRow
	if err := s.db.SelectContext(ctx, &rows, s.q.Files, job); err != nil {
		return nil, fmt.Errorf("list files of %s: %w", job, err)
	}
	return collect(rows, (*fileRow).record), nil
}

// RunQuarantine lists the rows a run rejected, in the order they were
// quarantined, n of them (0 or less: all) from offset, with how many
// there are.
func (s *Store) RunQuarantine(ctx context.Context, runID int64, offset, n int) ([]etl.QuarantineRecord, int, error) {
	var total int
	if err := s.db.GetContext(ctx, &total, s.q.RunQuarantineCount, runID); err != nil {
		return nil, 0, fmt.Errorf("count quarantine of run %d: %w", runID, err)
	}
	var rows []quarantineRow
	if err := s.db.SelectContext(ctx, &rows, s.q.RunQuarantine, runID, limit(n), offset); err != nil {
		return nil, 0, fmt.Errorf("list quarantine of run %d: %w", runID, err)
	}
	return collect(rows, (*quarantineRow).record), total, nil
}

// Quarantined lists a job's rejected rows, newest first; n 0 means all.
func (s *Store) Quarantined(ctx context.Context, job string, n int) ([]etl.QuarantineRecord, error) {
	var rows []quarantineRow
	if err := s.db.SelectContext(ctx, &rows, s.q.Quarantined, job, limit(n)); err != nil {
		return nil, fmt.Errorf("list quarantine of %s: %w", job, err)
	}
	return collect(rows, (*quarantineRow).record), nil
}

// Reset forgets a job's positions, file ledger and fingerprints, so it
// loads everything again; runs and quarantine are history and stay. It
// reports what it forgot.
func (s *Store) Reset(ctx context.Context, job string) (etl.ResetReport, error) {
	var report etl.ResetReport
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return report, fmt.Errorf("reset %s: %w", job, err)
	}
	defer tx.Rollback()
	var positions []positionRow
	if err := tx.SelectContext(ctx, &positions, s.q.CheckpointsForReset, job); err != nil {
		return report, fmt.Errorf("reset %s: positions: %w", job, err)
	}
	if len(positions) > 0 {
		report.Checkpoints = collect(positions, (*positionRow).checkpoint)
	}
	if _, err := tx.ExecContext(ctx, s.q.ResetPositions, job); err != nil {
		return report, fmt.Errorf("reset %s: positions: %w", job, err)
	}
	res, err := tx.ExecContext(ctx, s.q.ResetFiles, job)
	if err == nil {
		report.Files, err = res.RowsAffected()
	}
	if err != nil {
		return report, fmt.Errorf("reset %s: file ledger: %w", job, err)
	}
	// Fingerprint targets are "<job>/<target>": '0' sorts right after '/'.
	res, err = tx.ExecContext(ctx, s.q.ResetFingerprints, job+"/", job+"0")
	if err == nil {
		report.Fingerprints, err = res.RowsAffected()
	}
	if err != nil {
		return report, fmt.Errorf("reset %s: fingerprints: %w", job, err)
	}
	if err := tx.Commit(); err != nil {
		return report, fmt.Errorf("reset %s: %w", job, err)
	}
	return report, nil
}

// AcquireLease takes the job's lease until now+ttl, or returns
// etl.ErrLeaseHeld when another owner holds one that has not expired at
// now. Taking it again as the same owner extends it. It is one statement,
// so two processes racing for a free lease cannot both win.
func (s *Store) AcquireLease(ctx context.Context, job, owner string, ttl time.Duration, now time.Time) error {
	return s.d.Explain(s.acquireLease(ctx, job, owner, ttl, now))
}

func (s *Store) acquireLease(ctx context.Context, job, owner string, ttl time.Duration, now time.Time) error {
	if ttl <= 0 {
		return fmt.Errorf("acquire lease of %s: ttl %s is not positive", job, ttl)
	}
	res, err := s.db.ExecContext(ctx, s.q.AcquireLease, job, owner, s.d.Time(now.Add(ttl)), s.d.Time(now))
	if err != nil {
		return fmt.Errorf("acquire lease of %s: %w", job, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("acquire lease of %s: %w", job, err)
	} else if n == 0 {
		return fmt.Errorf("%s: %w", job, etl.ErrLeaseHeld)
	}
	return nil
}

// ReleaseLease gives the lease up. Releasing a lease one does not hold
// (expired and taken over, or never taken) does nothing.
func (s *Store) ReleaseLease(ctx context.Context, job, owner string) error {
	if _, err := s.db.ExecContext(ctx, s.q.ReleaseLease, job, owner); err != nil {
		return fmt.Errorf("release lease of %s: %w", job, err)
	}
	return nil
}

// LeaseHolder returns who holds the job's lease and until when; ok is false
// when nobody does.
func (s *Store) LeaseHolder(ctx context.Context, job string) (string, time.Time, bool, error) {
	var row struct {
		Owner   string `db:"owner"`
		Expires Time   `db:"expires_at"`
	}
	err := s.db.GetContext(ctx, &row, s.q.LeaseHolder, job)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("lease of %s: %w", job, err)
	}
	return row.Owner, row.Expires.Time, true, nil
}

// AllFingerprints returns every record id of target with its digest.
func (s *Store) AllFingerprints(ctx context.Context, target string) (map[string]string, error) {
	out := map[string]string{}
	if err := ScanPairs(ctx, s.db, out, s.q.AllFingerprints, target); err != nil {
		return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
	}
	return out, nil
}

// ScanPairs adds the pairs of strings query finds in db (a record id and
// its fingerprint) to out. The stores look fingerprints up each their own
// way (SQLite: IN lists of Chunk ids, PostgreSQL: an array) and read them
// with it.
func ScanPairs(ctx context.Context, db sqlx.QueryerContext, out map[string]string, query string, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, fp string
		if err := rows.Scan(&id, &fp); err != nil {
			return err
		}
		out[id] = fp
	}
	return rows.Err()
}
