package etl

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// This file is a Column's binary encoding, for the files a step that holds
// rows spills to (see transforms' sorter): every value reads back as it
// was, its Go type included (a json field's int64 stays an int64, a
// json.Number a json.Number, an empty list an empty list, a JSON null a
// JSONNull), which neither JSON text nor gob's own encoding of a Column
// would give. Column implements gob.GobEncoder with it.

// nested value kinds of a json field's values.
const (
	nestNull byte = iota
	nestString
	nestInt64
	nestInt
	nestFloat
	nestBool
	nestTime
	nestNumber   // json.Number
	nestList     // []any
	nestObject   // map[string]any
	nestText     // any other type, as JSON text (read back as JSON)
	nestJSONNull // JSONNull
	nestBytes    // []byte (an element of an array of bytes)
)

// MarshalBinary encodes the column (type, rows, nulls, values).
func (c Column) MarshalBinary() ([]byte, error) {
	n := len(c.Null)
	buf := []byte{byte(c.Type)}
	buf = binary.AppendUvarint(buf, uint64(n))
	for _, null := range c.Null {
		buf = appendBool(buf, null)
	}
	if c.typedLen() != n {
		return nil, fmt.Errorf("column of %d rows holds %d values", n, c.typedLen())
	}
	switch c.Type.Storage() {
	case StoreStr:
		for _, s := range c.Str {
			buf = appendString(buf, s)
		}
	case StoreInt:
		for _, v := range c.Int {
			buf = binary.AppendVarint(buf, v)
		}
	case StoreFloat:
		for _, v := range c.Float {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
	case StoreBool:
		for _, v := range c.Bool {
			buf = appendBool(buf, v)
		}
	case StoreTime:
		for _, t := range c.Time {
			b, err := t.MarshalBinary()
			if err != nil {
				return nil, err
			}
			buf = appendString(buf, string(b))
		}
	case StoreJSON:
		for _, v := range c.JSON {
			var err error
			if buf, err = appendNested(buf, v); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("column of unknown type %s", c.Type)
	}
	return buf, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded.
func (c *Column) UnmarshalBinary(data []byte) error {
	d := decoder{buf: data}
	t := Type(d.byte())
	if t.Storage() == 0 {
		return fmt.Errorf("column of unknown type %d", t)
	}
	n := int(d.uvarint())
	if n > len(d.buf) {
		return errors.New("column encoding cut short")
	}
	*c = NewColumn(t, n)
	for range n {
		c.Null = append(c.Null, d.byte() != 0)
	}
	for range n {
		switch t.Storage() {
		case StoreStr:
			c.Str = append(c.Str, d.string())
		case StoreInt:
			c.Int = append(c.Int, d.varint())
		case StoreFloat:
			c.Float = append(c.Float, math.Float64frombits(d.uint64()))
		case StoreBool:
			c.Bool = append(c.Bool, d.byte() != 0)
		case StoreTime:
			var tm time.Time
			if err := tm.UnmarshalBinary([]byte(d.string())); err != nil && d.err == nil {
				d.err = err
			}
			c.Time = append(c.Time, tm)
		case StoreJSON:
			c.JSON = append(c.JSON, d.nested())
		}
	}
	if d.err == nil && len(d.buf) > 0 {
		d.err = fmt.Errorf("%d bytes after the column", len(d.buf))
	}
	return d.err
}

// GobEncode implements gob.GobEncoder with MarshalBinary.
func (c Column) GobEncode() ([]byte, error) { return c.MarshalBinary() }

// GobDecode implements gob.GobDecoder with UnmarshalBinary.
func (c *Column) GobDecode(data []byte) error { return c.UnmarshalBinary(data) }

func appendBool(buf []byte, v bool) []byte {
	if v {
		return append(buf, 1)
	}
	return append(buf, 0)
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// appendNested appends a json field's value with its Go type.
func appendNested(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, nestNull), nil
	case jsonNull:
		return append(buf, nestJSONNull), nil
	case string:
		return appendString(append(buf, nestString), x), nil
	case int64:
		return binary.AppendVarint(append(buf, nestInt64), x), nil
	case int:
		return binary.AppendVarint(append(buf, nestInt), int64(x)), nil
	case float64:
		return binary.LittleEndian.AppendUint64(append(buf, nestFloat), math.Float64bits(x)), nil
	case bool:
		return appendBool(append(buf, nestBool), x), nil
	case time.Time:
		b, err := x.MarshalBinary()
		if err != nil {
			return nil, err
		}
		return appendString(append(buf, nestTime), string(b)), nil
	case json.Number:
		return appendString(append(buf, nestNumber), string(x)), nil
	case []byte:
		return appendString(append(buf, nestBytes), string(x)), nil
	case []any:
		buf = binary.AppendUvarint(append(buf, nestList), uint64(len(x)))
		for _, e := range x {
			var err error
			if buf, err = appendNested(buf, e); err != nil {
				return nil, err
			}
		}
		return buf, nil
	case map[string]any:
		buf = binary.AppendUvarint(append(buf, nestObject), uint64(len(x)))
		for k, e := range x {
			buf = appendString(buf, k)
			var err error
			if buf, err = appendNested(buf, e); err != nil {
				return nil, err
			}
		}
		return buf, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return appendString(append(buf, nestText), string(b)), nil
}

// decoder reads an encoding, keeping the first error.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("column encoding cut short in a %s", what)
	}
	d.buf = nil
}

func (d *decoder) byte() byte {
	if len(d.buf) < 1 {
		d.fail("byte")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("length")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("integer")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if len(d.buf) < 8 {
		d.fail("float")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.buf)
	d.buf = d.buf[8:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail("string")
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}

func (d *decoder) nested() any {
	switch kind := d.byte(); kind {
	case nestNull:
		return nil
	case nestJSONNull:
		return JSONNull
	case nestString:
		return d.string()
	case nestInt64:
		return d.varint()
	case nestInt:
		return int(d.varint())
	case nestFloat:
		return math.Float64frombits(d.uint64())
	case nestBool:
		return d.byte() != 0
	case nestTime:
		var t time.Time
		if err := t.UnmarshalBinary([]byte(d.string())); err != nil && d.err == nil {
			d.err = err
		}
		return t
	case nestNumber:
		return json.Number(d.string())
	case nestBytes:
		return []byte(d.string())
	case nestList:
		n := d.uvarint()
		if n > uint64(len(d.buf)) {
			d.fail("list")
			return nil
		}
		list := make([]any, n)
		for i := range list {
			list[i] = d.nested()
		}
		return list
	case nestObject:
		n := d.uvarint()
		if n > uint64(len(d.buf)) {
			d.fail("object")
			return nil
		}
		m := make(map[string]any, n)
		for range n {
			k := d.string()
			m[k] = d.nested()
		}
		return m
	case nestText:
		var v any
		dec := json.NewDecoder(strings.NewReader(d.string()))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil && d.err == nil {
			d.err = err
		}
		return v
	default:
		if d.err == nil {
			d.err = fmt.Errorf("unknown kind %d of nested value", kind)
		}
		return nil
	}
}
