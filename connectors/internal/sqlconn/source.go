package sqlconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
)

// SourceDriver is what a database adds to the generic SQL source.
type SourceDriver struct {
	Dialect Dialect
	// Open opens the database.
	Open func(ctx context.Context) (*sqlx.DB, error)
	// FieldType maps a result column to a field type.
	FieldType func(ct *sql.ColumnType) etl.Type
	// RowValues says the database compares row values, (a, b) > (?, ?),
	// with an index; otherwise the comparison is spelled out.
	RowValues bool
	// OrderExpr, if set, returns the expression a cursor or key column
	// (quoted) is ordered and compared by, and the value to bind for v;
	// nil keeps the column and the value.
	OrderExpr func(quoted string, t etl.Type, ct *sql.ColumnType, v any) (string, any)
}

// Source reads a table or a query in keyset-paginated chunks, ordered by
// the cursor then the key, resuming after the last row read.
type Source struct {
	cfg    SourceConfig
	drv    SourceDriver
	name   string // "postgres source pg table customer", for errors
	db     *sqlx.DB
	logger *slog.Logger
	chunk  int

	from   string // the quoted table, or the query as a subquery
	schema *etl.Schema
	types  []*sql.ColumnType
	order  []int // schema indexes of the cursor (if any) then the keys
	// last holds the order values of the last row read; nil before the
	// first row (or with --full-refresh).
	last []any
	// lookbackFrom, when set, is the lower bound of the first query of a
	// run with a lookback: rows are read again from there.
	lookbackFrom any
	done         bool
	nullCursors  int64
}

var _ etl.Source = (*Source)(nil)

// NewSource builds a source from a validated config; it does no I/O. name
// prefixes its errors ("postgres pg table customer").
func NewSource(cfg SourceConfig, drv SourceDriver, name string) *Source {
	return &Source{cfg: cfg, drv: drv, name: name}
}

func (s *Source) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{s.name}, args...)...)
}

// Open connects, reads the result's columns and decodes the position.
func (s *Source) Open(ctx context.Context, env etl.SourceEnv) error {
	if err := s.open(ctx, env); err != nil {
		s.Close()
		return s.errorf("%w", err)
	}
	return nil
}

func (s *Source) open(ctx context.Context, env etl.SourceEnv) error {
	s.logger = env.Logger
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.chunk = s.cfg.ChunkSize
	if s.chunk <= 0 {
		s.chunk = env.BatchSize
	}
	if s.chunk <= 0 {
		s.chunk = etl.DefaultBatchSize
	}
	d := s.drv.Dialect
	if s.cfg.Table != "" {
		s.from, _ = d.QuoteIdent(s.cfg.Table)
	} else {
		alias, _ := d.QuoteIdent("_nightjar_query")
		s.from = "(" + s.cfg.Query + ") " + alias
	}
	db, err := s.drv.Open(ctx)
	if err != nil {
		return err
	}
	s.db = db
	if err := s.describe(ctx); err != nil {
		return err
	}
	if err := s.checkNulls(ctx); err != nil {
		return err
	}
	if env.Position != nil && !env.FullRefresh {
		types := make([]etl.Type, len(s.order))
		for i, c := range s.order {
			types[i] = s.schema.Field(c).Type
		}
		if s.last, err = decodePosition(env.Position, s.cfg.Cursor != "", types); err != nil {
			return err
		}
		if s.cfg.Lookback > 0 {
			t, ok := s.last[0].(time.Time)
			if !ok {
				return fmt.Errorf("lookback needs a timestamp or date cursor; %q is %s", s.cfg.Cursor, types[0])
			}
			s.lookbackFrom = t.Add(-s.cfg.Lookback)
		}
	}
	return nil
}

// describe reads the result's columns without reading a row, and finds the
// cursor and key among them.
func (s *Source) describe(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "SELECT * FROM "+s.from+" WHERE 1 = 0")
	if err != nil {
		return fmt.Errorf("read columns: %w", err)
	}
	defer rows.Close()
	if s.types, err = rows.ColumnTypes(); err != nil {
		return fmt.Errorf("read columns: %w", err)
	}
	fields := make([]etl.Field, len(s.types))
	for i, ct := range s.types {
		fields[i] = etl.Field{Name: ct.Name(), Type: s.drv.FieldType(ct)}
	}
	if s.schema, err = etl.NewSchema(fields...); err != nil {
		return fmt.Errorf("result columns: %w", err)
	}
	names := append([]string(nil), s.cfg.Key...)
	if s.cfg.Cursor != "" {
		names = append([]string{s.cfg.Cursor}, names...)
	}
	d := s.drv.Dialect
	for _, n := range names {
		i := indexFold(d, s.schema.Names(), n)
		if i < 0 {
			return fmt.Errorf("no column %q in the result (columns: %s)", n, strings.Join(s.schema.Names(), ", "))
		}
		if t := s.schema.Field(i).Type; t == etl.TypeJSON {
			return fmt.Errorf("column %q is %s: a cursor or key column must be ordered", n, t)
		}
		s.order = append(s.order, i)
	}
	return rows.Err()
}

