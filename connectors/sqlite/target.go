package sqlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

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

// stagingSuffix and keyIndexSuffix name the tables and indexes the target
// makes beside its table.
const (
	stagingSuffix  = sqlconn.StagingSuffix
	keyIndexSuffix = sqlconn.KeyIndexSuffix
)

// maxRowsPerStatement caps a multi-row INSERT below the parameter limit:
// BenchmarkAppend measured no gain past a few hundred rows, and very long
// statements cost more to compile and hold more boxed values.
const maxRowsPerStatement = 500

// TargetConfig is a "table" target bound to a sqlite connection: the
// config every table target shares.
type TargetConfig = sqlconn.TargetConfig

// Target writes batches into a SQLite table. Append and merge commit each
// batch in its own transaction (durable per batch); replace loads a staging
// table and swaps it in at Commit.
type Target struct {
	cfg      TargetConfig
	path     string
	connName string // the connection's name, for messages
	db       *sqlx.DB
	// conn is the database's one connection, held for the run: every
	// transaction runs on it, and insertRows reaches its driver connection.
	conn   *sqlx.Conn
	env    etl.TargetEnv
	logger *slog.Logger
	now    func() time.Time

	// table is where rows go: cfg.Table, or the staging table for replace.
	table string
	// columns caches the columns of table; nil when unknown (before the
	// first batch, or after a failed transaction).
	columns *sqlconn.TableColumns
	// keyIndexReady records that the merge key's unique index exists.
	keyIndexReady bool
	// staged records that a replace run wrote its staging table.
	staged bool
	insert *preparedInsert
	values chunkValues
	// driverBind sends values through the driver, one call per value,
	// instead of binding whole chunks in C (for tests of that path).
	driverBind bool
	// rowLimit caps the rows of one INSERT (maxRowsPerStatement; the
	// benchmark varies it).
	rowLimit int
}

var _ etl.Target = (*Target)(nil)

// New builds a target from a decoded *TargetConfig; it does no I/O.
func New(cfg any, env etl.BuildEnv) (etl.Target, error) {
	c, ok := cfg.(*TargetConfig)
	if !ok {
		return nil, fmt.Errorf("sqlite table: config is %T, want *TargetConfig", cfg)
	}
	if env.Connection == nil {
		return nil, errors.New("sqlite table: no connection")
	}
	conn, ok := env.Connection.Config.(*ConnConfig)
	if !ok {
		return nil, fmt.Errorf("sqlite table: connection %q is %s, not sqlite", env.Connection.Name, env.Connection.Type)
	}
	if err := ValidateConnection(conn, env.BaseDir); err != nil {
		return nil, fmt.Errorf("connection %q: %w", env.Connection.Name, err)
	}
	if err := validate(c); err != nil {
		return nil, err
	}
	return &Target{
		cfg:      *c,
		path:     resolvePath(conn.Path, env.BaseDir),
		connName: env.Connection.Name,
		now:      etl.SystemClock{}.Now,

		rowLimit: maxRowsPerStatement,
	}, nil
}

// validate checks c; a table named sqlite_* is SQLite's own.
func validate(c *TargetConfig) error {
	return c.Validate(Dialect{}, func(key string) bool { return strings.HasPrefix(key, "sqlite_") })
}

// Durability is per batch for append and merge, at commit for replace.
func (t *Target) Durability() etl.Durability {
	if t.cfg.Mode == ModeReplace {
		return etl.DurableAtCommit
	}
	return etl.DurablePerBatch
}

// Open opens (creating) the database, the replay marker table for append,
// and for replace drops a staging table a crashed run left behind.
func (t *Target) Open(ctx context.Context, env etl.TargetEnv) error {
	if err := t.open(ctx, env); err != nil {
		t.Close()
		return err
	}
	return nil
}

