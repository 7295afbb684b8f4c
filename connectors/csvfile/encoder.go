package csvfile

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// Encoder writes batches as CSV: a header from the first batch's schema,
// then one line per row ending in LF. A null is an empty field, an empty
// string is "", and a value with a delimiter, quote, CR or LF is quoted
// (RFC 4180), its CR LF kept as is. Timestamps are RFC 3339 in UTC.
type Encoder struct {
	fileformat.Output
	delim byte
	// escape prefixes formula-like text with an apostrophe.
	escape bool

	// special marks the bytes that make a value quoted: quote, CR, LF
	// and the delimiter.
	special [256]bool

	header []string // written names; nil before the first row
	// mapSchema is the last batch schema seen and mapping, per header
	// field, its index in that schema (-1: absent, written as null).
	mapSchema *etl.Schema
	mapping   []int
}

var _ fileformat.Encoder = (*Encoder)(nil)

// NewEncoder returns an encoder writing CSV with delim (',' when 0) to w.
func NewEncoder(w io.Writer, delim byte, opts fileformat.EncodeOptions) *Encoder {
	if delim == 0 {
		delim = ','
	}
	e := &Encoder{Output: fileformat.Output{W: w, File: opts.File}, delim: delim, escape: opts.EscapeFormulas}
	for _, c := range []byte{'"', '\r', '\n', delim} {
		e.special[c] = true
	}
	return e
}

// Write implements fileformat.Encoder. A batch whose schema differs from
// the header's is written by field name when its fields are among the
// header's (missing ones empty); a field the header lacks is an error.
func (e *Encoder) Write(b *etl.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if e.header == nil {
		e.header = b.Schema.Names()
		for i, name := range e.header {
			if i > 0 {
				e.Buf = append(e.Buf, e.delim)
			}
			e.Buf = e.appendString(e.Buf, name)
		}
		e.Buf = append(e.Buf, '\n')
	}
	if b.Schema != e.mapSchema {
		if err := e.remap(b.Schema); err != nil {
			return err
		}
	}
	for i := range b.Len() {
		for k, j := range e.mapping {
			if k > 0 {
				e.Buf = append(e.Buf, e.delim)
			}
			if j < 0 {
				continue
			}
			if c := &b.Cols[j]; c.Type == etl.TypeString { // most of a CSV's fields, without a call
				if !c.Null[i] {
					e.Buf = e.appendString(e.Buf, c.Str[i])
				}
				continue
			}
			var err error
			if e.Buf, err = e.appendValue(e.Buf, &b.Cols[j], i); err != nil {
				return fmt.Errorf("%s: row from %s: field %q: %w", e.File, b.Origins[i], b.Schema.Field(j).Name, err)
			}
		}
		e.Buf = append(e.Buf, '\n')
		if err := e.FlushIfFull(); err != nil {
			return err
		}
	}
	return e.Flush()
}

func (e *Encoder) remap(s *etl.Schema) error {
	mapping := make([]int, len(e.header))
	for k, name := range e.header {
		mapping[k] = s.Index(name)
	}
	for _, f := range s.Fields() {
		if !containsName(e.header, f.Name) {
			return fmt.Errorf("%s: field %q is not in the CSV header written from the first batch (%s)",
				e.File, f.Name, strings.Join(e.header, ", "))
		}
	}
	e.mapSchema, e.mapping = s, mapping
	return nil
}

func containsName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

func (e *Encoder) appendValue(buf []byte, c *etl.Column, i int) ([]byte, error) {
	if c.Null[i] {
		return buf, nil
	}
	switch c.Type {
	case etl.TypeString:
		return e.appendString(buf, c.Str[i]), nil
	case etl.TypeInt:
		return strconv.AppendInt(buf, c.Int[i], 10), nil
	case etl.TypeFloat:
		f := c.Float[i]
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return buf, fmt.Errorf("%v cannot be written", f)
		}
		return strconv.AppendFloat(buf, f, 'g', -1, 64), nil
	case etl.TypeBool:
		return strconv.AppendBool(buf, c.Bool[i]), nil
	case etl.TypeTimestamp:
		return c.Time[i].UTC().AppendFormat(buf, time.RFC3339Nano), nil
	case etl.TypeDate:
		return c.Time[i].UTC().AppendFormat(buf, time.DateOnly), nil
	case etl.TypeJSON, etl.TypeArray: // an array as a JSON array
		v, err := json.Marshal(c.JSON[i])
		if err != nil {
			return buf, err
		}
		return e.appendString(buf, string(v)), nil
	}
	// Any other type as etl's table spells it: bytes in base64, a local
	// timestamp with no zone.
	return e.appendString(buf, string(c.AppendText(nil, i))), nil
}

// FormulaLike reports whether a spreadsheet opening a CSV file would take
// text s for a formula: it begins with =, +, -, @, a tab or a CR (OWASP's
// CSV injection list) and is not a number ("-42" and "+3.5" stay numbers).
func FormulaLike(s string) bool {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err != nil
}

// appendString appends s, quoted when it is empty (to tell it from null)
// or holds a delimiter, quote, CR or LF; with escape, formula-like text
// gets a leading apostrophe, which spreadsheets show as text.
func (e *Encoder) appendString(buf []byte, s string) []byte {
	if e.escape && FormulaLike(s) {
		s = "'" + s
	}
	if !e.needsQuotes(s) {
		return append(buf, s...)
	}
	buf = append(buf, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		buf = append(buf, s[:i+1]...)
		buf = append(buf, '"')
		s = s[i+1:]
	}
	buf = append(buf, s...)
	return append(buf, '"')
}

func (e *Encoder) needsQuotes(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if e.special[s[i]] {
			return true
		}
	}
	// A leading BOM would be stripped on reading.
	return s[0] == 0xEF && strings.HasPrefix(s, "\uFEFF")
}

var _ etl.Releaser = (*Encoder)(nil)

// ReleasesBatches implements etl.Releaser: Write turns every row into
// bytes before it returns and keeps nothing of the batch but its schema.
func (e *Encoder) ReleasesBatches() bool { return true }
