package transforms

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
)

// This file draws each step kind for a table and holds its reference: a
// plain implementation over whole tables of rows, written from the
// step's documented behaviour rather than from its code.
//
// Every registered kind is drawn (TestDifferentialCoversEveryKind checks
// that). Not drawn: lookup from a SQL table (the file form shares its
// matching; TestLookupSQLite covers the table), redact's hash mode and
// the built-in phone, card and IBAN patterns (their validators are leaf
// functions with tests of their own), validate's email, phone and url
// rules (same), and aggregate, explode and flatten over a set field whose
// type comes from its values (see dField.weak).

// dKindSpec is a step kind the chains draw from.
type dKindSpec struct {
	name string
	// ok reports whether the kind can be drawn for a table (it has the
	// fields the kind needs); nil means any table with a field.
	ok  func(t *dTable) bool
	gen func(g *dGen, t *dTable) *dStep
	// weight makes the kind that many times likelier than one of weight 1:
	// the steps that build values, hold rows, or read nested values.
	weight int
}

var dStepKinds = []dKindSpec{
	{name: "rename", gen: genRename},
	{name: "select", gen: genSelect},
	{name: "drop", ok: func(t *dTable) bool { return len(t.names()) > 0 && len(t.fields) > 1 }, gen: genDrop},
	{name: "trim", ok: hasType(etl.TypeString), gen: genText("trim", strings.TrimSpace)},
	{name: "lower", ok: hasType(etl.TypeString), gen: genText("lower", strings.ToLower)},
	{name: "upper", ok: hasType(etl.TypeString), gen: genText("upper", strings.ToUpper)},
	{name: "cast", gen: genCast},
	{name: "default", ok: func(*dTable) bool { return true }, gen: genDefault},
	{name: "coalesce", gen: genCoalesce},
	{name: "set", ok: func(*dTable) bool { return true }, gen: genSet, weight: 5},
	{name: "template", gen: genTemplate},
	{name: "filter", gen: genFilter, weight: 2},
	{name: "route", gen: genRoute, weight: 2},
	{name: "score", gen: genScore},
	{name: "validate", gen: genValidate},
	{name: "extract", ok: hasType(etl.TypeString), gen: genExtract},
	{name: "redact", ok: hasType(etl.TypeString), gen: genRedact},
	{name: "lookup", gen: genLookup},
	{name: "explode", ok: hasStrongType(etl.TypeJSON), gen: genExplode, weight: 4},
	{name: "flatten", ok: hasStrongType(etl.TypeJSON), gen: genFlatten, weight: 4},
	{name: "dedupe", gen: genDedupe, weight: 3},
	{name: "sort", gen: genSort, weight: 3},
	{name: "aggregate", ok: hasStrongType(), gen: genAggregate, weight: 3},
}

// dKind returns the spec of a kind.
func dKind(name string) dKindSpec {
	for _, k := range dStepKinds {
		if k.name == name {
			return k
		}
	}
	panic("no kind " + name)
}

// dOK reports whether kind k can be drawn for t.
func (k dKindSpec) dOK(t *dTable) bool {
	if k.ok == nil {
		return len(t.names()) > 0
	}
	return k.ok(t)
}

func hasType(types ...etl.Type) func(t *dTable) bool {
	return func(t *dTable) bool { return len(t.names(types...)) > 0 }
}

// hasStrongType is hasType for fields whose type is known in every batch.
func hasStrongType(types ...etl.Type) func(t *dTable) bool {
	return func(t *dTable) bool { return len(t.strong(types...)) > 0 }
}

// strong lists the fields of the given types that are not weak.
func (t *dTable) strong(types ...etl.Type) []string {
	var out []string
	for _, f := range t.fields {
		if !f.weak && !f.late && (len(types) == 0 || slices.Contains(types, f.typ)) {
			out = append(out, f.name)
		}
	}
	return out
}

// ---- field shaping ----

func genRename(g *dGen, t *dTable) *dStep {
	from := g.some("rename", t.names(), 1, 2)
	to := make([]string, len(from))
	for i := range from {
		to[i] = g.newName()
	}
	if len(from) == 2 && rapid.Bool().Draw(g.t, "swap") {
		to[0], to[1] = from[1], from[0] // renames apply at once
	}
	pairs := make([]string, len(from))
	for i := range from {
		pairs[i] = from[i] + ": " + to[i]
	}
	return &dStep{yaml: "rename: { " + strings.Join(pairs, ", ") + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		for i, f := range out.fields {
			if k := slices.Index(from, f.name); k >= 0 {
				out.fields[i].name = to[k]
			}
		}
		for i := range out.rows {
			vals := make(map[string]any, len(out.fields))
			for k, f := range in.fields {
				vals[out.fields[k].name] = in.rows[i].vals[f.name]
			}
			out.rows[i].vals = vals
		}
		return out, nil
	}}
}

// project keeps the named fields, in that order.
func project(in dTable, names []string) dTable {
	out := in.clone()
	out.fields = nil
	for _, n := range names {
		out.fields = append(out.fields, in.fields[in.index(n)])
	}
	for i := range out.rows {
		for k := range out.rows[i].vals {
			if !slices.Contains(names, k) {
				delete(out.rows[i].vals, k)
			}
		}
	}
	return out
}

func genSelect(g *dGen, t *dTable) *dStep {
	names := g.some("select", t.names(), 1, len(t.fields))
	return &dStep{yaml: "select: " + flowList(names), ref: func(r *dRef, in dTable) (dTable, error) {
		return project(in, names), nil
	}}
}

func genDrop(g *dGen, t *dTable) *dStep {
	gone := g.some("drop", t.names(), 1, len(t.fields)-1)
	src := "drop: " + flowList(gone)
	if rapid.Bool().Draw(g.t, "drop missing_ok") {
		src = "drop: { fields: " + flowList(append(slices.Clone(gone), "nosuchfield")) + ", missing_ok: true }"
	}
	return &dStep{yaml: src, ref: func(r *dRef, in dTable) (dTable, error) {
		var keep []string
		for _, f := range in.fields {
			if !slices.Contains(gone, f.name) {
				keep = append(keep, f.name)
			}
		}
		return project(in, keep), nil
	}}
}

// genText draws trim, lower or upper, whose reference is fn on every
// non-null value.
func genText(kind string, fn func(string) string) func(g *dGen, t *dTable) *dStep {
	return func(g *dGen, t *dTable) *dStep {
		names := g.some(kind, t.names(etl.TypeString), 1, 3)
		return &dStep{yaml: kind + ": " + flowList(names), ref: func(r *dRef, in dTable) (dTable, error) {
			out := in.clone()
			for _, row := range out.rows {
				for _, n := range names {
					if s, ok := row.vals[n].(string); ok {
						row.vals[n] = fn(s)
					}
				}
			}
			return out, nil
		}}
	}
}

// target draws the field a step writes: one of t's one time in four, a
// new one otherwise.
func (g *dGen) target(label string, t *dTable) string {
	if names := t.names(); len(names) > 0 && rapid.IntRange(0, 3).Draw(g.t, label+" replaces a field") == 0 {
		return g.pick(label, names)
	}
	return g.newName()
}

// ---- cast ----

var dCastTargets = map[etl.Type][]etl.Type{
	etl.TypeString:    {etl.TypeInt, etl.TypeFloat, etl.TypeBool, etl.TypeTimestamp, etl.TypeDate, etl.TypeJSON},
	etl.TypeInt:       {etl.TypeString, etl.TypeFloat, etl.TypeBool},
	etl.TypeFloat:     {etl.TypeString, etl.TypeInt},
	etl.TypeBool:      {etl.TypeString, etl.TypeInt, etl.TypeFloat},
	etl.TypeTimestamp: {etl.TypeString, etl.TypeDate},
	etl.TypeDate:      {etl.TypeString, etl.TypeTimestamp},
	etl.TypeJSON:      {etl.TypeString},
}

