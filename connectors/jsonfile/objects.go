package jsonfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// Value kinds found in a line, in the order type inference ranks them.
const (
	kindNull uint8 = iota
	kindString
	kindInt
	kindFloat
	kindBool
	kindJSON
)

// field is one key's values in the current batch: a kind per row and a
// vector per kind, each filled only as far as its kind occurs. The vectors
// become the batch's columns as they are.
type field struct {
	key string // as written in the objects
	// quoted is key between quotes when it can be written so, with no
	// escape (no quote, backslash or control byte in it): a line's key
	// equal to it is the key, unscanned (see parse).
	quoted string
	kind   []uint8 // per row; kindNull where the key is absent or null
	str    []string
	i      []int64
	f      []float64
	b      []bool
	v      []any

	size sizes // the vectors' first capacities, from the last batch
}

// vectors are a field's vectors without their key: the memory a released
// batch gives back for a later batch's field of the same key.
type vectors struct {
	kind []uint8
	str  []string
	i    []int64
	f    []float64
	b    []bool
	v    []any
}

// slabs are one batch's memory, given back when the batch is released
// (see etl.Releaser): its fields' vectors by key, its null slab, its
// origins and its text arena's chunks.
type slabs struct {
	fields  map[string]vectors
	nulls   []bool
	origins []etl.Origin
	text    [][]byte
	chunks  []*fileformat.Chunk
}

// freeSlabs is how many released batches' slabs a decoder keeps for later
// batches, as the CSV decoder keeps its vectors (csvfile's freeVectors):
// the 10 batches of a PostgreSQL transaction, released at its commit, and
// a few more.
const freeSlabs = 12

// sizes are the lengths of a field's vectors, kept from one batch to size
// the next batch's vectors at once rather than by doubling.
type sizes struct{ kind, str, i, f, b, v int }

// objects gathers JSON objects, one line each, into a batch in a single
// pass over each line: values are checked and typed by a scanner and land
// in their field's vectors; only nested objects and arrays go through
// encoding/json. The schema is inferred when the batch is built.
type objects struct {
	file     string
	maxDepth int              // levels of nesting a record may have, itself the first
	cols     map[string]int   // the batch's fields by key
	sizes    map[string]sizes // the last batch's vector lengths by key
	fields   []field
	order    []int   // the fields of the previous object by position: keys usually repeat in order
	rows     []int64 // the line of each row
	limit    int     // the batch's row limit: no vector grows beyond it
	arena    arena
	// stable is set while the line being added lies in a chunk the batch
	// holds (chunks): its strings point into it instead of the arena.
	stable bool
	chunks []*fileformat.Chunk
	free   fileformat.Stack[*slabs] // released batches' memory (see build)
	reuse  *slabs                   // the released memory this batch takes its vectors from

	fieldErr error // the first error in a value of a syntactically valid line

	// fixed is each field's type, set by the first batch in which it has
	// a value and kept for the rest of the file (see build).
	fixed map[string]etl.Type
}

// reset starts a batch of at most limit rows.
func (o *objects) reset(limit int) {
	if o.cols == nil {
		o.cols, o.sizes = make(map[string]int), make(map[string]sizes)
	}
	clear(o.cols)
	clear(o.sizes)
	for _, fd := range o.fields {
		o.sizes[fd.key] = sizes{len(fd.kind), len(fd.str), len(fd.i), len(fd.f), len(fd.b), len(fd.v)}
	}
	clear(o.fields) // the vectors belong to the last batch now
	o.fields, o.order, o.rows = o.fields[:0], o.order[:0], o.rows[:0]
	o.limit = limit
	o.reuse, _ = o.free.Pop() // the last released: the likeliest in the CPU's caches
	var spare [][]byte
	if o.reuse != nil {
		spare = o.reuse.text
	}
	o.arena.next(spare)
}

// add appends the object on line as a row, or returns why it cannot: the
// batch is then as it was before the line.
func (o *objects) add(line []byte, lineNo int64) error {
	row, nfields := len(o.rows), len(o.fields)
	o.fieldErr = nil
	err := o.parse(line, row)
	if err == nil {
		err = o.fieldErr
	}
	if err != nil {
		for _, fd := range o.fields[nfields:] {
			delete(o.cols, fd.key)
		}
		clear(o.fields[nfields:])
		o.fields, o.order = o.fields[:nfields], o.order[:0]
		for j := range o.fields {
			o.fields[j].truncate(row)
		}
		if err == errSyntax || err == errNotObject {
			return syntaxError(line)
		}
		return err
	}
	o.rows = append(o.rows, lineNo)
	return nil
}

