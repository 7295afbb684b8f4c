package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/nightjar-etl/nightjar/etl"
)

// decoder turns AST nodes into Go values strictly, collecting every problem
// with its position instead of stopping at the first.
type decoder struct {
	file     string
	errs     Errors
	expanded map[*ast.StringNode]expansion // read-only once the file is loaded
	anchors  map[string]ast.Node           // read-only once the file is loaded
	secrets  []string
	depth    int
	// within names the component whose config is being decoded ("target
	// table/sqlite") and withinPath its path, for unknown-key hints.
	within, withinPath string
}

// fork returns a decoder over the same file with no errors yet, for a
// Build after Load; it shares the read-only maps.
func (d *decoder) fork() *decoder {
	return &decoder{file: d.file, expanded: d.expanded, anchors: d.anchors}
}

func (d *decoder) errAt(at *token.Token, hint, format string, args ...any) {
	e := &Error{File: d.file, Msg: fmt.Sprintf(format, args...), Hint: hint}
	if at != nil {
		e.Line, e.Col = at.Position.Line, at.Position.Column
	}
	d.errs = append(d.errs, e)
}

// entry is one key of a mapping, merge keys resolved.
type entry struct {
	key    string
	keyTok *token.Token
	value  ast.Node
}

// posOf is the token to blame for a node: a block mapping's first key
// rather than its first ':'.
func posOf(n ast.Node) *token.Token {
	switch t := n.(type) {
	case nil:
		return nil
	case *ast.MappingNode:
		if !t.IsFlowStyle && len(t.Values) > 0 {
			return t.Values[0].Key.GetToken()
		}
	case *ast.MappingValueNode:
		return t.Key.GetToken()
	}
	return n.GetToken()
}

// resolve looks through documents, anchors, aliases and tags.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for range 64 {
		switch t := n.(type) {
		case *ast.DocumentNode:
			n = t.Body
		case *ast.AnchorNode:
			n = t.Value
		case *ast.TagNode:
			n = t.Value
		case *ast.AliasNode:
			target, ok := d.anchors[t.Value.GetToken().Value]
			if !ok {
				return n
			}
			n = target
		default:
			return n
		}
	}
	return n
}

func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	_, ok := n.(*ast.NullNode)
	return ok
}

// entries lists a mapping's keys in order; ok is false (and an error is
// reported) when n is not a mapping.
func (d *decoder) entries(n ast.Node, path string) ([]entry, bool) {
	n = d.resolve(n)
	switch t := n.(type) {
	case *ast.MappingNode:
		return d.mappingEntries(t.Values, path), true
	case *ast.MappingValueNode:
		return d.mappingEntries([]*ast.MappingValueNode{t}, path), true
	}
	d.typeErr(n, path, "a mapping")
	return nil, false
}

func (d *decoder) mappingEntries(values []*ast.MappingValueNode, path string) []entry {
	explicit := make(map[string]bool, len(values))
	for _, mv := range values {
		if _, merge := mv.Key.(*ast.MergeKeyNode); !merge {
			explicit[d.keyString(mv.Key)] = true
		}
	}
	out := make([]entry, 0, len(values))
	for _, mv := range values {
		if _, merge := mv.Key.(*ast.MergeKeyNode); !merge {
			out = append(out, entry{key: d.keyString(mv.Key), keyTok: mv.Key.GetToken(), value: mv.Value})
			continue
		}
		// "<<: *base" or "<<: [*a, *b]": keys not given explicitly come
		// from the merged mappings, the first one winning.
		sources := []ast.Node{mv.Value}
		if seq, ok := d.resolve(mv.Value).(*ast.SequenceNode); ok {
			sources = seq.Values
		}
		for _, src := range sources {
			merged, ok := d.entries(src, joinPath(path, "<<"))
			if !ok {
				continue
			}
			for _, e := range merged {
				if !explicit[e.key] {
					explicit[e.key] = true
					out = append(out, e)
				}
			}
		}
	}
	return out
}