func genCast(g *dGen, t *dTable) *dStep {
	names := g.some("cast", t.names(), 1, 2)
	to := make([]etl.Type, len(names))
	pairs := make([]string, len(names))
	for i, n := range names {
		to[i] = rapid.SampledFrom(dCastTargets[t.typ(n)]).Draw(g.t, "cast to")
		pairs[i] = n + ": " + to[i].String()
	}
	return &dStep{yaml: "cast: { " + strings.Join(pairs, ", ") + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		drop := map[int]bool{}
		for i, row := range out.rows {
			for k, n := range names {
				v, value, reason := dCastValue(row.vals[n], in.typ(n), to[k])
				if reason != "" {
					// The row as it came in, for the first field that failed.
					r.reject(&in, in.rows[i], n, value, reason)
					drop[i] = true
					break
				}
				row.vals[n] = v
			}
		}
		for k, n := range names {
			out.fields[out.index(n)] = dField{name: n, typ: to[k]}
		}
		out.keepRows(drop)
		return out, nil
	}}
}

// dCastValue converts v from type from to type to, as cast documents it;
// a failure gives the value as text and the reason.
func dCastValue(v any, from, to etl.Type) (out any, value, reason string) {
	if v == nil || from == to {
		return v, "", ""
	}
	if from == etl.TypeString {
		raw := v.(string)
		s := strings.TrimSpace(raw)
		if s == "" {
			return nil, "", ""
		}
		switch to {
		case etl.TypeInt:
			n, err := strconv.ParseInt(s, 10, 64)
			if errors.Is(err, strconv.ErrRange) {
				return nil, raw, "expected int: out of range"
			} else if err != nil {
				return nil, raw, "expected int"
			}
			return n, "", ""
		case etl.TypeFloat:
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || strings.Trim(s, "0123456789+-.eE") != "" || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, raw, "expected float"
			}
			return f, "", ""
		case etl.TypeBool:
			switch strings.ToLower(s) {
			case "true", "yes", "y", "t", "1":
				return true, "", ""
			case "false", "no", "n", "f", "0":
				return false, "", ""
			}
			return nil, raw, "expected bool (true/false, yes/no, y/n, t/f, 1/0)"
		case etl.TypeTimestamp:
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", time.DateOnly} {
				// RFC 3339 allows a lowercase t and z.
				if tm, err := time.Parse(layout, strings.ToUpper(s)); err == nil {
					return tm.UTC(), "", ""
				}
			}
			return nil, raw, `expected timestamp (RFC 3339, "2006-01-02 15:04:05" or "2006-01-02")`
		case etl.TypeDate:
			if tm, err := time.Parse(time.DateOnly, s); err == nil {
				return tm, "", ""
			}
			return nil, raw, `expected date ("2006-01-02")`
		case etl.TypeJSON:
			var x any
			if err := json.Unmarshal([]byte(s), &x); err != nil {
				return nil, raw, "expected json: " + err.Error()
			}
			return x, "", ""
		}
	}
	if to == etl.TypeString {
		return dCellText(v, from), "", ""
	}
	switch x := v.(type) {
	case int64:
		switch {
		case to == etl.TypeFloat:
			return float64(x), "", ""
		case x == 0 || x == 1:
			return x == 1, "", ""
		}
		return nil, strconv.FormatInt(x, 10), "expected bool: not 0 or 1"
	case float64:
		if x != math.Trunc(x) {
			return nil, strconv.FormatFloat(x, 'g', -1, 64), "expected int: not a whole number"
		}
		return int64(x), "", ""
	case bool:
		n := int64(0)
		if x {
			n = 1
		}
		if to == etl.TypeFloat {
			return float64(n), "", ""
		}
		return n, "", ""
	case time.Time:
		if to == etl.TypeDate {
			return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC), "", ""
		}
		return x, "", ""
	}
	panic(fmt.Sprintf("cast %T from %s to %s", v, from, to))
}

// dCellText is a value as text, as Column.Text writes it.
func dCellText(v any, typ etl.Type) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		if typ == etl.TypeDate {
			return x.UTC().Format(time.DateOnly)
		}
		return x.UTC().Format(time.RFC3339Nano)
	}
	return etl.FormatValue(v)
}

// ---- default, coalesce ----

// dConstants are defaults by type, as YAML writes them and as the step
// reads them.
var dConstants = map[etl.Type][]struct {
	yaml  string
	value any
}{
	etl.TypeString: {{"dflt", "dflt"}, {`" "`, " "}, {"'7'", "7"}},
	etl.TypeInt:    {{"7", int64(7)}, {"-1", int64(-1)}},
	etl.TypeFloat:  {{"1.5", 1.5}, {"2.0", 2.0}},
	etl.TypeBool:   {{"true", true}, {"false", false}},
}

func genDefault(g *dGen, t *dTable) *dStep {
	type def struct {
		field string
		value any
		added etl.Type // the type of a field the input lacks
	}
	var defs []def
	var pairs []string
	names := t.names(etl.TypeString, etl.TypeInt, etl.TypeFloat, etl.TypeBool)
	n := rapid.IntRange(1, 2).Draw(g.t, "defaults")
	for len(defs) < n {
		d := def{}
		typ := rapid.SampledFrom([]etl.Type{etl.TypeString, etl.TypeInt, etl.TypeFloat, etl.TypeBool}).Draw(g.t, "default type")
		if len(names) > 0 && rapid.Bool().Draw(g.t, "default existing") {
			d.field = g.pick("default field", names)
			names = slices.DeleteFunc(names, func(s string) bool { return s == d.field })
			typ = t.typ(d.field)
		} else {
			d.field, d.added = g.newName(), typ
		}
		c := rapid.SampledFrom(dConstants[typ]).Draw(g.t, "default")
		d.value = c.value
		defs = append(defs, d)
		pairs = append(pairs, d.field+": "+c.yaml)
	}
	return &dStep{yaml: "default: { " + strings.Join(pairs, ", ") + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		for _, d := range defs {
			if d.added != 0 {
				out.fields = append(out.fields, dField{name: d.field, typ: d.added})
			}
			for _, row := range out.rows {
				v := row.vals[d.field]
				if s, isString := v.(string); v == nil || isString && strings.TrimSpace(s) == "" {
					row.vals[d.field] = d.value
				}
			}
		}
		return out, nil
	}}
}

func genCoalesce(g *dGen, t *dTable) *dStep {
	type rule struct {
		to   string
		from []string
	}
	var rules []rule
	var pairs []string
	for n := rapid.IntRange(1, 2).Draw(g.t, "coalesced fields"); len(rules) < n; {
		ru := rule{from: g.some("coalesce from", t.names(), 1, 3), to: g.target("coalesce to", t)}
		if slices.ContainsFunc(rules, func(o rule) bool { return o.to == ru.to }) {
			continue
		}
		rules = append(rules, ru)
		pairs = append(pairs, ru.to+": "+flowList(ru.from))
	}
	return &dStep{yaml: "coalesce: { " + strings.Join(pairs, ", ") + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		// Each field sees the fields coalesced before it.
		out := in.clone()
		for _, ru := range rules {
			typ, weak := out.typ(ru.from[0]), false
			for _, f := range ru.from {
				weak = weak || out.fields[out.index(f)].weak
				if out.typ(f) != typ {
					typ = etl.TypeString // mixed types meet as text
				}
			}
			for _, row := range out.rows {
				var v any
				for _, f := range ru.from {
					x := row.vals[f]
					if x == nil || out.typ(f) == etl.TypeString && x == "" {
						continue
					}
					v = x
					if out.typ(f) != typ {
						v = dCellText(x, out.typ(f))
					}
					break
				}
				row.vals[ru.to] = v
			}
			out.put(ru.to, typ)
			out.fields[out.index(ru.to)].weak = weak
		}
		return out, nil
	}}
}

