package duckdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"

	"github.com/nightjar-etl/nightjar/etl"
)

// vectorAppender appends a batch's rows through a DuckDB Appender a chunk
// of 2,048 rows at a time (duckdb_append_data_chunk), the values written
// straight into the chunk's vectors. duckdb-go's Appender makes a cgo call
// per string value (duckdb_vector_assign_string_element_len), most of the
// time nightjar spends appending a CSV file's rows; here a chunk costs a
// few calls per column. It takes the columns of the types the direct
// append writes most (VARCHAR, BIGINT, DOUBLE, BOOLEAN, TIMESTAMP, DATE);
// a batch with another (JSON, BLOB) is appended through duckdb-go's
// Appender (appendRows).
//
// A string of up to 12 bytes is inlined in its duckdb_string_t; a longer
// one is copied into buf, which the string_t points into: buf is pinned
// while DuckDB reads the chunk, and DuckDB copies the strings out of it
// before duckdb_append_data_chunk returns (the appender's collection keeps
// its own copy). Text that is not valid UTF-8 fails the batch before any
// row is appended (checkValues).
type vectorAppender struct {
	app   mapping.Appender
	chunk mapping.DataChunk
	kinds []vectorKind
	buf   []byte
	pin   runtime.Pinner
}

// vectorKind is how a column's values are written into its vector.
type vectorKind uint8

const (
	vecVarchar vectorKind = iota + 1
	vecBigint
	vecDouble
	vecBoolean
	vecTimestamp
	vecDate
)

// chunkRows is DuckDB's vector size: the rows of one data chunk.
const chunkRows = 2048

// stringT is the layout of duckdb_string_t: the length, then the string
// inlined (up to 12 bytes) or its first 4 bytes and a pointer to it.
type stringT struct {
	length uint32
	prefix [4]byte
	ptr    unsafe.Pointer
}

// errNoVectors: the batch or the table has a column vectorAppender does
// not write (or this duckdb-go keeps its connection handle elsewhere); the
// caller appends through duckdb-go's Appender.
var errNoVectors = errors.New("not a vector append")

// appendVectors appends the batch's rows through a vectorAppender, or
// returns errNoVectors, having done nothing, when one cannot take them.
func appendVectors(ctx context.Context, c driver.Conn, catalog, table string, names []string, batch *etl.Batch, ord bool) error {
	a, err := newVectorAppender(c, catalog, table, names, batch, ord)
	switch {
	case errors.Is(err, errNoVectors):
		return err
	case err != nil:
		return fmt.Errorf("appender on %s: %w", table, err)
	}
	if err := checkValues(batch); err != nil {
		a.discard()
		return err
	}
	if err := a.append(ctx, batch, ord); err != nil {
		a.discard()
		return err
	}
	if err := a.close(); err != nil {
		return fmt.Errorf("append rows %s to %s: %w", batch.Origins[0], batch.Origins[batch.Len()-1], err)
	}
	return nil
}

// newVectorAppender opens an Appender on the driver connection dc for the
// named columns of catalog's table, the batch's fields in order (then, with
// ord, ordColumn).
func newVectorAppender(dc driver.Conn, catalog, table string, names []string, batch *etl.Batch, ord bool) (*vectorAppender, error) {
	conn, ok := connHandle(dc)
	if !ok {
		return nil, errNoVectors
	}
	want := make([]vectorKind, 0, len(names))
	for c := range batch.Cols {
		k := kindOf(batch.Cols[c].Type)
		if k == 0 {
			return nil, errNoVectors
		}
		want = append(want, k)
	}
	if ord {
		want = append(want, vecBigint)
	}
	a := &vectorAppender{kinds: want}
	if mapping.AppenderCreateExt(conn, catalog, "", table, &a.app) == mapping.StateError {
		err := errors.New(mapping.AppenderError(a.app))
		mapping.AppenderDestroy(&a.app)
		return nil, err
	}
	types := make([]mapping.LogicalType, 0, len(names))
	defer func() {
		for i := range types {
			mapping.DestroyLogicalType(&types[i])
		}
	}()
	for i, name := range names {
		if mapping.AppenderAddColumn(a.app, name) == mapping.StateError {
			err := fmt.Errorf("column %q: %s", name, mapping.AppenderError(a.app))
			a.destroy()
			return nil, err
		}
		t := mapping.AppenderColumnType(a.app, mapping.IdxT(i))
		types = append(types, t)
		if kindOfColumn(mapping.GetTypeId(t)) != want[i] {
			a.destroy()
			return nil, errNoVectors
		}
	}
	a.chunk = mapping.CreateDataChunk(types)
	return a, nil
}

