package transforms

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// This file is how a spill file holds the values of json fields: as a tree
// that keeps each value's Go type, so that a row reads the same after a
// spill as before (JSON text would bring every number back as a
// json.Number and every time as a string, and a step after a spilling
// sort would see other values than after one that did not spill). gob
// cannot hold them as they are: it needs every dynamic type registered,
// and turns an empty list into a nil one.

// spillKind is the Go type of a spilled nested value.
type spillKind uint8

const (
	spillNull spillKind = iota
	spillString
	spillInt64
	spillInt
	spillFloat
	spillBool
	spillTime
	spillNumber // json.Number, in Str
	spillList   // []any, in List
	spillObject // map[string]any: Keys and List
	spillText   // any other type, as JSON text in Str (read back as JSON)
)

// spillValue is one nested value in a spill file.
type spillValue struct {
	Kind  spillKind
	Str   string
	Int   int64
	Float float64
	Bool  bool
	Time  time.Time
	List  []spillValue
	Keys  []string
}

// toSpillValue encodes v.
func toSpillValue(v any) (spillValue, error) {
	switch x := v.(type) {
	case nil:
		return spillValue{}, nil
	case string:
		return spillValue{Kind: spillString, Str: x}, nil
	case int64:
		return spillValue{Kind: spillInt64, Int: x}, nil
	case int:
		return spillValue{Kind: spillInt, Int: int64(x)}, nil
	case float64:
		return spillValue{Kind: spillFloat, Float: x}, nil
	case bool:
		return spillValue{Kind: spillBool, Bool: x}, nil
	case time.Time:
		return spillValue{Kind: spillTime, Time: x}, nil
	case json.Number:
		return spillValue{Kind: spillNumber, Str: string(x)}, nil
	case []any:
		sv := spillValue{Kind: spillList, List: make([]spillValue, len(x))}
		for i, e := range x {
			var err error
			if sv.List[i], err = toSpillValue(e); err != nil {
				return spillValue{}, err
			}
		}
		return sv, nil
	case map[string]any:
		sv := spillValue{Kind: spillObject, Keys: make([]string, 0, len(x)), List: make([]spillValue, 0, len(x))}
		for k, e := range x {
			ev, err := toSpillValue(e)
			if err != nil {
				return spillValue{}, err
			}
			sv.Keys, sv.List = append(sv.Keys, k), append(sv.List, ev)
		}
		return sv, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return spillValue{}, err
	}
	return spillValue{Kind: spillText, Str: string(b)}, nil
}

// value decodes sv.
func (sv spillValue) value() (any, error) {
	switch sv.Kind {
	case spillNull:
		return nil, nil
	case spillString:
		return sv.Str, nil
	case spillInt64:
		return sv.Int, nil
	case spillInt:
		return int(sv.Int), nil
	case spillFloat:
		return sv.Float, nil
	case spillBool:
		return sv.Bool, nil
	case spillTime:
		return sv.Time, nil
	case spillNumber:
		return json.Number(sv.Str), nil
	case spillList:
		list := make([]any, len(sv.List))
		for i, e := range sv.List {
			var err error
			if list[i], err = e.value(); err != nil {
				return nil, err
			}
		}
		return list, nil
	case spillObject:
		if len(sv.Keys) != len(sv.List) {
			return nil, fmt.Errorf("object with %d keys and %d values", len(sv.Keys), len(sv.List))
		}
		m := make(map[string]any, len(sv.Keys))
		for i, k := range sv.Keys {
			v, err := sv.List[i].value()
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case spillText:
		var v any
		dec := json.NewDecoder(strings.NewReader(sv.Str))
		dec.UseNumber()
		err := dec.Decode(&v)
		return v, err
	}
	return nil, fmt.Errorf("unknown kind %d of nested value", sv.Kind)
}

// spillNested takes the nested values out of a chunk's json columns, for
// gob to write beside the columns; the columns keep no values.
func spillNested(cols []etl.Column) ([][]spillValue, error) {
	var nested [][]spillValue
	for k := range cols {
		c := &cols[k]
		if c.Type != etl.TypeJSON {
			continue
		}
		if nested == nil {
			nested = make([][]spillValue, len(cols))
		}
		nested[k] = make([]spillValue, len(c.JSON))
		for i, v := range c.JSON {
			var err error
			if nested[k][i], err = toSpillValue(v); err != nil {
				return nil, err
			}
		}
		c.JSON = nil
	}
	return nested, nil
}

// unspillNested puts the nested values read back into the json columns of
// a chunk of n rows.
func unspillNested(cols []etl.Column, nested [][]spillValue, n int) error {
	for k := range cols {
		c := &cols[k]
		if c.Type != etl.TypeJSON {
			continue
		}
		c.JSON = make([]any, n)
		if k >= len(nested) {
			continue // written without nested values
		}
		for i, sv := range nested[k] {
			if i >= n {
				return fmt.Errorf("%d nested values for %d rows", len(nested[k]), n)
			}
			var err error
			if c.JSON[i], err = sv.value(); err != nil {
				return err
			}
		}
	}
	return nil
}