// ---- expressions ----

// dProgram compiles an expression as the steps do (their helpers, nulls
// as nil); a failure is a bug of the generator.
func dProgram(src string, extra ...expr.Option) *vm.Program {
	p, err := expr.Compile(src, exprOptions(etl.SystemClock{}, extra...)...)
	if err != nil {
		panic(fmt.Sprintf("compile %q: %v", src, err))
	}
	return p
}

// dEval evaluates p over a copy of the row, as a plain map.
func dEval(p *vm.Program, row dRow) (any, error) {
	env := make(map[string]any, len(row.vals))
	for k, v := range row.vals {
		env[k] = v
	}
	out, err := expr.Run(p, env)
	if err != nil {
		return nil, errors.New(exprMessage(err))
	}
	return out, nil
}

// dTrue is a condition as route, score and aggregate's where read it: an
// error or a non-bool is false.
func dTrue(p *vm.Program, row dRow) bool {
	v, err := dEval(p, row)
	return err == nil && v == true
}

// cond draws a condition over t's fields; a safe one never fails to
// evaluate (aggregate's where fails the run when it does).
func (g *dGen) cond(t *dTable, safe bool) string {
	f := g.pick("condition field", t.names())
	forms := []string{"%[1]s == nil"}
	switch t.typ(f) {
	case etl.TypeInt, etl.TypeFloat:
		forms = append(forms, "%[1]s != nil && %[1]s >= 2")
		if !safe {
			forms = append(forms, "%[1]s > 1")
		}
	case etl.TypeString:
		forms = append(forms, `%[1]s == "a"`, `%[1]s != nil && %[1]s matches "^[a-z]"`)
		if !safe {
			forms = append(forms, `%[1]s matches "^[A-Z]"`)
		}
	case etl.TypeBool:
		forms = append(forms, "%[1]s == true")
		if !safe {
			forms = append(forms, "%[1]s")
		}
	case etl.TypeJSON:
		if !safe {
			forms = append(forms, `get(%[1]s, "k") == "a"`) // fails on a list
		}
	}
	return fmt.Sprintf(rapid.SampledFrom(forms).Draw(g.t, "condition"), f)
}

// setExpr draws an expression for set: text, numbers, conditions,
// passing fields through, maps and lists built from fields, reading
// nested values, the whole row.
func (g *dGen) setExpr(t *dTable) string {
	all := t.names()
	var forms []func() string
	forms = append(forms, func() string { return `"c"` })
	if len(all) > 0 {
		pick := func() string { return g.pick("operand", all) }
		forms = append(forms,
			func() string { return pick() },
			func() string { return fmt.Sprintf(`{"k": %s, "n": %s}`, pick(), pick()) },
			func() string { return fmt.Sprintf(`{"k": %s, "n": %s}`, pick(), pick()) },
			func() string { return fmt.Sprintf(`[%s, %s]`, pick(), pick()) },
			func() string { return fmt.Sprintf(`[%s, %s]`, pick(), pick()) },
			func() string { return g.cond(t, false) },
			func() string { return "$env" },
		)
	}
	for _, typ := range []etl.Type{etl.TypeString, etl.TypeInt, etl.TypeFloat, etl.TypeBool, etl.TypeTimestamp} {
		if names := t.names(typ); len(names) > 0 {
			forms = append(forms, func() string {
				return fmt.Sprintf("%s ?? %s", g.pick("operand", names), g.pick("operand", names))
			})
		}
	}
	if s := t.names(etl.TypeString); len(s) > 0 {
		forms = append(forms,
			func() string { return fmt.Sprintf(`%s + "-" + %s`, g.pick("operand", s), g.pick("operand", s)) },
			func() string {
				return fmt.Sprintf(`(%s ?? "") + "/" + (%s ?? "")`, g.pick("operand", s), g.pick("operand", s))
			},
			func() string { return fmt.Sprintf(`lower(%s)`, g.pick("operand", s)) },
		)
	}
	if nums := t.names(etl.TypeInt, etl.TypeFloat); len(nums) > 0 {
		forms = append(forms, func() string {
			return fmt.Sprintf(rapid.SampledFrom([]string{"%s * 2", "%s + 1", "%s / 2"}).Draw(g.t, "arithmetic"), g.pick("operand", nums))
		})
	}
	if js := t.names(etl.TypeJSON); len(js) > 0 {
		forms = append(forms, func() string {
			return fmt.Sprintf(rapid.SampledFrom([]string{`get(%s, "k")`, `get(%s, "n")`, `get(%s, 0)`}).Draw(g.t, "get"), g.pick("operand", js))
		})
	}
	return rapid.SampledFrom(forms).Draw(g.t, "expression")()
}

// dStaticType is set's rule for the type known before any row: the
// compiler's type of the expression (set.go's staticType; a map or list
// literal is json).
func dStaticType(p *vm.Program) etl.Type { return staticType(&compiledExpr{program: p}) }

// dValueType is the type a value fixes for a set field.
func dValueType(v any) etl.Type {
	switch v.(type) {
	case nil:
		return 0
	case string:
		return etl.TypeString
	case int, int64, int32, int16, int8, uint, uint64, uint32, uint16, uint8:
		return etl.TypeInt
	case float64, float32, time.Duration:
		return etl.TypeFloat
	case bool:
		return etl.TypeBool
	case time.Time:
		return etl.TypeTimestamp
	}
	return etl.TypeJSON
}

// dConvert stores an expression's value in a field of type t, as set
// documents it: numbers convert between int and float when exact,
// anything becomes text in a string field and is kept as is in a json
// field; any other value does not fit.
func dConvert(t etl.Type, v any) (any, error) {
	switch x := v.(type) { // the integers expressions give (a byte of a string)
	case int:
		v = int64(x)
	case uint8:
		v = int64(x)
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case json.Number:
		switch t {
		case etl.TypeString:
			return x.String(), nil
		case etl.TypeInt:
			if n, err := x.Int64(); err == nil {
				return n, nil
			}
			return nil, fmt.Errorf("%v is not an integer", x)
		case etl.TypeFloat:
			if f, err := x.Float64(); err == nil {
				return f, nil
			}
			return nil, fmt.Errorf("%v is not a number", x)
		}
	}
	switch t {
	case etl.TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return etl.FormatValue(v), nil
	case etl.TypeJSON:
		return v, nil
	case etl.TypeInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x != float64(int64(x)) {
				return nil, fmt.Errorf("%v is not an integer", x)
			}
			return int64(x), nil
		}
		return nil, fmt.Errorf("cannot store %T in an int column", v)
	case etl.TypeFloat:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		}
		return nil, fmt.Errorf("cannot store %T in a float column", v)
	case etl.TypeBool:
		if _, ok := v.(bool); ok {
			return v, nil
		}
		return nil, fmt.Errorf("value %v (%T) is not a bool", v, v)
	case etl.TypeTimestamp, etl.TypeDate:
		if _, ok := v.(time.Time); ok {
			return v, nil
		}
		return nil, fmt.Errorf("value %v (%T) is not a time", v, v)
	}
	panic("convert to " + t.String())
}

