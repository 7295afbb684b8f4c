package jsonfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
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

// cell is one key's value in one row of the current batch.
type cell struct {
	row, col   int
	kind       uint8
	start, end int // kindString: the unescaped text in the arena; numbers: their text
	i          int64
	f          float64
	b          bool
	v          any // kindJSON
}

// Decoder reads JSON Lines: one object per line, blank lines skipped. Each
// batch's schema is inferred from its objects, fields in first-seen key
// order: all strings → string, all integral numbers → int, numbers → float,
// all booleans → bool, anything else (objects, arrays, mixed) → json; a
// field only ever null is a string. A line that is not a JSON object is
// rejected with its line number and the parse error.
type Decoder struct {
	rd   *bufio.Reader
	file string

	offset, line int64
	long         []byte // a line longer than the read buffer

	cols  map[string]int // the current batch's fields by key
	keys  []string
	kinds [][kindJSON + 1]bool // per field, the kinds seen
	cells []cell
	rows  []int64 // the current batch's row lines
}

var _ fileformat.Decoder = (*Decoder)(nil)

// NewDecoder returns a decoder of r from opts.Offset.
func NewDecoder(r io.ReadSeeker, opts fileformat.DecodeOptions) (*Decoder, error) {
	if opts.Offset > 0 {
		if _, err := r.Seek(opts.Offset, io.SeekStart); err != nil {
			return nil, fmt.Errorf("seek to offset %d: %w", opts.Offset, err)
		}
	}
	d := &Decoder{
		rd: bufio.NewReaderSize(r, 256<<10), file: opts.File,
		offset: opts.Offset, line: opts.Line, cols: make(map[string]int),
	}
	if opts.Offset == 0 {
		if bom, _ := d.rd.Peek(3); bytes.Equal(bom, []byte("\uFEFF")) {
			d.rd.Discard(3)
			d.offset = 3
		}
	}
	return d, nil
}

// Position implements fileformat.Decoder.
func (d *Decoder) Position() (offset, line int64) { return d.offset, d.line }

