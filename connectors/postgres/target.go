package postgres

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// TargetConfig is a "table" target bound to a postgres connection.
type TargetConfig struct {
	sqlconn.TargetConfig `yaml:",inline"`
	// SchemaName is the schema holding the table, created when missing;
	// default the connection's search_path (usually public).
	SchemaName string `yaml:"schema_name" doc:"the schema holding the table, created when missing; default the connection's search_path (usually public)"`
}

func init() {
	etl.RegisterTarget(etl.TargetSpec{
		Spec: etl.Spec{
			Type:    "table/postgres",
			Summary: "a PostgreSQL table loaded by binary COPY: append (replays skipped), merge by key, or replace",
			Example: "targets:\n  - { type: table, connection: pg, schema_name: crm, table: leads, mode: merge, key: [email] }\n",
			Config:  func() any { return &TargetConfig{TargetConfig: sqlconn.DefaultTargetConfig()} },
		},
		New: New,
	})
}

// New builds a target from a decoded *TargetConfig; it does no I/O.
func New(cfg any, env etl.BuildEnv) (etl.Target, error) {
	c, ok := cfg.(*TargetConfig)
	if !ok {
		return nil, fmt.Errorf("postgres table: config is %T, want *TargetConfig", cfg)
	}
	conn, err := connConfig(env, "table")
	if err != nil {
		return nil, err
	}
	reserved := func(key string) bool { return strings.HasPrefix(key, "pg_") }
	name, err := c.ValidateTarget(Dialect{}, reserved, sqlconn.Container{Key: "schema_name", Name: c.SchemaName}, env.Connection.Name)
	if err != nil {
		return nil, err
	}
	return sqlconn.NewTable(c.TargetConfig, &backend{conn: conn, schema: c.SchemaName}, name), nil
}

// backend is PostgreSQL's sqlconn.Backend.
type backend struct {
	Dialect
	conn   *ConnConfig
	schema string
	rows   copyRows
	bin    binaryCopy
	// stream is the COPY left open across a transaction's batches.
	stream *stream
	// oids caches the column types of tables loaded (see columnOIDs).
	oids map[string]map[string]uint32
	// pgxOnly loads every batch through pgx's CopyFrom (tests compare the
	// two encodings).
	pgxOnly bool
}

var (
	_ sqlconn.Backend  = (*backend)(nil)
	_ sqlconn.DDLRacer = (*backend)(nil)
)

// OpenDB connects with search_path set to the target's schema, creating
// the schema when missing.
func (b *backend) OpenDB(ctx context.Context) (*sqlx.DB, error) {
	db, err := b.conn.open(ctx, b.schema)
	if err != nil {
		return nil, err
	}
	if b.schema != "" {
		q, _ := b.QuoteIdent(b.schema)
		if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+q); err != nil && !b.ConcurrentDDL(err) {
			db.Close()
			return nil, fmt.Errorf("create schema %q: %w", b.schema, err)
		}
	}
	return db, nil
}

// Columns lists the columns of table as search_path finds it.
func (b *backend) Columns(ctx context.Context, q sqlx.QueryerContext, table string) ([]string, error) {
	qt, err := b.QuoteIdent(table)
	if err != nil {
		return nil, err
	}
	var names []string
	err = sqlx.SelectContext(ctx, q, &names,
		"SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum", qt)
	return names, err
}

// CreateLike creates table with like's columns, types, defaults and
// NOT NULL constraints.
func (b *backend) CreateLike(table, like string) (string, error) {
	qt, err := b.QuoteIdent(table)
	if err != nil {
		return "", err
	}
	ql, err := b.QuoteIdent(like)
	if err != nil {
		return "", err
	}
	return "CREATE TABLE " + qt + " (LIKE " + ql + " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)", nil
}

// stageTable is the temporary table a merge copies a batch into; it
// lives in the session's temporary schema and is dropped once the batch is
// merged.
const stageTable = "_nightjar_stage"

// ordColumn numbers the staged rows, so that the last row of a repeated
// key wins.
const ordColumn = "_nightjar_ord"