// ---- set ----

func genSet(g *dGen, t *dTable) *dStep {
	type field struct {
		name, src string
		typ       etl.Type // fixed by config
	}
	var fields []field
	var pairs []string
	scope := dTable{fields: slices.Clone(t.fields)}
	for n := rapid.IntRange(1, 2).Draw(g.t, "set fields"); len(fields) < n; {
		f := field{src: g.setExpr(&scope), name: g.target("set field", &scope)}
		if slices.ContainsFunc(fields, func(o field) bool { return o.name == f.name }) {
			continue
		}
		entry := fmt.Sprintf("'%s'", f.src)
		if rapid.IntRange(0, 3).Draw(g.t, "set with a type") == 0 {
			f.typ = rapid.SampledFrom([]etl.Type{etl.TypeString, etl.TypeJSON, etl.TypeInt, etl.TypeFloat, etl.TypeBool}).Draw(g.t, "set type")
			entry = fmt.Sprintf("{ expr: '%s', type: %s }", f.src, f.typ)
		}
		fields = append(fields, f)
		pairs = append(pairs, f.name+": "+entry)
		// A later expression sees this field; its type is a guess here
		// (only the operand's type matters to the generator).
		typ := f.typ
		if typ == 0 {
			typ = cmp.Or(dStaticType(dProgram(f.src)), etl.TypeString)
		}
		scope.put(f.name, typ)
	}

	// The state set keeps across batches: each field's type, fixed by
	// config, by the expression, or by the first non-null value; and the
	// type of the output field the first non-empty batch gave it.
	type state struct {
		program *vm.Program
		typ     etl.Type
		weak    bool
		planned etl.Type
	}
	states := make([]*state, len(fields))
	for k, f := range fields {
		st := &state{program: dProgram(f.src), typ: f.typ}
		if st.typ == 0 {
			st.typ = dStaticType(st.program)
			st.weak = st.typ == 0
		}
		states[k] = st
	}
	return &dStep{yaml: "set: { " + strings.Join(pairs, ", ") + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		drop := map[int]bool{}
		final := slices.Clone(in.fields)
		for _, batch := range out.batches() {
			view := dTable{fields: slices.Clone(in.fields)}
			for k, f := range fields {
				st := states[k]
				values := make([]any, len(batch))
				for n, i := range batch {
					if drop[i] {
						continue
					}
					v, err := dEval(st.program, out.rows[i])
					if err != nil {
						r.reject(&view, out.rows[i], f.name, "", fmt.Sprintf("set %s: %v", f.name, err))
						drop[i] = true
					}
					values[n] = v
				}
				if st.typ == 0 {
					for _, v := range values {
						if st.typ = dValueType(v); st.typ != 0 {
							break
						}
					}
				}
				typ := cmp.Or(st.typ, etl.TypeString)
				switch {
				case st.planned == 0:
					st.planned = typ
				case st.planned != typ:
					return dTable{}, fmt.Errorf("field %q changed type to %s", f.name, typ)
				}
				for n, i := range batch {
					v, err := dConvert(typ, values[n])
					if err != nil && !drop[i] {
						r.reject(&view, out.rows[i], f.name, etl.FormatValue(values[n]), fmt.Sprintf("set %s: %v, want %s", f.name, err, typ))
						drop[i] = true
					}
					values[n] = v
				}
				for n, i := range batch {
					out.rows[i].vals[f.name] = values[n]
				}
				view.put(f.name, typ)
			}
			final = view.fields
		}
		if len(out.rows) == 0 {
			view := dTable{fields: final}
			for k, f := range fields {
				view.put(f.name, cmp.Or(states[k].typ, etl.TypeString))
			}
			final = view.fields
		}
		out.fields = final
		for k, f := range fields {
			out.fields[out.index(f.name)].weak = states[k].weak
		}
		out.keepRows(drop)
		return out, nil
	}}
}

// ---- template ----

func genTemplate(g *dGen, t *dTable) *dStep {
	type tmpl struct{ field, src string }
	var tmpls []tmpl
	var pairs []string
	scope := dTable{fields: slices.Clone(t.fields)}
	for n := rapid.IntRange(1, 2).Draw(g.t, "templates"); len(tmpls) < n; {
		x, y := g.pick("template field", scope.names()), g.pick("template field", scope.names())
		src := rapid.SampledFrom([]string{"{{ .%s }}-{{ .%s }}", `{{ lower .%s }}{{ default "none" .%s }}`}).Draw(g.t, "template")
		tm := tmpl{src: fmt.Sprintf(src, x, y), field: g.target("template to", &scope)}
		if slices.ContainsFunc(tmpls, func(o tmpl) bool { return o.field == tm.field }) {
			continue
		}
		tmpls = append(tmpls, tm)
		pairs = append(pairs, fmt.Sprintf("%s: '%s'", tm.field, tm.src))
		scope.put(tm.field, etl.TypeString)
	}
	fieldRe := regexp.MustCompile(`\{\{ (lower )?\.(\w+) \}\}|\{\{ default "none" \.(\w+) \}\}`)
	return &dStep{yaml: "template: { " + strings.Join(pairs, ", ") + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		for _, tm := range tmpls {
			for _, row := range out.rows {
				row.vals[tm.field] = fieldRe.ReplaceAllStringFunc(tm.src, func(m string) string {
					sub := fieldRe.FindStringSubmatch(m)
					switch {
					case sub[3] != "":
						v := row.vals[sub[3]]
						if v == nil || v == "" {
							return "none"
						}
						return fmt.Sprint(v)
					case sub[1] != "":
						return strings.ToLower(etl.FormatValue(row.vals[sub[2]]))
					case row.vals[sub[2]] == nil:
						return ""
					}
					return fmt.Sprint(row.vals[sub[2]])
				})
			}
			out.put(tm.field, etl.TypeString)
			out.fields[out.index(tm.field)].weak = false
		}
		return out, nil
	}}
}

// ---- conditions: filter, route, score, validate ----

func genFilter(g *dGen, t *dTable) *dStep {
	src := g.cond(t, false)
	p := dProgram(src, expr.AsBool())
	return &dStep{yaml: fmt.Sprintf("filter: '%s'", src), ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		drop := map[int]bool{}
		for i, row := range out.rows {
			v, err := dEval(p, row)
			if err == nil {
				if _, isBool := v.(bool); !isBool {
					err = fmt.Errorf("expression gave %T, want bool", v)
				}
			}
			switch {
			case err != nil:
				r.reject(&out, row, "", "", "filter: "+err.Error())
				drop[i] = true
			case v == false:
				drop[i] = true
			}
		}
		out.keepRows(drop)
		return out, nil
	}}
}

func genRoute(g *dGen, t *dTable) *dStep {
	names := g.some("routes", []string{"r1", "r2", "r3"}, 1, 2)
	srcs := make([]string, len(names))
	pairs := make([]string, len(names))
	for i, n := range names {
		srcs[i] = g.cond(t, false)
		pairs[i] = fmt.Sprintf("%s: '%s'", n, srcs[i])
	}
	return &dStep{yaml: "route: { " + strings.Join(pairs, ", ") + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		for i, n := range names {
			p := dProgram(srcs[i], expr.AsBool())
			for k := range out.rows {
				if out.rows[k].routes == nil {
					out.rows[k].routes = map[string]bool{}
				}
				out.rows[k].routes[n] = dTrue(p, out.rows[k])
			}
		}
		return out, nil
	}}
}

