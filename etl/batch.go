package etl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Column is one field's values for every row of a batch, stored as a typed
// vector: only the slice matching the field's type is used. Null[i] marks a
// null in row i whatever the type (an empty string is not null).
//
// Column vectors were chosen over a value per row (see etl's
// BenchmarkBatchRepresentation): trim, lower and cast then work in place
// without an allocation per field, and a filter compacts vectors in place.
type Column struct {
	Type  Type
	Str   []string
	Int   []int64
	Float []float64
	Bool  []bool
	Time  []time.Time // TypeTimestamp and TypeDate
	JSON  []any
	Null  []bool
}

// NewColumn returns an empty column of type t with room for n rows.
func NewColumn(t Type, n int) Column {
	c := Column{Type: t, Null: make([]bool, 0, n)}
	switch t.Storage() {
	case StoreStr:
		c.Str = make([]string, 0, n)
	case StoreInt:
		c.Int = make([]int64, 0, n)
	case StoreFloat:
		c.Float = make([]float64, 0, n)
	case StoreBool:
		c.Bool = make([]bool, 0, n)
	case StoreTime:
		c.Time = make([]time.Time, 0, n)
	case StoreJSON:
		c.JSON = make([]any, 0, n)
	}
	return c
}

// Len is the number of rows in the column.
func (c *Column) Len() int { return len(c.Null) }

// AppendNull appends a null.
func (c *Column) AppendNull() {
	switch c.Type.Storage() {
	case StoreStr:
		c.Str = append(c.Str, "")
	case StoreInt:
		c.Int = append(c.Int, 0)
	case StoreFloat:
		c.Float = append(c.Float, 0)
	case StoreBool:
		c.Bool = append(c.Bool, false)
	case StoreTime:
		c.Time = append(c.Time, time.Time{})
	case StoreJSON:
		c.JSON = append(c.JSON, nil)
	}
	c.Null = append(c.Null, true)
}

// AppendString appends a string; the column's storage must be StoreStr
// (TypeString, or TypeBytes with the raw bytes).
func (c *Column) AppendString(s string) {
	c.Str = append(c.Str, s)
	c.Null = append(c.Null, false)
}

// AppendInt appends an int; the column must be TypeInt.
func (c *Column) AppendInt(v int64) {
	c.Int = append(c.Int, v)
	c.Null = append(c.Null, false)
}

// AppendFloat appends a float; the column must be TypeFloat.
func (c *Column) AppendFloat(v float64) {
	c.Float = append(c.Float, v)
	c.Null = append(c.Null, false)
}

// AppendBool appends a bool; the column must be TypeBool.
func (c *Column) AppendBool(v bool) {
	c.Bool = append(c.Bool, v)
	c.Null = append(c.Null, false)
}

// AppendTime appends a time; the column's storage must be StoreTime
// (TypeTimestamp, TypeDate, TypeLocalTimestamp with the wall clock in UTC).
func (c *Column) AppendTime(v time.Time) {
	c.Time = append(c.Time, v)
	c.Null = append(c.Null, false)
}

// AppendJSON appends a nested value; the column must be TypeJSON.
func (c *Column) AppendJSON(v any) {
	c.JSON = append(c.JSON, v)
	c.Null = append(c.Null, v == nil)
}

// Append appends v converted to the column's type: nil is null; a value of
// the column's Go type is stored as is. It is the slow, general path for
// sources that produce dynamically typed values (JSON, SQL rows).
func (c *Column) Append(v any) error {
	if v == nil {
		c.AppendNull()
		return nil
	}
	switch c.Type.Storage() {
	case StoreStr:
		switch x := v.(type) {
		case string:
			c.AppendString(x)
		case []byte:
			c.AppendString(string(x))
		case json.Number:
			c.AppendString(string(x))
		default:
			if c.Type == TypeBytes {
				return fmt.Errorf("cannot store %T in a bytes column", v)
			}
			c.AppendString(FormatValue(v))
		}
		if c.Type != TypeString {
			if err := CheckText(c.Type, c.Str[len(c.Str)-1]); err != nil {
				c.truncate(len(c.Str) - 1)
				return err
			}
		}
	case StoreInt:
		switch x := v.(type) {
		case int64:
			c.AppendInt(x)
		case int:
			c.AppendInt(int64(x))
		case float64:
			if x != float64(int64(x)) {
				return fmt.Errorf("%v is not an integer", x)
			}
			c.AppendInt(int64(x))
		case json.Number:
			n, err := x.Int64()
			if err != nil {
				return fmt.Errorf("%v is not an integer", x)
			}
			c.AppendInt(n)
		default:
			return fmt.Errorf("cannot store %T in an int column", v)
		}
	case StoreFloat:
		switch x := v.(type) {
		case float64:
			c.AppendFloat(x)
		case int64:
			c.AppendFloat(float64(x))
		case int:
			c.AppendFloat(float64(x))
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return fmt.Errorf("%v is not a number", x)
			}
			c.AppendFloat(f)
		default:
			return fmt.Errorf("cannot store %T in a float column", v)
		}
	case StoreBool:
		x, ok := v.(bool)
		if !ok {
			return fmt.Errorf("cannot store %T in a bool column", v)
		}
		c.AppendBool(x)
	case StoreTime:
		x, ok := v.(time.Time)
		if !ok {
			return fmt.Errorf("cannot store %T in a %s column", v, c.Type)
		}
		if c.Type == TypeLocalTimestamp {
			x = WallClock(x)
		}
		c.AppendTime(x)
	case StoreJSON:
		c.AppendJSON(v)
	}
	return nil
}

