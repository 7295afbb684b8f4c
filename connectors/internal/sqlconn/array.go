package sqlconn

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nightjar-etl/nightjar/etl"
)

// AppendArray appends an array value read by a database driver to col, a
// TypeArray column of elements of type elem: PostgreSQL's text form of an
// array ({1,NULL,3}, {{1,2},{3,4}}, {"a b","c\"d"}) as pgx's database/sql
// driver hands it over, or an array already parsed.
func AppendArray(col *etl.Column, elem etl.Type, v any) error {
	switch x := v.(type) {
	case nil:
		col.AppendNull()
		return nil
	case []byte:
		v = string(x)
	case []any:
		col.AppendJSON(x)
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("cannot store %T in an array column", v)
	}
	arr, err := ParseArray(s, elem)
	if err != nil {
		return err
	}
	col.AppendJSON(arr)
	return nil
}

// ParseArray parses PostgreSQL's text form of an array of elements of
// type elem into a []any of etl.ArrayElement values, a nested []any per
// dimension. Each element converts as AppendValue converts a value of its
// type (an element that does not is an error naming it, never a null);
// bytea elements are PostgreSQL's hex form (\x00ff). An array whose index
// does not start at 1 ([0:2]={1,2,3}) is refused: neither JSON nor an
// array created by nightjar would keep its bounds.
func ParseArray(s string, elem etl.Type) ([]any, error) {
	if strings.HasPrefix(s, "[") {
		bounds, _, _ := strings.Cut(s, "=")
		return nil, fmt.Errorf("array %.40q has the bounds %s: nightjar's arrays start at index 1 (JSON keeps no bounds); select it with array_lower/array_upper or a slice in a query", s, bounds)
	}
	p := arrayParser{s: s, elem: elem, col: etl.NewColumn(elem, 1)}
	arr, err := p.array()
	if err == nil && p.pos != len(s) {
		err = fmt.Errorf("text after the array at byte %d", p.pos+1)
	}
	if err != nil {
		return nil, fmt.Errorf("array %.60q: %w", s, err)
	}
	return arr, nil
}

// arrayParser reads an array's text form: '{' items separated by ','
// '}', an item being an array, a quoted element ("..." with backslash
// escapes) or an unquoted one (NULL for a null element).
type arrayParser struct {
	s    string
	pos  int
	elem etl.Type
	col  etl.Column // a one-row column each element converts through
}

func (p *arrayParser) array() ([]any, error) {
	if p.pos >= len(p.s) || p.s[p.pos] != '{' {
		return nil, fmt.Errorf("want { at byte %d", p.pos+1)
	}
	p.pos++
	out := []any{}
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		p.pos++
		return out, nil
	}
	for {
		if p.pos >= len(p.s) {
			return nil, fmt.Errorf("the array is not closed")
		}
		var item any
		var err error
		switch p.s[p.pos] {
		case '{':
			item, err = p.array()
		case '"':
			item, err = p.quoted()
		default:
			item, err = p.unquoted()
		}
		if err != nil {
			return nil, err
		}
		out = append(out, item)
		if p.pos >= len(p.s) {
			return nil, fmt.Errorf("the array is not closed")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return out, nil
		default:
			return nil, fmt.Errorf("want , or } at byte %d", p.pos+1)
		}
	}
}

func (p *arrayParser) quoted() (any, error) {
	p.pos++ // the opening quote
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '\\' && p.pos+1 < len(p.s):
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		case c == '"':
			p.pos++
			return p.element(b.String())
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return nil, fmt.Errorf("a quoted element is not closed")
}

func (p *arrayParser) unquoted() (any, error) {
	end := strings.IndexAny(p.s[p.pos:], ",}")
	if end < 0 {
		return nil, fmt.Errorf("the array is not closed")
	}
	text := p.s[p.pos : p.pos+end]
	p.pos += end
	if strings.EqualFold(text, "NULL") {
		return nil, nil
	}
	return p.element(text)
}

// element converts an element's text to its ArrayElement value.
func (p *arrayParser) element(text string) (any, error) {
	p.col = etl.NewColumn(p.elem, 1)
	var v any = text
	if p.elem == etl.TypeBytes {
		raw, ok := strings.CutPrefix(text, `\x`)
		b, err := hex.DecodeString(raw)
		if !ok || err != nil {
			return nil, fmt.Errorf("element %q is not bytea's hex form (\\x...)", text)
		}
		v = b
	}
	if err := AppendValue(&p.col, v); err != nil {
		return nil, fmt.Errorf("element %q: %w", text, err)
	}
	return etl.ArrayElement(&p.col, 0), nil
}
