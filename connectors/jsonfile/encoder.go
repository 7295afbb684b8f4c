package jsonfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/connectors/internal/jsonenc"
	"github.com/nightjar-etl/nightjar/etl"
)

// Encoder writes one JSON object per row, fields in schema order, with
// typed values: null, numbers, booleans, strings, RFC 3339 strings for
// timestamps (dates as 2006-01-02) and nested JSON as is. It appends bytes
// to a reused buffer; no map is built per row.
type Encoder struct {
	fileformat.Output

	schema *etl.Schema
	keys   [][]byte // `"name":` per field of schema

	array bool  // one JSON array rather than JSON Lines
	rows  int64 // rows written, for the array's separators
}

var _ fileformat.Encoder = (*Encoder)(nil)

// NewEncoder returns an encoder writing JSON Lines to w.
func NewEncoder(w io.Writer, opts fileformat.EncodeOptions) *Encoder {
	return &Encoder{Output: fileformat.Output{W: w, File: opts.File}}
}

// Write implements fileformat.Encoder.
func (e *Encoder) Write(b *etl.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if b.Schema != e.schema {
		e.schema = b.Schema
		e.keys = e.keys[:0]
		for _, name := range b.Schema.Names() {
			key := appendString(nil, name)
			e.keys = append(e.keys, append(key, ':'))
		}
	}
	for i := range b.Len() {
		if e.array {
			if e.rows == 0 {
				e.Buf = append(e.Buf, '[', '\n')
			} else {
				e.Buf = append(e.Buf, ',', '\n')
			}
		}
		e.rows++
		e.Buf = append(e.Buf, '{')
		for j := range b.Cols {
			if j > 0 {
				e.Buf = append(e.Buf, ',')
			}
			e.Buf = append(e.Buf, e.keys[j]...)
			var err error
			if e.Buf, err = appendValue(e.Buf, &b.Cols[j], i); err != nil {
				return fmt.Errorf("%s: row from %s: field %q: %w", e.File, b.Origins[i], b.Schema.Field(j).Name, err)
			}
		}
		e.Buf = append(e.Buf, '}')
		if !e.array {
			e.Buf = append(e.Buf, '\n')
		}
		if err := e.FlushIfFull(); err != nil {
			return err
		}
	}
	return e.Flush()
}

// ArrayEncoder writes batches as one JSON array, streamed: one object per
// row, typed as the JSON Lines encoder types them.
type ArrayEncoder struct{ Encoder }

var _ fileformat.Finisher = (*ArrayEncoder)(nil)

// NewArrayEncoder returns an encoder writing one JSON array to w.
func NewArrayEncoder(w io.Writer, opts fileformat.EncodeOptions) *ArrayEncoder {
	return &ArrayEncoder{Encoder{Output: fileformat.Output{W: w, File: opts.File}, array: true}}
}

// Finish implements fileformat.Finisher: it closes the array.
func (e *ArrayEncoder) Finish() error {
	if e.rows == 0 {
		e.Buf = append(e.Buf, "[]\n"...)
	} else {
		e.Buf = append(e.Buf, "\n]\n"...)
	}
	return e.Flush()
}

func appendValue(buf []byte, c *etl.Column, i int) ([]byte, error) {
	if c.Null[i] {
		return append(buf, "null"...), nil
	}
	switch c.Type {
	case etl.TypeString:
		return appendString(buf, c.Str[i]), nil
	case etl.TypeInt:
		return strconv.AppendInt(buf, c.Int[i], 10), nil
	case etl.TypeFloat:
		f := c.Float[i]
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return buf, fmt.Errorf("%v has no JSON representation", f)
		}
		return appendFloat(buf, f), nil
	case etl.TypeBool:
		return strconv.AppendBool(buf, c.Bool[i]), nil
	case etl.TypeTimestamp:
		buf = append(buf, '"')
		buf = c.Time[i].UTC().AppendFormat(buf, time.RFC3339Nano)
		return append(buf, '"'), nil
	case etl.TypeDate:
		buf = append(buf, '"')
		buf = c.Time[i].UTC().AppendFormat(buf, time.DateOnly)
		return append(buf, '"'), nil
	case etl.TypeJSON, etl.TypeArray: // an array as a JSON array
		v, err := json.Marshal(c.JSON[i])
		if err != nil {
			return buf, err
		}
		return append(buf, v...), nil
	}
	// Any other type as a string, as etl's table spells it: bytes in
	// base64, a local timestamp with no zone.
	return appendString(buf, string(c.AppendText(nil, i))), nil
}

// appendFloat appends f in the shortest form that reads back as f, always
// with a decimal point or an exponent ("2789.0", "-0.0", "1e+21"), so that
// a reader takes a float column for floats, not integers, and keeps the
// sign of zero.
func appendFloat(buf []byte, f float64) []byte {
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, 'g', -1, 64)
	if !bytes.ContainsAny(buf[start:], ".e") {
		buf = append(buf, ".0"...)
	}
	return buf
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
// HTML characters are written as they are (a file, not a web page).
func appendString(buf []byte, s string) []byte { return jsonenc.AppendString(buf, s, false) }
