package postgres

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/nightjar-etl/nightjar/etl"
)

// arrayOIDs are, per element type, the array column type binaryCopy
// writes an array field to (the one nightjar creates: see etl's
// SQLColumnType) and the element type OID its binary form names.
var arrayOIDs = map[etl.Type][2]uint32{
	etl.TypeString:         {pgtype.TextArrayOID, pgtype.TextOID},
	etl.TypeInt:            {pgtype.Int8ArrayOID, pgtype.Int8OID},
	etl.TypeFloat:          {pgtype.Float8ArrayOID, pgtype.Float8OID},
	etl.TypeBool:           {pgtype.BoolArrayOID, pgtype.BoolOID},
	etl.TypeTimestamp:      {pgtype.TimestamptzArrayOID, pgtype.TimestamptzOID},
	etl.TypeDate:           {pgtype.DateArrayOID, pgtype.DateOID},
	etl.TypeBytes:          {pgtype.ByteaArrayOID, pgtype.ByteaOID},
	etl.TypeLocalTimestamp: {pgtype.TimestampArrayOID, pgtype.TimestampOID},
	etl.TypeDecimal:        {pgtype.NumericArrayOID, pgtype.NumericOID},
	etl.TypeUUID:           {pgtype.UUIDArrayOID, pgtype.UUIDOID},
}

// flatArray is an array value as PostgreSQL holds it: its elements in row
// order and the length of each dimension (none for an empty array).
type flatArray struct {
	elems []any
	dims  []int
}

// flatten checks that v, an array field's value (etl.ArrayElement values
// and a nested []any per dimension), is rectangular, as a PostgreSQL
// array must be, and flattens it.
func flatten(v any) (flatArray, error) {
	var fa flatArray
	top, ok := v.([]any)
	if !ok {
		return fa, fmt.Errorf("an array field holds a %T", v)
	}
	if len(top) == 0 {
		return fa, nil
	}
	for d := any(top); ; {
		list, ok := d.([]any)
		if !ok {
			break
		}
		fa.dims = append(fa.dims, len(list))
		if len(list) == 0 {
			return fa, fmt.Errorf("an empty array within an array has no PostgreSQL form")
		}
		d = list[0]
	}
	var walk func(x any, depth int) error
	walk = func(x any, depth int) error {
		list, isList := x.([]any)
		if depth == len(fa.dims) {
			if isList {
				return fmt.Errorf("the array's dimensions differ (PostgreSQL arrays are rectangular)")
			}
			fa.elems = append(fa.elems, x)
			return nil
		}
		if !isList || len(list) != fa.dims[depth] {
			return fmt.Errorf("the array's dimensions differ (PostgreSQL arrays are rectangular)")
		}
		for _, e := range list {
			if err := walk(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fa, walk(top, 0)
}

// appendArray appends an array field in binary form: dimensions, a
// has-nulls flag, the element type, each dimension's length and lower
// bound (1), then the elements.
func appendArray(buf []byte, elem etl.Type, v any) ([]byte, error) {
	fa, err := flatten(v)
	if err != nil {
		return buf, err
	}
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, 0) // the length, set below
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(fa.dims)))
	hasNull := uint32(0)
	for _, e := range fa.elems {
		if e == nil {
			hasNull = 1
		}
	}
	buf = binary.BigEndian.AppendUint32(buf, hasNull)
	buf = binary.BigEndian.AppendUint32(buf, arrayOIDs[elem][1])
	for _, n := range fa.dims {
		buf = binary.BigEndian.AppendUint32(buf, uint32(n))
		buf = binary.BigEndian.AppendUint32(buf, 1)
	}
	for _, e := range fa.elems {
		if buf, err = appendElement(buf, elem, e); err != nil {
			return buf, err
		}
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-4))
	return buf, nil
}

// appendElement appends one element of an array (an etl.ArrayElement
// value) in its type's binary form.
func appendElement(buf []byte, elem etl.Type, v any) ([]byte, error) {
	if v == nil {
		return binary.BigEndian.AppendUint32(buf, math.MaxUint32), nil // -1
	}
	bad := func() ([]byte, error) {
		return buf, fmt.Errorf("array element %v (%T) is not a %s", v, v, elem)
	}
	switch elem {
	case etl.TypeInt:
		n, ok := v.(int64)
		if !ok {
			return bad()
		}
		return appendInt64(buf, n), nil
	case etl.TypeFloat:
		f, ok := v.(float64)
		if !ok {
			return bad()
		}
		return appendInt64(buf, int64(math.Float64bits(f))), nil
	case etl.TypeBool:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		return appendBool(buf, b), nil
	case etl.TypeBytes:
		b, ok := v.([]byte)
		if !ok {
			return bad()
		}
		return appendText(buf, string(b)), nil
	}
	s, ok := v.(string)
	if !ok {
		return bad()
	}
	switch elem {
	case etl.TypeString:
		return appendText(buf, s), nil
	case etl.TypeDecimal:
		if etl.ParseDecimal(s) != nil {
			return bad()
		}
		return appendNumeric(buf, s), nil
	case etl.TypeUUID:
		if etl.CheckUUID(s) != nil {
			return bad()
		}
		return appendUUID(buf, s), nil
	}
	t, err := parseElementTime(elem, s)
	if err != nil {
		return buf, fmt.Errorf("array element %q: %w", s, err)
	}
	if elem == etl.TypeDate {
		return appendDate(buf, t), nil
	}
	return appendTimestamp(buf, t), nil
}

// parseElementTime reads the text of a date, timestamp or local timestamp
// element, as etl.ArrayElement spells it.
func parseElementTime(elem etl.Type, s string) (time.Time, error) {
	switch elem {
	case etl.TypeDate:
		return time.Parse(time.DateOnly, s)
	case etl.TypeTimestamp:
		return time.Parse(time.RFC3339Nano, s)
	case etl.TypeLocalTimestamp:
		return time.Parse(etl.LocalLayout, s)
	}
	return time.Time{}, fmt.Errorf("no array element of type %s", elem)
}

// pgxArray is an array field's value for pgx's CopyFrom, which converts
// it to the column's array type (an existing int4[] column, say): the
// elements as pgx encodes them (times as time.Time).
func pgxArray(elem etl.Type, v any) (any, error) {
	fa, err := flatten(v)
	if err != nil {
		return nil, err
	}
	// Dims not nil: pgx writes an array without dimensions as NULL, an
	// empty one as {}.
	arr := pgtype.Array[any]{Elements: make([]any, len(fa.elems)), Dims: []pgtype.ArrayDimension{}, Valid: true}
	for _, n := range fa.dims {
		arr.Dims = append(arr.Dims, pgtype.ArrayDimension{Length: int32(n), LowerBound: 1})
	}
	for i, e := range fa.elems {
		arr.Elements[i] = e
		if s, ok := e.(string); ok {
			switch elem {
			case etl.TypeDate, etl.TypeTimestamp, etl.TypeLocalTimestamp:
				if arr.Elements[i], err = parseElementTime(elem, s); err != nil {
					return nil, fmt.Errorf("array element %q: %w", s, err)
				}
			}
		}
	}
	return arr, nil
}