func (t *Target) open(ctx context.Context, env etl.TargetEnv) error {
	t.env = env
	if env.Clock != nil {
		t.now = env.Clock.Now
	}
	t.logger = env.Logger
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	t.logger = t.logger.With("target", env.Name, "table", t.cfg.Table)
	db, err := openDB(ctx, t.path)
	if err != nil {
		return t.errorf("%w", err)
	}
	t.db = db
	if t.conn, err = db.Connx(ctx); err != nil {
		return t.errorf("connect: %w", err)
	}
	t.table = t.cfg.Table
	switch t.cfg.Mode {
	case ModeAppend:
		if _, err := t.conn.ExecContext(ctx, sqlconn.CreateMarkerTable(Dialect{})); err != nil {
			return t.errorf("create %s: %w", sqlconn.MarkerTable, err)
		}
	case ModeReplace:
		t.table = t.cfg.Table + stagingSuffix
		if err := t.dropStaging(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (t *Target) dropStaging(ctx context.Context) error {
	drop, err := sqlconn.DropTable(Dialect{}, t.cfg.Table+stagingSuffix)
	if err != nil {
		return t.errorf("%w", err)
	}
	if _, err := t.conn.ExecContext(ctx, drop); err != nil {
		return t.errorf("drop staging table: %w", err)
	}
	return nil
}

// errorf names the connector, the connection and the table.
func (t *Target) errorf(format string, args ...any) error {
	return fmt.Errorf("sqlite %s table %q: "+format, append([]any{t.connName, t.cfg.Table}, args...)...)
}

// Write loads one batch in one transaction: create or evolve the table,
// claim the replay marker (append), insert or upsert the rows, commit.
func (t *Target) Write(ctx context.Context, b *etl.Batch) error {
	if b.Schema == nil || b.Schema.Len() == 0 {
		if b.Len() == 0 {
			return nil
		}
		return t.errorf("batch %d has %d rows but no fields", b.Seq, b.Len())
	}
	if err := b.Check(); err != nil {
		return t.errorf("batch %d: %w", b.Seq, err)
	}
	if t.cfg.Mode == ModeMerge {
		if err := sqlconn.CheckKeys(b, t.cfg.Key); err != nil {
			return t.errorf("%w", err)
		}
	}
	if err := t.write(ctx, b); err != nil {
		// The transaction rolled back: what the cache says of the table
		// may be wrong now.
		t.columns, t.keyIndexReady = nil, false
		return t.errorf("batch %d: %w", b.Seq, err)
	}
	return nil
}

func (t *Target) write(ctx context.Context, b *etl.Batch) (err error) {
	tx, err := t.conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if t.cfg.Mode == ModeAppend {
		// Claimed first: a skipped batch must not change the table (nor
		// the cached columns) either.
		claimed, err := sqlconn.ClaimBatch(ctx, tx, Dialect{}, sqlconn.Marker{
			Job: t.env.Job, Target: t.env.Name, BatchKey: etl.BatchKey(b),
			RunID: t.env.RunID, Rows: int64(b.Len()), LoadedAt: t.now(),
		})
		if err != nil {
			return err
		}
		if !claimed {
			t.logger.Info("batch already loaded, skipped", "seq", b.Seq, "batch_key", etl.BatchKey(b), "rows", b.Len())
			return tx.Rollback()
		}
	}
	if err := t.ensureTable(ctx, tx, b.Schema); err != nil {
		return err
	}
	if err := t.insertRows(ctx, b); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if t.cfg.Mode == ModeReplace {
		t.staged = true
	}
	return nil
}

// ensureTable creates the table from s when missing, adds columns for new
// fields (evolve) or refuses them (strict), and for merge creates the key's
// unique index.
func (t *Target) ensureTable(ctx context.Context, tx *sqlx.Tx, s *etl.Schema) error {
	d := Dialect{}
	if t.columns == nil {
		names, err := tableColumns(ctx, tx, t.table)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			create, err := t.createStatement(ctx, tx, s)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, create); err != nil {
				return fmt.Errorf("create table: %w", err)
			}
			if names, err = tableColumns(ctx, tx, t.table); err != nil {
				return err
			}
		}
		t.columns = sqlconn.NewTableColumns(d, names)
	}
	if missing := t.columns.Missing(s); len(missing) > 0 {
		if t.cfg.Schema == SchemaStrict {
			return t.columns.CheckStrict(t.cfg.Table, s)
		}
		for _, f := range missing {
			add, err := sqlconn.AddColumn(d, t.table, f)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, add); err != nil {
				return fmt.Errorf("add column %q: %w", f.Name, err)
			}
			t.logger.Info("column added", "column", f.Name, "type", f.Type.String())
			t.columns.Add(f.Name)
		}
	}
	if t.cfg.Mode == ModeMerge && !t.keyIndexReady {
		index, err := sqlconn.CreateUniqueIndex(d, t.cfg.Table+keyIndexSuffix, t.table, t.cfg.Key)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, index); err != nil {
			var se sqlite3.Error
			if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
				return fmt.Errorf("cannot merge by key (%s): the table already holds rows with the same key; remove the duplicates or choose another key: %w",
					strings.Join(t.cfg.Key, ", "), err)
			}
			return fmt.Errorf("create unique index on key (%s): %w", strings.Join(t.cfg.Key, ", "), err)
		}
		t.keyIndexReady = true
	}
	return nil
}