func (d *decoder) keyString(k ast.MapKeyNode) string {
	n := d.resolve(k)
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// scalar returns a scalar node's text after expansion. shown is how the
// value may be printed: the original text when a variable was substituted,
// so that no secret is ever printed.
func (d *decoder) scalar(n ast.Node) (text, shown string, ok bool) {
	switch t := n.(type) {
	case *ast.StringNode:
		if e, exp := d.expanded[t]; exp {
			if e.substituted {
				return e.value, quoteShort(t.Value), true
			}
			return e.value, quoteShort(e.value), true
		}
		return t.Value, quoteShort(t.Value), true
	case *ast.LiteralNode:
		if t.Value == nil {
			return "", `""`, true
		}
		return d.scalar(t.Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		v := n.GetToken().Value
		return v, v, true
	}
	return "", "", false
}

func quoteShort(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:37]) + "..."
	}
	return strconv.Quote(s)
}

// describe says what a node is, for "want X, got Y" messages.
func (d *decoder) describe(n ast.Node) string {
	switch d.resolve(n).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case nil, *ast.NullNode:
		return "nothing"
	}
	if _, shown, ok := d.scalar(d.resolve(n)); ok {
		return shown
	}
	return n.Type().String()
}

func (d *decoder) typeErr(n ast.Node, path, want string) {
	hint := ""
	if _, isSeq := d.resolve(n).(*ast.SequenceNode); !isSeq && strings.HasPrefix(want, "a list") {
		if _, shown, ok := d.scalar(d.resolve(n)); ok {
			hint = "write a list: [" + strings.Trim(shown, `"`) + "]"
		}
	}
	d.errAt(posOf(n), hint, "%swant %s, got %s", prefix(path), want, d.describe(n))
}

func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// joinPath appends a key to a dotted path, quoting keys that are not
// plain identifiers.
func joinPath(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	switch {
	case path == "":
		return key
	case !plain:
		return fmt.Sprintf("%s[%q]", path, key)
	}
	return path + "." + key
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	nodeType     = reflect.TypeFor[ast.Node]()
	mapSliceType = reflect.TypeFor[yaml.MapSlice]()
	textType     = reflect.TypeFor[encoding.TextUnmarshaler]()
	etlTypeType  = reflect.TypeFor[etl.Type]()
)

// nestedErrors carries the problems of an UnmarshalYAML callback back
// through the unmarshaler to the decoder.
type nestedErrors struct{ errs Errors }

func (e *nestedErrors) Error() string { return e.errs.Error() }

// decode stores node n into rv. blame is the token for "missing key"
// problems: the key under which n sits. A null node keeps rv as it is.
func (d *decoder) decode(n ast.Node, rv reflect.Value, path string, blame *token.Token) {
	if d.depth > 100 {
		d.errAt(posOf(n), "", "nesting too deep below %s (an alias that contains itself?)", truncate(path))
		return
	}
	d.depth++
	defer func() { d.depth-- }()

	n = d.resolve(n)
	if rv.Type() == nodeType {
		if !isNull(n) {
			rv.Set(reflect.ValueOf(n))
		}
		return
	}
	if isNull(n) {
		return
	}
	if _, alias := n.(*ast.AliasNode); alias {
		d.errAt(posOf(n), "", "%sunknown alias *%s", prefix(path), n.(*ast.AliasNode).Value.GetToken().Value)
		return
	}
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		d.decode(n, rv.Elem(), path, blame)
		return
	}
	if rv.CanAddr() && d.decodeUnmarshaler(n, rv.Addr(), path) {
		return
	}
	if rv.Type() == durationType {
		d.decodeDuration(n, rv, path)
		return
	}
	if rv.Type() == etlTypeType {
		text, _, ok := d.scalar(n)
		t, err := etl.ParseType(text)
		if !ok || err != nil {
			d.typeErr(n, path, "a type ("+strings.Join(etl.TypeNames(), ", ")+")")
			return
		}
		rv.SetUint(uint64(t))
		return
	}
	if rv.Type() == mapSliceType {
		d.decodeMapSlice(n, rv, path)
		return
	}
	switch rv.Kind() {
	case reflect.String:
		text, _, ok := d.scalar(n)
		if !ok {
			d.typeErr(n, path, "a string")
			return
		}
		rv.SetString(text)
	case reflect.Bool:
		text, _, ok := d.scalar(n)
		b, err := strconv.ParseBool(text)
		if !ok || err != nil {
			d.typeErr(n, path, "true or false")
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		text, _, ok := d.scalar(n)
		i, err := strconv.ParseInt(strings.ReplaceAll(text, "_", ""), 0, rv.Type().Bits())
		if !ok || err != nil {
			d.typeErr(n, path, "an integer")
			return
		}
		rv.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		text, _, ok := d.scalar(n)
		u, err := strconv.ParseUint(strings.ReplaceAll(text, "_", ""), 0, rv.Type().Bits())
		if !ok || err != nil {
			d.typeErr(n, path, "a non-negative integer")
			return
		}
		rv.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, ok := d.float(n)
		if !ok {
			d.typeErr(n, path, "a number")
			return
		}
		rv.SetFloat(f)
	case reflect.Struct:
		es, ok := d.entries(n, path)
		if ok {
			d.decodeStruct(es, rv, path, blame)
		}
	case reflect.Map:
		es, ok := d.entries(n, path)
		if ok {
			d.decodeMap(es, rv, path)
		}
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.typeErr(n, path, "a list")
			return
		}
		out := reflect.MakeSlice(rv.Type(), len(seq.Values), len(seq.Values))
		for i, item := range seq.Values {
			d.decode(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i), posOf(item))
		}
		rv.Set(out)
	case reflect.Interface:
		if rv.NumMethod() != 0 {
			d.errAt(posOf(n), "", "%scannot decode into %s (a bug in the component's config type)", prefix(path), rv.Type())
			return
		}
		if v := d.generic(n, path); v != nil {
			rv.Set(reflect.ValueOf(v))
		}
	default:
		d.errAt(posOf(n), "", "%scannot decode into %s (a bug in the component's config type)", prefix(path), rv.Type())
	}
}

