package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/connectors/internal/sqlconn"
	"github.com/nightjar-etl/nightjar/etl"
)

// stageTable is the temporary table a merge (or an append whose columns
// are of other types than the batch's fields) appends a batch to; it is
// the connection's own and is dropped once the batch is in the table.
const stageTable = "_nightjar_stage"

// ordColumn numbers the staged rows from 0 in batch order: the last row
// of a repeated key wins, and a value that fails its cast names its row.
const ordColumn = "_nightjar_ord"

// loadPlan is how batches of one schema go into one table.
type loadPlan struct {
	schema *etl.Schema
	table  string
	keys   []string
	// direct: the Appender writes the table itself (an append whose
	// columns have the fields' types); otherwise rows are staged and
	// inserted from the stage, DuckDB casting them to the columns' types.
	direct bool
	// createStage and insert are the statements of a staged load.
	createStage, insert string
	// casts are the fields staged as one type and inserted into a column
	// of another, by name, with the column's type.
	casts []cast
}

// cast is a field whose column has another type than the field's.
type cast struct{ field, columnType string }

// Load appends the batch's rows to table through DuckDB's Appender, in the
// transaction open on conn; with keys, or when the table's columns are of
// other types than the fields, into a temporary table first, then inserted
// (upserted on the keys, the last row per key winning) from it.
func (b *backend) Load(ctx context.Context, conn *sqlx.Conn, _ *sqlx.Tx, table string, batch *etl.Batch, keys []string) error {
	p, err := b.planFor(ctx, conn, table, batch.Schema, keys)
	if err != nil {
		return err
	}
	if p.direct {
		return appendRows(ctx, conn, "", table, batch, false)
	}
	if _, err := conn.ExecContext(ctx, p.createStage); err != nil {
		return fmt.Errorf("create staging table: %w", err)
	}
	if err := appendRows(ctx, conn, "temp", stageTable, batch, true); err != nil {
		return err
	}
	// Before the insert: a failed statement aborts DuckDB's transaction,
	// and nothing could be asked of the stage after it.
	if err := b.badCast(ctx, conn, p, batch); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, p.insert); err != nil {
		if len(keys) > 0 {
			return fmt.Errorf("upsert from staging table: %w", err)
		}
		return fmt.Errorf("insert from staging table: %w", err)
	}
	return nil
}

// planFor returns the plan for batches of s into table, reading the
// table's column types when the schema or table changed.
func (b *backend) planFor(ctx context.Context, q sqlx.QueryerContext, table string, s *etl.Schema, keys []string) (*loadPlan, error) {
	if p := b.plan; p != nil && p.table == table && len(p.keys) == len(keys) && (p.schema == s || p.schema.Equal(s)) {
		p.schema = s
		return p, nil
	}
	cols, err := readColumns(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	types := make(map[string]string, len(cols))
	for _, c := range cols {
		types[b.IdentKey(c.Name)] = c.Type
	}
	p := &loadPlan{schema: s, table: table, keys: keys, direct: len(keys) == 0}
	for i := range s.Len() {
		f := s.Field(i)
		if ct, ok := types[b.IdentKey(f.Name)]; ok && ct != b.ColumnType(f) {
			p.direct = false
			p.casts = append(p.casts, cast{field: f.Name, columnType: ct})
		}
	}
	if !p.direct {
		if p.createStage, err = sqlconn.CreateTable(b, stageTable, s); err != nil {
			return nil, err
		}
		ord, _ := b.QuoteIdent(ordColumn)
		p.createStage = strings.Replace(strings.TrimSuffix(p.createStage, ")"), "CREATE TABLE", "CREATE OR REPLACE TEMPORARY TABLE", 1) + ", " + ord + " BIGINT)"
		if p.insert, err = b.insertFromStage(table, s.Names(), keys); err != nil {
			return nil, err
		}
	}
	b.plan = p
	return p, nil
}

// insertFromStage is the INSERT of the staged rows into table; with keys,
// the upsert of the last staged row per key (by ordColumn).
func (b *backend) insertFromStage(table string, names, keys []string) (string, error) {
	ins, err := sqlconn.NewInsert(b, table, names, keys)
	if err != nil {
		return "", err
	}
	cols, err := sqlconn.QuoteAll(b, names)
	if err != nil {
		return "", err
	}
	stage, _ := b.QuoteIdent(stageTable)
	prefix, upsert := ins.Parts()
	query := strings.TrimSuffix(prefix, " VALUES ") + " SELECT " + strings.Join(cols, ", ") + " FROM temp.main." + stage
	if len(keys) > 0 {
		qk, err := sqlconn.QuoteAll(b, keys)
		if err != nil {
			return "", err
		}
		ord, _ := b.QuoteIdent(ordColumn)
		query += " QUALIFY row_number() OVER (PARTITION BY " + strings.Join(qk, ", ") + " ORDER BY " + ord + " DESC) = 1"
	}
	return query + upsert, nil
}

// appendRows appends the batch's rows to catalog's table through an
// Appender on conn's driver connection, in its open transaction; with
// ord, each row's index in the batch too (ordColumn). The rows are
// written straight into DuckDB's vectors when their columns allow
// (appendVectors), otherwise handed to duckdb-go's Appender row by row
// (appendValues). The Appender names its table and columns as they are,
// not as SQL: nothing is quoted, nothing can be injected.
func appendRows(ctx context.Context, conn *sqlx.Conn, catalog, table string, batch *etl.Batch, ord bool) error {
	return onDriverConn(conn, func(c driver.Conn) error {
		names := appendNames(batch, ord)
		err := appendVectors(ctx, c, catalog, table, names, batch, ord)
		if !errors.Is(err, errNoVectors) {
			return err
		}
		return appendValues(ctx, c, catalog, table, names, batch, ord)
	})
}

// onDriverConn runs f on conn's driver connection.
func onDriverConn(conn *sqlx.Conn, f func(driver.Conn) error) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("driver connection is %T, want a driver.Conn", dc)
		}
		return f(c)
	})
}