func genScore(g *dGen, t *dTable) *dStep {
	type rule struct {
		src    string
		points float64
	}
	var rules []rule
	var items []string
	integral := true
	for n := rapid.IntRange(1, 3).Draw(g.t, "score rules"); len(rules) < n; {
		ru := rule{src: g.cond(t, false), points: rapid.SampledFrom([]float64{10, 20, -5, 2.5}).Draw(g.t, "points")}
		integral = integral && ru.points == math.Trunc(ru.points)
		rules = append(rules, ru)
		items = append(items, fmt.Sprintf("{ when: '%s', points: %v }", ru.src, ru.points))
	}
	field := rapid.SampledFrom(append([]string{"score"}, slices.DeleteFunc(t.names(), func(n string) bool { return n == "tier" })...)).Draw(g.t, "score field")
	tiers := rapid.Bool().Draw(g.t, "tiers")
	src := fmt.Sprintf("score: { field: %s, rules: [%s]", field, strings.Join(items, ", "))
	if tiers {
		src += ", tiers: { hot: 20, warm: 10, cold: 0 }"
	}
	src += " }"
	return &dStep{yaml: src, ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		typ := etl.TypeFloat
		if integral {
			typ = etl.TypeInt
		}
		for _, row := range out.rows {
			total := 0.0
			for _, ru := range rules {
				if dTrue(dProgram(ru.src, expr.AsBool()), row) {
					total += ru.points
				}
			}
			if integral {
				row.vals[field] = int64(total)
			} else {
				row.vals[field] = total
			}
			if tiers {
				switch {
				case total >= 20:
					row.vals["tier"] = "hot"
				case total >= 10:
					row.vals["tier"] = "warm"
				case total >= 0:
					row.vals["tier"] = "cold"
				default:
					row.vals["tier"] = nil
				}
			}
		}
		out.put(field, typ)
		out.fields[out.index(field)].weak = false
		if tiers {
			out.put("tier", etl.TypeString)
			out.fields[out.index("tier")].weak = false
		}
		return out, nil
	}}
}

// dRule is one validate rule: how it reads in YAML and what it checks.
type dRule struct {
	field, kind, yaml, action string
	// check is the reason a non-null value fails ("" if it passes),
	// given the value and its text.
	check func(v any, text string) string
}

func (g *dGen) validateRule(t *dTable, field string) dRule {
	typ := t.typ(field)
	ru := dRule{field: field}
	kinds := []string{"required", "unique", "enum", "regex", "length", "expr"}
	if typ == etl.TypeInt || typ == etl.TypeFloat {
		kinds = append(kinds, "min", "max")
	}
	ru.kind = rapid.SampledFrom(kinds).Draw(g.t, "rule")
	switch ru.kind {
	case "required", "unique":
		ru.yaml = ru.kind
	case "enum":
		ru.yaml = "{ enum: [a, 1, 'true'] }"
		ru.check = func(_ any, text string) string {
			if text == "a" || text == "1" || text == "true" {
				return ""
			}
			return "not one of a, 1, true"
		}
	case "regex":
		ru.yaml = `{ regex: '^[a-z0-9]' }`
		re := regexp.MustCompile(`^[a-z0-9]`)
		ru.check = func(_ any, text string) string {
			if re.MatchString(text) {
				return ""
			}
			return "does not match ^[a-z0-9]"
		}
	case "length":
		ru.yaml = "{ length: { min: 1, max: 3 } }"
		ru.check = func(_ any, text string) string {
			switch n := utf8.RuneCountInString(text); {
			case n < 1:
				return "shorter than 1 characters"
			case n > 3:
				return "longer than 3 characters"
			}
			return ""
		}
	case "min", "max":
		ru.yaml = fmt.Sprintf("{ %s: 2 }", ru.kind)
		ru.check = func(v any, _ string) string {
			f, isFloat := v.(float64)
			if !isFloat {
				f = float64(v.(int64))
			}
			if ru.kind == "min" && f < 2 {
				return "must be at least 2"
			}
			if ru.kind == "max" && f > 2 {
				return "must be at most 2"
			}
			return ""
		}
	case "expr":
		src := g.cond(t, false)
		ru.yaml = fmt.Sprintf("{ expr: '%s' }", src)
		ru.field, ru.check = field+"\x00"+src, nil
	}
	ru.action = rapid.SampledFrom([]string{"", "", "reject", "warn"}).Draw(g.t, "action")
	if ru.action != "" {
		if ru.yaml == ru.kind {
			ru.yaml = fmt.Sprintf("{ %s: true, action: %s }", ru.kind, ru.action)
		} else {
			ru.yaml = strings.TrimSuffix(ru.yaml, " }") + ", action: " + ru.action + " }"
		}
	}
	return ru
}

func genValidate(g *dGen, t *dTable) *dStep {
	var rules []dRule
	var items []string
	for _, f := range g.some("validated fields", append(t.names(), "absent"), 1, 2) {
		var list []string
		for n := rapid.IntRange(1, 2).Draw(g.t, "rules"); len(list) < n; {
			var ru dRule
			if f == "absent" {
				ru = dRule{field: f, kind: "required", yaml: "required"}
			} else {
				ru = g.validateRule(t, f)
			}
			rules = append(rules, ru)
			list = append(list, ru.yaml)
		}
		items = append(items, f+": ["+strings.Join(list, ", ")+"]")
	}
	return &dStep{yaml: "validate: { " + strings.Join(items, ", ") + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		drop := map[int]bool{}
		seen := make([]map[string]bool, len(rules))
		for i, row := range out.rows {
			for k, ru := range rules {
				field, src, isExpr := strings.Cut(ru.field, "\x00")
				reason, text := "", ""
				v, present := row.vals[field]
				if present && v != nil {
					text = dCellText(v, in.typ(field))
				}
				switch {
				case !present:
					reason = "missing field"
				case ru.kind == "required":
					if s, isString := v.(string); v == nil || isString && strings.TrimSpace(s) == "" {
						reason = "missing value"
					}
				case isExpr:
					out, err := dEval(dProgram(src, expr.AsBool()), row)
					if err != nil {
						reason = err.Error()
					} else if b, _ := out.(bool); !b {
						reason = "expression " + src + " is false"
					}
				case v == nil:
				case ru.kind == "unique":
					if seen[k] == nil {
						seen[k] = map[string]bool{}
					}
					if seen[k][text] {
						reason = "duplicate value in this run"
					}
					seen[k][text] = true
				default:
					reason = ru.check(v, text)
				}
				if reason == "" || ru.action == "warn" {
					continue
				}
				r.reject(&in, in.rows[i], field, text, fmt.Sprintf("validate %s %s: %s", field, ru.kind, reason))
				drop[i] = true
				break
			}
		}
		out.keepRows(drop)
		return out, nil
	}}
}

// ---- text: extract, redact ----

func genExtract(g *dGen, t *dTable) *dStep {
	from := g.pick("extract from", t.names(etl.TypeString))
	to := g.newName()
	rule := rapid.SampledFrom([]string{"regex: '[0-9]+'", `regex: '([a-zA-Z])[0-9]'`, "pattern: email"}).Draw(g.t, "extract rule")
	all := rapid.Bool().Draw(g.t, "extract all")
	var re *regexp.Regexp
	switch rule {
	case "pattern: email":
		re = emailRe()
	default:
		re = regexp.MustCompile(strings.Trim(strings.TrimPrefix(rule, "regex: "), "'"))
	}
	return &dStep{yaml: fmt.Sprintf("extract: { %s: { from: %s, %s, all: %t } }", to, from, rule, all), ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		for _, row := range out.rows {
			s, ok := row.vals[from].(string)
			if !ok {
				row.vals[to] = nil
				continue
			}
			var matches []any
			for _, m := range re.FindAllStringSubmatch(s, -1) {
				matches = append(matches, m[len(m)-1])
			}
			switch {
			case all:
				row.vals[to] = append([]any{}, matches...)
			case len(matches) == 0:
				row.vals[to] = nil
			default:
				row.vals[to] = matches[0]
			}
		}
		typ := etl.TypeString
		if all {
			typ = etl.TypeJSON
		}
		out.put(to, typ)
		return out, nil
	}}
}