// parse scans one object into row.
func (o *objects) parse(line []byte, row int) error {
	p := skipSpace(line, 0)
	if p == len(line) || line[p] != '{' {
		return errNotObject
	}
	p = skipSpace(line, p+1)
	if p < len(line) && line[p] == '}' {
		p++
	} else {
		for pos := 0; ; pos++ {
			if p == len(line) || line[p] != '"' {
				return errSyntax
			}
			var col, end int
			var err error
			if q := o.expected(pos); q != "" && len(line)-p >= len(q) && string(line[p:p+len(q)]) == q {
				col, end = o.order[pos], p+len(q) // the key the last object had here
			} else {
				var unquote bool
				if end, unquote, err = scanString(line, p); err != nil {
					return err
				}
				col = o.column(line[p+1:end-1], unquote, pos)
			}
			p = skipSpace(line, end)
			if p == len(line) || line[p] != ':' {
				return errSyntax
			}
			if p, err = o.value(line, skipSpace(line, p+1), col, row); err != nil {
				return err
			}
			p = skipSpace(line, p)
			if p < len(line) && line[p] == ',' {
				p = skipSpace(line, p+1)
				continue
			}
			if p < len(line) && line[p] == '}' {
				p++
				break
			}
			return errSyntax
		}
	}
	if skipSpace(line, p) != len(line) {
		return errSyntax
	}
	return nil
}

// expected is the quoted key the last object had at position pos, when it
// has one that needs no escape: most objects repeat their keys in order.
func (o *objects) expected(pos int) string {
	if pos < len(o.order) {
		return o.fields[o.order[pos]].quoted
	}
	return ""
}

// column returns the field of key, the pos-th key of its object, adding
// it when new.
func (o *objects) column(key []byte, unquote bool, pos int) int {
	var col int
	if unquote {
		col = o.lookup(string(appendUnquoted(nil, key)))
	} else if pos < len(o.order) && o.fields[o.order[pos]].key == string(key) {
		return o.order[pos]
	} else {
		col = o.lookup(string(key))
	}
	if pos < len(o.order) {
		o.order[pos] = col
	} else {
		o.order = append(o.order, col)
	}
	return col
}

func (o *objects) lookup(key string) int {
	if col, ok := o.cols[key]; ok {
		return col
	}
	col := len(o.fields)
	o.cols[key] = col
	fd := field{key: key, size: o.sizes[key]}
	if !strings.ContainsFunc(key, func(r rune) bool { return r == '"' || r == '\\' || r < 0x20 }) {
		fd.quoted = `"` + key + `"`
	}
	if v, ok := o.reuse.take(key); ok {
		fd.kind, fd.str, fd.i, fd.f, fd.b, fd.v = v.kind[:0], v.str[:0], v.i[:0], v.f[:0], v.b[:0], v.v[:0]
	}
	o.fields = append(o.fields, fd)
	return col
}

// take returns the released vectors of key's field, once.
func (s *slabs) take(key string) (vectors, bool) {
	if s == nil {
		return vectors{}, false
	}
	v, ok := s.fields[key]
	delete(s.fields, key)
	return v, ok
}

// give takes back the slabs of a released batch. Their strings and values
// are cleared first: kept, they would hold the batch's text alive until a
// later batch overwrote them.
func (o *objects) give(s *slabs) {
	for _, v := range s.fields {
		clear(v.str[:cap(v.str)])
		clear(v.v[:cap(v.v)])
	}
	s.chunks = fileformat.UnrefAll(s.chunks)
	o.free.Push(s, freeSlabs)
}

// text returns s, a string's contents (unquoted when unquote is set), as a
// string: pointing into the line when it lies in a chunk the batch holds
// and needs no unquoting, else copied into the arena.
func (o *objects) text(s []byte, unquote bool) string {
	if !o.stable || unquote {
		return o.arena.text(s, unquote)
	}
	if len(s) == 0 {
		return ""
	}
	return unsafe.String(&s[0], len(s))
}

