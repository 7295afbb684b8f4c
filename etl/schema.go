package etl

import (
	"fmt"
	"slices"
	"strings"
)

// Type is the logical type of a field.
type Type uint8

// The field types; etl/types.go says what each is and does.
const (
	TypeString Type = iota + 1
	TypeInt
	TypeFloat
	TypeBool
	TypeTimestamp // UTC instant, RFC 3339 when printed
	TypeDate      // calendar date, stored as midnight UTC
	TypeJSON      // nested value (map[string]any, []any, scalars)
	// TypeBytes is binary data, held in Column.Str as its raw bytes.
	TypeBytes
	// TypeLocalTimestamp is a wall-clock time with no zone, held in
	// Column.Time as that wall clock in UTC.
	TypeLocalTimestamp
	// TypeDecimal is an exact decimal number, held in Column.Str as its
	// text ("-12.3400"); a field's Precision and Scale, when known, say
	// its column's.
	TypeDecimal
	// TypeUUID is a UUID, held in Column.Str as its lower-case text
	// (8-4-4-4-12 hex digits).
	TypeUUID
	// TypeArray is an array of values of one element type (a field's
	// Elem), held in Column.JSON as a []any: see ArrayElement for the
	// elements' Go types; a nested []any is a dimension of a
	// multi-dimensional array.
	TypeArray
)

func (t Type) String() string {
	if in := t.info(); in != nil {
		return in.name
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType returns the Type named s ("string", "int", ...) or one of its
// aliases ("integer", "number", "boolean", "datetime", "text", ...).
func ParseType(s string) (Type, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, t := range AllTypes() {
		if in := t.info(); !in.unnamed && in.name == s || slices.Contains(in.aliases, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown type %q (want %s)", s, strings.Join(TypeNames(), ", "))
}

// TypeNames lists the canonical type names, for hints in errors.
func TypeNames() []string {
	var names []string
	for _, t := range AllTypes() {
		if !t.info().unnamed {
			names = append(names, t.String())
		}
	}
	return names
}

// Field is one named, typed column of a schema.
type Field struct {
	Name string
	Type Type
	// Precision and Scale are a decimal's total and fraction digits, as
	// its source column holds them (NUMERIC(38,10)); 0 and 0 when
	// unknown or unbounded. Other types leave them 0.
	Precision, Scale int
	// Elem is an array's element type; 0 for other types.
	Elem Type
}

// TypeString is the field's type as a schema spells it: decimal(38,10)
// for a decimal of known precision, array(int) for an array of ints.
func (f Field) TypeString() string {
	if f.Type == TypeDecimal && f.Precision > 0 {
		return fmt.Sprintf("%s(%d,%d)", f.Type, f.Precision, f.Scale)
	}
	if f.Type == TypeArray && f.Elem != 0 {
		return fmt.Sprintf("%s(%s)", f.Type, f.Elem)
	}
	return f.Type.String()
}

// Schema is an ordered list of fields. A Schema is immutable once built:
// steps that change the shape of rows build a new one (once per input
// schema, not per batch) so that targets can compare schemas by pointer.
type Schema struct {
	fields []Field
	index  map[string]int
}

// NewSchema builds a schema. Field names must be unique.
func NewSchema(fields ...Field) (*Schema, error) {
	s := &Schema{fields: append([]Field(nil), fields...), index: make(map[string]int, len(fields))}
	for i, f := range s.fields {
		if f.Name == "" {
			return nil, fmt.Errorf("schema: field %d has no name", i+1)
		}
		if _, dup := s.index[f.Name]; dup {
			return nil, fmt.Errorf("schema: duplicate field %q", f.Name)
		}
		s.index[f.Name] = i
	}
	return s, nil
}

// MustSchema is NewSchema that panics on error; for tests and literals.
func MustSchema(fields ...Field) *Schema {
	s, err := NewSchema(fields...)
	if err != nil {
		panic(err)
	}
	return s
}

// Len is the number of fields.
func (s *Schema) Len() int { return len(s.fields) }

// Field returns the i-th field.
func (s *Schema) Field(i int) Field { return s.fields[i] }

// Fields returns a copy of the fields.
func (s *Schema) Fields() []Field { return append([]Field(nil), s.fields...) }

// Names returns the field names in order.
func (s *Schema) Names() []string {
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		names[i] = f.Name
	}
	return names
}

// Index returns the position of the named field, or -1.
func (s *Schema) Index(name string) int {
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// Equal reports whether both schemas have the same fields in the same order.
func (s *Schema) Equal(o *Schema) bool {
	if s == o {
		return true
	}
	if s == nil || o == nil || len(s.fields) != len(o.fields) {
		return false
	}
	for i := range s.fields {
		if s.fields[i] != o.fields[i] {
			return false
		}
	}
	return true
}

func (s *Schema) String() string {
	var b strings.Builder
	for i, f := range s.fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Name)
		b.WriteByte(' ')
		b.WriteString(f.TypeString())
	}
	return b.String()
}
