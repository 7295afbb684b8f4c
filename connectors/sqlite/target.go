package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/jmoiron/sqlx"
	sqlite3 "github.com/mattn/go-sqlite3"

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

// maxRowsPerStatement caps a multi-row INSERT below the parameter limit:
// BenchmarkAppend measured no gain past a few hundred rows, and very long
// statements cost more to compile and hold more boxed values.
const maxRowsPerStatement = 500

// TargetConfig is a "table" target bound to a sqlite connection: the
// config every table target shares.
type TargetConfig = sqlconn.TargetConfig

// Target writes batches into a SQLite table: a sqlconn.Table on SQLite's
// backend. Append and merge load batches in transactions of commit_rows
// rows, committed at each Sync (see etl.Syncer); replace loads a staging
// table and swaps it in at Commit.
type Target struct {
	*sqlconn.Table
	backend *backend
}

var _ etl.Target = (*Target)(nil)

// New builds a target from a decoded *TargetConfig; it does no I/O.
func New(cfg any, env etl.BuildEnv) (etl.Target, error) {
	c, ok := cfg.(*TargetConfig)
	if !ok {
		return nil, fmt.Errorf("sqlite table: config is %T, want *TargetConfig", cfg)
	}
	conn, err := connConfig(env, "table")
	if err != nil {
		return nil, err
	}
	// A table named sqlite_* is SQLite's own.
	reserved := func(key string) bool { return strings.HasPrefix(key, "sqlite_") }
	name, err := c.ValidateTarget(Dialect{}, reserved, sqlconn.Container{}, env.Connection.Name)
	if err != nil {
		return nil, err
	}
	b := &backend{path: resolvePath(conn.Path, env.BaseDir), rowLimit: maxRowsPerStatement}
	return &Target{Table: sqlconn.NewTable(*c, b, name), backend: b}, nil
}

// backend is SQLite's sqlconn.Backend: one connection for the run, DDL in
// the batch's transaction, rows bound a chunk at a time (insert.go).
type backend struct {
	Dialect
	path string
	// insert is the INSERT of the last batch's schema and table.
	insert *preparedInsert
	values chunkValues
	// driverBind sends values through the driver, one call per value,
	// instead of binding whole chunks in C (for tests of that path).
	driverBind bool
	// rowLimit caps the rows of one INSERT (maxRowsPerStatement; the
	// benchmark varies it).
	rowLimit int
}

var (
	_ sqlconn.Backend      = (*backend)(nil)
	_ sqlconn.TxDDL        = (*backend)(nil)
	_ sqlconn.ConnCloser   = (*backend)(nil)
	_ sqlconn.LikeReader   = (*backend)(nil)
	_ sqlconn.SingleWriter = (*backend)(nil)
)

// WriterKey is the database file's absolute path: SQLite has one writer
// per file, so the table targets of a process on one file take turns (see
// sqlconn.SingleWriter).
func (b *backend) WriterKey() string {
	if abs, err := filepath.Abs(b.path); err == nil {
		return abs
	}
	return b.path
}

// OpenDB opens (creating) the database file.
func (b *backend) OpenDB(ctx context.Context) (*sqlx.DB, error) { return openDB(ctx, b.path) }

// Columns lists a table's columns; none when it does not exist.
func (b *backend) Columns(ctx context.Context, q sqlx.QueryerContext, table string) ([]string, error) {
	var names []string
	err := sqlx.SelectContext(ctx, q, &names, "SELECT name FROM pragma_table_info(?) ORDER BY cid", table)
	return names, err
}

// errNoCreateLike: SQLite has no CREATE TABLE ... LIKE; Table calls
// CreateLikeFrom instead.
var errNoCreateLike = errors.New("sqlite cannot create a table like another without reading it")

// CreateLike is not used: see CreateLikeFrom.
func (b *backend) CreateLike(string, string) (string, error) { return "", errNoCreateLike }

// CreateLikeFrom returns the statement creating table with the columns and
// declared types of like, read from the database's own schema.
func (b *backend) CreateLikeFrom(ctx context.Context, q sqlx.QueryerContext, table, like string) (string, error) {
	var cols []struct {
		Name string `db:"name"`
		Type string `db:"type"`
	}
	if err := sqlx.SelectContext(ctx, q, &cols, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", like); err != nil {
		return "", fmt.Errorf("read columns: %w", err)
	}
	if len(cols) == 0 {
		return "", fmt.Errorf("table %q has no columns", like)
	}
	defs := make([]string, len(cols))
	for i, c := range cols {
		qc, err := b.QuoteIdent(c.Name)
		if err != nil {
			return "", err
		}
		defs[i] = strings.TrimSpace(qc + " " + c.Type)
	}
	qt, err := b.QuoteIdent(table)
	if err != nil {
		return "", err
	}
	return "CREATE TABLE " + qt + " (" + strings.Join(defs, ", ") + ")", nil
}

// Load inserts the batch's rows (upserts with keys) in the transaction
// open on conn.
func (b *backend) Load(ctx context.Context, conn *sqlx.Conn, _ *sqlx.Tx, table string, batch *etl.Batch, keys []string) error {
	return b.insertRows(ctx, conn, table, batch, keys)
}

// Swap drops table and renames staging to it in one transaction: readers
// see the old table or the new one.
func (b *backend) Swap(ctx context.Context, conn *sqlx.Conn, table, staging string) error {
	b.CloseConn(conn) // the kept INSERT names the staging table, renamed away
	b.insert = nil
	return sqlconn.SwapByRename(ctx, b, conn, table, staging)
}

// Transient reports false: the database is a local file, and a locked
// database has already been waited for (busy_timeout).
func (b *backend) Transient(error) bool { return false }

// DuplicateKeys reports a constraint violation.
func (b *backend) DuplicateKeys(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

// NoRetry reports true (see Transient).
func (b *backend) NoRetry() bool { return true }

// TxDDL reports true: SQLite's DDL is transactional, so a batch creates
// or alters the table in its own transaction.
func (b *backend) TxDDL() bool { return true }

var _ sqlconn.Inspector = (*backend)(nil)

// OpenExisting opens the database file read-only, without creating it:
// nil when it does not exist.
func (b *backend) OpenExisting(ctx context.Context) (*sqlx.DB, error) {
	if _, err := os.Stat(b.path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return openReadOnly(ctx, b.path)
}

// DescribeLoad is the multi-row INSERT (an upsert for a merge).
func (b *backend) DescribeLoad(table string, s *etl.Schema, keys []string) string {
	return sqlconn.LoadStatement(b, table, s.Names(), keys, "VALUES (…)")
}

// Representable says what SQLite columns cannot hold: a REAL keeps no sign
// of zero (a whole number is stored as an integer) and stores NaN as null;
// a time is RFC 3339 text, which holds years 1 to 9999.
func (b *backend) Representable() sqlconn.Representable {
	return sqlconn.Representable{Float: "SQLite REAL", NaN: true, Time: "SQLite TEXT time", JSON: "SQLite TEXT (JSON)"}
}
