package httpapi

import (
	"encoding/json"

	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// FieldsSchema builds the schema of the `fields:` key (field name → type
// name), its columns in name order; an unknown type is a FieldError at
// fields.NAME.
func FieldsSchema(fields map[string]string) (*etl.Schema, []string, error) {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]etl.Field, len(names))
	for i, n := range names {
		typ, err := etl.ParseType(fields[n])
		if err != nil {
			return nil, nil, &etl.FieldError{Path: []string{"fields", n}, Err: err}
		}
		out[i] = etl.Field{Name: n, Type: typ}
	}
	schema, err := etl.NewSchema(out...)
	if err != nil {
		return nil, nil, &etl.FieldError{Path: []string{"fields"}, Err: err}
	}
	return schema, names, nil
}

// InferSchema types records decoded from JSON: every top-level field with
// a name, typed from its non-null values (a number with a fraction
// anywhere makes the field a float; a field only ever null is a string).
func InferSchema(records []map[string]any) (*etl.Schema, []string) {
	types := map[string]etl.Type{}
	for _, r := range records {
		for k, v := range r {
			if k == "" {
				continue // a key "" cannot name a field
			}
			t, seen := types[k]
			switch nt := jsonType(v); {
			case !seen || t == 0:
				types[k] = nt
			case t == etl.TypeInt && nt == etl.TypeFloat:
				types[k] = etl.TypeFloat // 0 then 1.5: a float field
			}
		}
	}
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	fields := make([]etl.Field, len(names))
	for i, n := range names {
		t := types[n]
		if t == 0 {
			t = etl.TypeString
		}
		fields[i] = etl.Field{Name: n, Type: t}
	}
	return etl.MustSchema(fields...), names
}

func jsonType(v any) etl.Type {
	switch x := v.(type) {
	case nil:
		return 0
	case string:
		return etl.TypeString
	case bool:
		return etl.TypeBool
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return etl.TypeInt
		}
		return etl.TypeFloat
	}
	return etl.TypeJSON
}

// RecordAppender appends JSON records (decoded with UseNumber) to batches
// of one schema, reusing one slice of values.
type RecordAppender struct {
	Cols []string
	vals []any
}

// Append appends r at where to b, or, when a value does not fit its
// field's type, appends a reject naming the field (never a silent null)
// and returns false.
func (a *RecordAppender) Append(b *etl.Batch, r map[string]any, where etl.Origin) bool {
	vals := a.vals[:0]
	defer func() { a.vals = vals[:0] }()
	for c, name := range a.Cols {
		v, err := ConvertJSON(b.Cols[c].Type, r[name])
		if err != nil {
			raw, _ := json.Marshal(r)
			b.Rejects = append(b.Rejects, etl.Reject{Step: "source", Origin: where, Field: name,
				Value: etl.FormatValue(r[name]), Reason: fmt.Sprintf("not a %s: %v", b.Cols[c].Type, err), Row: raw})
			return false
		}
		vals = append(vals, v)
	}
	for c, v := range vals {
		// ConvertJSON returned the column's Go type: Append cannot fail.
		_ = b.Cols[c].Append(v)
	}
	b.Origins = append(b.Origins, where)
	return true
}

// ConvertJSON turns a decoded JSON value into the Go type of a column of
// type t; a value that does not fit is an error.
func ConvertJSON(t etl.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	text := etl.FormatValue(v)
	switch t {
	case etl.TypeString:
		return text, nil
	case etl.TypeInt:
		if _, isBool := v.(bool); !isBool {
			return strconv.ParseInt(text, 10, 64)
		}
	case etl.TypeFloat:
		if _, isBool := v.(bool); !isBool {
			return strconv.ParseFloat(text, 64)
		}
	case etl.TypeBool:
		return strconv.ParseBool(text)
	case etl.TypeTimestamp:
		if n, ok := v.(json.Number); ok {
			secs, err := n.Int64()
			return time.Unix(secs, 0).UTC(), err
		}
		ts, err := time.Parse(time.RFC3339Nano, text)
		return ts.UTC(), err
	case etl.TypeDate:
		return time.Parse(time.DateOnly, text)
	case etl.TypeJSON:
		return v, nil
	}
	return nil, fmt.Errorf("%s value %s", jsonKind(v), text)
}

func jsonKind(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "JSON"
}

// Later compares incremental values: numerically when both are numbers,
// else as text (RFC 3339 timestamps in one zone sort as text). Every value
// is later than "".
func Later(a, b string) bool {
	if b == "" {
		return true
	}
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		return fa > fb
	}
	return a > b
}
