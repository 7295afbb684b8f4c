package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3" // also registers the "sqlite3" driver

	"github.com/nightjar-etl/nightjar/etl"
	nsql "github.com/nightjar-etl/nightjar/sql"
)

// busyTimeout is how long a writer waits for another process's write
// transaction before giving up with SQLITE_BUSY. Commits are short (one per
// batch), so reaching it means something is stuck.
const busyTimeout = 10 * time.Second

// Store is the SQLite state store. It is safe for concurrent use, and
// several Stores (in one or several processes) may share a file.
type Store struct {
	db   *sqlx.DB
	path string
}

var (
	_ etl.Store      = (*Store)(nil)
	_ etl.PathLedger = (*Store)(nil)
)

// Open opens the state database at path, creating it and its parent
// directories if needed, and brings its schema up to date. It refuses,
// with ErrSchemaTooNew, a database migrated by a newer nightjar.
//
// The database runs in WAL mode with synchronous=FULL: a committed
// transaction survives a process crash and a power loss. NORMAL would only
// survive the former and save an fsync per commit, which at one commit per
// batch of thousands of rows is not worth the checkpoint promise.
// Foreign keys are enforced, and every transaction begins IMMEDIATE so two
// writers queue on the busy timeout instead of deadlocking.
func Open(ctx context.Context, path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := create(ctx, abs); err != nil {
			return nil, fmt.Errorf("create state store %s: %w", path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	case fi.Size() == 0:
		return nil, fmt.Errorf("open state store %s: %w", path, ErrStoreEmpty)
	}
	s, err := open(ctx, abs)
	if err != nil {
		if werr := writable(filepath.Dir(abs)); werr != nil {
			err = werr // SQLite says "unable to open database file: no such file or directory"
		}
		return nil, fmt.Errorf("open state store %s: %w", path, explain(err))
	}
	s.path = path
	return s, nil
}

// ErrStoreEmpty is returned by Open for a state store file of 0 bytes:
// truncated, or replaced by an empty file. nightjar never leaves one (a
// new store is built aside and linked into place), and opening it as a
// new store would load every source again from the start.
var ErrStoreEmpty = errors.New("the file is empty (0 bytes): its checkpoints, file ledger and replay markers are gone, " +
	"and a run now would load everything again. Restore it from a backup; or, to start afresh knowing that " +
	"append targets will take every row again, delete it")

// ErrNotAStore is returned by Open for a file that is not a SQLite
// database, or one whose pages are damaged.
var ErrNotAStore = errors.New("not a readable SQLite database (damaged, or another kind of file): restore the state store from a backup")

// explain turns SQLite's codes for a damaged or foreign file into
// ErrNotAStore.
func explain(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt) {
		return fmt.Errorf("%w (%v)", ErrNotAStore, err)
	}
	return err
}

// writable reports why dir cannot take the files the store writes beside
// itself (its WAL and shared-memory files, and checkpoints), or nil.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".nightjar-probe-*")
	if err != nil {
		return fmt.Errorf("its folder %s cannot be written (%w): nightjar records every run and checkpoint there; give it a writable folder (state: in the config)", dir, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// open opens and migrates the database at abs.
func open(ctx context.Context, abs string) (*Store, error) {
	db, err := sqlx.Open("sqlite3", dsn(abs))
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: abs}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// create builds a new, migrated state store beside abs and links it into
// place, so that a crash while creating leaves no file, never an empty or
// half-made one. A process that creates it at the same moment keeps the
// one linked first.
func create(ctx context.Context, abs string) error {
	tmp, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".new-*")
	if err != nil {
		return err
	}
	tmp.Close()
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(tmp.Name() + suffix)
		}
	}()
	s, err := open(ctx, tmp.Name())
	if err != nil {
		return err
	}
	if err := s.db.Close(); err != nil { // checkpoints the WAL into the file
		return err
	}
	err = os.Link(tmp.Name(), abs)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		// A file system without hard links: rename, which replaces a
		// store another process made in the meantime (an empty one).
		return os.Rename(tmp.Name(), abs)
	}
	return nil
}

// dsn is the go-sqlite3 data source name for the file at abs: a "file:"
// URI, so a path holding '?' or '#' is not taken for parameters.
func dsn(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/x → /C:/x, as SQLite's URIs want
	}
	u := url.URL{Scheme: "file", Path: p}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	return u.String() + "?" + q.Encode()
}