// Load copies the batch into table with binary COPY; for a merge it copies
// into a temporary table, then upserts its last row per key.
func (b *backend) Load(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, table string, batch *etl.Batch, keys []string) error {
	names := batch.Schema.Names()
	if len(keys) == 0 {
		return b.copy(ctx, conn, table, table, names, batch, false)
	}
	if err := b.createStage(ctx, tx, table); err != nil {
		return err
	}
	if err := b.copy(ctx, conn, stageTable, table, append(names, ordColumn), batch, true); err != nil {
		return err
	}
	return b.mergeStage(ctx, tx, table, names, keys)
}

// createStage creates the temporary table a merge copies into: table's
// columns and ordColumn.
func (b *backend) createStage(ctx context.Context, tx *sqlx.Tx, table string) error {
	qt, _ := b.QuoteIdent(table)
	stage, _ := b.QuoteIdent(stageTable)
	ord, _ := b.QuoteIdent(ordColumn)
	if _, err := tx.ExecContext(ctx, "CREATE TEMPORARY TABLE "+stage+" (LIKE "+qt+") ON COMMIT DROP"); err != nil {
		return fmt.Errorf("create staging table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "ALTER TABLE "+stage+" ADD COLUMN "+ord+" BIGINT"); err != nil {
		return fmt.Errorf("create staging table: %w", err)
	}
	return nil
}

// mergeStage upserts the staged rows into table, the last one per key,
// and drops the staging table.
func (b *backend) mergeStage(ctx context.Context, tx *sqlx.Tx, table string, names, keys []string) error {
	qt, _ := b.QuoteIdent(table)
	stage, _ := b.QuoteIdent(stageTable)
	ord, _ := b.QuoteIdent(ordColumn)
	cols, err := sqlconn.QuoteAll(b, names)
	if err != nil {
		return err
	}
	ins, err := sqlconn.NewInsert(b, table, names, keys)
	if err != nil {
		return err
	}
	qk, err := sqlconn.QuoteAll(b, keys)
	if err != nil {
		return err
	}
	// The INSERT's column list and upsert clause come from NewInsert; its
	// VALUES list is replaced by the staged rows, the last per key.
	prefix, upsert := ins.Parts()
	upsert += b.unchangedSkip(qt, table, names, keys)
	list := strings.Join(cols, ", ")
	query := strings.TrimSuffix(prefix, " VALUES ") +
		" SELECT DISTINCT ON (" + strings.Join(qk, ", ") + ") " + list + " FROM " + stage +
		" ORDER BY " + strings.Join(qk, ", ") + ", " + ord + " DESC" + upsert
	if _, err := tx.ExecContext(ctx, query); err != nil {
		return fmt.Errorf("upsert from staging table: %w", err)
	}
	// The transaction may load more batches.
	if _, err := tx.ExecContext(ctx, "DROP TABLE "+stage); err != nil {
		return fmt.Errorf("drop staging table: %w", err)
	}
	return nil
}

// equalityOIDs are the column types compared with IS DISTINCT FROM as
// they are; a column of another type (json, xml, geometric types have no
// equality operator) is compared as text.
var equalityOIDs = map[uint32]bool{
	16: true, 17: true, 20: true, 21: true, 23: true, 25: true, 700: true, 701: true, 1042: true, 1043: true,
	1082: true, 1083: true, 1114: true, 1184: true, 1186: true, 1700: true, 2950: true, 3802: true,
}

// unchangedSkip returns the WHERE clause of a merge's DO UPDATE that
// leaves a row whose columns all equal the incoming ones as it is: no new
// row version, index entries or WAL for it. Re-merging a mostly unchanged
// extract (the nightly case) then costs a fraction of rewriting every row.
func (b *backend) unchangedSkip(qt, table string, names, keys []string) string {
	oids := b.oids[table]
	isKey := map[string]bool{}
	for _, k := range keys {
		isKey[k] = true
	}
	var old, cur []string
	for _, n := range names {
		if isKey[n] {
			continue
		}
		qc, _ := b.QuoteIdent(n)
		o, e := qt+"."+qc, "EXCLUDED."+qc
		if !equalityOIDs[oids[n]] {
			o, e = o+"::text", e+"::text"
		}
		old, cur = append(old, o), append(cur, e)
	}
	if len(old) == 0 {
		return "" // DO NOTHING
	}
	return " WHERE (" + strings.Join(old, ", ") + ") IS DISTINCT FROM (" + strings.Join(cur, ", ") + ")"
}

// copy runs COPY FROM STDIN (binary) on the transaction's connection:
// encoded by binaryCopy straight from the column vectors when the column
// types of typesOf (the table, or the table a merge's staging table was
// created like) are those it writes, else by pgx's CopyFrom, which
// converts each value to its column's type.
func (b *backend) copy(ctx context.Context, conn *sqlx.Conn, table, typesOf string, columns []string, batch *etl.Batch, withOrd bool) error {
	return withConn(conn, func(c *pgx.Conn) error {
		oids, err := b.columnOIDs(ctx, c, typesOf, batch.Schema)
		if err != nil {
			return err
		}
		var n int64
		if !b.pgxOnly && binaryCompatible(batch.Schema, oids) {
			n, err = b.copyBinary(ctx, c.PgConn(), table, columns, batch, withOrd)
		} else {
			b.rows.reset(batch, withOrd)
			n, err = c.CopyFrom(ctx, pgx.Identifier{table}, columns, &b.rows)
			b.rows.reset(nil, false) // keep no reference to the batch
		}
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if n != int64(batch.Len()) {
			return fmt.Errorf("copy: %d rows copied of %d", n, batch.Len())
		}
		return nil
	})
}

// withConn runs f with the pgx connection under conn.
func withConn(conn *sqlx.Conn, f func(c *pgx.Conn) error) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("driver connection is %T, want *stdlib.Conn", dc)
		}
		return f(c.Conn())
	})
}