// connHandle is the DuckDB connection of duckdb-go's driver connection,
// a field duckdb-go keeps to itself (v2.20000.0: Conn.conn); ok is false
// when it is not there as that type.
func connHandle(dc driver.Conn) (mapping.Connection, bool) {
	c, ok := dc.(*duckdb.Conn)
	if !ok || c == nil {
		return mapping.Connection{}, false
	}
	f := reflect.ValueOf(c).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeFor[mapping.Connection]() {
		return mapping.Connection{}, false
	}
	h := *(*mapping.Connection)(unsafe.Pointer(f.UnsafeAddr()))
	return h, h.Ptr != nil
}

// kindOf is the vector kind of the column type the dialect gives a field
// of type t (ColumnType), or 0.
func kindOf(t etl.Type) vectorKind {
	switch t {
	case etl.TypeString, etl.TypeDecimal, etl.TypeUUID:
		return vecVarchar
	case etl.TypeInt:
		return vecBigint
	case etl.TypeFloat:
		return vecDouble
	case etl.TypeBool:
		return vecBoolean
	case etl.TypeTimestamp, etl.TypeLocalTimestamp:
		return vecTimestamp
	case etl.TypeDate:
		return vecDate
	}
	return 0
}

func kindOfColumn(t mapping.Type) vectorKind {
	switch t {
	case mapping.TypeVarchar:
		return vecVarchar
	case mapping.TypeBigInt:
		return vecBigint
	case mapping.TypeDouble:
		return vecDouble
	case mapping.TypeBoolean:
		return vecBoolean
	case mapping.TypeTimestamp:
		return vecTimestamp
	case mapping.TypeDate:
		return vecDate
	}
	return 0
}

// The times a TIMESTAMP (microseconds since 1970 in an int64) and a DATE
// (days since 1970 in an int32) hold, as duckdb-go bounds them.
const minYear, maxYear = -290307, 294246

var (
	minDate = time.Date(-5877641, time.June, 25, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(5881580, time.July, 10, 0, 0, 0, 0, time.UTC)
)

// checkTime refuses a time that a column of type t (TIMESTAMP or DATE)
// cannot hold.
func checkTime(t etl.Type, v time.Time) error {
	v = v.UTC()
	if t == etl.TypeDate {
		y, m, d := v.Date()
		if midnight := time.Date(y, m, d, 0, 0, 0, 0, time.UTC); midnight.Before(minDate) || midnight.After(maxDate) {
			return fmt.Errorf("%s is outside the dates a DuckDB DATE holds (%s to %s)", v.Format(time.DateOnly), minDate.Format(time.DateOnly), maxDate.Format(time.DateOnly))
		}
		return nil
	}
	if y := v.Year(); y < minYear || y > maxYear {
		return fmt.Errorf("year %d is outside the years a DuckDB TIMESTAMP holds (%d to %d)", y, minYear, maxYear)
	}
	return nil
}

// errNotUTF8 refuses text a VARCHAR cannot hold: DuckDB takes UTF-8 only
// (duckdb-go's Appender stored NULL in its place).
var errNotUTF8 = errors.New("text is not valid UTF-8, which a DuckDB VARCHAR requires")

// checkValues checks every value of the batch that a column could refuse
// (times with checkTime, text for UTF-8) before any is appended; the error
// names the first bad one's row and field.
func checkValues(batch *etl.Batch) error {
	for c := range batch.Cols {
		col := &batch.Cols[c]
		var err error
		var r int
		switch {
		case col.Type.Storage() == etl.StoreTime:
			for r = range col.Time {
				if !col.Null[r] {
					if err = checkTime(col.Type, col.Time[r]); err != nil {
						break
					}
				}
			}
		case kindOf(col.Type) == vecVarchar:
			for r = range col.Str {
				if !col.Null[r] && !utf8.ValidString(col.Str[r]) {
					err = errNotUTF8
					break
				}
			}
		}
		if err != nil {
			return fmt.Errorf("row %s, field %q: %w", batch.Origins[r], batch.Schema.Field(c).Name, err)
		}
	}
	return nil
}

// append appends the batch's rows, chunk by chunk; with ord, each row's
// index in the batch last. The rows are the Appender's until close.
func (a *vectorAppender) append(ctx context.Context, batch *etl.Batch, ord bool) error {
	n := batch.Len()
	for lo := 0; lo < n; lo += chunkRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+chunkRows, n)
		if err := a.appendChunk(batch, ord, lo, hi); err != nil {
			return fmt.Errorf("append rows %s to %s: %w", batch.Origins[lo], batch.Origins[hi-1], err)
		}
	}
	return nil
}

