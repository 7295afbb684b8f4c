package xmlfile

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// Root and record element names of the files the encoder writes.
const (
	RootElement   = "rows"
	RecordElement = "row"
)

// Encoder writes rows as one XML document: <rows>, one <row> per row,
// </rows>. It is the reader's mirror, so that the file reads back through
// the files source (format: xml, no record_path) to the same rows: a field
// named @name is an attribute of <row>, #text its text, any other field a
// child element; a null is no element; a json value's map is an element
// whose @keys are attributes, #text its text and other keys children, its
// array repeated elements. Typed values are written as text (RFC 3339 for
// timestamps, 2006-01-02 for dates), and read back as strings.
//
// A name that is not an XML name (spaces, a colon, a leading digit), an
// array inside an array or a map in an attribute has no XML form: Write
// fails naming the field. Text is escaped; a character XML cannot hold (a
// control character, invalid UTF-8) becomes U+FFFD.
type Encoder struct {
	fileformat.Output

	schema *etl.Schema
	attrs  []int // the @ fields
	text   int   // the #text field, or -1
	elems  []int // the other fields
	rows   int64
}

var _ fileformat.Finisher = (*Encoder)(nil)

// NewEncoder returns an encoder writing one XML document to w.
func NewEncoder(w io.Writer, opts fileformat.EncodeOptions) *Encoder {
	return &Encoder{Output: fileformat.Output{W: w, File: opts.File}}
}

const header = `<?xml version="1.0" encoding="UTF-8"?>` + "\n<" + RootElement + ">\n"

// Write implements fileformat.Encoder.
func (e *Encoder) Write(b *etl.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if b.Schema != e.schema {
		if err := e.layout(b.Schema); err != nil {
			return err
		}
	}
	if e.rows == 0 {
		e.Buf = append(e.Buf, header...)
	}
	for i := range b.Len() {
		e.rows++
		e.Buf = append(e.Buf, "<"+RecordElement...)
		for _, j := range e.attrs {
			c := &b.Cols[j]
			if c.Null[i] {
				continue
			}
			name := b.Schema.Field(j).Name
			var err error
			if e.Buf, err = appendAttr(e.Buf, name[1:], columnValue(c, i)); err != nil {
				return e.fieldError(b, i, name, err)
			}
		}
		e.Buf = append(e.Buf, '>')
		if e.text >= 0 && !b.Cols[e.text].Null[i] {
			s, err := scalarText(columnValue(&b.Cols[e.text], i))
			if err != nil {
				return e.fieldError(b, i, "#text", err)
			}
			e.Buf = appendEscaped(e.Buf, s, false)
		}
		for _, j := range e.elems {
			c := &b.Cols[j]
			if c.Null[i] {
				continue
			}
			name := b.Schema.Field(j).Name
			var err error
			if e.Buf, err = appendElement(e.Buf, name, columnValue(c, i), false); err != nil {
				return e.fieldError(b, i, name, err)
			}
		}
		e.Buf = append(e.Buf, "</"+RecordElement+">\n"...)
		if err := e.FlushIfFull(); err != nil {
			return err
		}
	}
	return e.Flush()
}

// Finish implements fileformat.Finisher: it closes the root element.
func (e *Encoder) Finish() error {
	if e.rows == 0 {
		e.Buf = append(e.Buf, header...)
	}
	e.Buf = append(e.Buf, "</"+RootElement+">\n"...)
	return e.Flush()
}

func (e *Encoder) fieldError(b *etl.Batch, i int, field string, err error) error {
	return fmt.Errorf("%s: row from %s: field %q: %w", e.File, b.Origins[i], field, err)
}

// layout sorts a schema's fields into attributes, text and elements, and
// checks their names.
func (e *Encoder) layout(s *etl.Schema) error {
	e.schema, e.attrs, e.text, e.elems = s, e.attrs[:0], -1, e.elems[:0]
	for j, name := range s.Names() {
		var err error
		switch {
		case name == "#text":
			e.text = j
		case strings.HasPrefix(name, "@"):
			err = checkName(name[1:])
			e.attrs = append(e.attrs, j)
		default:
			err = checkName(name)
			e.elems = append(e.elems, j)
		}
		if err != nil {
			return fmt.Errorf("%s: field %q: %w (rename it)", e.File, name, err)
		}
	}
	return nil
}

// checkName refuses a name that is not an XML element or attribute name
// without a namespace prefix.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("an empty name is not an XML name")
	}
	for i, r := range name {
		ok := r == '_' || unicode.IsLetter(r)
		if i > 0 {
			ok = ok || r == '-' || r == '.' || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc, unicode.Nd)
		}
		if !ok || r == utf8.RuneError {
			return fmt.Errorf("%q is not an XML name (letters, digits, _ - . and no leading digit)", name)
		}
	}
	return nil
}