func genRedact(g *dGen, t *dTable) *dStep {
	strs := t.names(etl.TypeString)
	mode := rapid.SampledFrom([]string{"mask", "remove"}).Draw(g.t, "redact mode")
	var text, whole []string
	if rapid.Bool().Draw(g.t, "redact free text") {
		text = g.some("redact fields", strs, 1, 2)
	}
	if len(text) == 0 || rapid.Bool().Draw(g.t, "redact whole values") {
		whole = g.some("redact whole", strs, 1, 2)
	}
	src := "redact: { patterns: [url], custom: { tag: 'X[0-9]+' }, mode: " + mode
	if len(text) > 0 {
		src += ", fields: " + flowList(text)
	}
	if len(whole) > 0 {
		src += ", whole: " + flowList(whole)
	}
	tag := regexp.MustCompile(`X[0-9]+`)
	return &dStep{yaml: src + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		for _, row := range out.rows {
			for _, f := range text {
				if s, ok := row.vals[f].(string); ok {
					row.vals[f] = tag.ReplaceAllString(s, "[tag]")
				}
			}
			for _, f := range whole {
				if s, ok := row.vals[f].(string); ok && s != "" {
					row.vals[f] = dRedactWhole(s, mode)
				}
			}
		}
		return out, nil
	}}
}

// dRedactWhole is what redact makes of a whole value: an email keeps its
// domain and none of its local part (mask) or becomes [email], a phone number its
// last two digits or [phone], anything else [redacted].
func dRedactWhole(s, mode string) string {
	switch {
	case validEmail(strings.TrimSpace(s)):
		if mode == "remove" {
			return "[email]"
		}
		at := strings.LastIndexByte(s, '@')
		return "***" + s[at:]
	case phoneDigits(s) >= 7 && strings.Trim(s, "+0123456789 ()-./") == "":
		if mode == "remove" {
			return "[phone]"
		}
		b := []byte(s)
		for i, seen := len(b)-1, 0; i >= 0; i-- {
			if b[i] >= '0' && b[i] <= '9' {
				if seen >= 2 {
					b[i] = '*'
				}
				seen++
			}
		}
		return string(b)
	}
	return "[redacted]"
}

// ---- lookup ----

func genLookup(g *dGen, t *dTable) *dStep {
	on := g.pick("lookup on", t.names())
	keys := g.some("lookup keys", []string{"a", "A ", "b", "1", "x1", "true", "2024-01-02", "", "a"}, 1, 5)
	var csv strings.Builder
	csv.WriteString("key,val\n")
	table := map[string]*string{}
	for i, k := range keys {
		short := i == 2 && k != "" // encoding/csv skips a blank line
		if short {
			fmt.Fprintf(&csv, "%s\n", k) // a short record: val is null
		} else {
			fmt.Fprintf(&csv, "%s,v%d\n", k, i)
		}
		norm := strings.ToLower(strings.TrimSpace(k))
		if _, dup := table[norm]; dup {
			continue
		}
		var val *string
		if !short {
			s := fmt.Sprintf("v%d", i)
			val = &s
		}
		table[norm] = val
	}
	name := g.newName()
	file := name + ".csv"
	if err := os.WriteFile(filepath.Join(g.dir, file), []byte(csv.String()), 0o644); err != nil {
		panic(err)
	}
	missing := rapid.SampledFrom([]string{"keep", "reject"}).Draw(g.t, "lookup missing")
	def := rapid.Bool().Draw(g.t, "lookup default")
	src := fmt.Sprintf("lookup: { file: %s, on: { %s: key }, fields: { %s: val }, missing: %s", file, on, name, missing)
	if def {
		src += fmt.Sprintf(", default: { %s: none }", name)
	}
	return &dStep{yaml: src + " }", files: map[string]string{file: csv.String()}, ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		drop := map[int]bool{}
		for i, row := range out.rows {
			// A null key matches nothing, as a NULL key of a table does.
			text, val, found := "", (*string)(nil), false
			if v := row.vals[on]; v != nil {
				text = dCellText(v, in.typ(on))
				val, found = table[strings.ToLower(strings.TrimSpace(text))]
			}
			switch {
			case found && val != nil:
				row.vals[name] = *val
			case !found && def:
				row.vals[name] = "none"
			default:
				row.vals[name] = nil
			}
			if !found && missing == "reject" {
				r.reject(&in, in.rows[i], on, text, fmt.Sprintf("lookup: key %q not in %s", text, file))
				drop[i] = true
			}
		}
		out.put(name, etl.TypeString)
		out.keepRows(drop)
		return out, nil
	}}
}

// ---- nested values: explode, flatten ----

func genExplode(g *dGen, t *dTable) *dStep {
	field := g.pick("explode", t.strong(etl.TypeJSON))
	as, index := field, ""
	if rapid.Bool().Draw(g.t, "explode as") {
		as = g.newName()
	}
	if rapid.Bool().Draw(g.t, "explode index") {
		index = g.newName()
	}
	keepEmpty := rapid.Bool().Draw(g.t, "explode keep_empty")
	src := fmt.Sprintf("explode: { field: %s, keep_empty: %t", field, keepEmpty)
	if as != field {
		src += ", as: " + as
	}
	if index != "" {
		src += ", index: " + index
	}
	return &dStep{yaml: src + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		out := dTable{fields: slices.Clone(in.fields)}
		if as != field {
			out.fields = append(out.fields, dField{name: as, typ: etl.TypeJSON})
		}
		if index != "" {
			out.fields = append(out.fields, dField{name: index, typ: etl.TypeInt})
		}
		for _, row := range in.rows {
			v := row.vals[field]
			list, isList := v.([]any)
			if v != nil && !isList {
				r.reject(&in, row, field, etl.FormatValue(v), fmt.Sprintf("explode: %s is not an array", field))
				continue
			}
			if len(list) == 0 {
				if !keepEmpty {
					continue
				}
				list = []any{nil}
			}
			for e, x := range list {
				c := row.clone()
				c.vals[as] = x
				if index != "" {
					c.vals[index] = int64(e)
				}
				out.rows = append(out.rows, c)
			}
		}
		return out, nil
	}}
}

