package sqlconn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nightjar-etl/nightjar/etl"
)

// AppendValue appends a value read by a database driver to col, converted
// to the column's type: drivers hand text columns over as string or
// []byte, exact numbers (NUMERIC, DECIMAL) as text, times as time.Time
// (kept in UTC) or text, JSON as text. A value that does not convert is an
// error, never a silent null.
func AppendValue(col *etl.Column, v any) error {
	if v == nil {
		col.AppendNull()
		return nil
	}
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	switch col.Type {
	case etl.TypeDecimal, etl.TypeUUID:
		s, ok := v.(string)
		if !ok {
			return col.Append(v)
		}
		if err := etl.CheckText(col.Type, s); err != nil {
			return err
		}
		col.AppendString(s)
		return nil
	case etl.TypeBytes:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("cannot store %T in a bytes column", v)
		}
		col.AppendString(s)
		return nil
	case etl.TypeString:
		switch x := v.(type) {
		case string:
			if !utf8.ValidString(x) {
				// Binary data read as text (a query's expression, a
				// SQLite column declared TEXT): a target would fail on
				// it naming no column, or keep it.
				return fmt.Errorf("not valid UTF-8 text (binary data?): read it as bytes (a BYTEA, BLOB or VARBINARY column, or CAST in a query) or as text with a query, e.g. hex or base64 encoding")
			}
			col.AppendString(x)
		case time.Time:
			col.AppendString(x.UTC().Format(time.RFC3339Nano))
		default:
			col.AppendString(etl.FormatValue(v))
		}
		return nil
	case etl.TypeInt:
		switch x := v.(type) {
		case int64:
			col.AppendInt(x)
		case int32:
			col.AppendInt(int64(x))
		case int16:
			col.AppendInt(int64(x))
		case int8:
			col.AppendInt(int64(x))
		case int:
			col.AppendInt(int64(x))
		case uint64:
			if x > 1<<63-1 {
				return fmt.Errorf("%d does not fit in a 64-bit integer", x)
			}
			col.AppendInt(int64(x))
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an integer", x)
			}
			col.AppendInt(n)
		default:
			return col.Append(v)
		}
		return nil
	case etl.TypeFloat:
		switch x := v.(type) {
		case float32:
			col.AppendFloat(float64(x))
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", x)
			}
			col.AppendFloat(f)
		default:
			return col.Append(v)
		}
		return nil
	case etl.TypeBool:
		switch x := v.(type) {
		case bool:
			col.AppendBool(x)
		case int64:
			// SQLite and MySQL keep booleans as integers: only 0 and 1
			// are booleans; 2 made true would not read back as it was.
			if x != 0 && x != 1 {
				return fmt.Errorf("%d is not a boolean (0 or 1)", x)
			}
			col.AppendBool(x == 1)
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				return fmt.Errorf("%q is not a boolean", x)
			}
			col.AppendBool(b)
		default:
			return col.Append(v)
		}
		return nil
	case etl.TypeTimestamp, etl.TypeDate, etl.TypeLocalTimestamp:
		switch x := v.(type) {
		case time.Time:
			if col.Type == etl.TypeLocalTimestamp {
				col.AppendTime(etl.WallClock(x)) // the driver's reading, zone dropped
			} else {
				col.AppendTime(x.UTC())
			}
		case string: // a zone given is converted to UTC
			t, err := ParseTime(x)
			if err != nil {
				return err
			}
			col.AppendTime(t)
		default:
			return col.Append(v)
		}
		return nil
	case etl.TypeJSON:
		if s, ok := v.(string); ok {
			var x any
			dec := json.NewDecoder(strings.NewReader(s))
			dec.UseNumber()
			if err := dec.Decode(&x); err != nil {
				return fmt.Errorf("invalid JSON: %w", err)
			}
			if x == nil {
				x = etl.JSONNull // a JSON null, not SQL NULL
			}
			col.AppendJSON(x)
			return nil
		}
		col.AppendJSON(v)
		return nil
	}
	return col.Append(v)
}

// timeLayouts are the text forms of times databases hand over.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	// PostgreSQL's text form (within an array): +00, or +05:30, or a
	// historical offset in seconds.
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999Z07:00:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	time.DateOnly,
}