// columnValue is row i's value of c as the writer takes it: a string, a
// json value, or the text of a typed value.
func columnValue(c *etl.Column, i int) any {
	switch c.Type {
	case etl.TypeString:
		return c.Str[i]
	case etl.TypeInt:
		return strconv.FormatInt(c.Int[i], 10)
	case etl.TypeFloat:
		return strconv.FormatFloat(c.Float[i], 'g', -1, 64) // NaN, +Inf as such: text holds them
	case etl.TypeBool:
		return strconv.FormatBool(c.Bool[i])
	case etl.TypeTimestamp:
		return c.Time[i].UTC().Format(time.RFC3339Nano)
	case etl.TypeDate:
		return c.Time[i].UTC().Format(time.DateOnly)
	case etl.TypeJSON:
		return c.JSON[i]
	}
	return nil
}

// scalarText is the text of a value that is not a map or an array.
func scalarText(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return string(v), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int:
		return strconv.Itoa(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	case map[string]any:
		return "", fmt.Errorf("a map has no XML form here (only in an element)")
	case []any:
		return "", fmt.Errorf("an array has no XML form here (only as repeated elements)")
	}
	return fmt.Sprint(v), nil
}

func appendAttr(buf []byte, name string, v any) ([]byte, error) {
	s, err := scalarText(v)
	if err != nil {
		return buf, err
	}
	buf = append(buf, ' ')
	buf = append(buf, name...)
	buf = append(buf, '=', '"')
	buf = appendEscaped(buf, s, true)
	return append(buf, '"'), nil
}

// appendElement writes v as the element name: a map's @keys as
// attributes, #text as text and other keys as children (each in key
// order), an array as the element repeated. inArray refuses an array in an
// array, which XML cannot tell from one array.
func appendElement(buf []byte, name string, v any, inArray bool) ([]byte, error) {
	switch v := v.(type) {
	case []any:
		if inArray {
			return buf, fmt.Errorf("an array inside an array has no XML form")
		}
		for _, item := range v {
			var err error
			if buf, err = appendElement(buf, name, item, true); err != nil {
				return buf, err
			}
		}
		return buf, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = append(buf, '<')
		buf = append(buf, name...)
		for _, k := range keys {
			if !strings.HasPrefix(k, "@") || v[k] == nil {
				continue
			}
			if err := checkName(k[1:]); err != nil {
				return buf, fmt.Errorf("key %q: %w", k, err)
			}
			var err error
			if buf, err = appendAttr(buf, k[1:], v[k]); err != nil {
				return buf, fmt.Errorf("key %q: %w", k, err)
			}
		}
		buf = append(buf, '>')
		if t, ok := v["#text"]; ok && t != nil {
			s, err := scalarText(t)
			if err != nil {
				return buf, fmt.Errorf("key \"#text\": %w", err)
			}
			buf = appendEscaped(buf, s, false)
		}
		for _, k := range keys {
			if strings.HasPrefix(k, "@") || k == "#text" || v[k] == nil {
				continue
			}
			if err := checkName(k); err != nil {
				return buf, fmt.Errorf("key %q: %w", k, err)
			}
			var err error
			if buf, err = appendElement(buf, k, v[k], false); err != nil {
				return buf, fmt.Errorf("key %q: %w", k, err)
			}
		}
		buf = append(buf, '<', '/')
		buf = append(buf, name...)
		return append(buf, '>'), nil
	}
	s, err := scalarText(v)
	if err != nil {
		return buf, err
	}
	buf = append(buf, '<')
	buf = append(buf, name...)
	buf = append(buf, '>')
	buf = appendEscaped(buf, s, false)
	buf = append(buf, '<', '/')
	buf = append(buf, name...)
	return append(buf, '>'), nil
}

// appendEscaped appends s as XML text or, with attr, as an attribute
// value: markup characters as entities, CR (and in attributes tab and
// line feed, which a reader would normalise to spaces) as character
// references, and a character XML cannot hold as U+FFFD.
func appendEscaped(buf []byte, s string, attr bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '<':
				buf = append(buf, "&lt;"...)
			case c == '>':
				buf = append(buf, "&gt;"...)
			case c == '&':
				buf = append(buf, "&amp;"...)
			case c == '"' && attr:
				buf = append(buf, "&quot;"...)
			case c == '\r':
				buf = append(buf, "&#xD;"...)
			case c == '\n' && attr:
				buf = append(buf, "&#xA;"...)
			case c == '\t' && attr:
				buf = append(buf, "&#x9;"...)
			case c < 0x20 && c != '\n' && c != '\t':
				buf = append(buf, "\uFFFD"...)
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == 0xFFFE || r == 0xFFFF {
			r = utf8.RuneError
		}
		buf = utf8.AppendRune(buf, r)
		i += size
	}
	return buf
}