func (d *decoder) float(n ast.Node) (float64, bool) {
	switch t := n.(type) {
	case *ast.FloatNode:
		return t.Value, true
	case *ast.InfinityNode:
		return t.Value, true
	case *ast.NanNode:
		return math.NaN(), true
	}
	text, _, ok := d.scalar(n)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(text, "_", ""), 64)
	return f, err == nil
}

func (d *decoder) decodeDuration(n ast.Node, rv reflect.Value, path string) {
	text, _, ok := d.scalar(n)
	if ok {
		if text == "0" {
			rv.SetInt(0)
			return
		}
		if _, isInt := n.(*ast.IntegerNode); !isInt {
			if dur, err := time.ParseDuration(text); err == nil {
				rv.SetInt(int64(dur))
				return
			}
		}
	}
	d.typeErr(n, path, "a duration such as 90s, 15m or 1h30m")
}

// decodeUnmarshaler handles types that decode themselves; it reports
// whether p was one.
func (d *decoder) decodeUnmarshaler(n ast.Node, p reflect.Value, path string) bool {
	report := func(err error) {
		var nested *nestedErrors
		switch {
		case err == nil:
		case errors.As(err, &nested):
			d.errs = append(d.errs, nested.errs...)
		default:
			d.errAt(posOf(n), "", "%s%v", prefix(path), err)
		}
	}
	switch u := p.Interface().(type) {
	case yaml.InterfaceUnmarshaler:
		report(u.UnmarshalYAML(func(v any) error {
			target := reflect.ValueOf(v)
			if target.Kind() != reflect.Pointer || target.IsNil() {
				return fmt.Errorf("UnmarshalYAML: decode into non-pointer %T", v)
			}
			// An unmarshaler may try several shapes: only the problems of
			// the attempt it finally returns are reported.
			attempt := d.fork()
			attempt.depth = d.depth
			attempt.decode(n, target.Elem(), path, posOf(n))
			if len(attempt.errs) > 0 {
				return &nestedErrors{errs: attempt.errs}
			}
			return nil
		}))
		return true
	case yaml.BytesUnmarshaler:
		b, err := yaml.Marshal(d.generic(n, path))
		if err == nil {
			err = u.UnmarshalYAML(b)
		}
		report(err)
		return true
	case yaml.NodeUnmarshaler:
		b, err := yaml.Marshal(d.generic(n, path))
		if err == nil {
			var f *ast.File
			f, err = parser.ParseBytes(b, 0)
			if err == nil {
				err = u.UnmarshalYAML(f.Docs[0].Body)
			}
		}
		report(err)
		return true
	}
	if p.Type().Implements(textType) {
		text, _, ok := d.scalar(n)
		if !ok {
			d.typeErr(n, path, "a scalar")
			return true
		}
		report(p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)))
		return true
	}
	return false
}

