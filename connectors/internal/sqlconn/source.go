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
	// ElemType, if set, is the element type of a result column FieldType
	// maps to etl.TypeArray.
	ElemType func(ct *sql.ColumnType) etl.Type
	// RowValues says the database compares row values, (a, b) > (?, ?),
	// with an index; otherwise the comparison is spelled out.
	RowValues bool
	// OrderExpr, if set, returns the expression a cursor or key column
	// (quoted) is ordered and compared by, and the value to bind for v;
	// nil keeps the column and the value.
	OrderExpr func(quoted string, t etl.Type, ct *sql.ColumnType, v any) (string, any)
	// StoredOrder, if set, says the database orders and compares the
	// stored values of a column as they are, where the driver's conversion
	// to a field changes them (SQLite: an integer in a TIMESTAMP column,
	// sub-millisecond digits of a text time): it returns an expression
	// reading the quoted column's stored value unconverted. The source
	// then pages by the stored values, keeps them in its position, and
	// uses OrderExpr only for a lookback's bound and a position saved by
	// an earlier version.
	StoredOrder func(quoted string) string
	// SelectList, if set, returns the select list the source reads the
	// result's columns with (types are those of SELECT *), in their order
	// and with their names, or "" for *: a column the driver would convert
	// in a way that loses something is read as the database spells it
	// (DuckDB: a JSON column as its text, where the driver reads a JSON
	// null as nil).
	SelectList func(types []*sql.ColumnType) string
	// Check, if set, runs at Open once the columns are known: a database
	// whose driver converts values in ways the source cannot see refuses
	// here what would not read back as stored. from is the quoted table or
	// the query as a subquery.
	Check func(ctx context.Context, db *sqlx.DB, from string, schema *etl.Schema) error
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
	// legacy, when set, is a position saved before the driver ordered by
	// stored values (see StoredOrder): a lower bound in the old
	// comparison for the whole run.
	legacy []any
	// ahead holds the order values of the row the last query read past
	// its chunk's end, which the next chunk should begin with.
	ahead       []any
	done        bool
	nullCursors int64
	// only, when set, restricts the rows read to a key range (OnlyRange).
	only *onlyRange
}

var (
	_ etl.Source   = (*Source)(nil)
	_ etl.Reopener = (*Source)(nil)
)

// Reopens implements etl.Reopener: Open reads from env.Position as a new
// source would.
func (s *Source) Reopens() bool { return true }

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
		s.Close(ctx)
		return s.errorf("%w", err)
	}
	return nil
}

func (s *Source) open(ctx context.Context, env etl.SourceEnv) error {
	// Opened again (a rewind, see etl.Reopener): nothing of the last
	// opening's reading carries over.
	s.last, s.lookbackFrom, s.legacy, s.ahead, s.done, s.nullCursors = nil, nil, nil, nil, false, 0
	s.order = s.order[:0]
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
	if s.drv.Check != nil {
		if err := s.drv.Check(ctx, s.db, s.from, s.schema); err != nil {
			return err
		}
	}
	position := env.Position
	if s.only != nil {
		if err := s.openRange(); err != nil {
			return err
		}
		// A key range's first run starts after its lower bound, the
		// first range's after the position the job was split at.
		if position == nil && s.only.Lo == "" {
			position = s.only.from
		}
	}
	// A full refresh has a position only when the runner rewound it: it
	// reads on from there (see etl.SourceEnv).
	if position != nil {
		types := make([]etl.Type, len(s.order))
		for i, c := range s.order {
			types[i] = s.schema.Field(c).Type
		}
		var stored bool
		if s.last, stored, err = decodePosition(position, s.cfg.Cursor != "", types); err != nil {
			return err
		}
		if s.drv.StoredOrder != nil && !stored {
			s.legacy, s.last = s.last, nil
		}
		if s.cfg.Lookback > 0 {
			t, ok := firstTime(s.last, s.legacy)
			if !ok {
				return fmt.Errorf("lookback needs a timestamp or date cursor; %q is %s", s.cfg.Cursor, types[0])
			}
			s.lookbackFrom = t.Add(-s.cfg.Lookback)
		}
	}
	return nil
}