// value scans the value at line[p] into row of field col and returns the
// index just past it.
func (o *objects) value(line []byte, p, col, row int) (int, error) {
	if p == len(line) {
		return 0, errSyntax
	}
	fd := &o.fields[col]
	switch c := line[p]; {
	case c == '"':
		end, unquote, err := scanString(line, p)
		if err != nil {
			return 0, err
		}
		fd.kind = put(fd.kind, row, kindString, fd.size.kind, o.limit)
		fd.str = put(fd.str, row, o.text(line[p+1:end-1], unquote), fd.size.str, o.limit)
		return end, nil
	case c == '-' || '0' <= c && c <= '9':
		end, integral, err := scanNumber(line, p)
		if err != nil {
			return 0, err
		}
		text := line[p:end]
		fd.str = put(fd.str, row, o.text(text, false), fd.size.str, o.limit) // kept for a json-typed field
		if integral {
			n, ok := parseInt(text)
			if !ok { // 19 digits or more: an int64 if it fits, else a float
				var err error
				n, err = strconv.ParseInt(unsafe.String(&text[0], len(text)), 10, 64)
				ok = err == nil
			}
			if ok {
				fd.kind = put(fd.kind, row, kindInt, fd.size.kind, o.limit)
				fd.i = put(fd.i, row, n, fd.size.i, o.limit)
				return end, nil
			}
		}
		f, err := strconv.ParseFloat(unsafe.String(&text[0], len(text)), 64)
		if err != nil && o.fieldErr == nil {
			o.fieldErr = fmt.Errorf("field %q: number %s out of range", fd.key, text)
		}
		fd.kind = put(fd.kind, row, kindFloat, fd.size.kind, o.limit)
		fd.f = put(fd.f, row, f, fd.size.f, o.limit)
		return end, nil
	case c == '{' || c == '[':
		end, err := nestedEnd(line, p, o.maxDepth-1) // the record is the first level
		if err == errTooDeep {
			return 0, fmt.Errorf("field %q: nested deeper than %d levels (json.max_depth)", fd.key, o.maxDepth)
		}
		if err != nil {
			return 0, err
		}
		v, err := decodeNested(line[p:end])
		if err != nil {
			return 0, err
		}
		fd.kind = put(fd.kind, row, kindJSON, fd.size.kind, o.limit)
		fd.v = put(fd.v, row, v, fd.size.v, o.limit)
		return end, nil
	}
	for _, lit := range [...]struct {
		text string
		kind uint8
		b    bool
	}{{"true", kindBool, true}, {"false", kindBool, false}, {"null", kindNull, false}} {
		if len(line)-p >= len(lit.text) && string(line[p:p+len(lit.text)]) == lit.text {
			fd.kind = put(fd.kind, row, lit.kind, fd.size.kind, o.limit)
			if lit.kind == kindBool {
				fd.b = put(fd.b, row, lit.b, fd.size.b, o.limit)
			}
			return p + len(lit.text), nil
		}
	}
	return 0, errSyntax
}

// put sets s[row] to v, growing s (zeroed) as needed: first to size, then
// by doubling, but never beyond limit rows.
func put[T any](s []T, row int, v T, size, limit int) []T {
	if row >= cap(s) {
		n := max(2*cap(s), 256)
		if cap(s) == 0 {
			n = max(size, 256)
		}
		n = max(min(n, limit), row+1)
		grown := make([]T, len(s), n)
		copy(grown, s)
		s = grown
	}
	if row >= len(s) {
		old := len(s)
		s = s[:row+1]
		clear(s[old:row])
	}
	s[row] = v
	return s
}

// truncate drops the rows from row on, after a rejected line.
func (fd *field) truncate(row int) {
	fd.kind = fd.kind[:min(len(fd.kind), row)]
	fd.str = fd.str[:min(len(fd.str), row)]
	fd.i = fd.i[:min(len(fd.i), row)]
	fd.f = fd.f[:min(len(fd.f), row)]
	fd.b = fd.b[:min(len(fd.b), row)]
	fd.v = fd.v[:min(len(fd.v), row)]
}

// fieldType infers a field's type from the kinds of its values: one kind
// gives its type, integers and floats give float, and any other mix json; a
// field only ever null is a string.
func fieldType(kinds []uint8) etl.Type {
	var seen [kindJSON + 1]bool
	for _, k := range kinds {
		seen[k] = true
	}
	var only []uint8
	for k := kindString; k <= kindJSON; k++ {
		if seen[k] {
			only = append(only, k)
		}
	}
	switch {
	case len(only) == 0:
		return etl.TypeString
	case len(only) == 1:
		return [...]etl.Type{kindString: etl.TypeString, kindInt: etl.TypeInt, kindFloat: etl.TypeFloat,
			kindBool: etl.TypeBool, kindJSON: etl.TypeJSON}[only[0]]
	case len(only) == 2 && only[0] == kindInt && only[1] == kindFloat:
		return etl.TypeFloat
	}
	return etl.TypeJSON
}

