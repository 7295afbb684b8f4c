package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// TargetConfig is a "table" target bound to a mysql connection.
type TargetConfig struct {
	sqlconn.TargetConfig `yaml:",inline"`
	// Database holds the table, created when missing; default the DSN's.
	Database string `yaml:"database" doc:"the database holding the table, created when missing; default the DSN's"`
}

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "table/mysql",
			Summary: "a MySQL or MariaDB table: append (replays skipped), merge by key, or replace",
			Example: "targets:\n  - { type: table, connection: mysql, database: crm, table: leads, mode: merge, key: [email] }\n",
			Config:  func() any { return &TargetConfig{TargetConfig: sqlconn.DefaultTargetConfig()} },
		},
		New: New,
	})
}

// oldSuffix names the table a replace renames the old table to, in the
// same RENAME TABLE that puts the staging table in its place.
const oldSuffix = "__nightjar_old"

// New builds a target from a decoded *TargetConfig; it does no I/O.
func New(cfg any, env etl.BuildEnv) (etl.Target, error) {
	c, ok := cfg.(*TargetConfig)
	if !ok {
		return nil, fmt.Errorf("mysql table: config is %T, want *TargetConfig", cfg)
	}
	conn, err := connConfig(env, "table")
	if err != nil {
		return nil, err
	}
	name, err := c.ValidateTarget(Dialect{}, nil, sqlconn.Container{Key: "database", Name: c.Database}, env.Connection.Name)
	if err != nil {
		return nil, err
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &backend{conn: conn, database: c.Database, logger: logger.With("table", c.Table)}
	return sqlconn.NewTable(c.TargetConfig, b, name), nil
}

// backend is MySQL's sqlconn.Backend.
type backend struct {
	Dialect
	conn     *ConnConfig
	database string
	logger   *slog.Logger
	// server is the server's version, read at OpenDB.
	server string
	// insertOnly loads with INSERT instead of LOAD DATA: set once the
	// server refuses LOAD DATA LOCAL INFILE, for the rest of the run, and
	// by tests and benchmarks comparing the two.
	insertOnly bool
	// maxBytes is the budget of one INSERT: half the server's
	// max_allowed_packet, so that escaping (at worst doubling a string)
	// still fits.
	maxBytes int
	args     []any
	// maxWarnings is the session's max_error_count: SHOW WARNINGS lists
	// no more.
	maxWarnings int
	infile      infileRows
	// types caches the column types of tables loaded (see columnTypes).
	types map[string]map[string]string
	// stageLeft is set while a merge's staging table may exist.
	stageLeft bool
	// keyCollation is the collation of the string key columns of the
	// tables the target creates (see KeyColumnType); keyCols caches the
	// key columns of merge tables compared inexactly (see
	// checkKeyCollisions), empty for an exact table.
	keyCollation string
	keyCols      map[string][]keyColumn
}

var (
	_ sqlconn.Backend  = (*backend)(nil)
	_ sqlconn.DDLRacer = (*backend)(nil)
)

// OpenDB connects to the target's database, creating it when missing,
// with targetSession's settings, and reads the packet and warning limits.
func (b *backend) OpenDB(ctx context.Context) (*sqlx.DB, error) {
	db, err := b.conn.open(ctx, b.database, true, targetSession)
	if err != nil {
		return nil, err
	}
	var limits struct {
		Packet   int `db:"packet"`
		Warnings int `db:"warnings"`
	}
	if err := db.GetContext(ctx, &limits, "SELECT @@max_allowed_packet AS packet, @@max_error_count AS warnings"); err != nil {
		db.Close()
		return nil, fmt.Errorf("read max_allowed_packet and max_error_count: %w", err)
	}
	b.maxBytes = min(limits.Packet/2, 16<<20)
	b.maxWarnings = limits.Warnings
	b.infile.truncate = b.conn.timeTruncate()
	if b.keyCollation, err = keyCollation(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	if b.server, err = serverVersion(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// ColumnType is the dialect's, but UUID for a uuid on MariaDB 10.7 and
// later (see ColumnTypeOn).
func (b *backend) ColumnType(f etl.Field) string { return ColumnTypeOn(b.server, f) }

// Columns lists the columns of table in the current database.
func (b *backend) Columns(ctx context.Context, q sqlx.QueryerContext, table string) ([]string, error) {
	var names []string
	err := sqlx.SelectContext(ctx, q, &names,
		"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", table)
	return names, err
}

// CreateLike creates table with like's columns and indexes.
func (b *backend) CreateLike(table, like string) (string, error) {
	qt, err := b.QuoteIdent(table)
	if err != nil {
		return "", err
	}
	ql, err := b.QuoteIdent(like)
	if err != nil {
		return "", err
	}
	return "CREATE TABLE " + qt + " LIKE " + ql, nil
}

// Load loads the batch with LOAD DATA LOCAL INFILE (see loadData) when
// every field lands in its column as through INSERT (see infileSafe), else
// with INSERT; and with INSERT for the rest of the run once the server
// refuses LOAD DATA LOCAL INFILE.
func (b *backend) Load(ctx context.Context, _ *sqlx.Conn, tx *sqlx.Tx, table string, batch *etl.Batch, keys []string) error {
	if len(keys) > 0 {
		if err := b.checkKeyCollisions(ctx, tx, table, batch, keys); err != nil {
			return err
		}
	}
	types, err := b.columnTypes(ctx, tx, table, batch.Schema)
	if err != nil {
		return err
	}
	if err := b.checkUUIDs(ctx, tx, batch, types); err != nil {
		return err
	}
	if b.insertOnly {
		return b.insert(ctx, tx, table, batch, keys)
	}
	for i := range batch.Schema.Len() {
		f := batch.Schema.Field(i)
		if !infileSafe(f.Type, types[b.IdentKey(f.Name)]) {
			return b.insert(ctx, tx, table, batch, keys)
		}
	}
	err = b.loadData(ctx, tx, table, batch, keys)
	if err == nil {
		return nil
	}
	// The table may have changed under the run: ask again next time.
	clear(b.types)
	clear(b.keyCols)
	if !infileRefused(err) {
		return err
	}
	// The refused statement did nothing (a merge's staging table stays,
	// empty, until the session ends), and a failed statement leaves
	// MySQL's transaction open.
	b.insertOnly = true
	b.logger.Warn("the server refuses LOAD DATA LOCAL INFILE (local_infile is off): loading with INSERT for the rest of the run", "err", err)
	return b.insert(ctx, tx, table, batch, keys)
}

// insert inserts the batch with multi-row INSERT (… ON DUPLICATE KEY
// UPDATE for keys; a key repeated in the batch updates the row again, so
// the last wins), each statement as many rows as fit in maxBytes.
func (b *backend) insert(ctx context.Context, tx *sqlx.Tx, table string, batch *etl.Batch, keys []string) error {
	ins, err := sqlconn.NewInsert(b, table, batch.Schema.Names(), keys)
	if err != nil {
		return err
	}
	defer clear(b.args) // keep no reference to the batch
	ncols := len(batch.Cols)
	overhead := len(ins.SQL(0)) + 64
	for start := 0; start < batch.Len(); {
		b.args = b.args[:0]
		size := overhead
		end := start
		for end < batch.Len() && (end == start || size < b.maxBytes) {
			for c := range batch.Cols {
				v, n, err := b.value(batch, c, end)
				if err != nil {
					return err
				}
				b.args = append(b.args, v)
				size += n
			}
			size += ncols + 3 // commas and parentheses
			end++
		}
		if _, err := tx.ExecContext(ctx, ins.SQL(end-start), b.args...); err != nil {
			return fmt.Errorf("insert rows %d-%d: %w", start+1, end, err)
		}
		start = end
	}
	return nil
}

// value returns row r of column c as a bind value, and its approximate
// size in the statement.
func (b *backend) value(batch *etl.Batch, c, r int) (any, int, error) {
	col := &batch.Cols[c]
	if col.Null[r] {
		return nil, 4, nil
	}
	switch col.Type.Storage() {
	case etl.StoreStr:
		if col.Type == etl.TypeBytes {
			return []byte(col.Str[r]), 2*len(col.Str[r]) + 10, nil // _binary'…' escaped
		}
		return col.Str[r], len(col.Str[r]) + 3, nil
	case etl.StoreInt:
		return col.Int[r], 20, nil
	case etl.StoreFloat:
		return col.Float[r], 24, nil
	case etl.StoreBool:
		return col.Bool[r], 1, nil
	case etl.StoreTime:
		if col.Time[r].IsZero() {
			return zeroTime, 12, nil // go-sql-driver would write 0000-00-00
		}
		return col.Time[r], 29, nil
	case etl.StoreJSON:
		text, err := sqlconn.EncodeJSON(col.JSON[r])
		if err != nil {
			return nil, 0, fmt.Errorf("%s: field %q: encode JSON: %w", batch.Origins[r], batch.Schema.Field(c).Name, err)
		}
		return text, len(text) + 3, nil
	}
	return nil, 0, fmt.Errorf("field %q has unsupported type %s", batch.Schema.Field(c).Name, col.Type)
}

// Swap renames the old table away and the staging table into its place in
// one RENAME TABLE, which MySQL applies atomically, then drops the old one.
func (b *backend) Swap(ctx context.Context, conn *sqlx.Conn, table, staging string) error {
	qt, _ := b.QuoteIdent(table)
	qs, _ := b.QuoteIdent(staging)
	qo, err := b.QuoteIdent(table + oldSuffix)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+qo); err != nil {
		return fmt.Errorf("drop old table: %w", err)
	}
	cols, err := b.Columns(ctx, conn, table)
	if err != nil {
		return fmt.Errorf("read columns: %w", err)
	}
	rename := "RENAME TABLE " + qs + " TO " + qt
	if len(cols) > 0 {
		rename = "RENAME TABLE " + qt + " TO " + qo + ", " + qs + " TO " + qt
	}
	if _, err := conn.ExecContext(ctx, rename); err != nil {
		return fmt.Errorf("rename staging table: %w", err)
	}
	clear(b.types) // the table's columns are the staging table's now
	clear(b.keyCols)
	if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+qo); err != nil {
		return fmt.Errorf("drop old table: %w", err)
	}
	return nil
}

// MySQL and MariaDB error numbers.
const (
	errDupEntry        = 1062
	errLockWaitTimeout = 1205
	errLockDeadlock    = 1213
	errServerShutdown  = 1053
	errConnKilled      = 1927 // MariaDB: connection was killed
)

// Transient: deadlocks, lock wait timeouts, a server shutting down or
// killing the connection, and a connection lost on the way.
func (b *backend) Transient(err error) bool {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		switch myErr.Number {
		case errLockDeadlock, errLockWaitTimeout, errServerShutdown, errConnKilled:
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr)
}

// ConcurrentDDL: another session created the table or added the column
// first (ER_TABLE_EXISTS_ERROR, ER_DUP_FIELDNAME, ER_DUP_KEYNAME).
func (b *backend) ConcurrentDDL(err error) bool {
	var myErr *mysql.MySQLError
	return errors.As(err, &myErr) && (myErr.Number == 1050 || myErr.Number == 1060 || myErr.Number == 1061)
}

// DuplicateKeys reports ER_DUP_ENTRY.
func (b *backend) DuplicateKeys(err error) bool {
	var myErr *mysql.MySQLError
	return errors.As(err, &myErr) && myErr.Number == errDupEntry
}

var _ sqlconn.Inspector = (*backend)(nil)

// OpenExisting connects to the target's database without creating it or
// setting the target's session: nil when the database does not exist.
func (b *backend) OpenExisting(ctx context.Context) (*sqlx.DB, error) {
	db, err := b.conn.open(ctx, b.database, false)
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) && myErr.Number == errBadDB {
		return nil, nil
	}
	return db, err
}

// errBadDB is ER_BAD_DB_ERROR: unknown database.
const errBadDB = 1049

// DescribeLoad is LOAD DATA LOCAL INFILE into the table (into a temporary
// table for a merge, then its upsert); Load falls back to INSERT for
// columns LOAD DATA would convert otherwise, or a server refusing it.
func (b *backend) DescribeLoad(table string, s *etl.Schema, keys []string) string {
	qt, _ := b.QuoteIdent(table)
	if len(keys) == 0 {
		return "LOAD DATA LOCAL INFILE INTO TABLE " + qt + " (" + sqlconn.ColumnList(b, s.Names()) + ")"
	}
	return "LOAD DATA LOCAL INFILE into a temporary table, then " +
		sqlconn.LoadStatement(b, table, s.Names(), keys, "SELECT … FROM the temporary table")
}

// Representable says what MariaDB/MySQL columns cannot hold: a DOUBLE
// keeps no sign of zero (the server refuses NaN itself), a DATETIME or
// DATE holds years 1 to 9999 (MariaDB's UUID: see checkUUIDs).
func (b *backend) Representable() sqlconn.Representable {
	return sqlconn.Representable{Float: "MariaDB/MySQL DOUBLE", Time: "MariaDB/MySQL DATETIME or DATE", JSON: "MariaDB/MySQL JSON"}
}