// ParseTime parses a time as databases write it, UTC unless it says
// otherwise.
//
// A year outside 1-9999 as PostgreSQL spells it in a zone's local time
// ("10000-01-01 05:44:59+05:45", "0001-12-31 23:00:00-01 BC") is read too:
// the instant may be within 1-9999 in UTC.
func ParseTime(s string) (time.Time, error) {
	year, rest, bc := s, "", false
	if i := strings.IndexByte(s, '-'); i >= 4 {
		year, rest = s[:i], s[i:]
		rest, bc = strings.CutSuffix(rest, " BC")
	}
	y, err := strconv.Atoi(year)
	if err != nil || y < 0 || (len(year) == 4 && !bc) {
		return parseTime(s)
	}
	if bc {
		y = 1 - y // 1 BC is year 0
	}
	// The calendar repeats every 400 years (146097 days, whole weeks):
	// parse the same day in a year Go spells, then move it back.
	shift := 0
	for y+shift < 1 {
		shift += 400
	}
	for y+shift > 9999 {
		shift -= 400
	}
	t, err := parseTime(fmt.Sprintf("%04d", y+shift) + rest)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time (want RFC 3339 or YYYY-MM-DD HH:MM:SS)", s)
	}
	return t.AddDate(-shift, 0, 0), nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (want RFC 3339 or YYYY-MM-DD HH:MM:SS)", s)
}

// positionJSON is a SQL source's position: the cursor value and the key
// values of the last row read; Stored says they are the database's stored
// values (see SourceDriver.StoredOrder), not field values.
type positionJSON struct {
	Cursor json.RawMessage   `json:"cursor,omitempty"`
	Key    []json.RawMessage `json:"key"`
	Stored bool              `json:"stored,omitempty"`
}

// encodePosition encodes the last row's cursor (if any) and key values.
func encodePosition(hasCursor, stored bool, values []any) (etl.Position, error) {
	p := positionJSON{Stored: stored}
	for i, v := range values {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if hasCursor && i == 0 {
			p.Cursor = raw
			continue
		}
		p.Key = append(p.Key, raw)
	}
	return json.Marshal(p)
}

// decodePosition decodes a position into values of the given types,
// cursor first; or, for a position of stored values, into int64, float64
// and string values as the JSON holds them.
func decodePosition(pos etl.Position, hasCursor bool, types []etl.Type) (values []any, stored bool, err error) {
	var p positionJSON
	dec := json.NewDecoder(bytes.NewReader(pos))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return nil, false, fmt.Errorf("position %s: %w", pos, err)
	}
	raws := p.Key
	if hasCursor {
		if p.Cursor == nil {
			return nil, false, fmt.Errorf("position %s has no cursor; the cursor was added since: run with --full-refresh", pos)
		}
		raws = append([]json.RawMessage{p.Cursor}, p.Key...)
	}
	if len(raws) != len(types) {
		return nil, false, fmt.Errorf("position %s has %d values for %d cursor and key columns; the cursor or key changed since: run with --full-refresh", pos, len(raws), len(types))
	}
	out := make([]any, len(types))
	for i, raw := range raws {
		col := etl.NewColumn(types[i], 1)
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, false, fmt.Errorf("position %s: %w", pos, err)
		}
		if p.Stored {
			if n, ok := v.(json.Number); ok {
				if v, err = n.Int64(); err != nil {
					v, err = n.Float64()
				}
				if err != nil {
					return nil, false, fmt.Errorf("position %s: value %d: %w", pos, i+1, err)
				}
			}
			out[i] = v
			continue
		}
		if n, ok := v.(json.Number); ok && types[i] == etl.TypeString {
			v = n.String()
		}
		if s, ok := v.(string); ok && types[i] == etl.TypeBytes {
			// encodePosition wrote etl.Column.Value's []byte: base64.
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, false, fmt.Errorf("position %s: value %d: %w", pos, i+1, err)
			}
			v = b
		}
		if err := AppendValue(&col, v); err != nil {
			return nil, false, fmt.Errorf("position %s: value %d: %w", pos, i+1, err)
		}
		out[i] = col.Value(0)
	}
	return out, p.Stored, nil
}

