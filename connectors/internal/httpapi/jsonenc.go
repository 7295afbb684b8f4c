package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/jsonenc"
)

// AppendJSONString appends s as a JSON string literal, escaped for HTML as
// encoding/json does. Request bodies are built with it directly, without a
// map per record.
func AppendJSONString(dst []byte, s string) []byte { return jsonenc.AppendString(dst, s, true) }

// Lookup returns the value at a dotted path ("data.items", "paging.next.after",
// "results.0.id") in a decoded JSON value; ok is false when absent. An empty
// path is v itself.
func Lookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, key := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[key]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// LookupString returns the value at path as text: strings as they are,
// numbers in their JSON form; "" and false when absent or null.
func LookupString(v any, path string) (string, bool) {
	x, ok := Lookup(v, path)
	if !ok || x == nil {
		return "", false
	}
	switch s := x.(type) {
	case string:
		return s, s != ""
	case json.Number:
		return s.String(), true
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(s), true
	}
	return fmt.Sprint(x), true
}

// JSONProblem says what is wrong with a JSON answer in its own terms (the
// field, the JSON kinds), never the Go types it was decoded into.
func JSONProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		what := "the answer"
		if te.Field != "" {
			what = strconv.Quote(te.Field)
		}
		want := jsonKindOf(te.Type)
		article := "a"
		if want == "object" || want == "array" {
			article = "an"
		}
		return fmt.Sprintf("%s is a JSON %s where %s %s belongs", what, te.Value, article, want)
	case errors.As(err, &se):
		return fmt.Sprintf("not JSON at byte %d", se.Offset)
	}
	return "not JSON"
}

// jsonKindOf names the JSON kind that decodes into t.
func jsonKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	}
	return "number"
}