func genFlatten(g *dGen, t *dTable) *dStep {
	field := g.pick("flatten", t.strong(etl.TypeJSON))
	keep := rapid.Bool().Draw(g.t, "flatten keep")
	prefix := field + "_"
	src := fmt.Sprintf("flatten: { field: %s, keep: %t", field, keep)
	if rapid.Bool().Draw(g.t, "flatten prefix") {
		prefix = g.newName() + "_"
		src += fmt.Sprintf(", prefix: '%s'", prefix)
	}
	var fixed []dField
	if rapid.Bool().Draw(g.t, "flatten fields") {
		var items []string
		for _, k := range g.some("flatten keys", []string{"k", "n", "x"}, 1, 3) {
			typ := rapid.SampledFrom([]etl.Type{etl.TypeString, etl.TypeInt, etl.TypeJSON}).Draw(g.t, "flatten type")
			fixed = append(fixed, dField{name: k, typ: typ})
			items = append(items, k+": "+typ.String())
		}
		src += ", fields: { " + strings.Join(items, ", ") + " }"
	}
	return &dStep{yaml: src + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		keys := fixed
		if keys == nil {
			keys = dFlattenKeys(&in, field)
		}
		out := dTable{}
		for _, f := range in.fields {
			if f.name != field || keep {
				out.fields = append(out.fields, f)
			}
		}
		for _, k := range keys {
			if out.index(prefix+k.name) >= 0 {
				return dTable{}, fmt.Errorf("duplicate field %q", prefix+k.name)
			}
			out.fields = append(out.fields, dField{name: prefix + k.name, typ: k.typ, late: fixed == nil})
		}
		for _, row := range in.rows {
			c := row.clone()
			if !keep {
				delete(c.vals, field)
			}
			flat := map[string]any{}
			rejected := false
			switch v := row.vals[field].(type) {
			case nil:
			case map[string]any:
				dFlattenInto(flat, "", v)
			default:
				r.reject(&in, row, field, etl.FormatValue(v), "flatten: not an object")
				rejected = true
			}
			for _, k := range keys {
				v := flat[k.name]
				if n, ok := v.(json.Number); ok && k.typ == etl.TypeInt {
					if i, err := n.Int64(); err == nil {
						v = i
					}
				}
				if f, ok := v.(float64); ok && k.typ == etl.TypeInt && f == float64(int64(f)) {
					v = int64(f)
				}
				x, err := dConvert(k.typ, v)
				if err != nil && !rejected {
					r.reject(&in, row, prefix+k.name, etl.FormatValue(v), fmt.Sprintf("flatten: %v, want %s", err, k.typ))
					rejected = true
				}
				c.vals[prefix+k.name] = x
			}
			if !rejected {
				out.rows = append(out.rows, c)
			}
		}
		return out, nil
	}}
}

// dFlattenInto writes the leaves of an object by their joined keys.
func dFlattenInto(dst map[string]any, prefix string, m map[string]any) {
	for k, v := range m {
		if inner, ok := v.(map[string]any); ok {
			dFlattenInto(dst, prefix+k+"_", inner)
			continue
		}
		dst[prefix+k] = v
	}
}

// dFlattenKeys are the keys flatten finds without fields: those of the
// objects in the first batch that reaches it, with their types, sorted.
func dFlattenKeys(t *dTable, field string) []dField {
	batches := t.batches()
	if len(batches) == 0 {
		return nil
	}
	types := map[string]etl.Type{}
	for _, i := range batches[0] {
		m, ok := t.rows[i].vals[field].(map[string]any)
		if !ok {
			continue
		}
		flat := map[string]any{}
		dFlattenInto(flat, "", m)
		for k, v := range flat {
			typ := dValueType(v)
			switch x := v.(type) {
			case float64:
				if x == float64(int64(x)) {
					typ = etl.TypeInt
				}
			case json.Number:
				typ = etl.TypeFloat
				if _, err := x.Int64(); err == nil {
					typ = etl.TypeInt
				}
			}
			if typ == 0 {
				continue
			}
			if old, seen := types[k]; seen && old != typ {
				if (old == etl.TypeInt || old == etl.TypeFloat) && (typ == etl.TypeInt || typ == etl.TypeFloat) {
					typ = etl.TypeFloat
				} else {
					typ = etl.TypeJSON
				}
			}
			types[k] = typ
		}
	}
	keys := make([]dField, 0, len(types))
	for k, typ := range types {
		keys = append(keys, dField{name: k, typ: typ})
	}
	slices.SortFunc(keys, func(a, b dField) int { return strings.Compare(a.name, b.name) })
	return keys
}

// ---- holding steps: dedupe, sort, aggregate ----

// spill draws the memory bound and flush size of a holding step: small
// enough that most runs spill to disk.
func (g *dGen) spill(batchSize int) (yaml string, flush int) {
	rows := rapid.SampledFrom([]int{1, 2, 3, 7, 1000}).Draw(g.t, "memory_rows")
	yaml = fmt.Sprintf(", memory_rows: %d, spill_dir: spill", rows)
	flush = batchSize
	if rapid.Bool().Draw(g.t, "own batch_size") {
		flush = rapid.IntRange(1, 5).Draw(g.t, "batch_size")
		yaml += fmt.Sprintf(", batch_size: %d", flush)
	}
	return yaml, flush
}

// dCompare orders two values of a field of type typ: nulls first, nested
// values by their text.
func dCompare(typ etl.Type, a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	case typ == etl.TypeJSON:
		return strings.Compare(etl.FormatValue(a), etl.FormatValue(b))
	}
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case int64:
		return cmp.Compare(x, b.(int64))
	case float64:
		return cmp.Compare(x, b.(float64))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case x:
			return 1
		}
		return -1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	panic(fmt.Sprintf("compare %T", a))
}

// dSortKey is a field to order by.
type dSortKey struct {
	field string
	desc  bool
}

// dSorted returns t's rows stably sorted by keys.
func dSorted(t *dTable, keys []dSortKey) []dRow {
	out := slices.Clone(t.rows)
	slices.SortStableFunc(out, func(a, b dRow) int {
		for _, k := range keys {
			if c := dCompare(t.typ(k.field), a.vals[k.field], b.vals[k.field]); c != 0 {
				if k.desc {
					return -c
				}
				return c
			}
		}
		return 0
	})
	return out
}

func genSort(g *dGen, t *dTable) *dStep {
	names := g.some("sort by", t.names(), 1, 2)
	keys := make([]dSortKey, len(names))
	by := make([]string, len(names))
	for i, n := range names {
		keys[i] = dSortKey{field: n, desc: rapid.Bool().Draw(g.t, "descending")}
		by[i] = n
		if keys[i].desc {
			by[i] = "-" + n
		}
	}
	spill, flush := g.spill(g.batchSize())
	return &dStep{yaml: fmt.Sprintf("sort: { by: %s%s }", flowList(by), spill), ref: func(r *dRef, in dTable) (dTable, error) {
		out := in.clone()
		out.rows = dSorted(&out, keys)
		r.flushed(out.rows, flush)
		return out, nil
	}}
}

func genDedupe(g *dGen, t *dTable) *dStep {
	key := g.some("dedupe key", t.names(), 1, 2)
	last := rapid.Bool().Draw(g.t, "keep last")
	src := fmt.Sprintf("dedupe: { key: %s, keep: %s", flowList(key), map[bool]string{false: "first", true: "last"}[last])
	orderBy := ""
	if rapid.Bool().Draw(g.t, "dedupe order_by") {
		orderBy = g.pick("dedupe order_by", t.names())
		src += ", order_by: " + orderBy
	}
	spill, flush := g.spill(g.batchSize())
	return &dStep{yaml: src + spill + " }", ref: func(r *dRef, in dTable) (dTable, error) {
		// The first or last row of each key, by order_by then arrival, in
		// the order the survivors arrived.
		type ranked struct {
			row dRow
			pos int
		}
		best := map[string]ranked{}
		var order []string
		for pos, row := range in.rows {
			var id strings.Builder
			for _, k := range key {
				fmt.Fprintf(&id, "%s|", dKeyText(in.typ(k), row.vals[k]))
			}
			cur, seen := best[id.String()]
			if !seen {
				order = append(order, id.String())
				best[id.String()] = ranked{row, pos}
				continue
			}
			c := 0
			if orderBy != "" {
				c = dCompare(in.typ(orderBy), row.vals[orderBy], cur.row.vals[orderBy])
			}
			if last && c >= 0 || !last && c < 0 {
				best[id.String()] = ranked{row, pos}
			}
		}
		survivors := make([]ranked, 0, len(order))
		for _, id := range order {
			survivors = append(survivors, best[id])
		}
		slices.SortFunc(survivors, func(a, b ranked) int { return a.pos - b.pos })
		out := dTable{fields: slices.Clone(in.fields)}
		for _, s := range survivors {
			out.rows = append(out.rows, s.row.clone())
		}
		r.flushed(out.rows, flush)
		return out, nil
	}}
}