// appendChunk writes rows lo to hi into the chunk's vectors and appends it.
func (a *vectorAppender) appendChunk(batch *etl.Batch, ord bool, lo, hi int) error {
	rows := hi - lo
	// The long strings' bytes, copied into buf: sized first, so that buf
	// does not move while string_t values point into it.
	long := 0
	for c := range batch.Cols {
		if a.kinds[c] != vecVarchar {
			continue
		}
		col := &batch.Cols[c]
		for r := lo; r < hi; r++ {
			if s := col.Str[r]; !col.Null[r] && len(s) > 12 {
				long += len(s)
			}
		}
	}
	if cap(a.buf) < long {
		a.buf = make([]byte, 0, max(long, 2*cap(a.buf)))
	}
	a.buf = a.buf[:0]
	if cap(a.buf) > 0 {
		a.pin.Pin(unsafe.SliceData(a.buf))
	}
	defer a.pin.Unpin()

	for c := range a.kinds {
		vec := mapping.DataChunkGetVector(a.chunk, mapping.IdxT(c))
		data := mapping.VectorGetData(vec)
		if c == len(batch.Cols) { // ord
			idx := unsafe.Slice((*int64)(data), rows)
			for i := range idx {
				idx[i] = int64(lo + i)
			}
			continue
		}
		col := &batch.Cols[c]
		var mask []uint64
		for i, null := range col.Null[lo:hi] {
			if !null {
				continue
			}
			if mask == nil {
				mapping.VectorEnsureValidityWritable(vec)
				mask = unsafe.Slice((*uint64)(mapping.VectorGetValidity(vec)), (chunkRows+63)/64)
			}
			mask[i/64] &^= 1 << (i % 64)
		}
		switch a.kinds[c] {
		case vecVarchar:
			strs := unsafe.Slice((*stringT)(data), rows)
			for i, s := range col.Str[lo:hi] {
				st := &strs[i]
				*st = stringT{}
				if col.Null[lo+i] {
					continue
				}
				st.length = uint32(len(s))
				if len(s) <= 12 {
					copy(unsafe.Slice((*byte)(unsafe.Pointer(&st.prefix)), 12), s)
					continue
				}
				copy(st.prefix[:], s)
				off := len(a.buf)
				a.buf = append(a.buf, s...)
				st.ptr = unsafe.Pointer(&a.buf[off])
			}
		case vecBigint:
			copy(unsafe.Slice((*int64)(data), rows), col.Int[lo:hi])
		case vecDouble:
			copy(unsafe.Slice((*float64)(data), rows), col.Float[lo:hi])
		case vecBoolean:
			copy(unsafe.Slice((*bool)(data), rows), col.Bool[lo:hi])
		case vecTimestamp:
			// Microseconds since 1970 UTC, as duckdb-go sets them.
			ts := unsafe.Slice((*int64)(data), rows)
			for i, t := range col.Time[lo:hi] {
				if !col.Null[lo+i] {
					ts[i] = t.UnixMicro()
				}
			}
		case vecDate:
			// Days since 1970 of the date in UTC (cells gives the
			// Appender times in UTC; it takes their date).
			days := unsafe.Slice((*int32)(data), rows)
			for i, t := range col.Time[lo:hi] {
				if !col.Null[lo+i] {
					y, m, d := t.UTC().Date()
					days[i] = int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / (24 * 60 * 60))
				}
			}
		}
	}
	mapping.DataChunkSetSize(a.chunk, mapping.IdxT(rows))
	state := mapping.AppendDataChunk(a.app, a.chunk)
	mapping.DataChunkReset(a.chunk)
	if state == mapping.StateError {
		return errors.New(mapping.AppenderError(a.app))
	}
	return nil
}

// close flushes the appended rows into the table and frees the Appender.
func (a *vectorAppender) close() error {
	var err error
	if mapping.AppenderClose(a.app) == mapping.StateError {
		err = errors.New(mapping.AppenderError(a.app))
	}
	a.destroy()
	return err
}

// discard frees the Appender without flushing its rows.
func (a *vectorAppender) discard() {
	mapping.AppenderClear(a.app)
	a.destroy()
}

func (a *vectorAppender) destroy() {
	if a.chunk.Ptr != nil {
		mapping.DestroyDataChunk(&a.chunk)
	}
	mapping.AppenderDestroy(&a.app)
}