// generic decodes into map[string]any, []any and scalars.
func (d *decoder) generic(n ast.Node, path string) any {
	if d.depth > 100 {
		d.errAt(posOf(n), "", "nesting too deep below %s (an alias that contains itself?)", truncate(path))
		return nil
	}
	d.depth++
	defer func() { d.depth-- }()
	n = d.resolve(n)
	switch t := n.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.MappingNode, *ast.MappingValueNode:
		es, _ := d.entries(n, path)
		m := make(map[string]any, len(es))
		for _, e := range es {
			m[e.key] = d.generic(e.value, joinPath(path, e.key))
		}
		return m
	case *ast.SequenceNode:
		out := make([]any, len(t.Values))
		for i, v := range t.Values {
			out[i] = d.generic(v, fmt.Sprintf("%s[%d]", path, i))
		}
		return out
	case *ast.StringNode, *ast.LiteralNode:
		text, _, _ := d.scalar(n)
		return text
	case ast.ScalarNode:
		return t.GetValue()
	}
	d.errAt(posOf(n), "", "%sunsupported YAML node %s", prefix(path), n.Type())
	return nil
}

func (d *decoder) decodeMapSlice(n ast.Node, rv reflect.Value, path string) {
	es, ok := d.entries(n, path)
	if !ok {
		return
	}
	out := make(yaml.MapSlice, 0, len(es))
	for _, e := range es {
		out = append(out, yaml.MapItem{Key: e.key, Value: d.generic(e.value, joinPath(path, e.key))})
	}
	rv.Set(reflect.ValueOf(out))
}

func (d *decoder) decodeMap(es []entry, rv reflect.Value, path string) {
	t := rv.Type()
	m := reflect.MakeMapWithSize(t, len(es))
	for _, e := range es {
		k := reflect.New(t.Key()).Elem()
		keyPath := joinPath(path, e.key)
		if k.Kind() == reflect.String {
			k.SetString(e.key)
		} else {
			d.decode(ast.String(e.keyTok), k, keyPath, e.keyTok)
		}
		v := reflect.New(t.Elem()).Elem()
		d.decode(e.value, v, keyPath, e.keyTok)
		m.SetMapIndex(k, v)
	}
	rv.Set(m)
}

// fieldByIndex is reflect.Value.FieldByIndex allocating nil embedded
// pointers on the way.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

func (d *decoder) decodeStruct(es []entry, rv reflect.Value, path string, blame *token.Token) {
	fields := etl.ConfigKeys(rv.Type())
	byName := make(map[string]etl.ConfigKey, len(fields))
	for _, f := range fields {
		byName[f.Name] = f
	}
	present := make(map[string]bool, len(es))
	for _, e := range es {
		f, ok := byName[e.key]
		if !ok {
			d.unknownKey(e, path, fields)
			continue
		}
		if !isNull(d.resolve(e.value)) {
			present[e.key] = true
		}
		d.decode(e.value, fieldByIndex(rv, f.Index), joinPath(path, e.key), e.keyTok)
	}
	for _, f := range fields {
		if f.Required && !present[f.Name] {
			d.errAt(blame, "", "%smissing key %s", prefix(path), f.Name)
		}
	}
}

// unknownKey reports a key the struct does not decode. In a component's
// config the hint lists the struct's keys, after the closest one and its
// description when one is close: the same doc tags the reference docs
// under docs/reference print.
func (d *decoder) unknownKey(e entry, path string, fields []etl.ConfigKey) {
	where := ""
	if path != "" {
		where = " in " + path
	}
	if len(fields) == 0 {
		d.errAt(e.keyTok, "no keys are allowed here", "unknown key %s%s", e.key, where)
		return
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	if d.within == "" { // the config's own sections
		d.errAt(e.keyTok, choiceHint(e.key, names, "known keys", ""), "unknown key %s%s", e.key, where)
		return
	}
	hint := ""
	if s := suggest(e.key, names); s != "" {
		hint = "did you mean " + s
		for _, f := range fields {
			if doc := f.Field.Tag.Get("doc"); f.Name == s && doc != "" {
				first, _, _ := strings.Cut(doc, "; ") // its first clause
				hint += " (" + truncate(first) + ")"
			}
		}
		hint += "? "
	}
	what := "keys"
	if path == d.withinPath {
		what = "keys of " + d.within
	}
	sort.Strings(names)
	d.errAt(e.keyTok, hint+what+": "+strings.Join(names, ", "), "unknown key %s%s", e.key, where)
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