func (s *Store) init(ctx context.Context) error {
	var mode string
	if err := s.db.GetContext(ctx, &mode, stmts.JournalMode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL: is the file on a file system without shared memory (a network share)?", mode)
	}
	migrations, err := loadMigrations(nsql.StateMigrations, "state")
	if err != nil {
		return err
	}
	return migrate(ctx, s.db, migrations)
}

// DB returns the underlying database, for tests and diagnostics.
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state store %s: %w", s.path, err)
	}
	return nil
}

// LedgerEntry reports the ledger entry of job's file with this content
// hash, if any: loaded, or failed (Status).
func (s *Store) LedgerEntry(ctx context.Context, job, sha256 string) (etl.FileRecord, bool, error) {
	var r fileRow
	err := s.db.GetContext(ctx, &r, stmts.LedgerEntry, job, sha256)
	if errors.Is(err, sql.ErrNoRows) {
		return etl.FileRecord{}, false, nil
	}
	if err != nil {
		return etl.FileRecord{}, false, fmt.Errorf("look up file %s of job %s: %w", sha256, job, err)
	}
	return r.record(), true, nil
}

// LastLoaded reports the newest entry of job's file loaded from path.
func (s *Store) LastLoaded(ctx context.Context, job, path string) (etl.FileRecord, bool, error) {
	var r fileRow
	err := s.db.GetContext(ctx, &r, stmts.LastLoaded, job, path)
	if errors.Is(err, sql.ErrNoRows) {
		return etl.FileRecord{}, false, nil
	}
	if err != nil {
		return etl.FileRecord{}, false, fmt.Errorf("look up the file loaded from %s by job %s: %w", path, job, err)
	}
	return r.record(), true, nil
}

// Checkpoint returns the last committed position of a job stream; a zero
// Checkpoint (nil Position, Seq 0) when there is none.
func (s *Store) Checkpoint(ctx context.Context, job, stream string) (etl.Checkpoint, error) {
	var r positionRow
	err := s.db.GetContext(ctx, &r, stmts.Checkpoint, job, stream)
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
	if err := s.db.SelectContext(ctx, &rows, stmts.Checkpoints, job); err != nil {
		return nil, fmt.Errorf("read checkpoints of %s: %w", job, err)
	}
	out := make([]etl.Checkpoint, len(rows))
	for i := range rows {
		out[i] = rows[i].checkpoint()
	}
	return out, nil
}

// BeginRun records a new running run and returns its id. Runs of the job
// still marked running (a crashed process) become interrupted, with at as
// their end.
func (s *Store) BeginRun(ctx context.Context, job, trigger string, at time.Time) (int64, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, stmts.InterruptStaleRuns,
		etl.RunInterrupted, formatTime(at), "the process running it ended before the run did",
		job, etl.RunRunning); err != nil {
		return 0, fmt.Errorf("begin run of %s: mark stale runs interrupted: %w", job, err)
	}
	for _, discard := range []string{stmts.DiscardStagedQuarantineOfJob, stmts.DiscardStagedFilesOfJob} {
		if _, err := tx.ExecContext(ctx, discard, job); err != nil {
			return 0, fmt.Errorf("begin run of %s: discard what interrupted runs staged: %w", job, err)
		}
	}
	res, err := tx.ExecContext(ctx, stmts.BeginRun, job, trigger, etl.RunRunning, formatTime(at))
	if err != nil {
		return 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("begin run of %s: %w", job, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("begin run of %s: commit: %w", job, err)
	}
	return id, nil
}

