package xmlfile

import (
	"encoding/json"
	"fmt"

	"github.com/nightjar-etl/nightjar/etl"
)

// fieldKind is what a field holds, from its values in the first records.
type fieldKind uint8

const (
	kindString fieldKind = iota + 1 // text only: a string field
	kindMap                         // maps, or maps and text: a json field
	kindArray                       // repeated somewhere: a json field whose every value is an array
)

// typeSample is how many records at the start of a file give its fields'
// types, whatever the batch size and wherever a resumed read starts (as
// for JSON).
const typeSample = 1000

// rows gathers a batch's records, one column of values per field (no map
// per row), and types the fields when the batch is built.
type rows struct {
	file    string
	cols    map[string]int
	names   []string
	vals    [][]any // per field, per row: nil (absent), string, map[string]any or []any
	lines   []int64
	rejects []etl.Reject

	// fixed is each field's kind, set by the first batch in which it has a
	// value and kept for the rest of the file.
	fixed map[string]fieldKind
}

func (r *rows) reset() {
	if r.cols == nil {
		r.cols = make(map[string]int)
	}
	clear(r.cols)
	r.names, r.vals, r.lines, r.rejects = r.names[:0], nil, r.lines[:0], nil
}

func (r *rows) empty() bool { return len(r.lines) == 0 && len(r.rejects) == 0 }

// add appends a record as a row.
func (r *rows) add(rec *node, line int64) {
	row := len(r.lines)
	r.lines = append(r.lines, line)
	for i, key := range rec.keys {
		col, ok := r.cols[key]
		if !ok {
			col = len(r.names)
			r.cols[key] = col
			r.names = append(r.names, key)
			r.vals = append(r.vals, nil)
		}
		for len(r.vals[col]) < row {
			r.vals[col] = append(r.vals[col], nil)
		}
		r.vals[col] = append(r.vals[col], rec.vals[i])
	}
}

// reject quarantines a record that cannot be a row.
func (r *rows) reject(line int64, field, reason string) {
	r.rejects = append(r.rejects, etl.Reject{
		Step: "source", Origin: etl.Origin{File: r.file, Line: line}, Field: field, Reason: reason,
	})
}

// kindOf is the kind a set of values gives a field; 0 when all are absent.
func kindOf(vals []any) fieldKind {
	var k fieldKind
	for _, v := range vals {
		switch v.(type) {
		case string:
			k = max(k, kindString)
		case map[string]any:
			k = max(k, kindMap)
		case []any:
			return kindArray
		}
	}
	return k
}

// build makes the batch of the rows added since reset.
//
// A field has one type in a file: string when its values in the file's
// first typeSample records are all text, else json; and a field repeated
// (an array) in any of those records is an array in every row, a single
// value becoming an array of one. A later value of another kind converts
// as the JSON reader converts it: a map or array in a string field becomes
// its JSON text.
func (r *rows) build() (*etl.Batch, error) {
	n := len(r.lines)
	if r.fixed == nil {
		r.fixed = make(map[string]fieldKind)
	}
	fields := make([]etl.Field, len(r.names))
	kinds := make([]fieldKind, len(r.names))
	for j, name := range r.names {
		k, ok := r.fixed[name]
		if !ok {
			if k = kindOf(r.vals[j]); k != 0 {
				r.fixed[name] = k
			} else {
				k = kindString
			}
		}
		kinds[j] = k
		fields[j] = etl.Field{Name: name, Type: etl.TypeString}
		if k != kindString {
			fields[j].Type = etl.TypeJSON
		}
	}
	schema, err := etl.NewSchema(fields...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.file, err)
	}
	b := &etl.Batch{Schema: schema, Cols: make([]etl.Column, len(fields)), Origins: make([]etl.Origin, n), Rejects: r.rejects}
	for i, line := range r.lines {
		b.Origins[i] = etl.Origin{File: r.file, Line: line}
	}
	nulls := make([]bool, n*len(fields))
	for j := range fields {
		c := etl.Column{Type: fields[j].Type, Null: nulls[j*n : (j+1)*n : (j+1)*n]}
		vals := r.vals[j]
		if c.Type == etl.TypeString {
			c.Str = make([]string, n)
		} else {
			c.JSON = make([]any, n)
		}
		for i := range n {
			var v any
			if i < len(vals) {
				v = vals[i]
			}
			if v == nil {
				c.Null[i] = true
				continue
			}
			switch kinds[j] {
			case kindString:
				s, ok := v.(string)
				if !ok {
					text, err := json.Marshal(v)
					if err != nil {
						return nil, err
					}
					s = string(text)
				}
				c.Str[i] = s
			case kindArray:
				if _, ok := v.([]any); !ok {
					v = []any{v}
				}
				c.JSON[i] = v
			default:
				c.JSON[i] = v
			}
		}
		b.Cols[j] = c
	}
	return b, nil
}