// build makes the batch of the rows added since reset; the field vectors
// become its columns.
//
// One field has one type in a file: the type its values among the file's
// first typeSample records give (fieldType), or for a field first seen
// later, its first batch with a value; so that a target never sees a field
// change type between batches (a string column that later receives
// objects). A later
// value of another kind is converted when that loses nothing: to its text
// for a string field (an object as its JSON, 1 as "1", true as "true"),
// to a float for a float field, to a JSON value for a json field; else its
// row is quarantined naming the field and both kinds.
func (o *objects) build() (*etl.Batch, error) {
	rows := len(o.rows)
	fields := make([]etl.Field, len(o.fields))
	if o.fixed == nil {
		o.fixed = make(map[string]etl.Type)
	}
	for j := range o.fields {
		fd := &o.fields[j]
		fd.kind = extend(fd.kind, rows)
		name := fd.key
		if name == "" { // a field needs a name, and not one of the others
			name = "col_" + strconv.Itoa(j+1)
			for _, taken := o.cols[name]; taken; _, taken = o.cols[name] {
				name += "_"
			}
		}
		typ, ok := o.fixed[fd.key]
		if !ok {
			typ = fieldType(fd.kind)
			if slices.ContainsFunc(fd.kind, func(k uint8) bool { return k != kindNull }) {
				o.fixed[fd.key] = typ
			}
		}
		fields[j] = etl.Field{Name: name, Type: typ}
	}
	schema, err := etl.NewSchema(fields...)
	if err != nil {
		return nil, err
	}
	mem := o.reuse
	o.reuse = nil
	if mem == nil {
		mem = &slabs{fields: make(map[string]vectors, len(o.fields))}
	}
	clear(mem.fields) // what this batch did not take: fields absent from it
	b := &etl.Batch{Schema: schema, Cols: make([]etl.Column, len(fields)), Origins: resize(mem.origins, rows)}
	for i, line := range o.rows {
		b.Origins[i] = etl.Origin{File: o.file, Line: line}
	}
	nulls := resize(mem.nulls, rows*len(fields)) // one slab for the null masks, every entry set below
	var drop []oddValue                          // per row, once a row has a value its field cannot take
	for j := range o.fields {
		fd := &o.fields[j]
		c := etl.Column{Type: fields[j].Type, Null: nulls[j*rows : (j+1)*rows : (j+1)*rows]}
		for i, k := range fd.kind {
			c.Null[i] = k == kindNull
		}
		switch c.Type {
		case etl.TypeString:
			fd.str = extend(fd.str, rows) // given back with the batch (see give)
			c.Str = fd.str
			for i, k := range fd.kind {
				switch k {
				case kindBool:
					c.Str[i] = strconv.FormatBool(fd.b[i])
				case kindJSON:
					text, err := json.Marshal(fd.v[i])
					if err != nil {
						return nil, err
					}
					c.Str[i] = string(text)
				} // numbers keep their text in str
			}
		case etl.TypeInt:
			fd.i = extend(fd.i, rows) // given back with the batch (see give)
			c.Int = fd.i
			for i, k := range fd.kind {
				if k != kindNull && k != kindInt {
					drop = o.odd(drop, rows, i, j, fd, k, fields[j])
				}
			}
		case etl.TypeFloat:
			fd.f = extend(fd.f, rows) // given back with the batch (see give)
			c.Float = fd.f
			for i, k := range fd.kind {
				switch k {
				case kindInt:
					c.Float[i] = float64(fd.i[i])
				case kindNull, kindFloat:
				default:
					drop = o.odd(drop, rows, i, j, fd, k, fields[j])
				}
			}
		case etl.TypeBool:
			fd.b = extend(fd.b, rows) // given back with the batch (see give)
			c.Bool = fd.b
			for i, k := range fd.kind {
				if k != kindNull && k != kindBool {
					drop = o.odd(drop, rows, i, j, fd, k, fields[j])
				}
			}
		case etl.TypeJSON:
			c.JSON = make([]any, rows)
			for i, k := range fd.kind {
				switch k {
				case kindString:
					c.JSON[i] = fd.str[i]
				case kindInt, kindFloat:
					c.JSON[i] = json.Number(fd.str[i])
				case kindBool:
					c.JSON[i] = fd.b[i]
				case kindJSON:
					c.JSON[i] = fd.v[i]
				}
			}
		}
		b.Cols[j] = c
		mem.fields[fd.key] = vectors{fd.kind, fd.str, fd.i, fd.f, fd.b, fd.v}
	}
	mem.nulls, mem.origins, mem.text = nulls, b.Origins, o.arena.chunks
	mem.chunks, o.chunks = o.chunks, nil
	b.OnRelease(func() { o.give(mem) })
	if drop != nil {
		keep := make([]bool, rows)
		for i := range keep {
			keep[i] = drop[i].field == nil
			if !keep[i] {
				d := drop[i]
				b.Cols[d.col].Null[i] = true // not the vector's zero value in the reject's row
				b.Reject(i, "source", d.field.Name, d.value, fmt.Sprintf("%s is %s (from its first values in the file), got %s", d.field.Name, d.field.Type, kindName[d.kind]))
			}
		}
		b.Keep(keep)
	}
	return b, nil
}