// dKeyText identifies a key value of a field of type typ: values that
// compare equal share it.
func dKeyText(typ etl.Type, v any) string {
	switch {
	case v == nil:
		return "null"
	case typ == etl.TypeJSON:
		return "j" + etl.FormatValue(v)
	}
	switch x := v.(type) {
	case float64:
		if x == 0 {
			x = 0 // -0 and 0 are one key
		}
		return "f" + strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		return "t" + x.UTC().Format(time.RFC3339Nano)
	case string:
		return "s" + strconv.Quote(x)
	}
	return fmt.Sprintf("%T:%s", v, etl.FormatValue(v))
}

// batchSize is the job's batch size, which g drew first.
func (g *dGen) batchSize() int { return g.jobBatchSize }

type dAggField struct {
	name, fn, of, where string
	distinct            bool
}

func genAggregate(g *dGen, t *dTable) *dStep {
	strong := t.strong()
	groupBy := g.some("group_by", strong, 1, 2)
	var fields []dAggField
	var items []string
	for n := rapid.IntRange(1, 3).Draw(g.t, "aggregates"); len(fields) < n; {
		f := dAggField{name: g.newName(), of: "*"}
		nums := t.strong(etl.TypeInt, etl.TypeFloat)
		fns := []string{"count", "min", "max", "first", "last", "collect", "concat"}
		if len(nums) > 0 {
			fns = append(fns, "sum", "avg")
		}
		f.fn = rapid.SampledFrom(fns).Draw(g.t, "function")
		switch {
		case f.fn == "sum" || f.fn == "avg":
			f.of = g.pick("of", nums)
		case f.fn != "count" || rapid.Bool().Draw(g.t, "count a field"):
			f.of = g.pick("of", strong)
		}
		item := fmt.Sprintf("%s: { %s: '%s'", f.name, f.fn, f.of)
		if (f.fn == "collect" || f.fn == "concat") && rapid.Bool().Draw(g.t, "distinct") {
			f.distinct = true
			item += ", distinct: true"
		}
		if f.fn == "concat" {
			item += `, sep: "|"`
		}
		if rapid.IntRange(0, 2).Draw(g.t, "where") == 0 {
			f.where = g.cond(t, true)
			item += fmt.Sprintf(", where: '%s'", f.where)
		}
		fields = append(fields, f)
		items = append(items, item+" }")
	}
	src := fmt.Sprintf("aggregate: { group_by: %s", flowList(groupBy))
	orderBy, gap, sessionField := "", time.Duration(0), ""
	if rapid.Bool().Draw(g.t, "aggregate order_by") {
		orderBy = g.pick("aggregate order_by", strong)
		src += ", order_by: " + orderBy
		if t.typ(orderBy) == etl.TypeTimestamp && rapid.Bool().Draw(g.t, "sessions") {
			gap, sessionField = 2*time.Hour, g.newName()
			src += ", session: { gap: 2h, field: " + sessionField + " }"
		}
	}
	spill, flush := g.spill(g.batchSize())
	src += ", fields: { " + strings.Join(items, ", ") + " }" + spill + " }"
	return &dStep{yaml: src, ref: func(r *dRef, in dTable) (dTable, error) {
		out := dTable{}
		for _, k := range groupBy {
			out.fields = append(out.fields, dField{name: k, typ: in.typ(k)})
		}
		if gap > 0 {
			out.fields = append(out.fields, dField{name: sessionField, typ: etl.TypeInt})
		}
		for _, f := range fields {
			out.fields = append(out.fields, dField{name: f.name, typ: dAggType(f, in.typ(f.of))})
		}
		keys := make([]dSortKey, 0, len(groupBy)+1)
		for _, k := range groupBy {
			keys = append(keys, dSortKey{field: k})
		}
		if orderBy != "" {
			keys = append(keys, dSortKey{field: orderBy})
		}
		rows := dSorted(&in, keys)
		sameKey := func(a, b dRow) bool {
			for _, k := range groupBy {
				if dCompare(in.typ(k), a.vals[k], b.vals[k]) != 0 {
					return false
				}
			}
			return true
		}
		session := int64(0)
		for start := 0; start < len(rows); {
			end := start + 1
			for end < len(rows) && sameKey(rows[start], rows[end]) {
				if gap > 0 {
					t0, ok0 := rows[end-1].vals[orderBy].(time.Time)
					t1, ok1 := rows[end].vals[orderBy].(time.Time)
					if ok0 && ok1 && t1.Sub(t0) > gap {
						break
					}
				}
				end++
			}
			if start > 0 && sameKey(rows[start-1], rows[start]) {
				session++
			} else {
				session = 1
			}
			group := rows[start:end]
			res := dRow{line: group[0].line, vals: map[string]any{}}
			for _, k := range groupBy {
				res.vals[k] = group[len(group)-1].vals[k]
			}
			if gap > 0 {
				res.vals[sessionField] = session
			}
			for _, f := range fields {
				res.vals[f.name] = dAggregate(f, group, in.typ(f.of))
			}
			out.rows = append(out.rows, res)
			start = end
		}
		r.flushed(out.rows, flush)
		return out, nil
	}}
}

func dAggType(f dAggField, of etl.Type) etl.Type {
	switch f.fn {
	case "count":
		return etl.TypeInt
	case "avg":
		return etl.TypeFloat
	case "collect":
		return etl.TypeJSON
	case "concat":
		return etl.TypeString
	}
	return of
}

// dAggregate computes one output field over a group's rows, in order.
func dAggregate(f dAggField, group []dRow, typ etl.Type) any {
	var where *vm.Program
	if f.where != "" {
		where = dProgram(f.where, expr.AsBool())
	}
	var vals []any
	count := int64(0)
	for _, row := range group {
		if where != nil && !dTrue(where, row) {
			continue
		}
		if f.of == "*" {
			count++
			continue
		}
		if v := row.vals[f.of]; v != nil {
			count++
			vals = append(vals, v)
		}
	}
	switch f.fn {
	case "count":
		return count
	case "sum", "avg":
		if len(vals) == 0 {
			return nil
		}
		sumI, sumF := int64(0), 0.0
		for _, v := range vals {
			if i, ok := v.(int64); ok {
				sumI += i
				sumF += float64(i)
			} else {
				sumF += v.(float64)
			}
		}
		switch {
		case f.fn == "avg":
			return sumF / float64(len(vals))
		case typ == etl.TypeInt:
			return sumI
		}
		return sumF
	case "first", "last", "min", "max":
		if len(vals) == 0 {
			return nil
		}
		best := vals[0]
		for _, v := range vals[1:] {
			c := dCompare(typ, v, best)
			if f.fn == "last" || f.fn == "min" && c < 0 || f.fn == "max" && c > 0 {
				best = v
			}
		}
		return best
	}
	// collect, concat
	list := []any{}
	var texts []string
	seen := map[string]bool{}
	for _, v := range vals {
		text := dCellText(v, typ)
		if f.distinct && seen[text] {
			continue
		}
		seen[text] = true
		list, texts = append(list, v), append(texts, text)
	}
	if f.fn == "collect" {
		return list
	}
	if len(texts) == 0 {
		return nil
	}
	return strings.Join(texts, "|")
}