// appendNames are the columns an append of the batch names.
func appendNames(batch *etl.Batch, ord bool) []string {
	names := batch.Schema.Names()
	if ord {
		names = append(names, ordColumn)
	}
	return names
}

// appendValues appends the batch's rows through duckdb-go's Appender.
func appendValues(ctx context.Context, c driver.Conn, catalog, table string, names []string, batch *etl.Batch, ord bool) error {
	a, err := duckdb.NewAppenderWithColumns(c, catalog, "", table, names)
	if err != nil {
		return fmt.Errorf("appender on %s: %w", table, err)
	}
	if err := appendBatch(ctx, a, batch, ord); err != nil {
		_ = a.Clear()
		_ = a.Close()
		return err
	}
	if err := a.CloseWithCancel(ctx); err != nil {
		return fmt.Errorf("append rows %s to %s: %w", batch.Origins[0], batch.Origins[batch.Len()-1], err)
	}
	return nil
}

// appendBatch hands each row to the Appender, its values taken from the
// batch's column vectors into one reused slice (see cells); with ord, the
// row's index last.
func appendBatch(ctx context.Context, a *duckdb.Appender, batch *etl.Batch, ord bool) error {
	cells := newCells(batch)
	row := make([]driver.Value, len(batch.Cols), len(batch.Cols)+1)
	var index int64
	if ord {
		row = row[:len(batch.Cols)+1]
		row[len(batch.Cols)] = pointTo(int64Type, unsafe.Pointer(&index))
	}
	for r := range batch.Len() {
		if r%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for c := range batch.Cols {
			v, err := cells.value(c, r)
			if err != nil {
				return fmt.Errorf("row %s, field %q: %w", batch.Origins[r], batch.Schema.Field(c).Name, err)
			}
			row[c] = v
		}
		index = int64(r)
		if err := a.AppendRow(row...); err != nil {
			return fmt.Errorf("row %s: %w", batch.Origins[r], err)
		}
	}
	return nil
}

// cells hands out a batch's values as the Appender takes them for the
// column types the dialect gives the fields (times in UTC, JSON as its
// text) without allocating per value: the interface value of a string,
// number, bool or time points at the element of the batch's own vector
// (or, for times, of a vector of their UTC values), where converting it to
// an interface would copy it to the heap, a tenth of the load's CPU in
// the profile of a CSV load. The Appender only reads the values, before
// AppendRow returns.
type cells struct {
	cols []etl.Column
	// utc holds the UTC values of the time columns, by column index.
	utc [][]time.Time
}

func newCells(batch *etl.Batch) cells {
	cs := cells{cols: batch.Cols, utc: make([][]time.Time, len(batch.Cols))}
	for c := range batch.Cols {
		col := &batch.Cols[c]
		if col.Type.Storage() != etl.StoreTime {
			continue
		}
		utc := make([]time.Time, len(col.Time))
		for r, t := range col.Time {
			utc[r] = t.UTC()
		}
		cs.utc[c] = utc
	}
	return cs
}