// readLine returns the next line without its line break, or io.EOF.
func (d *Decoder) readLine() ([]byte, error) {
	line, err := d.rd.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		d.long = append(d.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(d.long) <= fileformat.MaxFieldSize {
			line, err = d.rd.ReadSlice('\n')
			d.long = append(d.long, line...)
		}
		if len(d.long) > fileformat.MaxFieldSize {
			return nil, fmt.Errorf("line %d is longer than %d MiB", d.line+1, fileformat.MaxFieldSize>>20)
		}
		line = d.long
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(line) == 0 {
		return nil, io.EOF
	}
	d.offset += int64(len(line))
	d.line++ // the last line counts even without a line break
	line = bytes.TrimSuffix(line, []byte{'\n'})
	return bytes.TrimRight(line, "\r"), nil
}

// Decode implements fileformat.Decoder.
func (d *Decoder) Decode(ctx context.Context, n int) (*etl.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		n = etl.DefaultBatchSize
	}
	clear(d.cols)
	d.keys, d.kinds, d.cells, d.rows = d.keys[:0], d.kinds[:0], d.cells[:0], d.rows[:0]
	var arena []byte
	var rejects []etl.Reject
	eof := false
	for records := 0; records < n; {
		line, err := d.readLine()
		if errors.Is(err, io.EOF) {
			eof = true
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		records++
		mark, ncells := len(arena), len(d.cells)
		if arena, err = d.parseObject(arena, line, len(d.rows)); err != nil {
			arena, d.cells = arena[:mark], d.cells[:ncells]
			rejects = append(rejects, etl.Reject{
				Step:   "source",
				Origin: etl.Origin{File: d.file, Line: d.line},
				Reason: fmt.Sprintf("line %d: %v", d.line, err),
				Value:  fileformat.RejectValue(line),
			})
			continue
		}
		d.rows = append(d.rows, d.line)
		if records&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	if !eof {
		if _, err := d.rd.Peek(1); errors.Is(err, io.EOF) {
			eof = true
		}
	}
	b, err := d.build(arena)
	if err != nil {
		return nil, err
	}
	b.Rejects = rejects
	if eof {
		return b, io.EOF
	}
	return b, nil
}

// parseObject splits one line's object into cells for row.
func (d *Decoder) parseObject(arena, line []byte, row int) ([]byte, error) {
	if !json.Valid(line) {
		var v any
		err := json.Unmarshal(line, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return arena, err
	}
	p := skipSpace(line, 0)
	if line[p] != '{' {
		return arena, errors.New("not a JSON object")
	}
	p = skipSpace(line, p+1)
	for line[p] != '}' {
		kend := stringEnd(line, p)
		key := line[p+1 : kend-1]
		col, ok := d.cols[string(key)]
		if !ok {
			name := string(key)
			if bytes.IndexByte(key, '\\') >= 0 {
				if err := json.Unmarshal(line[p:kend], &name); err != nil {
					return arena, err
				}
				if c, seen := d.cols[name]; seen {
					col, ok = c, true
				}
			}
			if !ok {
				col = len(d.keys)
				d.cols[name] = col
				if name == "" {
					name = "col_" + strconv.Itoa(col+1) // a field needs a name
				}
				d.keys = append(d.keys, name)
				d.kinds = append(d.kinds, [kindJSON + 1]bool{})
			}
		}
		p = skipSpace(line, kend)
		p = skipSpace(line, p+1) // the colon
		vend := valueEnd(line, p)
		c := cell{row: row, col: col}
		var err error
		if arena, err = parseValue(arena, line[p:vend], &c); err != nil {
			return arena, fmt.Errorf("field %q: %w", d.keys[col], err)
		}
		d.kinds[col][c.kind] = true
		d.cells = append(d.cells, c)
		p = skipSpace(line, vend)
		if line[p] == ',' {
			p = skipSpace(line, p+1)
		}
	}
	return arena, nil
}

// parseValue classifies one valid JSON value and stores it in c.
func parseValue(arena, v []byte, c *cell) ([]byte, error) {
	switch v[0] {
	case 'n':
		c.kind = kindNull
	case 't', 'f':
		c.kind, c.b = kindBool, v[0] == 't'
	case '"':
		c.kind = kindString
		c.start = len(arena)
		inner := v[1 : len(v)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			arena = append(arena, inner...)
		} else {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return arena, err
			}
			arena = append(arena, s...)
		}
		c.end = len(arena)
	case '{', '[':
		c.kind = kindJSON
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		if err := dec.Decode(&c.v); err != nil {
			return arena, err
		}
	default:
		c.start = len(arena)
		arena = append(arena, v...)
		c.end = len(arena)
		text := unsafe.String(&v[0], len(v))
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return arena, fmt.Errorf("number %s out of range", text)
		}
		c.kind, c.f = kindFloat, f
		if bytes.IndexAny(v, ".eE") < 0 {
			if i, err := strconv.ParseInt(text, 10, 64); err == nil {
				c.kind, c.i = kindInt, i
			}
		}
	}
	return arena, nil
}

// fieldType infers a field's type from the kinds of its values.
func fieldType(seen [kindJSON + 1]bool) etl.Type {
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

// build makes the batch from the cells; missing keys are null.
func (d *Decoder) build(arena []byte) (*etl.Batch, error) {
	fields := make([]etl.Field, len(d.keys))
	for i, k := range d.keys {
		fields[i] = etl.Field{Name: k, Type: fieldType(d.kinds[i])}
	}
	schema, err := etl.NewSchema(fields...)
	if err != nil {
		return nil, err
	}
	rows := len(d.rows)
	b := &etl.Batch{Schema: schema, Cols: make([]etl.Column, len(fields)), Origins: make([]etl.Origin, rows)}
	for i, line := range d.rows {
		b.Origins[i] = etl.Origin{File: d.file, Line: line}
	}
	for j, f := range fields {
		c := etl.Column{Type: f.Type, Null: make([]bool, rows)}
		for i := range c.Null {
			c.Null[i] = true
		}
		switch f.Type {
		case etl.TypeString:
			c.Str = make([]string, rows)
		case etl.TypeInt:
			c.Int = make([]int64, rows)
		case etl.TypeFloat:
			c.Float = make([]float64, rows)
		case etl.TypeBool:
			c.Bool = make([]bool, rows)
		case etl.TypeJSON:
			c.JSON = make([]any, rows)
		}
		b.Cols[j] = c
	}
	for _, cl := range d.cells {
		if cl.kind == kindNull {
			continue
		}
		c := &b.Cols[cl.col]
		c.Null[cl.row] = false
		text := arenaString(arena, cl.start, cl.end)
		switch c.Type {
		case etl.TypeString:
			c.Str[cl.row] = text
		case etl.TypeInt:
			c.Int[cl.row] = cl.i
		case etl.TypeFloat:
			c.Float[cl.row] = cl.f
		case etl.TypeBool:
			c.Bool[cl.row] = cl.b
		case etl.TypeJSON:
			switch cl.kind {
			case kindString:
				c.JSON[cl.row] = text
			case kindInt, kindFloat:
				c.JSON[cl.row] = json.Number(text)
			case kindBool:
				c.JSON[cl.row] = cl.b
			case kindJSON:
				c.JSON[cl.row] = cl.v
			}
		}
	}
	return b, nil
}

func arenaString(arena []byte, start, end int) string {
	if end <= start {
		return ""
	}
	return unsafe.String(&arena[start], end-start)
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}

// stringEnd returns the index just past the JSON string starting at p.
func stringEnd(b []byte, p int) int {
	for i := p + 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the valid JSON value starting at p.
func valueEnd(b []byte, p int) int {
	switch b[p] {
	case '"':
		return stringEnd(b, p)
	case '{', '[':
		depth := 0
		for i := p; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	i := p
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\r' && b[i] != '\n' {
		i++
	}
	return i
}