// columnOIDs returns the type OID of each column of table as search_path
// finds it. The answer is kept for the run, so that a batch costs no round
// trip for it, and asked again when a batch has a field it lacks (a column
// added by evolve) or after a failed write (Abort).
func (b *backend) columnOIDs(ctx context.Context, conn *pgx.Conn, table string, s *etl.Schema) (map[string]uint32, error) {
	if oids, ok := b.oids[table]; ok {
		hasAll := true
		for i := range s.Len() {
			_, has := oids[s.Field(i).Name]
			hasAll = hasAll && has
		}
		if hasAll {
			return oids, nil
		}
	}
	qt, err := b.QuoteIdent(table)
	if err != nil {
		return nil, err
	}
	rows, _ := conn.Query(ctx, "SELECT attname::text, atttypid::int8 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped", qt)
	oids := map[string]uint32{}
	var name string
	var oid int64
	_, err = pgx.ForEachRow(rows, []any{&name, &oid}, func() error {
		oids[name] = uint32(oid)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read column types: %w", err)
	}
	if b.oids == nil {
		b.oids = map[string]map[string]uint32{}
	}
	b.oids[table] = oids
	return oids, nil
}

// copyBinary streams the batch through binaryCopy.
func (b *backend) copyBinary(ctx context.Context, pc *pgconn.PgConn, table string, columns []string, batch *etl.Batch, withOrd bool) (int64, error) {
	qt, err := b.QuoteIdent(table)
	if err != nil {
		return 0, err
	}
	qc, err := sqlconn.QuoteAll(b, columns)
	if err != nil {
		return 0, err
	}
	b.bin.reset(batch, withOrd)
	defer b.bin.reset(nil, false) // keep no reference to the batch
	tag, err := pc.CopyFrom(ctx, &b.bin, "COPY "+qt+" ("+strings.Join(qc, ", ")+") FROM STDIN (FORMAT binary)")
	if b.bin.err != nil {
		return 0, b.bin.err
	}
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// Swap drops table and renames staging to it in one transaction:
// PostgreSQL's DDL is transactional, so readers see the old table until
// the commit and the new one after.
func (b *backend) Swap(ctx context.Context, conn *sqlx.Conn, table, staging string) error {
	if err := sqlconn.SwapByRename(ctx, b, conn, table, staging); err != nil {
		return err
	}
	clear(b.oids) // the table's columns are the staging table's now
	return nil
}

// Transient: serialization failures, deadlocks, a server shutting down or
// terminating the connection, connection failures, and a connection lost
// on the way.
// ConcurrentDDL: the object exists (duplicate table, schema, column or
// object), or CREATE ... IF NOT EXISTS lost a race with another session
// and hit the unique index of the catalog it was adding to.
func (b *backend) ConcurrentDDL(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "42P07", "42P06", "42701", "42710": // duplicate_table, _schema, _column, _object
		return true
	case "23505": // unique_violation
		return strings.HasPrefix(pgErr.ConstraintName, "pg_")
	}
	return false
}

func (b *backend) Transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "40001", pgErr.Code == "40P01": // serialization_failure, deadlock_detected
			return true
		case strings.HasPrefix(pgErr.Code, "08"): // connection exceptions
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin shutdown, crash shutdown, cannot connect now
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) ||
		pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &netErr)
}