// value is row r of column c; nil for NULL.
func (cs cells) value(c, r int) (driver.Value, error) {
	col := &cs.cols[c]
	if col.Null[r] {
		return nil, nil
	}
	switch col.Type {
	case etl.TypeString, etl.TypeDecimal, etl.TypeUUID:
		if !utf8.ValidString(col.Str[r]) {
			return nil, errNotUTF8
		}
		return pointTo(stringType, unsafe.Pointer(&col.Str[r])), nil
	case etl.TypeInt:
		return pointTo(int64Type, unsafe.Pointer(&col.Int[r])), nil
	case etl.TypeFloat:
		return pointTo(float64Type, unsafe.Pointer(&col.Float[r])), nil
	case etl.TypeBool:
		return pointTo(boolType, unsafe.Pointer(&col.Bool[r])), nil
	case etl.TypeTimestamp, etl.TypeDate, etl.TypeLocalTimestamp:
		if err := checkTime(col.Type, cs.utc[c][r]); err != nil {
			return nil, err
		}
		return pointTo(timeType, unsafe.Pointer(&cs.utc[c][r])), nil
	}
	return value(col, r)
}

// value is row r of col as the Appender takes it for the column type the
// dialect gives the field: times in UTC, JSON as its text. Each value but
// nil is copied to the heap (cells hands out the common types without).
func value(col *etl.Column, r int) (driver.Value, error) {
	if col.Null[r] {
		return nil, nil
	}
	switch col.Type {
	case etl.TypeString, etl.TypeDecimal, etl.TypeUUID:
		return col.Str[r], nil
	case etl.TypeBytes:
		return []byte(col.Str[r]), nil
	case etl.TypeInt:
		return col.Int[r], nil
	case etl.TypeFloat:
		return col.Float[r], nil
	case etl.TypeBool:
		return col.Bool[r], nil
	case etl.TypeTimestamp, etl.TypeDate, etl.TypeLocalTimestamp:
		return col.Time[r].UTC(), nil
	case etl.TypeJSON:
		// As JSON text the Appender stores as it is; a plain string it
		// would encode once more, storing a JSON string.
		text, err := sqlconn.EncodeJSON(col.JSON[r])
		if err != nil {
			return nil, err
		}
		return json.RawMessage(text), nil
	}
	return nil, fmt.Errorf("unknown field type %s", col.Type)
}

// eface is the layout of an interface value without methods (any,
// driver.Value): its dynamic type, and a pointer to its value for the
// types that are not pointers themselves (string, int64, float64, bool,
// time.Time).
type eface struct {
	typ, data unsafe.Pointer
}

// The dynamic types pointTo gives its values.
var (
	stringType  = typeOf("")
	int64Type   = typeOf(int64(0))
	float64Type = typeOf(0.0)
	boolType    = typeOf(false)
	timeType    = typeOf(time.Time{})
)

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

// pointTo is the interface value of dynamic type typ (one of the types
// above) whose value is the one at p, not a copy: it must not change while
// the interface value is in use.
func pointTo(typ, p unsafe.Pointer) driver.Value {
	var v driver.Value
	*(*eface)(unsafe.Pointer(&v)) = eface{typ: typ, data: p}
	return v
}

// plainType matches the column types badCast names in a query: DuckDB's
// own type names (BIGINT, DECIMAL(18,3), TIMESTAMP WITH TIME ZONE), not a
// user's type, whose name is not SQL to write into a statement.
var plainType = regexp.MustCompile(`^[A-Z][A-Z0-9_]*( [A-Z][A-Z0-9_]*)*(\([0-9, ]+\))?$`)

// badCast finds the first staged value that its column's type cannot
// take, and returns an error naming its row's origin, the field, the value
// and the type; nil when it finds none. DuckDB's own error names neither
// the row nor its origin.
func (b *backend) badCast(ctx context.Context, conn *sqlx.Conn, p *loadPlan, batch *etl.Batch) error {
	stage, _ := b.QuoteIdent(stageTable)
	for _, c := range p.casts {
		if !plainType.MatchString(c.columnType) {
			continue
		}
		qc, err := b.QuoteIdent(c.field)
		if err != nil {
			return nil
		}
		var row int64
		var value string
		ord, _ := b.QuoteIdent(ordColumn)
		err = conn.QueryRowContext(ctx, "SELECT "+ord+", CAST("+qc+" AS VARCHAR) FROM temp.main."+stage+
			" WHERE "+qc+" IS NOT NULL AND TRY_CAST("+qc+" AS "+c.columnType+") IS NULL ORDER BY "+ord+" LIMIT 1").Scan(&row, &value)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (row < 0 || row >= int64(batch.Len()))) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check the values staged for %q: %w", c.field, err)
		}
		return etl.Permanent(fmt.Errorf("row %s, field %q: %q is not a value of the column's type %s", batch.Origins[row], c.field, value, c.columnType))
	}
	return nil
}