// ErrKeyNotUnique is wrapped by the error of a source whose key does not
// identify a row: two rows share the cursor and key values, or a key is
// null. Keyset paging resumes after the last row's values, so that such
// rows would be skipped.
var ErrKeyNotUnique = errors.New("the key does not identify a row")

// checkNulls refuses a result holding a row with a null key (paging
// resumes after a key value, and no value is after null), and logs how
// many rows a null cursor keeps from being read.
func (s *Source) checkNulls(ctx context.Context) error {
	keys := s.order
	if s.cfg.Cursor != "" {
		keys = keys[1:]
	}
	d := s.drv.Dialect
	var isNull []string
	var names []string
	for _, c := range keys {
		q, _ := d.QuoteIdent(s.schema.Field(c).Name)
		isNull = append(isNull, q+" IS NULL")
		names = append(names, s.schema.Field(c).Name)
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+s.from+" WHERE "+strings.Join(isNull, " OR ")).Scan(&n); err != nil {
		return fmt.Errorf("count null keys: %w", err)
	}
	if n > 0 {
		return etl.Permanent(fmt.Errorf("%w: rows with a null key (%s): %d; a key must not be null: filter them out with a query (WHERE %s) or choose NOT NULL key columns",
			ErrKeyNotUnique, strings.Join(names, ", "), n, strings.ReplaceAll(strings.Join(isNull, " OR "), " IS NULL", " IS NOT NULL")))
	}
	if s.cfg.Cursor == "" {
		return nil
	}
	q, _ := d.QuoteIdent(s.cfg.Cursor)
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+s.from+" WHERE "+q+" IS NULL").Scan(&n); err != nil {
		return fmt.Errorf("count null cursors: %w", err)
	}
	if n > 0 {
		s.logger.Warn("rows with a null cursor are not read", "cursor", s.cfg.Cursor, "rows", n)
	}
	s.nullCursors = n
	return nil
}

// NullCursors is the number of rows Open counted with a null cursor,
// which are not read.
func (s *Source) NullCursors() int64 { return s.nullCursors }

// checkUnique fails when row i of a and row j of b, adjacent in the read
// order, share their cursor and key values.
func (s *Source) checkUnique(a *etl.Batch, i int, b *etl.Batch, j int) error {
	for _, c := range s.order {
		if !sameValue(a.Cols[c].Value(i), b.Cols[c].Value(j)) {
			return nil
		}
	}
	what := "key"
	if s.cfg.Cursor != "" {
		what = "cursor and key"
	}
	return s.errorf("%w: two rows have %s %s; keyset paging would skip one of them: choose key columns that identify a row (a query's JOIN may repeat a table's id; key: [order_id, line_no])",
		etl.Permanent(ErrKeyNotUnique), what, s.origin(a, i))
}

// sameValue compares two values of an order column.
func sameValue(x, y any) bool {
	if tx, ok := x.(time.Time); ok {
		ty, ok := y.(time.Time)
		return ok && tx.Equal(ty)
	}
	return x == y
}

// Schema is the result's schema, known once Open returned.
func (s *Source) Schema() *etl.Schema { return s.schema }