// DuplicateKeys reports a unique_violation.
func (b *backend) DuplicateKeys(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

var _ sqlconn.TextChecker = (*backend)(nil)

// CheckColumn refuses what PostgreSQL cannot store: a NUL byte in text,
// and the \u0000 escape in json ("unsupported Unicode escape sequence").
func (*backend) CheckColumn(col *etl.Column, refuse func(row int, why string)) {
	switch col.Type {
	case etl.TypeString:
		for i, s := range col.Str[:len(col.Null)] {
			if strings.IndexByte(s, 0) >= 0 && !col.Null[i] {
				refuse(i, "text holds a NUL byte (0x00), which PostgreSQL cannot store")
			}
		}
	case etl.TypeJSON, etl.TypeArray:
		for i, null := range col.Null {
			if null {
				continue
			}
			s, _ := col.Text(i) // the value as JSON
			switch {
			case !strings.Contains(s, `\u0000`):
			case col.Type == etl.TypeJSON:
				refuse(i, "json holds \\u0000, which PostgreSQL cannot store")
			case arrayHoldsNUL(s):
				refuse(i, "an array element holds a NUL byte (0x00), which PostgreSQL cannot store")
			}
		}
	}
}

var _ sqlconn.Inspector = (*backend)(nil)

// OpenExisting connects with search_path set to the target's schema,
// which it does not create: a missing schema finds no table.
func (b *backend) OpenExisting(ctx context.Context) (*sqlx.DB, error) {
	return b.conn.open(ctx, b.schema)
}

// DescribeLoad is the binary COPY of an append or replace; a merge's COPY
// into a temporary table and its upsert.
func (b *backend) DescribeLoad(table string, s *etl.Schema, keys []string) string {
	names := s.Names()
	if len(keys) == 0 {
		qt, _ := b.QuoteIdent(table)
		return "COPY " + qt + " (" + sqlconn.ColumnList(b, names) + ") FROM STDIN (FORMAT binary)"
	}
	stage, _ := b.QuoteIdent(stageTable)
	return "COPY " + stage + " (temporary), then " + sqlconn.LoadStatement(b, table, names, keys, "SELECT … FROM "+stage)
}

// arrayHoldsNUL reports whether an array, as JSON, has a string element
// holding a NUL byte.
func arrayHoldsNUL(text string) bool {
	var v any
	if json.Unmarshal([]byte(text), &v) != nil {
		return false
	}
	var holds func(x any) bool
	holds = func(x any) bool {
		switch e := x.(type) {
		case string:
			return strings.IndexByte(e, 0) >= 0
		case []any:
			for _, item := range e {
				if holds(item) {
					return true
				}
			}
		}
		return false
	}
	return holds(v)
}