// createStatement returns the statement creating t.table from s; but a
// strict replace rebuilds the table it replaces, with the same columns and
// declared types, and refuses a batch with fields that table lacks.
func (t *Target) createStatement(ctx context.Context, tx *sqlx.Tx, s *etl.Schema) (string, error) {
	d := Dialect{}
	if t.cfg.Mode != ModeReplace || t.cfg.Schema != SchemaStrict {
		return sqlconn.CreateTable(d, t.table, s)
	}
	var old []struct {
		Name string `db:"name"`
		Type string `db:"type"`
	}
	if err := sqlx.SelectContext(ctx, tx, &old, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", t.cfg.Table); err != nil {
		return "", fmt.Errorf("read columns: %w", err)
	}
	if len(old) == 0 {
		return sqlconn.CreateTable(d, t.table, s)
	}
	names := make([]string, len(old))
	defs := make([]string, len(old))
	for i, c := range old {
		names[i] = c.Name
		q, err := d.QuoteIdent(c.Name)
		if err != nil {
			return "", err
		}
		// The declared type comes from the database's own schema.
		defs[i] = strings.TrimSpace(q + " " + c.Type)
	}
	if err := sqlconn.NewTableColumns(d, names).CheckStrict(t.cfg.Table, s); err != nil {
		return "", err
	}
	staging, err := d.QuoteIdent(t.table)
	if err != nil {
		return "", err
	}
	return "CREATE TABLE " + staging + " (" + strings.Join(defs, ", ") + ")", nil
}

// tableColumns lists a table's columns; none when it does not exist.
func tableColumns(ctx context.Context, q sqlx.QueryerContext, table string) ([]string, error) {
	var names []string
	if err := sqlx.SelectContext(ctx, q, &names, "SELECT name FROM pragma_table_info(?) ORDER BY cid", table); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	return names, nil
}

// Commit swaps the staging table in for replace; append and merge batches
// are durable already.
func (t *Target) Commit(ctx context.Context) error {
	if t.cfg.Mode != ModeReplace {
		return nil
	}
	if !t.staged {
		t.logger.Info("no batch written, table left as it was")
		return nil
	}
	if err := t.swap(ctx); err != nil {
		return t.errorf("replace: %w", err)
	}
	t.staged = false
	return nil
}

func (t *Target) swap(ctx context.Context) (err error) {
	t.closeInsert() // it names the staging table, which is renamed away
	d := Dialect{}
	drop, err := sqlconn.DropTable(d, t.cfg.Table)
	if err != nil {
		return err
	}
	staging, _ := d.QuoteIdent(t.table)
	table, _ := d.QuoteIdent(t.cfg.Table)
	tx, err := t.conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, drop); err != nil {
		return fmt.Errorf("drop old table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "ALTER TABLE "+staging+" RENAME TO "+table); err != nil {
		return fmt.Errorf("rename staging table: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	t.columns, t.insert = nil, nil
	return nil
}

// Close closes the database; a replace run that did not commit drops its
// staging table.
func (t *Target) Close() error {
	if t.db == nil {
		return nil
	}
	var errs []error
	t.closeInsert()
	if t.staged && t.conn != nil {
		errs = append(errs, t.dropStaging(context.Background()))
	}
	if t.conn != nil {
		if err := t.conn.Close(); err != nil {
			errs = append(errs, t.errorf("close: %w", err))
		}
		t.conn = nil
	}
	if err := t.db.Close(); err != nil {
		errs = append(errs, t.errorf("close: %w", err))
	}
	t.db = nil
	return errors.Join(errs...)
}
