package httpsource

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// errNoRecords is a page whose body has no records array at the records
// path (an error object, say): only an empty array means "no more".
var errNoRecords = errors.New("no records array")

// decodePage reads a page body as a stream: each element of the records
// array at path (dotted; empty when the body is the array) goes to each as
// it is read, so a page of any size takes the memory of one record; the
// rest of the body is decoded into a tree, for the cursor and next-link
// paths. A body without the array returns the tree and errNoRecords.
func decodePage(r io.Reader, path string, each func(i int, raw json.RawMessage) error) (any, error) {
	d := &pageDecoder{dec: json.NewDecoder(r), each: each}
	d.dec.UseNumber()
	var at []string
	if path != "" {
		at = strings.Split(path, ".")
	}
	rest, err := d.value(at, true)
	if err != nil {
		return rest, err
	}
	if !d.found {
		return rest, errNoRecords
	}
	return rest, nil
}

type pageDecoder struct {
	dec   *json.Decoder
	each  func(i int, raw json.RawMessage) error
	found bool
	depth int
}

// maxDepth bounds the nesting of a page outside its records, as
// encoding/json bounds it inside them: a hostile "[[[[…" of max_body
// bytes would otherwise overflow the stack.
const maxDepth = 10000

// value decodes the next value; onPath says it lies on the records path,
// with at the path's components still to go.
func (d *pageDecoder) value(at []string, onPath bool) (any, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, err
	}
	if onPath && len(at) == 0 {
		if tok != json.Delim('[') {
			if tok == nil {
				return nil, nil // null: no array
			}
			return nil, fmt.Errorf("the records are a JSON %s, not an array", kind(tok))
		}
		for i := 0; d.dec.More(); i++ {
			var raw json.RawMessage
			if err := d.dec.Decode(&raw); err != nil {
				return nil, err
			}
			if err := d.each(i, raw); err != nil {
				return nil, err
			}
		}
		if _, err := d.dec.Token(); err != nil {
			return nil, err
		}
		d.found = true
		return nil, nil
	}
	if tok == json.Delim('{') || tok == json.Delim('[') {
		if d.depth++; d.depth > maxDepth {
			return nil, fmt.Errorf("nested deeper than %d", maxDepth)
		}
		defer func() { d.depth-- }()
	}
	switch tok {
	case json.Delim('{'):
		m := map[string]any{}
		for d.dec.More() {
			kt, err := d.dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := kt.(string)
			v, err := d.value(tail(at), onPath && len(at) > 0 && at[0] == key)
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
		_, err := d.dec.Token()
		return m, err
	case json.Delim('['):
		var list []any
		for i := 0; d.dec.More(); i++ {
			v, err := d.value(tail(at), onPath && len(at) > 0 && at[0] == strconv.Itoa(i))
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := d.dec.Token()
		return list, err
	}
	return tok, nil
}

func tail(at []string) []string {
	if len(at) == 0 {
		return nil
	}
	return at[1:]
}

func kind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "object"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	}
	return "value"
}
