package duckdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// Target modes.
const (
	ModeAppend  = sqlconn.ModeAppend
	ModeMerge   = sqlconn.ModeMerge
	ModeReplace = sqlconn.ModeReplace
)

// Schema policies.
const (
	SchemaEvolve = sqlconn.SchemaEvolve
	SchemaStrict = sqlconn.SchemaStrict
)

// TargetConfig is a "table" target bound to a duckdb connection: the
// config every table target shares.
type TargetConfig = sqlconn.TargetConfig

// DefaultCommitRows is the duckdb table target's commit_rows, ten times
// the other databases' (sqlconn.DefaultCommitRows; the 2 s a transaction
// stays open at most bounds it all the same): DuckDB moves the rows of a
// transaction that appended a row group's worth (122,880) or more into
// the table as the row groups it wrote while they came in, and appends
// those of a smaller one to the table's row groups again at its commit,
// writing them to the write-ahead log and compressing them once more at
// the next checkpoint. On 1M CSV leads, 100,000-row transactions cost
// 1.4-2.0 CPU-s in COMMIT against 1.0-1.3 s for the larger ones.
const DefaultCommitRows = 1_000_000

// Target writes batches into a DuckDB table: a sqlconn.Table on DuckDB's
// backend. Append and merge load batches in transactions of commit_rows
// rows, committed at each Sync (see etl.Syncer); replace loads a staging
// table and swaps it in at Commit.
type Target struct {
	*sqlconn.Table
}

var _ etl.Target = (*Target)(nil)

// New builds a target from a decoded *TargetConfig; it does no I/O.
func New(cfg any, env etl.BuildEnv) (etl.Target, error) {
	c, ok := cfg.(*TargetConfig)
	if !ok {
		return nil, fmt.Errorf("duckdb table: config is %T, want *TargetConfig", cfg)
	}
	conn, err := connConfig(env, "table")
	if err != nil {
		return nil, err
	}
	// duckdb_* and the information schema's names are DuckDB's own views.
	reserved := func(key string) bool { return strings.HasPrefix(key, "duckdb_") || strings.HasPrefix(key, "pg_") }
	name, err := c.ValidateTarget(Dialect{}, reserved, sqlconn.Container{}, env.Connection.Name)
	if err != nil {
		return nil, err
	}
	b := &backend{path: resolvePath(conn.Path, env.BaseDir)}
	return &Target{Table: sqlconn.NewTable(*c, b, name)}, nil
}

// backend is DuckDB's sqlconn.Backend: one connection for the run, DDL in
// the batch's transaction (DuckDB's DDL is transactional), rows through
// the Appender (appender.go).
type backend struct {
	Dialect
	path string
	// plan is how the last batch's schema goes into its table.
	plan *loadPlan
}

var (
	_ sqlconn.Backend      = (*backend)(nil)
	_ sqlconn.TxDDL        = (*backend)(nil)
	_ sqlconn.NoRetry      = (*backend)(nil)
	_ sqlconn.SingleWriter = (*backend)(nil)
	_ sqlconn.Inspector    = (*backend)(nil)
)

// WriterKey is the database file's absolute path: DuckDB has one writer
// per file, so the table targets of a process on one file take turns (see
// sqlconn.SingleWriter) instead of failing on each other's write-write
// conflicts.
func (b *backend) WriterKey() string { return b.path }

// OpenDB opens (creating) the database file, one connection for the
// target: the staging tables of a merge are the connection's own. It
// creates the replay markers' table, one target of the process at a time:
// DuckDB fails the second of two concurrent CREATE TABLE IF NOT EXISTS of
// one table ("Catalog write-write conflict on create"), as two jobs of
// the daemon opening their targets at once would run them.
func (b *backend) OpenDB(ctx context.Context) (*sqlx.DB, error) {
	db, err := openDB(ctx, b.path, 1)
	if err != nil {
		return nil, err
	}
	markerDDL.Lock()
	defer markerDDL.Unlock()
	if _, err := db.ExecContext(ctx, sqlconn.CreateMarkerTable(b)); err != nil {
		db.Close()
		return nil, fmt.Errorf("create %s: %w", sqlconn.MarkerTable, err)
	}
	return db, nil
}

// markerDDL serializes the creation of the marker table within the
// process (see OpenDB).
var markerDDL sync.Mutex

// columnsQuery lists a table's columns and types in the current schema,
// its name compared as DuckDB compares identifiers (ignoring case).
const columnsQuery = "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = current_schema() AND lower(table_name) = lower(?) ORDER BY column_index"

type column struct {
	Name string `db:"column_name"`
	Type string `db:"data_type"`
}

func readColumns(ctx context.Context, q sqlx.QueryerContext, table string) ([]column, error) {
	var cols []column
	err := sqlx.SelectContext(ctx, q, &cols, columnsQuery, table)
	return cols, err
}

// Columns lists a table's columns; none when it does not exist.
func (b *backend) Columns(ctx context.Context, q sqlx.QueryerContext, table string) ([]string, error) {
	cols, err := readColumns(ctx, q, table)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names, err
}

// CreateLike returns the statement creating table with the columns and
// column types of like, and no rows: DuckDB has no CREATE TABLE ... LIKE.
func (b *backend) CreateLike(table, like string) (string, error) {
	qt, err := b.QuoteIdent(table)
	if err != nil {
		return "", err
	}
	ql, err := b.QuoteIdent(like)
	if err != nil {
		return "", err
	}
	return "CREATE TABLE " + qt + " AS SELECT * FROM " + ql + " LIMIT 0", nil
}

// Swap drops table and renames staging to it in one transaction: readers
// see the old table or the new one.
func (b *backend) Swap(ctx context.Context, conn *sqlx.Conn, table, staging string) error {
	b.plan = nil
	return sqlconn.SwapByRename(ctx, b, conn, table, staging)
}

// Transient reports false: the database is a local file.
func (b *backend) Transient(error) bool { return false }

// NoRetry reports true (see Transient).
func (b *backend) NoRetry() bool { return true }

// DuplicateKeys reports a constraint violation.
func (b *backend) DuplicateKeys(err error) bool { return isConstraint(err) }

// TxDDL reports true: DuckDB's DDL is transactional, so a batch creates
// or alters the table in its own transaction.
func (b *backend) TxDDL() bool { return true }

// OpenExisting opens the database file without creating it: nil when it
// does not exist.
func (b *backend) OpenExisting(ctx context.Context) (*sqlx.DB, error) {
	return openExisting(ctx, b.path)
}

// DescribeLoad is the Appender's load of an append or replace; a merge's
// load into a temporary table and its upsert.
func (b *backend) DescribeLoad(table string, s *etl.Schema, keys []string) string {
	names := s.Names()
	if len(keys) == 0 {
		qt, _ := b.QuoteIdent(table)
		return "APPEND " + qt + " (" + sqlconn.ColumnList(b, names) + ") through the Appender"
	}
	stage, _ := b.QuoteIdent(stageTable)
	return "APPEND " + stage + " (temporary), then " + sqlconn.LoadStatement(b, table, names, keys, "SELECT … FROM "+stage)
}

// isConstraint reports a DuckDB constraint violation (a duplicate key).
func isConstraint(err error) bool {
	var de *duckdb.Error
	return errors.As(err, &de) && de.Type == duckdb.ErrorTypeConstraint
}