// commit records position, counters, rejects and finished files in one
// transaction: all or nothing. The run must exist, belong to c.Job and
// still be running: a run another process marked interrupted (its lease
// was lost) must not move the job's position.
//
// A reject's Row that is not valid JSON is stored as a JSON string holding
// it, so the quarantine's row_json is always JSON.
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
	at := formatTime(c.At)

	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("commit %s batch %d: begin: %w", c.Job, c.Seq, err)
	}
	defer tx.Rollback()

	res, err := tx.ExecContext(ctx, stmts.CommitCounters,
		c.Counters.Read, c.Counters.Written, c.Counters.Skipped, c.Counters.Rejected, c.Counters.Batches, c.Counters.Bytes,
		c.RunID, c.Job, etl.RunRunning)
	if err != nil {
		return fmt.Errorf("commit %s batch %d: update run %d: %w", c.Job, c.Seq, c.RunID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("commit %s batch %d: update run %d: %w", c.Job, c.Seq, c.RunID, err)
	}
	if n != 1 {
		return fmt.Errorf("commit %s batch %d: %w", c.Job, c.Seq, notRunning(ctx, tx, c.RunID, c.Job))
	}

	if err := upsertPosition(ctx, tx, c.Job, c.Stream, position, c.Seq, c.Load, c.RunID, at); err != nil {
		return fmt.Errorf("commit %s batch %d: %w", c.Job, c.Seq, err)
	}

	if c.Staged {
		if err := moveStaged(ctx, tx, c.RunID, at); err != nil {
			return fmt.Errorf("commit %s batch %d: %w", c.Job, c.Seq, err)
		}
	}
	if len(c.Rejects) > 0 {
		if err := insertRejects(ctx, tx, stmts.InsertQuarantine, c, at); err != nil {
			return fmt.Errorf("commit %s batch %d: %w", c.Job, c.Seq, err)
		}
	}
	if len(c.Files) > 0 {
		if err := upsertFiles(ctx, tx, c, at); err != nil {
			return fmt.Errorf("commit %s batch %d: %w", c.Job, c.Seq, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %s batch %d: %w", c.Job, c.Seq, err)
	}
	return nil
}

// stage sets aside c.Rejects and c.Files of run c.RunID for the run's
// Commit with Staged set. The run must be running.
func (s *Store) stage(ctx context.Context, c etl.Commit) error {
	if len(c.Rejects) == 0 && len(c.Files) == 0 {
		return nil
	}
	// Staged rows are worth nothing after a crash (the run's rows are read
	// again), so their commit need not wait for an fsync: on this
	// connection, until it returns to the pool, synchronous is NORMAL. The
	// run's final Commit, FULL, syncs the WAL with them in it.
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, stmts.SynchronousNormal); err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), stmts.SynchronousFull); err != nil {
			// Never hand a NORMAL connection back to the pool.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	defer tx.Rollback()
	var status string
	if err := tx.GetContext(ctx, &status, stmts.RunStatus, c.RunID, c.Job); err != nil || status != string(etl.RunRunning) {
		if err == nil {
			err = notRunning(ctx, tx, c.RunID, c.Job)
		}
		return fmt.Errorf("stage rejects of %s: %w", c.Job, err)
	}
	at := formatTime(c.At)
	if err := insertRejects(ctx, tx, stmts.InsertStagedQuarantine, c, at); err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	for _, f := range c.Files {
		if _, err := tx.ExecContext(ctx, stmts.StageFile, c.Job, c.RunID, f.Path, f.Size, formatTime(f.MTime), f.SHA256, f.Rows, f.Status()); err != nil {
			return fmt.Errorf("stage file %s: %w", f.Path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("stage rejects of %s run %d: %w", c.Job, c.RunID, err)
	}
	return nil
}

// moveStaged moves what run staged into the quarantine and the file
// ledger, in tx.
func moveStaged(ctx context.Context, tx *sqlx.Tx, run int64, at string) error {
	if _, err := tx.ExecContext(ctx, stmts.QuarantineStaged, run); err != nil {
		return fmt.Errorf("quarantine staged rejects: %w", err)
	}
	if _, err := tx.ExecContext(ctx, stmts.LedgerStaged, at, run); err != nil {
		return fmt.Errorf("file ledger of staged files: %w", err)
	}
	for _, discard := range []string{stmts.DiscardStagedQuarantineOfRun, stmts.DiscardStagedFilesOfRun} {
		if _, err := tx.ExecContext(ctx, discard, run); err != nil {
			return fmt.Errorf("clear what run %d staged: %w", run, err)
		}
	}
	return nil
}

// upsertPosition records a job stream's position (nil: from the start).
func upsertPosition(ctx context.Context, tx *sqlx.Tx, job, stream string, position any, seq int64, load string, runID int64, at string) error {
	if _, err := tx.ExecContext(ctx, stmts.UpsertPosition,
		job, stream, position, seq, load, runID, at); err != nil {
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
	var status string
	if err := tx.GetContext(ctx, &status, stmts.RunStatus, runID, job); err != nil || status != string(etl.RunRunning) {
		if err == nil {
			err = notRunning(ctx, tx, runID, job)
		}
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	if err := upsertPosition(ctx, tx, job, stream, nil, 0, load, runID, formatTime(at)); err != nil {
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("start load of %s: %w", job, err)
	}
	return nil
}

// notRunning explains why run id of job could not be updated.
func notRunning(ctx context.Context, tx *sqlx.Tx, id int64, job string) error {
	var r struct {
		Job    string `db:"job"`
		Status string `db:"status"`
	}
	err := tx.GetContext(ctx, &r, stmts.RunJobStatus, id)
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

// rejectChunk is how many rejects one INSERT carries: ten parameters each,
// well under SQLite's limit of 32766, and one statement per few hundred
// rows instead of one per row (about ten times faster).
const rejectChunk = 500

// insertRejects inserts c's rejects with insert, the statement of one row
// (stmts.InsertQuarantine or stmts.InsertStagedQuarantine), repeated for
// chunks of rows.
func insertRejects(ctx context.Context, tx *sqlx.Tx, insert string, c etl.Commit, at string) error {
	args := make([]any, 0, 10*min(len(c.Rejects), rejectChunk))
	full := repeatValues(insert, rejectChunk)
	for start := 0; start < len(c.Rejects); start += rejectChunk {
		chunk := c.Rejects[start:min(start+rejectChunk, len(c.Rejects))]
		args = args[:0]
		for i := range chunk {
			r := &chunk[i]
			origin, err := json.Marshal(r.Origin)
			if err != nil {
				return fmt.Errorf("quarantine %s: %w", r.Origin, err)
			}
			args = append(args, c.Job, c.RunID, at, r.Step, r.Origin.String(), string(origin),
				r.Field, r.Value, r.Reason, rowJSON(r.Row))
		}
		query := full
		if len(chunk) < rejectChunk {
			query = repeatValues(insert, len(chunk))
		}
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
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

func upsertFiles(ctx context.Context, tx *sqlx.Tx, c etl.Commit, at string) error {
	stmt, err := tx.PrepareContext(ctx, stmts.UpsertFile)
	if err != nil {
		return fmt.Errorf("file ledger: %w", err)
	}
	defer stmt.Close()
	for _, f := range c.Files {
		if _, err := stmt.ExecContext(ctx, c.Job, f.Path, f.Size, formatTime(f.MTime), f.SHA256, f.Status(),
			f.Rows, c.RunID, at); err != nil {
			return fmt.Errorf("file ledger %s: %w", f.Path, err)
		}
	}
	return nil
}

// endRun records a run's final status, counters and error text.
func (s *Store) endRun(ctx context.Context, runID int64, status etl.RunStatus, counters etl.Counters, errText string, at time.Time) error {
	switch status {
	case etl.RunSucceeded, etl.RunFailed, etl.RunCancelled, etl.RunInterrupted:
	default:
		return fmt.Errorf("end run %d: %q is not a final status", runID, status)
	}
	res, err := s.db.ExecContext(ctx, stmts.EndRun,
		status, formatTime(at), errText,
		counters.Read, counters.Written, counters.Skipped, counters.Rejected, counters.Batches, counters.Bytes, runID)
	if err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	}
	if n != 1 {
		return fmt.Errorf("end run %d: run not found", runID)
	}
	for _, discard := range []string{stmts.DiscardStagedQuarantineOfRun, stmts.DiscardStagedFilesOfRun} {
		if _, err := s.db.ExecContext(ctx, discard, runID); err != nil {
			return fmt.Errorf("end run %d: discard what it staged: %w", runID, err)
		}
	}
	return nil
}

// Runs lists the last runs, newest first; job "" means all jobs, and a
// limit of 0 or less means no limit.
func (s *Store) Runs(ctx context.Context, job string, limit int) ([]etl.Run, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	var rows []runRow
	var err error
	if job == "" {
		err = s.db.SelectContext(ctx, &rows, stmts.Runs, limit)
	} else {
		err = s.db.SelectContext(ctx, &rows, stmts.JobRuns, job, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out := make([]etl.Run, len(rows))
	for i := range rows {
		out[i] = rows[i].run()
	}
	return out, nil
}

// Files lists a job's file ledger, newest first.
func (s *Store) Files(ctx context.Context, job string) ([]etl.FileRecord, error) {
	var rows []fileRow
	if err := s.db.SelectContext(ctx, &rows, stmts.Files, job); err != nil {
		return nil, fmt.Errorf("list files of %s: %w", job, err)
	}
	out := make([]etl.FileRecord, len(rows))
	for i := range rows {
		out[i] = rows[i].record()
	}
	return out, nil
}

// Run returns the run with id; ok is false when there is none.
func (s *Store) Run(ctx context.Context, id int64) (run etl.Run, ok bool, err error) {
	var rows []runRow
	if err := s.db.SelectContext(ctx, &rows, stmts.Run, id); err != nil {
		return etl.Run{}, false, fmt.Errorf("run %d: %w", id, err)
	}
	if len(rows) == 0 {
		return etl.Run{}, false, nil
	}
	return rows[0].run(), true, nil
}

// RunQuarantine lists the rows a run rejected, in the order they were
// quarantined, limit of them from offset, with how many there are.
func (s *Store) RunQuarantine(ctx context.Context, runID int64, offset, limit int) ([]etl.QuarantineRecord, int, error) {
	var total int
	if err := s.db.GetContext(ctx, &total, stmts.RunQuarantineCount, runID); err != nil {
		return nil, 0, fmt.Errorf("count quarantine of run %d: %w", runID, err)
	}
	var rows []quarantineRow
	if err := s.db.SelectContext(ctx, &rows, stmts.RunQuarantine, runID, limit, offset); err != nil {
		return nil, 0, fmt.Errorf("list quarantine of run %d: %w", runID, err)
	}
	out := make([]etl.QuarantineRecord, len(rows))
	for i := range rows {
		out[i] = rows[i].record()
	}
	return out, total, nil
}

// Quarantined lists a job's rejected rows, newest first; limit 0 means all.
func (s *Store) Quarantined(ctx context.Context, job string, limit int) ([]etl.QuarantineRecord, error) {
	if limit <= 0 {
		limit = -1
	}
	var rows []quarantineRow
	if err := s.db.SelectContext(ctx, &rows, stmts.Quarantined, job, limit); err != nil {
		return nil, fmt.Errorf("list quarantine of %s: %w", job, err)
	}
	out := make([]etl.QuarantineRecord, len(rows))
	for i := range rows {
		out[i] = rows[i].record()
	}
	return out, nil
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
	if err := tx.SelectContext(ctx, &positions, stmts.Checkpoints, job); err != nil {
		return report, fmt.Errorf("reset %s: positions: %w", job, err)
	}
	for i := range positions {
		report.Checkpoints = append(report.Checkpoints, positions[i].checkpoint())
	}
	if _, err := tx.ExecContext(ctx, stmts.ResetPositions, job); err != nil {
		return report, fmt.Errorf("reset %s: positions: %w", job, err)
	}
	res, err := tx.ExecContext(ctx, stmts.ResetFiles, job)
	if err == nil {
		report.Files, err = res.RowsAffected()
	}
	if err != nil {
		return report, fmt.Errorf("reset %s: file ledger: %w", job, err)
	}
	// Fingerprint targets are "<job>/<target>": '0' sorts right after '/'.
	res, err = tx.ExecContext(ctx, stmts.ResetFingerprints, job+"/", job+"0")
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

// acquireLease takes the job's lease until now+ttl, or returns
// etl.ErrLeaseHeld when another owner holds one that has not expired at
// now. Taking it again as the same owner extends it. It is one statement,
// so two processes racing for a free lease cannot both win.
func (s *Store) acquireLease(ctx context.Context, job, owner string, ttl time.Duration, now time.Time) error {
	if ttl <= 0 {
		return fmt.Errorf("acquire lease of %s: ttl %s is not positive", job, ttl)
	}
	res, err := s.db.ExecContext(ctx, stmts.AcquireLease,
		job, owner, formatTime(now.Add(ttl)), formatTime(now))
	if err != nil {
		return fmt.Errorf("acquire lease of %s: %w", job, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("acquire lease of %s: %w", job, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", job, etl.ErrLeaseHeld)
	}
	return nil
}

// ReleaseLease gives the lease up. Releasing a lease one does not hold
// (expired and taken over, or never taken) does nothing.
func (s *Store) ReleaseLease(ctx context.Context, job, owner string) error {
	if _, err := s.db.ExecContext(ctx, stmts.ReleaseLease, job, owner); err != nil {
		return fmt.Errorf("release lease of %s: %w", job, err)
	}
	return nil
}

// LeaseHolder returns who holds the job's lease and until when; ok is false
// when nobody does.
func (s *Store) LeaseHolder(ctx context.Context, job string) (string, time.Time, bool, error) {
	var row struct {
		Owner   string `db:"owner"`
		Expires dbTime `db:"expires_at"`
	}
	err := s.db.GetContext(ctx, &row, stmts.LeaseHolder, job)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("lease of %s: %w", job, err)
	}
	return row.Owner, row.Expires.Time, true, nil
}

// fingerprintChunk bounds the ids of one IN list or one multi-row upsert.
const fingerprintChunk = 500

// Fingerprints returns the stored digests of ids for target; ids never
// sent are absent.
func (s *Store) Fingerprints(ctx context.Context, target string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for start := 0; start < len(ids); start += fingerprintChunk {
		chunk := ids[start:min(start+fingerprintChunk, len(ids))]
		q, args, err := sqlx.In(stmts.Fingerprints, target, chunk)
		if err != nil {
			return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
		}
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
		}
		for rows.Next() {
			var id, fp string
			if err := rows.Scan(&id, &fp); err != nil {
				rows.Close()
				return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
			}
			out[id] = fp
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
		}
	}
	return out, nil
}

// AllFingerprints returns every record id of target with its digest.
func (s *Store) AllFingerprints(ctx context.Context, target string) (map[string]string, error) {
	var rows []struct {
		ID string `db:"record_id"`
		FP string `db:"fingerprint"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT "record_id", "fingerprint" FROM "fingerprints" WHERE "target" = ?`, target); err != nil {
		return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.FP
	}
	return out, nil
}

var _ etl.FingerprintLister = (*Store)(nil)

// SaveFingerprints records digests for target in one transaction.
func (s *Store) SaveFingerprints(ctx context.Context, target string, digests map[string]string, at time.Time) error {
	if len(digests) == 0 {
		return nil
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save fingerprints of %s: %w", target, err)
	}
	defer tx.Rollback()
	when := formatTime(at)
	args := make([]any, 0, 4*fingerprintChunk)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, repeatValues(stmts.SaveFingerprints, len(args)/4), args...)
		args = args[:0]
		return err
	}
	for id, fp := range digests {
		args = append(args, target, id, fp, when)
		if len(args) == 4*fingerprintChunk {
			if err := flush(); err != nil {
				return fmt.Errorf("save fingerprints of %s: %w", target, err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("save fingerprints of %s: %w", target, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save fingerprints of %s: %w", target, err)
	}
	return nil
}

// Commit is commit, a full disk said as such (see full).
func (s *Store) Commit(ctx context.Context, c etl.Commit) error {
	return s.full(s.commit(ctx, c))
}

// Stage is stage, a full disk said as such (see full).
func (s *Store) Stage(ctx context.Context, c etl.Commit) error {
	return s.full(s.stage(ctx, c))
}

// EndRun is endRun, a full disk said as such (see full).
func (s *Store) EndRun(ctx context.Context, runID int64, status etl.RunStatus, counters etl.Counters, errText string, at time.Time) error {
	return s.full(s.endRun(ctx, runID, status, counters, errText, at))
}

// AcquireLease is acquireLease, a full disk said as such (see full).
func (s *Store) AcquireLease(ctx context.Context, job, owner string, ttl time.Duration, now time.Time) error {
	return s.full(s.acquireLease(ctx, job, owner, ttl, now))
}

// full names the state store and what to do when its disk is full
// (SQLite's "database or disk is full"): the last checkpoint stands, and
// the next run, with room again, goes on from it.
func (s *Store) full(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrFull {
		return fmt.Errorf("the state store %s has no room left (its disk is full): free space there; the last checkpoint stands and the next run goes on from it: %w", s.path, err)
	}
	return err
}