// firstTime returns the cursor of a position as a time: the stored one
// converted as the driver would, or a legacy position's.
func firstTime(stored, legacy []any) (time.Time, bool) {
	if legacy != nil {
		t, ok := legacy[0].(time.Time)
		return t, ok
	}
	if t, ok := stored[0].(time.Time); ok {
		return t, true
	}
	col := etl.NewColumn(etl.TypeTimestamp, 1)
	switch v := stored[0].(type) {
	case int64:
		// go-sqlite3's reading of an integer time: milliseconds past
		// 1e12, else seconds.
		if v > 1e12 || v < -1e12 {
			return time.UnixMilli(v).UTC(), true
		}
		return time.Unix(v, 0).UTC(), true
	case string:
		if AppendValue(&col, v) == nil {
			return col.Time[0], true
		}
	}
	return time.Time{}, false
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
		switch fields[i].Type {
		case etl.TypeDecimal:
			fields[i].Precision, fields[i].Scale = decimalSize(ct)
		case etl.TypeArray:
			if s.drv.ElemType != nil {
				fields[i].Elem = s.drv.ElemType(ct)
			}
			if !etl.IsArrayElement(fields[i].Elem) {
				return fmt.Errorf("column %q: an array of unknown element type (%s)", ct.Name(), ct.DatabaseTypeName())
			}
		}
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
		if t := s.schema.Field(i).Type; t == etl.TypeJSON || t == etl.TypeArray {
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
	ncols := len(b.Cols)
	if s.drv.StoredOrder != nil {
		ncols += len(s.order)
	}
	vals := make([]any, ncols)
	ptrs := make([]any, ncols)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	// The query reads one row past the chunk, so that a key repeated
	// across the chunk's edge is seen: the next query, resuming after the
	// last row's values, would skip its twin.
	var prev, cur []any
	ahead := false
	// edgeMoved: this chunk does not begin with the row read past the
	// last one's end.
	edgeMoved := false
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, s.errorf("read row after %s: %w", s.describePosition(), err)
		}
		into, row := b, b.Len()
		if row == s.chunk {
			ahead = true
			into, row = etl.NewBatch(s.schema, 1), 0
		}
		for i := range b.Cols {
			var err error
			if f := s.schema.Field(i); f.Type == etl.TypeArray {
				err = AppendArray(&into.Cols[i], f.Elem, vals[i])
			} else {
				err = AppendValue(&into.Cols[i], vals[i])
			}
			if err != nil {
				return nil, s.errorf("row %d after %s: column %q: %w", b.Len()+1, s.describePosition(), s.schema.Field(i).Name, err)
			}
		}
		into.Origins = append(into.Origins, etl.Origin{Cursor: s.origin(into, row)})
		prev, cur = cur, s.orderValues(into, row, vals[len(b.Cols):])
		if prev == nil && s.ahead != nil && !sameValues(cur, s.ahead) {
			edgeMoved = true
		}
		if prev != nil && sameValues(prev, cur) {
			return nil, s.errorf("%w: two rows have %s; keyset paging would skip one of them: choose key columns that identify a row (a query's JOIN may repeat a table's id; key: [order_id, line_no])",
				etl.Permanent(ErrKeyNotUnique), into.Origins[row].Cursor)
		}
		if ahead {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("read after %s: %w", s.describePosition(), err)
	}
	rows.Close()
	if edgeMoved || (cur == nil && s.ahead != nil) {
		if err := s.checkEdge(ctx); err != nil {
			return nil, err
		}
	}
	s.ahead = nil
	if ahead {
		s.ahead = cur
	}
	if !ahead {
		s.done = true
	}
	if b.Len() == 0 {
		return nil, etl.ErrEndOfInput
	}
	s.last = prev
	if !ahead {
		s.last = cur
	}
	s.lookbackFrom, s.legacy = nil, nil
	if b.Position, err = encodePosition(s.cfg.Cursor != "", s.drv.StoredOrder != nil, s.last); err != nil {
		return nil, s.errorf("position: %w", err)
	}
	return b, nil
}

// checkEdge runs when a chunk does not begin with the row the previous
// query read past its end: that row changed since, or the database holds
// it equal to the last row read (a case- or accent-insensitive collation,
// SQLite's NOCASE) though its values differ, and resuming after the last
// row skipped it. It counts the rows the database holds equal to the last
// one: more than one is a key that does not identify a row.
func (s *Source) checkEdge(ctx context.Context) error {
	d := s.drv.Dialect
	conds := make([]string, len(s.order))
	args := make([]any, len(s.order))
	for i, c := range s.order {
		q, _ := d.QuoteIdent(s.schema.Field(c).Name)
		expr, v := q, s.last[i]
		if s.drv.OrderExpr != nil && s.drv.StoredOrder == nil {
			expr, v = s.drv.OrderExpr(q, s.schema.Field(c).Type, s.types[c], v)
		}
		conds[i] = expr + " = " + d.Placeholder(i+1)
		args[i] = v
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM "+s.from+" WHERE "+strings.Join(conds, " AND "), args...).Scan(&n); err != nil {
		return s.errorf("check the key after %s: %w", s.describePosition(), err)
	}
	if n > 1 {
		return s.errorf("%w: %d rows compare equal to %s in the database (its collation may hold distinct values equal), and paging would skip all but one: choose key columns that identify a row",
			etl.Permanent(ErrKeyNotUnique), n, s.describePosition())
	}
	return nil
}

// orderValues returns the cursor and key values of row i of b: as the
// database stores them (stored, the extra columns of a StoredOrder query)
// or as fields.
func (s *Source) orderValues(b *etl.Batch, i int, stored []any) []any {
	out := make([]any, len(s.order))
	for j, c := range s.order {
		if s.drv.StoredOrder != nil {
			v := stored[j]
			if raw, ok := v.([]byte); ok {
				v = string(raw)
			}
			out[j] = v
			continue
		}
		out[j] = b.Cols[c].Value(i)
	}
	return out
}

// sameValues compares the cursor and key values of two rows.
func sameValues(x, y []any) bool {
	for i := range x {
		if !sameValue(x[i], y[i]) {
			return false
		}
	}
	return true
}

