package etl

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// A component's fields are read from its config struct, the value its
// Spec.Config returns, by the same walk the config loader decodes with:
// a key is documented exactly when it decodes, and a default is exactly
// what the loader starts from. Struct tags beside the yaml tag carry the
// rest:
//
//	Table  string `yaml:"table,required" doc:"the table to write" example:"leads"`
//	Token  string `yaml:"token" doc:"private-app token" secret:"true"`
//	Only   Names  `yaml:"only" type:"list of column names" doc:"..."`
//
// doc is one line, required for every key; example is a YAML value;
// secret marks a credential, to be given as ${VAR}; type overrides the
// type shown for a type that decodes itself.

// ConfigKey is one YAML key of a config struct: its name, where the
// loader stores it, and its struct field for the docs.
type ConfigKey struct {
	Name     string
	Index    []int // for FieldByIndex, through inline structs
	Required bool  // yaml:",required": the loader rejects a config without it
	Field    reflect.StructField
}

// ConfigKeys lists the YAML keys of a struct type, flattening inline and
// untagged embedded structs. Naming follows goccy/go-yaml: the yaml tag,
// else the json tag, else the lower-cased field name.
func ConfigKeys(t reflect.Type) []ConfigKey {
	var out []ConfigKey
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("yaml")
		if !ok {
			tag = f.Tag.Get("json")
		}
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := strings.Contains(","+opts+",", ",inline,")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && (inline || (f.Anonymous && name == "")) {
			for _, sub := range ConfigKeys(ft) {
				sub.Index = append([]int{i}, sub.Index...)
				out = append(out, sub)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, ConfigKey{
			Name:     name,
			Index:    []int{i},
			Required: strings.Contains(","+opts+",", ",required,"),
			Field:    f,
		})
	}
	return out
}

// ConfigField documents one key of a component's config.
type ConfigField struct {
	Name        string // the YAML key
	Type        string // "string", "int", "duration", "list of string", "object", ...
	Default     string // YAML of the value Spec.Config starts with; "" when it is the zero value
	Required    bool
	Secret      bool   // a credential: give it as ${VAR}
	Description string // one line
	Example     string // a YAML value; may be empty
	// Fields are the keys of a nested mapping (Type "object" or a list or
	// mapping of objects).
	Fields []ConfigField
}

// ConfigDoc documents a component's config: its fields when the config is a
// mapping of keys, its Shape when the config decodes itself (a step
// written as a list of fields or a mapping of field: rule).
type ConfigDoc struct {
	Shape  string
	Fields []ConfigField
}

// Shaper is implemented by a config type that decodes itself
// (UnmarshalYAML or UnmarshalText): ConfigShape says, in one line, what
// YAML it takes, since its keys cannot be read from its struct.
type Shaper interface {
	ConfigShape() string
}

// Doc documents the config of s, read from the value s.Config returns.
// The error names each key that cannot be documented: a key without a
// doc tag, a type that decodes itself without a ConfigShape. A spec
// without a Config takes no options and has an empty ConfigDoc.
func (s Spec) Doc() (ConfigDoc, error) {
	if s.Config == nil {
		return ConfigDoc{}, nil
	}
	w := &fieldWalker{}
	doc := w.doc(reflect.ValueOf(s.Config()), s.Type)
	if len(w.problems) > 0 {
		return doc, fmt.Errorf("%s: %s", s.Type, strings.Join(w.problems, "; "))
	}
	return doc, nil
}

type fieldWalker struct {
	problems []string
	seen     map[string]bool
	depth    int
}

func (w *fieldWalker) problem(format string, args ...any) {
	p := fmt.Sprintf(format, args...)
	if !w.seen[p] {
		if w.seen == nil {
			w.seen = make(map[string]bool)
		}
		w.seen[p] = true
		w.problems = append(w.problems, p)
	}
}

func (w *fieldWalker) doc(v reflect.Value, path string) ConfigDoc {
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v = reflect.Zero(v.Type().Elem())
			continue
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return ConfigDoc{}
	}
	if shape, self := w.shape(v.Type(), path); self {
		return ConfigDoc{Shape: shape}
	}
	if v.Kind() != reflect.Struct {
		return ConfigDoc{Shape: w.typeName(v.Type(), path)}
	}
	return ConfigDoc{Fields: w.fields(v, path)}
}

// shape reports whether t decodes itself, and what it takes.
func (w *fieldWalker) shape(t reflect.Type, path string) (string, bool) {
	pt := reflect.PointerTo(t)
	_, yamlSelf := pt.MethodByName("UnmarshalYAML")
	if !yamlSelf && !pt.Implements(textUnmarshalerType) {
		return "", false
	}
	if s, ok := reflect.New(t).Interface().(Shaper); ok {
		return s.ConfigShape(), true
	}
	w.problem("%s: %s decodes itself but has no ConfigShape method to say what it takes", path, t)
	return t.Name(), true
}

