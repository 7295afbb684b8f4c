package sqlitestore

import (
	"context"
	"database/sql/driver"
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
	"github.com/nightjar-etl/nightjar/etl/internal/sqlstore"
	"github.com/nightjar-etl/nightjar/internal/fsync"
	nsql "github.com/nightjar-etl/nightjar/sql"
)

// busyTimeout is how long a writer waits for another process's write
// transaction before giving up with SQLITE_BUSY. Commits are short (one per
// batch), so reaching it means something is stuck.
const busyTimeout = 10 * time.Second

// Store is the SQLite state store. It is safe for concurrent use, and
// several Stores (in one or several processes) may share a file. Its
// operations are sqlstore.Store's, in SQLite's statements.
type Store struct {
	*base
	path string
}

// base is the store's logic, shared with the PostgreSQL store; an alias
// keeps the embedded field unexported.
type base = sqlstore.Store

var (
	_ etl.Store             = (*Store)(nil)
	_ etl.PathLedger        = (*Store)(nil)
	_ etl.SizeLedger        = (*Store)(nil)
	_ etl.FingerprintLister = (*Store)(nil)
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
	return openSync(ctx, abs, "FULL")
}

// openSync is open with SQLite's synchronous setting sync.
func openSync(ctx context.Context, abs, sync string) (*Store, error) {
	db, err := sqlx.Open("sqlite3", dsnSync(abs, sync))
	if err != nil {
		return nil, err
	}
	s := &Store{path: abs}
	s.base = sqlstore.New(db, sqlstore.Dialect{
		Statements:    shared,
		Time:          func(t time.Time) any { return formatTime(t) },
		BeginUnsynced: beginUnsynced,
		Explain:       s.full,
	})
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
	// Nobody sees the file before it is linked: its migrations commit
	// without an fsync each (synchronous=OFF), and it is synced once,
	// whole, before the link (6 fsyncs fewer for a first run).
	s, err := openSync(ctx, tmp.Name(), "OFF")
	if err != nil {
		return err
	}
	if err := s.DB().Close(); err != nil { // checkpoints the WAL into the file
		return err
	}
	// A file system without hard links renames it, which replaces a store
	// another process made in the meantime (an empty one).
	return fsync.Publish(tmp.Name(), abs)
}

// dsn is the go-sqlite3 data source name for the file at abs: a "file:"
// URI, so a path holding '?' or '#' is not taken for parameters.
func dsn(abs string) string { return dsnSync(abs, "FULL") }

// dsnSync is dsn with SQLite's synchronous setting sync.
func dsnSync(abs, sync string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/x → /C:/x, as SQLite's URIs want
	}
	u := url.URL{Scheme: "file", Path: p}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", sync)
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	return u.String() + "?" + q.Encode()
}

func (s *Store) init(ctx context.Context) error {
	var mode string
	if err := s.DB().GetContext(ctx, &mode, stmts.JournalMode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL: is the file on a file system without shared memory (a network share)?", mode)
	}
	migrations, err := loadMigrations(nsql.StateMigrations, "state")
	if err != nil {
		return err
	}
	return migrate(ctx, s.DB(), migrations)
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.DB().Close(); err != nil {
		return fmt.Errorf("close state store %s: %w", s.path, err)
	}
	return nil
}

// beginUnsynced begins Stage's transaction (see sqlstore.Dialect) on a
// connection whose synchronous is NORMAL until done sets it back to FULL:
// the commit of staged rows needs no fsync of its own, and the run's final
// Commit, FULL, syncs the WAL with them in it.
func beginUnsynced(ctx context.Context, db *sqlx.DB) (*sqlx.Tx, func(), error) {
	conn, err := db.Connx(ctx)
	if err != nil {
		return nil, nil, err
	}
	done := func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), stmts.SynchronousFull); err != nil {
			// Never hand a NORMAL connection back to the pool.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}
	if _, err := conn.ExecContext(ctx, stmts.SynchronousNormal); err != nil {
		done()
		return nil, nil, err
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		done()
		return nil, nil, err
	}
	return tx, done, nil
}

// Fingerprints returns the stored digests of ids for target; ids never
// sent are absent. The ids go in IN lists of sqlstore.Chunk.
func (s *Store) Fingerprints(ctx context.Context, target string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for start := 0; start < len(ids); start += sqlstore.Chunk {
		chunk := ids[start:min(start+sqlstore.Chunk, len(ids))]
		q, args, err := sqlx.In(stmts.Fingerprints, target, chunk)
		if err != nil {
			return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
		}
		if err := sqlstore.ScanPairs(ctx, s.DB(), out, q, args...); err != nil {
			return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
		}
	}
	return out, nil
}

// SaveFingerprints records digests for target in one transaction, in
// upserts of sqlstore.Chunk rows.
func (s *Store) SaveFingerprints(ctx context.Context, target string, digests map[string]string, at time.Time) error {
	if len(digests) == 0 {
		return nil
	}
	tx, err := s.DB().BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save fingerprints of %s: %w", target, err)
	}
	defer tx.Rollback()
	when := formatTime(at)
	args := make([]any, 0, 4*min(len(digests), sqlstore.Chunk))
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, sqlstore.RepeatValues(stmts.SaveFingerprints, len(args)/4), args...)
		args = args[:0]
		return err
	}
	for id, fp := range digests {
		args = append(args, target, id, fp, when)
		if len(args) == 4*sqlstore.Chunk {
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