// orderExprs returns the cursor and key columns quoted, the expressions
// they are ordered and compared by, and the values of the last row read
// to bind for them (nil before the first row).
func (s *Source) orderExprs() (quoted, exprs []string, binds []any) {
	n := len(s.order)
	quoted = make([]string, n)
	exprs = make([]string, n)
	binds = make([]any, n)
	for i, c := range s.order {
		quoted[i], _ = s.drv.Dialect.QuoteIdent(s.schema.Field(c).Name)
		exprs[i] = quoted[i]
		if s.last != nil {
			binds[i] = s.last[i]
		}
		if s.drv.OrderExpr != nil && s.drv.StoredOrder == nil {
			exprs[i], binds[i] = s.drv.OrderExpr(quoted[i], s.schema.Field(c).Type, s.types[c], binds[i])
		}
	}
	return quoted, exprs, binds
}

// query returns the next chunk's SELECT and its arguments.
func (s *Source) query() (string, []any) {
	d := s.drv.Dialect
	n := len(s.order)
	quoted, exprs, binds := s.orderExprs()
	// normalized is the comparison of a time bound (a lookback, a legacy
	// position) by the driver's OrderExpr, when stored values order.
	normalized := func(values []any) ([]string, []any) {
		ex := append([]string(nil), quoted...)
		bs := append([]any(nil), values...)
		if s.drv.OrderExpr != nil {
			for i, c := range s.order {
				ex[i], bs[i] = s.drv.OrderExpr(quoted[i], s.schema.Field(c).Type, s.types[c], values[i])
			}
		}
		return ex, bs
	}
	var where []string
	var args []any
	if s.cfg.Cursor != "" {
		where = append(where, quoted[0]+" IS NOT NULL")
	}
	switch {
	case s.lookbackFrom != nil:
		ex, bs := exprs, binds
		if s.drv.StoredOrder != nil {
			ex, bs = normalized(append([]any{s.lookbackFrom}, make([]any, n-1)...))
		} else if s.drv.OrderExpr != nil {
			ex[0], bs[0] = s.drv.OrderExpr(quoted[0], s.schema.Field(s.order[0]).Type, s.types[s.order[0]], s.lookbackFrom)
		} else {
			bs[0] = s.lookbackFrom
		}
		where = append(where, ex[0]+" >= "+d.Placeholder(1))
		args = append(args, bs[0])
	case s.legacy != nil:
		ex, bs := normalized(s.legacy)
		cond, condArgs := s.after(ex, bs, 0)
		where = append(where, cond)
		args = condArgs
	case s.last != nil:
		cond, condArgs := s.after(exprs, binds, 0)
		where = append(where, cond)
		args = condArgs
	}
	if s.only != nil {
		// A key range: above its lower bound until a row of it is read,
		// and never past its upper bound.
		if s.last == nil && s.only.lo != nil {
			e, v := s.rangeExpr(s.only.lo)
			args = append(args, v)
			where = append(where, e+" > "+d.Placeholder(len(args)))
		}
		e, v := s.rangeExpr(s.only.hi)
		args = append(args, v)
		where = append(where, e+" <= "+d.Placeholder(len(args)))
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	if list := s.selectList(); list != "" {
		b.WriteString(list)
	} else {
		b.WriteString("*")
	}
	if s.drv.StoredOrder != nil {
		for i := range quoted {
			b.WriteString(", ")
			b.WriteString(s.drv.StoredOrder(quoted[i]))
		}
	}
	b.WriteString(" FROM ")
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

// selectList is the driver's select list for the result's columns, or ""
// for *.
func (s *Source) selectList() string {
	if s.drv.SelectList == nil {
		return ""
	}
	return s.drv.SelectList(s.types)
}

// after is the condition "(exprs) > (binds)" in keyset order; its
// placeholders are numbered after the first from.
func (s *Source) after(exprs []string, binds []any, from int) (string, []any) {
	d := s.drv.Dialect
	if s.drv.RowValues || len(exprs) == 1 {
		ph := make([]string, len(exprs))
		for i := range exprs {
			ph[i] = d.Placeholder(from + i + 1)
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
		gt := exprs[i] + " > " + d.Placeholder(from+len(args))
		if i == len(exprs)-1 {
			return gt
		}
		args = append(args, binds[i])
		eq := exprs[i] + " = " + d.Placeholder(from+len(args))
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
func (s *Source) Close(context.Context) error {
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

// decimalSize is a decimal column's precision and scale as the driver
// reports them, or 0, 0 for an unbounded one (PostgreSQL's NUMERIC without
// a precision reports 65535) or one the driver does not report. An
// UNSIGNED MySQL DECIMAL reports one digit fewer (no sign in its length).
func decimalSize(ct *sql.ColumnType) (precision, scale int) {
	p, s, ok := ct.DecimalSize()
	if !ok || p <= 0 || p > 1000 || s < 0 || s > p {
		return 0, 0
	}
	if strings.HasPrefix(strings.ToUpper(ct.DatabaseTypeName()), "UNSIGNED ") {
		p++
	}
	return int(p), int(s)
}