func (w *fieldWalker) fields(v reflect.Value, path string) []ConfigField {
	st := v.Type()
	w.depth++
	defer func() { w.depth-- }()
	if w.depth > 8 {
		w.problem("%s: config types nest too deep (a recursive type?)", path)
		return nil
	}
	var out []ConfigField
	for _, k := range ConfigKeys(v.Type()) {
		fv := fieldValue(v, k.Index)
		p := path + "." + k.Name
		f := ConfigField{
			Name:        k.Name,
			Required:    k.Required,
			Secret:      k.Field.Tag.Get("secret") == "true",
			Description: k.Field.Tag.Get("doc"),
			Example:     k.Field.Tag.Get("example"),
			Default:     defaultText(fv),
		}
		if f.Description == "" {
			w.problem("%s has no doc tag (%s)", p, goField(st, k.Index))
		}
		if t := k.Field.Tag.Get("type"); t != "" {
			f.Type = t
		} else {
			f.Type = w.typeName(k.Field.Type, p)
		}
		f.Fields = w.nested(fv, k.Field.Type, p)
		out = append(out, f)
	}
	return out
}

// nested lists the keys of an object field, or of the objects of a list
// or mapping field.
func (w *fieldWalker) nested(v reflect.Value, t reflect.Type, path string) []ConfigField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		if v.IsValid() && !v.IsNil() {
			v = v.Elem()
		} else {
			v = reflect.Value{}
		}
	}
	if _, self := w.shape(t, path); self || special(t) != "" {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if !v.IsValid() {
			v = reflect.Zero(t)
		}
		return w.fields(v, path)
	case reflect.Slice, reflect.Map:
		return w.nested(reflect.Value{}, t.Elem(), path+"[]")
	}
	return nil
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
	typeType            = reflect.TypeFor[Type]()
)

// special names the types the loader decodes by rule rather than by kind.
func special(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == typeType:
		return "type (" + strings.Join(TypeNames(), ", ") + ")"
	case t.Name() == "MapSlice" && strings.HasSuffix(t.PkgPath(), "go-yaml"):
		return "mapping (ordered)"
	case t.Name() == "Node" && strings.HasSuffix(t.PkgPath(), "go-yaml/ast"):
		return "any"
	}
	return ""
}

// typeName is how the docs show a type.
func (w *fieldWalker) typeName(t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s := special(t); s != "" {
		return s
	}
	if s, self := w.shape(t, path); self {
		return s
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int (≥ 0)"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct:
		return "object"
	case reflect.Slice, reflect.Array:
		return "list of " + w.typeName(t.Elem(), path+"[]")
	case reflect.Map:
		return "mapping of " + w.typeName(t.Key(), path) + " to " + w.typeName(t.Elem(), path+"[]")
	case reflect.Interface:
		return "any"
	}
	return strings.ToLower(splitCamel(t.Name()))
}

func splitCamel(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fieldValue is FieldByIndex that stops at a nil inline pointer.
func fieldValue(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// defaultText writes a config value as YAML for the docs; "" for a zero
// value, an object or anything that is not a plain scalar or list.
func defaultText(v reflect.Value) string {
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if !v.IsValid() || v.IsZero() {
		return ""
	}
	switch {
	case v.Type() == durationType:
		return shortDuration(time.Duration(v.Int()))
	case v.Type() == typeType:
		return Type(v.Uint()).String()
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if needsQuotes(s) {
			return strconv.Quote(s)
		}
		return s
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		items := make([]string, 0, v.Len())
		for i := range v.Len() {
			s := defaultText(v.Index(i))
			if s == "" {
				return ""
			}
			items = append(items, s)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		vals := make(map[string]string, v.Len())
		for it := v.MapRange(); it.Next(); {
			k, val := defaultText(it.Key()), defaultText(it.Value())
			if k == "" || val == "" {
				return ""
			}
			keys = append(keys, k)
			vals[k] = val
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + ": " + vals[k]
		}
		return "{ " + strings.Join(keys, ", ") + " }"
	}
	return ""
}

func needsQuotes(s string) bool {
	if strings.TrimSpace(s) != s || strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`\t\n") {
		return true
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "~":
		return true
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// shortDuration is 10m rather than 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// goField names the struct field behind a key, "csvfile.Config.Delimiter",
// to say where a doc tag goes.
func goField(t reflect.Type, index []int) string {
	name := t.String()
	for i, x := range index {
		if i > 0 {
			for t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			name = t.String()
		}
		f := t.Field(x)
		if i == len(index)-1 {
			return name + "." + f.Name
		}
		t = f.Type
	}
	return name
}