// Next reads the next chunk.
func (s *Source) Next(ctx context.Context) (*etl.Batch, error) {
	if s.done {
		return nil, etl.ErrEndOfInput
	}
	query, args := s.query()
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.errorf("read: %w", err)
	}
	defer rows.Close()
	b := etl.NewBatch(s.schema, s.chunk)
	vals := make([]any, len(b.Cols))
	ptrs := make([]any, len(b.Cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	// The query reads one row past the chunk, so that a key repeated
	// across the chunk's edge is seen: the next query, resuming after the
	// last row's values, would skip its twin.
	var ahead *etl.Batch
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, s.errorf("read row after %s: %w", s.describePosition(), err)
		}
		if b.Len() == s.chunk {
			ahead = etl.NewBatch(s.schema, 1)
			for _, c := range s.order {
				if err := AppendValue(&ahead.Cols[c], vals[c]); err != nil {
					return nil, s.errorf("row %d after %s: column %q: %w", b.Len()+1, s.describePosition(), s.schema.Field(c).Name, err)
				}
			}
			if err := s.checkUnique(b, b.Len()-1, ahead, 0); err != nil {
				return nil, err
			}
			break
		}
		for i, v := range vals {
			if err := AppendValue(&b.Cols[i], v); err != nil {
				return nil, s.errorf("row %d after %s: column %q: %w", b.Len()+1, s.describePosition(), s.schema.Field(i).Name, err)
			}
		}
		row := b.Len()
		b.Origins = append(b.Origins, etl.Origin{Cursor: s.origin(b, row)})
		if row > 0 {
			if err := s.checkUnique(b, row-1, b, row); err != nil {
				return nil, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("read after %s: %w", s.describePosition(), err)
	}
	n := b.Len()
	if ahead == nil {
		s.done = true
	}
	if n == 0 {
		return nil, etl.ErrEndOfInput
	}
	s.last = make([]any, len(s.order))
	for i, c := range s.order {
		s.last[i] = b.Cols[c].Value(n - 1)
	}
	s.lookbackFrom = nil
	if b.Position, err = encodePosition(s.cfg.Cursor != "", s.last); err != nil {
		return nil, s.errorf("position: %w", err)
	}
	return b, nil
}

// query returns the next chunk's SELECT and its arguments.
func (s *Source) query() (string, []any) {
	d := s.drv.Dialect
	exprs := make([]string, len(s.order))
	binds := make([]any, len(s.order))
	for i, c := range s.order {
		q, _ := d.QuoteIdent(s.schema.Field(c).Name)
		exprs[i] = q
		var v any
		if s.last != nil {
			v = s.last[i]
		}
		if i == 0 && s.lookbackFrom != nil {
			v = s.lookbackFrom
		}
		binds[i] = v
		if s.drv.OrderExpr != nil {
			exprs[i], binds[i] = s.drv.OrderExpr(q, s.schema.Field(c).Type, s.types[c], v)
		}
	}
	var where []string
	var args []any
	if s.cfg.Cursor != "" {
		q, _ := d.QuoteIdent(s.schema.Field(s.order[0]).Name)
		where = append(where, q+" IS NOT NULL")
	}
	switch {
	case s.lookbackFrom != nil:
		where = append(where, exprs[0]+" >= "+d.Placeholder(1))
		args = append(args, binds[0])
	case s.last != nil:
		cond, condArgs := s.after(exprs, binds)
		where = append(where, cond)
		args = condArgs
	}
	var b strings.Builder
	b.WriteString("SELECT * FROM ")
	b.WriteString(s.from)
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY ")
	b.WriteString(strings.Join(exprs, ", "))
	b.WriteString(" LIMIT ")
	b.WriteString(strconv.Itoa(s.chunk + 1))
	return b.String(), args
}

// after is the condition "(exprs) > (binds)" in keyset order.
func (s *Source) after(exprs []string, binds []any) (string, []any) {
	d := s.drv.Dialect
	if s.drv.RowValues || len(exprs) == 1 {
		ph := make([]string, len(exprs))
		for i := range exprs {
			ph[i] = d.Placeholder(i + 1)
		}
		if len(exprs) == 1 {
			return exprs[0] + " > " + ph[0], binds
		}
		return "(" + strings.Join(exprs, ", ") + ") > (" + strings.Join(ph, ", ") + ")", binds
	}
	// a > ? OR (a = ? AND (b > ? OR (b = ? AND c > ?)))
	var args []any
	var build func(i int) string
	build = func(i int) string {
		args = append(args, binds[i])
		gt := exprs[i] + " > " + d.Placeholder(len(args))
		if i == len(exprs)-1 {
			return gt
		}
		args = append(args, binds[i])
		eq := exprs[i] + " = " + d.Placeholder(len(args))
		return "(" + gt + " OR (" + eq + " AND " + build(i+1) + "))"
	}
	return build(0), args
}

// origin names row i by its cursor and key values.
func (s *Source) origin(b *etl.Batch, i int) string {
	var sb strings.Builder
	for j, c := range s.order {
		if j > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(s.schema.Field(c).Name)
		sb.WriteByte('=')
		text, ok := b.Cols[c].Text(i)
		if !ok {
			text = "null"
		}
		sb.WriteString(text)
	}
	return sb.String()
}

func (s *Source) describePosition() string {
	if s.last == nil {
		return "the start"
	}
	parts := make([]string, len(s.order))
	for i, c := range s.order {
		parts[i] = s.schema.Field(c).Name + "=" + etl.FormatValue(s.last[i])
	}
	return strings.Join(parts, " ")
}

// Close closes the database.
func (s *Source) Close() error {
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if err != nil && !errors.Is(err, sql.ErrConnDone) {
		return s.errorf("close: %w", err)
	}
	return nil
}