// typeSample is how many records at the start of a file give its fields'
// types, whatever the batch size and wherever a resumed read starts.
const typeSample = 1000

// sampler is a decoder whose types sampleTypes can read.
type sampler interface {
	Decode(ctx context.Context, n int) (*etl.Batch, error)
	sampled() map[string]etl.Type
}

// sampleTypes decodes the first typeSample records with a decoder from
// open and returns the types they give their fields; nil when they cannot
// be read (the decoder proper then meets the same error).
func sampleTypes(open func() (sampler, error)) map[string]etl.Type {
	d, err := open()
	if err != nil {
		return nil
	}
	if _, err := d.Decode(context.Background(), typeSample); err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	return d.sampled()
}

// oddValue is a value whose kind its field's type cannot take.
type oddValue struct {
	field *etl.Field
	col   int
	value string
	kind  uint8
}

var kindName = [...]string{kindNull: "null", kindString: "a string", kindInt: "an integer", kindFloat: "a number with a fraction",
	kindBool: "a boolean", kindJSON: "an object or array"}

// odd records row i's value of fd as one its field cannot take; the first
// odd value of a row names the row's reject.
func (o *objects) odd(drop []oddValue, rows, i, col int, fd *field, k uint8, f etl.Field) []oddValue {
	if drop == nil {
		drop = make([]oddValue, rows)
	}
	if drop[i].field != nil {
		return drop
	}
	var value string
	switch k {
	case kindString, kindInt, kindFloat:
		value = fd.str[i]
	case kindBool:
		value = strconv.FormatBool(fd.b[i])
	case kindJSON:
		value = etl.FormatValue(fd.v[i])
	}
	drop[i] = oddValue{field: &f, col: col, value: value, kind: k}
	return drop
}

// resize returns s with length n when it has the capacity, else a new
// slice; either way its contents are undefined.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// extend returns s grown with zero values to n elements.
func extend[T any](s []T, n int) []T {
	if len(s) >= n {
		return s[:n]
	}
	return append(s, make([]T, n-len(s))...)
}

// arena holds a batch's string bytes in chunks that are never moved, so
// that the strings made over them stay valid; the batch owns the chunks,
// and gives them back when it is released (see slabs).
type arena struct {
	buf    []byte
	used   int // bytes taken in this batch, to size the next batch's chunk
	hint   int
	chunks [][]byte // this batch's chunks
	spare  [][]byte // a released batch's chunks, to fill before making new ones
}

// next starts a batch on spare, a released batch's chunks (or none): its
// first chunk is sized from the last batch.
func (a *arena) next(spare [][]byte) {
	if a.used > 0 {
		a.hint = min(a.used+a.used/8, 16<<20)
	}
	a.buf, a.used, a.chunks, a.spare = nil, 0, nil, spare
}

// chunk returns an empty chunk of at least n bytes: a spare one when it is
// large enough, else a new one.
func (a *arena) chunk(n int) []byte {
	for len(a.spare) > 0 {
		c := a.spare[len(a.spare)-1]
		a.spare = a.spare[:len(a.spare)-1]
		if cap(c) >= n {
			return c[:0]
		}
	}
	return make([]byte, 0, max(a.hint, 64<<10, n))
}

// text copies s (a string's contents when unquote is set) into the arena
// and returns it as a string.
func (a *arena) text(s []byte, unquote bool) string {
	if len(s) == 0 {
		return ""
	}
	if cap(a.buf)-len(a.buf) < len(s) {
		a.buf = a.chunk(len(s))
		a.chunks = append(a.chunks, a.buf)
	}
	start := len(a.buf)
	if unquote {
		a.buf = appendUnquoted(a.buf, s) // a longer result moves the chunk: earlier strings keep the old one
	} else {
		a.buf = append(a.buf, s...)
	}
	a.used += len(a.buf) - start
	return unsafe.String(&a.buf[start], len(a.buf)-start)
}