// WallClock returns t's wall-clock reading in its own location as the
// same reading in UTC: how a local timestamp is held.
func WallClock(t time.Time) time.Time {
	if t.Location() == time.UTC {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// Value returns row i as a Go value: nil for null, else string, int64,
// float64, bool, time.Time or the nested JSON value. It boxes, so hot paths
// read the typed slices directly.
func (c *Column) Value(i int) any {
	if c.Null[i] {
		return nil
	}
	switch c.Type.Storage() {
	case StoreStr:
		if c.Type == TypeBytes {
			return []byte(c.Str[i])
		}
		return c.Str[i]
	case StoreInt:
		return c.Int[i]
	case StoreFloat:
		return c.Float[i]
	case StoreBool:
		return c.Bool[i]
	case StoreTime:
		return c.Time[i]
	case StoreJSON:
		return c.JSON[i]
	}
	return nil
}

// Text returns row i formatted as text (RFC 3339 for timestamps, 2006-01-02
// for dates, JSON for nested values, base64 for bytes; see types.go) and
// whether it is non-null.
func (c *Column) Text(i int) (string, bool) {
	if c.Null[i] {
		return "", false
	}
	if c.Type == TypeString {
		return c.Str[i], true
	}
	return string(c.AppendText(nil, i)), true
}

// FormatValue formats a dynamically typed value as text, JSON for nested
// values.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case json.Number:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// keep compacts the column to the rows where keep[i] is true.
func (c *Column) keep(keep []bool) {
	n := 0
	for i, k := range keep {
		if !k {
			continue
		}
		if n != i {
			c.Null[n] = c.Null[i]
			switch c.Type.Storage() {
			case StoreStr:
				c.Str[n] = c.Str[i]
			case StoreInt:
				c.Int[n] = c.Int[i]
			case StoreFloat:
				c.Float[n] = c.Float[i]
			case StoreBool:
				c.Bool[n] = c.Bool[i]
			case StoreTime:
				c.Time[n] = c.Time[i]
			case StoreJSON:
				c.JSON[n] = c.JSON[i]
			}
		}
		n++
	}
	c.truncate(n)
}

func (c *Column) truncate(n int) {
	c.Null = c.Null[:n]
	switch c.Type.Storage() {
	case StoreStr:
		clear(c.Str[n:])
		c.Str = c.Str[:n]
	case StoreInt:
		c.Int = c.Int[:n]
	case StoreFloat:
		c.Float = c.Float[:n]
	case StoreBool:
		c.Bool = c.Bool[:n]
	case StoreTime:
		c.Time = c.Time[:n]
	case StoreJSON:
		clear(c.JSON[n:])
		c.JSON = c.JSON[:n]
	}
}

// Origin says where a row came from, so every error and quarantined row can
// name it: a file and line, a sheet and row, or a cursor value.
type Origin struct {
	File   string `json:"file,omitempty"`
	Line   int64  `json:"line,omitempty"`
	Sheet  string `json:"sheet,omitempty"`
	Row    int64  `json:"row,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

func (o Origin) String() string {
	switch {
	case o.File != "" && o.Sheet != "":
		return fmt.Sprintf("%s[%s]:%d", o.File, o.Sheet, o.Row)
	case o.File != "" && o.Line > 0:
		return fmt.Sprintf("%s:%d", o.File, o.Line)
	case o.File != "":
		return o.File
	case o.Cursor != "":
		return "cursor " + o.Cursor
	}
	return "unknown origin"
}

// Reject is a row a source or step refused, with the reason. The runner
// stores rejects in the quarantine in the same transaction as the position
// that passes them, so they are neither lost nor recorded twice.
type Reject struct {
	Step   string          `json:"step"`
	Origin Origin          `json:"origin"`
	Field  string          `json:"field,omitempty"`
	Value  string          `json:"value,omitempty"`
	Reason string          `json:"reason"`
	Row    json.RawMessage `json:"row,omitempty"`
}

// Detach gives the reject's text memory of its own: its field, value and
// reason may be strings into its batch's memory, which a source reads
// later rows into once the batch is released (see Releaser); the runner
// detaches the rejects it stores after that.
func (r *Reject) Detach() {
	r.Field, r.Value, r.Reason = strings.Clone(r.Field), strings.Clone(r.Value), strings.Clone(r.Reason)
	r.Row = bytes.Clone(r.Row)
}

// FileDone records that a source finished reading a whole file; the runner
// writes it to the file ledger with the checkpoint that covers the file's
// last row.
type FileDone struct {
	Path   string
	Size   int64
	MTime  time.Time
	SHA256 string
	Rows   int64
	// Failed marks a file that could not be loaded (its reason is in the
	// quarantine): the ledger records it as failed, so that its bytes are
	// not tried again until they change.
	Failed bool
}

// Status is the file's ledger status: "loaded" or "failed".
func (f FileDone) Status() string {
	if f.Failed {
		return "failed"
	}
	return "loaded"
}

// Batch is up to a few thousand rows sharing one schema, as column vectors,
// with each row's origin and the position to resume from after it.
type Batch struct {
	Schema  *Schema
	Cols    []Column
	Origins []Origin

	// Position is where the source resumes after this batch.
	Position Position
	// Seq numbers the batch within its load, continuing across the runs
	// that resume it; with Load and Position it identifies a replayed
	// batch (see BatchKey).
	Seq int64
	// Load is the load the batch belongs to (see Checkpoint.Load); the
	// runner sets it.
	Load string
	// Bytes is the amount of input the batch consumed, for progress.
	Bytes int64
	// Rejects are the rows refused so far on the way to the targets.
	Rejects []Reject
	// Files are the files completely read by the end of this batch.
	Files []FileDone
	// Routes, set by a routing step, limits the rows some targets get:
	// a target whose route name is a key receives only the rows whose
	// mask entry is true; other targets receive every row.
	Routes map[string][]bool

	// readRows is the number of source rows (loaded or rejected) the batch
	// stood for before the steps; the runner counts it.
	readRows int64
	// release hands the vectors the batch was built on back to their
	// source (see OnRelease).
	release []func()
}

// OnRelease registers f to run when the batch is released: a source that
// fills later batches' vectors with the memory of released ones registers
// the function that takes them back, and may take back the text the
// batch's strings point to as well (see Releaser).
func (b *Batch) OnRelease(f func()) { b.release = append(b.release, f) }

// Release runs the functions registered with OnRelease, once: no step,
// target or stage may read the batch's vectors or origins afterwards. The
// runner calls it only when every step and target of the job releases its
// batches (see Releaser); a batch that is never released is garbage
// collected as usual.
func (b *Batch) Release() {
	fs := b.release
	b.release = nil
	for _, f := range fs {
		f()
	}
}

// passRelease moves b's release functions to out, a batch a step made from
// b: b's vectors may live on in out, so they are released with it.
func (b *Batch) passRelease(out *Batch) {
	if out != b && len(b.release) > 0 {
		out.release = append(out.release, b.release...)
		b.release = nil
	}
}

// NewBatch returns an empty batch of schema s with room for n rows.
func NewBatch(s *Schema, n int) *Batch {
	b := &Batch{Schema: s, Cols: make([]Column, s.Len()), Origins: make([]Origin, 0, n)}
	for i := range b.Cols {
		b.Cols[i] = NewColumn(s.Field(i).Type, n)
	}
	return b
}

// Len is the number of rows.
func (b *Batch) Len() int { return len(b.Origins) }

// Col returns the named column, or nil.
func (b *Batch) Col(name string) *Column {
	i := b.Schema.Index(name)
	if i < 0 {
		return nil
	}
	return &b.Cols[i]
}

// Keep compacts the batch to the rows where keep[i] is true, in place.
func (b *Batch) Keep(keep []bool) {
	for i := range b.Cols {
		b.Cols[i].keep(keep)
	}
	n := 0
	for i, k := range keep {
		if k {
			b.Origins[n] = b.Origins[i]
			n++
		}
	}
	b.Origins = b.Origins[:n]
	for route, mask := range b.Routes {
		m := 0
		for i, k := range keep {
			if k {
				mask[m] = mask[i]
				m++
			}
		}
		b.Routes[route] = mask[:m]
	}
}

// Select returns a new batch holding the rows where mask[i] is true, with
// the same schema and bookkeeping; b is left as it is (other targets may be
// reading it concurrently).
func (b *Batch) Select(mask []bool) *Batch {
	n := 0
	for _, m := range mask {
		if m {
			n++
		}
	}
	out := &Batch{
		Schema: b.Schema, Cols: make([]Column, len(b.Cols)), Origins: make([]Origin, 0, n),
		Position: b.Position, Seq: b.Seq, Load: b.Load, Bytes: b.Bytes,
	}
	for i, o := range b.Origins {
		if mask[i] {
			out.Origins = append(out.Origins, o)
		}
	}
	for c := range b.Cols {
		src := &b.Cols[c]
		dst := NewColumn(src.Type, n)
		for i, m := range mask {
			if !m {
				continue
			}
			dst.AppendCell(src, i)
		}
		out.Cols[c] = dst
	}
	return out
}

// Row returns row i as a map from field name to value; for rejects and
// previews, never the hot path.
func (b *Batch) Row(i int) map[string]any {
	m := make(map[string]any, len(b.Cols))
	for j := range b.Cols {
		m[b.Schema.Field(j).Name] = b.Cols[j].Value(i)
	}
	return m
}

// RowJSON returns row i as a JSON object with the fields in schema order,
// byte for byte what encoding/json makes of each name and Value. Broker
// targets call it once per record: strings of plain ASCII, integers,
// booleans and nulls are appended directly (encoding/json's reflection
// and an allocation per value were most of a NATS publish's CPU); any
// other value goes through encoding/json.
func (b *Batch) RowJSON(i int) json.RawMessage {
	buf := make([]byte, 0, 64)
	buf = append(buf, '{')
	for j := range b.Cols {
		if j > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, b.Schema.Field(j).Name)
		buf = append(buf, ':')
		buf = b.Cols[j].appendJSON(buf, i)
	}
	return append(buf, '}')
}

// appendJSON appends row i's value as encoding/json marshals Value(i).
func (c *Column) appendJSON(buf []byte, i int) []byte {
	switch {
	case c.Null[i]:
		return append(buf, "null"...)
	case c.Type.Storage() == StoreStr && c.Type != TypeBytes:
		return appendJSONString(buf, c.Str[i])
	case c.Type.Storage() == StoreInt:
		return strconv.AppendInt(buf, c.Int[i], 10)
	case c.Type.Storage() == StoreBool:
		return strconv.AppendBool(buf, c.Bool[i])
	}
	v, err := json.Marshal(c.Value(i))
	if err != nil {
		return append(buf, "null"...)
	}
	return append(buf, v...)
}

// appendJSONString appends s quoted as encoding/json quotes it: directly
// when every byte is printable ASCII that needs no escape (encoding/json
// also escapes <, > and &), through encoding/json otherwise.
func appendJSONString(buf []byte, s string) []byte {
	for k := 0; k < len(s); k++ {
		if c := s[k]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(buf, q...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// Reject moves row i's description into the batch's rejects. The caller
// still removes the row (usually with Keep, once per batch).
func (b *Batch) Reject(i int, step, field, value, reason string) {
	b.Rejects = append(b.Rejects, Reject{
		Step: step, Origin: b.Origins[i], Field: field, Value: value, Reason: reason, Row: b.RowJSON(i),
	})
}

// Check verifies that every column has one value per row; sources and steps
// call it in tests.
func (b *Batch) Check() error {
	if len(b.Cols) != b.Schema.Len() {
		return fmt.Errorf("batch has %d columns for %d fields", len(b.Cols), b.Schema.Len())
	}
	n := len(b.Origins)
	for i := range b.Cols {
		c := &b.Cols[i]
		if c.Type != b.Schema.Field(i).Type {
			return fmt.Errorf("column %q is %s, schema says %s", b.Schema.Field(i).Name, c.Type, b.Schema.Field(i).Type)
		}
		if c.Len() != n || c.typedLen() != n {
			return fmt.Errorf("column %q has %d rows (%d values), batch has %d", b.Schema.Field(i).Name, c.Len(), c.typedLen(), n)
		}
	}
	return nil
}

func (c *Column) typedLen() int {
	switch c.Type.Storage() {
	case StoreStr:
		return len(c.Str)
	case StoreInt:
		return len(c.Int)
	case StoreFloat:
		return len(c.Float)
	case StoreBool:
		return len(c.Bool)
	case StoreTime:
		return len(c.Time)
	case StoreJSON:
		return len(c.JSON)
	}
	return -1
}

// AppendCell appends row i of src, which has c's type, to c.
func (c *Column) AppendCell(src *Column, i int) {
	c.Null = append(c.Null, src.Null[i])
	switch src.Type.Storage() {
	case StoreStr:
		c.Str = append(c.Str, src.Str[i])
	case StoreInt:
		c.Int = append(c.Int, src.Int[i])
	case StoreFloat:
		c.Float = append(c.Float, src.Float[i])
	case StoreBool:
		c.Bool = append(c.Bool, src.Bool[i])
	case StoreTime:
		c.Time = append(c.Time, src.Time[i])
	case StoreJSON:
		c.JSON = append(c.JSON, src.JSON[i])
	}
}