// EncodeJSON encodes a nested value as compact JSON, without HTML
// escaping (a "<" stays a "<").
func EncodeJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// UnrepresentableError is a value a target's column cannot hold as it is:
// rather than store another value (or null), the batch is refused.
type UnrepresentableError struct {
	Origin etl.Origin
	Field  string
	Value  string
	Column string // the column type: "SQLite REAL"
	Why    string
}

func (e *UnrepresentableError) Error() string {
	return fmt.Sprintf("%s: field %q: %s cannot be stored in a %s column exactly (%s)", e.Origin, e.Field, e.Value, e.Column, e.Why)
}

// Representable says what a target's columns hold exactly, for Check.
type Representable struct {
	// Float is the column type of floats, for messages ("SQLite REAL"); it
	// keeps no sign of zero, and with NaN stores NaN as something else.
	Float string
	NaN   bool
	// Time is the column type of timestamps and dates, for messages; it
	// holds years 1 to 9999 only.
	Time string
	// JSON, if set, is the column type arrays are written to as JSON
	// arrays, for messages ("SQLite TEXT (JSON)"): JSON has no NaN or
	// infinity, so an array holding one is refused.
	JSON string
}

// Representer is a backend whose columns do not hold every value exactly;
// the table target checks each batch against what it says (see refuse and
// TargetConfig.OnUnrepresentable).
type Representer interface {
	Representable() Representable
}

// Check returns a permanent *UnrepresentableError for the first value of
// b the target would store as another (or as null): a negative zero, a
// NaN, a year outside 1-9999.
func (rep Representable) Check(b *etl.Batch) error {
	var first error
	rep.each(b, func(e *UnrepresentableError, _, _ int) bool {
		first = etl.Permanent(e)
		return false
	})
	return first
}

// each calls f with each value of b the target cannot hold, and its column
// and row, until f returns false.
func (rep Representable) each(b *etl.Batch, f func(e *UnrepresentableError, c, r int) bool) {
	for c := range b.Cols {
		col := &b.Cols[c]
		for r := range col.Null {
			if col.Null[r] {
				continue
			}
			var value, column, why string
			switch col.Type {
			case etl.TypeFloat:
				v := col.Float[r]
				switch {
				case v == 0 && math.Signbit(v):
					value, column, why = "-0", rep.Float, "it keeps no sign of zero"
				case rep.NaN && math.IsNaN(v):
					value, column, why = "NaN", rep.Float, "it would store null"
				}
			case etl.TypeArray:
				if rep.JSON != "" {
					if bad, ok := nonJSONElement(col.JSON[r]); ok {
						value, column, why = bad, rep.JSON, "an array is written as a JSON array, and JSON has no NaN or infinity"
					}
				}
			case etl.TypeTimestamp, etl.TypeDate, etl.TypeLocalTimestamp:
				if y := col.Time[r].UTC().Year(); rep.Time != "" && (y < 1 || y > 9999) {
					value, column, why = col.Time[r].UTC().Format(time.RFC3339Nano), rep.Time, "it holds years 1 to 9999"
				}
			}
			if value != "" && !f(&UnrepresentableError{Origin: b.Origins[r], Field: b.Schema.Field(c).Name, Value: value, Column: column, Why: why}, c, r) {
				return
			}
		}
	}
}

// nonJSONElement finds a float element of an array (at any depth) that
// JSON cannot spell, NaN or an infinity, and says which: "NaN (element 2
// of [1 NaN])".
func nonJSONElement(v any) (string, bool) {
	var path []int
	var find func(x any) (float64, bool)
	find = func(x any) (float64, bool) {
		switch e := x.(type) {
		case float64:
			return e, math.IsNaN(e) || math.IsInf(e, 0)
		case []any:
			for k, item := range e {
				path = append(path, k+1)
				if f, ok := find(item); ok {
					return f, true
				}
				path = path[:len(path)-1]
			}
		}
		return 0, false
	}
	f, ok := find(v)
	if !ok {
		return "", false
	}
	at := make([]string, len(path))
	for i, k := range path {
		at[i] = strconv.Itoa(k)
	}
	return fmt.Sprintf("%v (element [%s] of %v)", f, strings.Join(at, "]["), v), true
}
