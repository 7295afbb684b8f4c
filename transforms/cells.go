package transforms

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/nightjar-etl/nightjar/etl"
)

// This file holds the row-level helpers every step shares: reading a cell
// into an expression environment without allocating, copying a cell from
// one batch to another, comparing cells, and converting a dynamically
// typed value (an expression's result) into a column of a given type.

// eface is the layout of an empty interface value.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

func typeWord(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	stringTypeWord = typeWord("")
	int64TypeWord  = typeWord(int64(0))
	floatTypeWord  = typeWord(float64(0))
	timeTypeWord   = typeWord(time.Time{})
)

// boxAt returns an interface whose data word points at *p instead of at a
// heap copy: boxing a string, int64, float64 or time.Time this way costs
// no allocation. The caller must not change *p while the interface is in
// use; steps only box cells for the duration of one evaluation, and an
// expression whose result is stored reads its cells boxed afresh instead
// (newKeptExprEvaluator).
func boxAt(typ unsafe.Pointer, p unsafe.Pointer) any {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, p
	return v
}

// cellValue returns row i of c as the value an expression sees: nil for
// null, else string, int64, float64, bool, time.Time or the JSON value,
// without allocating.
func cellValue(c *etl.Column, i int) any {
	if c.Null[i] {
		return nil
	}
	switch c.Type.Storage() {
	case etl.StoreStr:
		if c.Type != etl.TypeString {
			return c.Value(i) // bytes: a []byte
		}
		return boxAt(stringTypeWord, unsafe.Pointer(&c.Str[i]))
	case etl.StoreInt:
		return boxAt(int64TypeWord, unsafe.Pointer(&c.Int[i]))
	case etl.StoreFloat:
		return boxAt(floatTypeWord, unsafe.Pointer(&c.Float[i]))
	case etl.StoreBool:
		return c.Bool[i] // Go boxes bools without allocating
	case etl.StoreTime:
		return boxAt(timeTypeWord, unsafe.Pointer(&c.Time[i]))
	case etl.StoreJSON:
		return c.JSON[i]
	}
	return nil
}

// appendCell appends row i of src to dst; both have the same type.
func appendCell(dst, src *etl.Column, i int) { dst.AppendCell(src, i) }

// appendRow appends row i of src to dst, which has the same schema, with
// the row's routes: a row routed before a step that holds rows keeps its
// routes when the step hands it on.
func appendRow(dst, src *etl.Batch, i int) {
	for c := range src.Cols {
		appendCell(&dst.Cols[c], &src.Cols[c], i)
	}
	appendRoutes(dst, src.Routes, i)
	dst.Origins = append(dst.Origins, src.Origins[i])
}

// appendRoutes appends to dst's routes row i of each of routes; call it
// before appending the row's origin. A row without a route's entry (dst
// had rows before the route was set) goes that way too, as a batch
// without the route does.
func appendRoutes(dst *etl.Batch, routes map[string][]bool, i int) {
	if len(routes) == 0 {
		return
	}
	if dst.Routes == nil {
		dst.Routes = make(map[string][]bool, len(routes))
	}
	for name, mask := range routes {
		m := dst.Routes[name]
		for len(m) < dst.Len() {
			m = append(m, true)
		}
		dst.Routes[name] = append(m, mask[i])
	}
}

// compareCells orders row i of a against row j of b (same type); nulls
// sort first.
func compareCells(a *etl.Column, i int, b *etl.Column, j int) int {
	return etl.CompareCells(a, i, b, j)
}

// valueType is the column type for a Go value an expression returned; ok
// is false for nil.
func valueType(v any) (etl.Type, bool) {
	switch v.(type) {
	case nil:
		return 0, false
	case string:
		return etl.TypeString, true
	case int, int64, int32, int8, int16, uint, uint8, uint16, uint32, uint64:
		return etl.TypeInt, true
	case float64, float32, time.Duration:
		return etl.TypeFloat, true
	case bool:
		return etl.TypeBool, true
	case time.Time:
		return etl.TypeTimestamp, true
	}
	return etl.TypeJSON, true
}

// appendValue appends v to c, converting between numbers, formatting
// anything as text for a string column, and wrapping anything in a JSON
// column. A time.Duration is a number of seconds. It fails for a value
// that does not fit (a string in an int column).
func appendValue(c *etl.Column, v any) error {
	if v == nil {
		c.AppendNull()
		return nil
	}
	switch x := v.(type) {
	case int:
		v = int64(x)
	case int32:
		v = int64(x)
	case uint8:
		v = int64(x)
	case uint:
		v = int64(x)
	case uint64:
		v = int64(x)
	case float32:
		v = float64(x)
	case time.Duration:
		v = x.Seconds()
	case json.Number:
		if c.Type == etl.TypeString {
			c.AppendString(x.String())
			return nil
		}
	}
	switch c.Type {
	case etl.TypeString:
		if s, ok := v.(string); ok {
			c.AppendString(s)
		} else {
			c.AppendString(etl.FormatValue(v))
		}
		return nil
	case etl.TypeFloat:
		if i, ok := v.(int64); ok {
			c.AppendFloat(float64(i))
			return nil
		}
	case etl.TypeBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("value %v (%T) is not a bool", v, v)
		}
	case etl.TypeTimestamp, etl.TypeDate:
		if _, ok := v.(time.Time); !ok {
			return fmt.Errorf("value %v (%T) is not a time", v, v)
		}
	}
	return c.Append(v)
}

// fieldNames joins names for messages.
func fieldNames(names []string) string { return strings.Join(names, ", ") }

// resetBatch empties b keeping its capacity.
func resetBatch(b *etl.Batch) {
	for k := range b.Cols {
		c := &b.Cols[k]
		c.Null = c.Null[:0]
		c.Str, c.Int, c.Float, c.Bool, c.Time, c.JSON = c.Str[:0], c.Int[:0], c.Float[:0], c.Bool[:0], c.Time[:0], c.JSON[:0]
	}
	b.Origins = b.Origins[:0]
	for name, mask := range b.Routes {
		b.Routes[name] = mask[:0]
	}
}
