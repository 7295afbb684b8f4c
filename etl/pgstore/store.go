package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/internal/sqlstore"
	nsql "github.com/nightjar-etl/nightjar/sql"
)

// DefaultSchema is the schema the store's tables live in when the config
// names none.
const DefaultSchema = "nightjar"

// Store is the PostgreSQL state store. It is safe for concurrent use by
// any number of processes on any number of machines. Its operations are
// sqlstore.Store's, in PostgreSQL's statements, besides the partitions'
// (partitions.go).
type Store struct {
	*base
	pool   *pgxpool.Pool
	db     *sqlx.DB
	schema string
	where  string // the server and schema, for messages (no password)
}

// base is the store's logic, shared with the SQLite store; an alias keeps
// the embedded field unexported.
type base = sqlstore.Store

var (
	_ etl.Store             = (*Store)(nil)
	_ etl.PathLedger        = (*Store)(nil)
	_ etl.SizeLedger        = (*Store)(nil)
	_ etl.FingerprintLister = (*Store)(nil)
)

// ErrSchemaTooNew is returned by Open when the schema was migrated by a
// newer nightjar than this one.
var ErrSchemaTooNew = errors.New("state schema is newer than this nightjar")

// Open connects to the PostgreSQL server at dsn (a postgres:// URL or a
// key=value string), creates schema if it does not exist and brings its
// tables up to date. Every connection of the store has schema as its
// search_path, so the store's SQL names no schema.
func Open(ctx context.Context, dsn, schema string) (*Store, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the DSN's parts, password included.
		return nil, errors.New("open state store: the postgres connection string does not parse")
	}
	where := fmt.Sprintf("postgres %s:%d/%s schema %s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, schema)
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", where, err)
	}
	db := sqlx.NewDb(stdlib.OpenDBFromPool(pool), "pgx")
	s := &Store{pool: pool, db: db, schema: schema, where: where}
	s.base = sqlstore.New(db, sqlstore.Dialect{
		Statements:    shared,
		Time:          func(t time.Time) any { return dbTime(t) },
		BeginUnsynced: beginUnsynced,
	})
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open state store %s: %w", where, err)
	}
	return s, nil
}

// Pool returns the connection pool under the store, for River's driver
// and for transactions that span the store and River's tables.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema the store's tables are in.
func (s *Store) Schema() string { return s.schema }

// String names the server and schema (never the password).
func (s *Store) String() string { return s.where }

// Close closes the store's connections.
func (s *Store) Close() error {
	err := s.db.Close()
	s.pool.Close()
	if err != nil {
		return fmt.Errorf("close state store %s: %w", s.where, err)
	}
	return nil
}

// migrate creates the schema and applies the migrations it lacks, all in
// one transaction under an advisory lock on the schema's name, so that
// workers starting together migrate it once and none sees it half made.
func (s *Store) migrate(ctx context.Context) error {
	migrations, err := nsql.Migrations(nsql.StatePostgresMigrations, "state_postgres")
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, stmts.LockSchema, s.schema); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", s.schema, err)
	}
	pending, err := sqlstore.Pending(ctx, tx, stmts.CreateSchemaMigrations, stmts.SchemaVersion, migrations, ErrSchemaTooNew)
	if err != nil {
		return err
	}
	for _, m := range pending {
		if err := sqlstore.Apply(ctx, tx, stmts.RecordMigration, m); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// beginUnsynced begins Stage's transaction (see sqlstore.Dialect), whose
// commit does not wait for the WAL's flush.
func beginUnsynced(ctx context.Context, db *sqlx.DB) (*sqlx.Tx, func(), error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	if _, err := tx.ExecContext(ctx, stmts.SynchronousCommitOff); err != nil {
		tx.Rollback()
		return nil, nil, err
	}
	return tx, nil, nil
}

// Fingerprints returns the stored digests of ids for target; ids never
// sent are absent. The ids go as one array.
func (s *Store) Fingerprints(ctx context.Context, target string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if err := sqlstore.ScanPairs(ctx, s.db, out, stmts.Fingerprints, target, ids); err != nil {
		return nil, fmt.Errorf("fingerprints of %s: %w", target, err)
	}
	return out, nil
}

// SaveFingerprints records digests for target in one statement, the
// digests as two arrays.
func (s *Store) SaveFingerprints(ctx context.Context, target string, digests map[string]string, at time.Time) error {
	if len(digests) == 0 {
		return nil
	}
	ids := make([]string, 0, len(digests))
	fps := make([]string, 0, len(digests))
	for id, fp := range digests {
		ids = append(ids, id)
		fps = append(fps, fp)
	}
	if _, err := s.db.ExecContext(ctx, stmts.SaveFingerprints, target, dbTime(at), ids, fps); err != nil {
		return fmt.Errorf("save fingerprints of %s: %w", target, err)
	}
	return nil
}

// stagingTables hold what Stage set aside, by run.
var stagingTables = []string{"staged_quarantine", "staged_files"}

// EndRunWith is EndRun with also run in its transaction: a worker marks
// the River job of the run completed there, so that a run recorded as
// ended is never run again for the same job, and a job marked completed
// always has its run recorded. An error from also rolls both back.
func (s *Store) EndRunWith(ctx context.Context, runID int64, status etl.RunStatus, counters etl.Counters, errText string,
	at time.Time, also func(context.Context, pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := s.EndRunIn(ctx, pgxTx{tx}, runID, status, counters, errText, at); err != nil {
		return err
	}
	if also != nil {
		if err := also(ctx, tx); err != nil {
			return fmt.Errorf("end run %d: %w", runID, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("end run %d: %w", runID, err)
	}
	return nil
}

// pgxTx runs sqlstore's statements in a transaction of pgx's own.
type pgxTx struct{ pgx.Tx }

// ExecContext implements sqlstore.Execer.
func (t pgxTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tag, err := t.Exec(ctx, query, args...)
	return rowsAffected(tag.RowsAffected()), err
}

// rowsAffected is the sql.Result of a pgx statement.
type rowsAffected int64

func (n rowsAffected) LastInsertId() (int64, error) {
	return 0, errors.New("PostgreSQL has no last insert id (use RETURNING)")
}

func (n rowsAffected) RowsAffected() (int64, error) { return int64(n), nil }
