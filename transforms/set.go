package transforms

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "set",
			Summary: "Compute fields from expressions; a new name adds a field, an existing one is replaced.",
			Example: `set:
  tier: 'lead_score >= 80 ? "hot" : "cold"'
  domain: email_domain(email)
  score_pct: { expr: 'lead_score / 100.0', type: float }`,
			Config: func() any { return new(SetConfig) },
		},
		New: newSet,
	})
}

// SetConfig is the set step's config: field → expression, in order; each
// expression sees the fields set before it.
type SetConfig struct {
	Fields []SetField
}

// SetField is one computed field. In YAML the value is an expression, or
// { expr: '...', type: int } to fix the field's type.
type SetField struct {
	Field string
	Expr  string
	Type  string

	mapping bool
}

// UnmarshalYAML decodes the mapping keeping its order.
func (c *SetConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var order yaml.MapSlice
	if err := unmarshal(&order); err != nil {
		return errors.New("want a mapping of field: expression")
	}
	c.Fields = make([]SetField, 0, len(order))
	for _, item := range order {
		name := fmt.Sprint(item.Key)
		f := SetField{Field: name}
		switch v := item.Value.(type) {
		case map[string]any:
			f.mapping = true
			for k, x := range v {
				switch k {
				case "expr":
					f.Expr = fmt.Sprint(x)
				case "type":
					f.Type = fmt.Sprint(x)
				default:
					return fmt.Errorf("%s: unknown key %s (want expr, type)", name, k)
				}
			}
		case nil:
		case []any:
			return fmt.Errorf("%s: want an expression or { expr, type }, got a list", name)
		default:
			f.Expr = fmt.Sprint(v)
		}
		c.Fields = append(c.Fields, f)
	}
	return nil
}

// exprField is a compiled expression producing one field.
type exprField struct {
	field string
	expr  *compiledExpr
	// typ is the output type: fixed by config, by the expression's static
	// type (a map or list literal is json), or by the first non-null value
	// seen, then kept so that every batch has the same schema.
	mu    sync.Mutex
	typ   etl.Type
	binds schemaCache[*exprBinding]
	outs  schemaCache[*setPlan]
}

// setPlan is how one computed field changes a schema.
type setPlan struct {
	out *etl.Schema
	col int // the column written; len(in) when appended
}

func compileExprField(clock etl.Clock, field, src, typ string, path []string) (*exprField, error) {
	ef := &exprField{field: field}
	if typ != "" {
		t, err := etl.ParseType(typ)
		if err != nil {
			return nil, &etl.FieldError{Path: append(append([]string(nil), path...), "type"), Err: err}
		}
		ef.typ = t
	}
	exprPath := path
	if typ != "" || len(path) > 1 {
		exprPath = append(append([]string(nil), path...), "expr")
	}
	c, err := compileExpr(clock, src)
	if err != nil {
		return nil, &etl.FieldError{Path: exprPath, Err: err}
	}
	ef.expr = c
	if ef.typ == 0 {
		ef.typ = staticType(c)
	}
	return ef, nil
}

// staticType is the column type of an expression whose result type the
// compiler knows (a comparison is bool, a string literal string), else 0.
func staticType(c *compiledExpr) etl.Type {
	t := c.program.Node().Type()
	if t == nil {
		return 0
	}
	switch t.Kind() {
	case reflect.String:
		return etl.TypeString
	case reflect.Bool:
		return etl.TypeBool
	case reflect.Int, reflect.Int64, reflect.Int32:
		return etl.TypeInt
	case reflect.Float64:
		return etl.TypeFloat
	case reflect.Map, reflect.Slice, reflect.Array:
		return etl.TypeJSON // a map or list literal, $env
	}
	if t == reflect.TypeFor[time.Time]() {
		return etl.TypeTimestamp
	}
	return 0
}

// resultType returns the field's type, fixing it from values when unknown.
// Values of a batch without rows fix nothing: a step that holds rows hands
// on every input batch empty.
func (ef *exprField) resultType(values []any) etl.Type {
	ef.mu.Lock()
	defer ef.mu.Unlock()
	if ef.typ != 0 {
		return ef.typ
	}
	for _, v := range values {
		if t, ok := valueType(v); ok {
			ef.typ = t
			return t
		}
	}
	return etl.TypeString // all null so far: not fixed yet
}

// typeFixed reports whether the field's type is known: from config, from
// the expression, or from a value seen.
func (ef *exprField) typeFixed() bool {
	ef.mu.Lock()
	defer ef.mu.Unlock()
	return ef.typ != 0
}

// mayHoldCells reports whether the field's values may be stored as the
// expression returned them, holding the cells it read: a json field, or
// one whose type is not fixed yet. Values of the other types are copied
// out of the result.
func (ef *exprField) mayHoldCells() bool {
	ef.mu.Lock()
	defer ef.mu.Unlock()
	return ef.typ == 0 || ef.typ == etl.TypeJSON
}

// evalColumn evaluates ef on every row of b. Rows whose evaluation fails or
// whose value does not fit the type are rejected (marked in drop); the
// returned column has a null there.
func (ef *exprField) evalColumn(b *etl.Batch, step string, values []any, drop []bool) (etl.Column, []any, error) {
	bnd, err := ef.binds.get(b.Schema, ef.expr.bind)
	if err != nil {
		return etl.Column{}, values, err
	}
	// The values are collected before they are stored, and a json value
	// is stored as the expression returned it.
	eval := newHeldExprEvaluator(ef.expr, bnd)
	if ef.mayHoldCells() {
		eval = newKeptExprEvaluator(ef.expr, bnd)
	}
	n := b.Len()
	values = values[:0]
	for i := 0; i < n; i++ {
		if drop[i] {
			values = append(values, nil)
			continue
		}
		v, err := eval.eval(b, i)
		if err != nil {
			b.Reject(i, step, ef.field, "", fmt.Sprintf("set %s: %v", ef.field, err))
			drop[i] = true
		}
		values = append(values, v)
	}
	typ := ef.resultType(values)
	col := etl.NewColumn(typ, n)
	for i, v := range values {
		if err := appendValue(&col, v); err != nil {
			col.AppendNull()
			if !drop[i] {
				b.Reject(i, step, ef.field, etl.FormatValue(v), fmt.Sprintf("set %s: %v, want %s", ef.field, err, typ))
				drop[i] = true
			}
		}
	}
	return col, values, nil
}

// put stores col as ef's field in b, replacing a field of that name. The
// output schema is kept per input schema once a batch with rows fixed it;
// an empty batch before that gets the field as string (all null) without
// fixing anything.
func (ef *exprField) put(b *etl.Batch, col etl.Column) error {
	plan := func(in *etl.Schema) (*setPlan, error) {
		fields := in.Fields()
		j := in.Index(ef.field)
		f := etl.Field{Name: ef.field, Type: col.Type}
		if j < 0 {
			j = len(fields)
			fields = append(fields, f)
		} else {
			fields[j] = f
		}
		s, err := etl.NewSchema(fields...)
		return &setPlan{out: s, col: j}, err
	}
	var p *setPlan
	var err error
	if b.Len() == 0 && !ef.typeFixed() {
		p, err = plan(b.Schema)
	} else {
		p, err = ef.outs.get(b.Schema, plan)
	}
	if err != nil {
		return err
	}
	if p.out.Field(p.col).Type != col.Type {
		return fmt.Errorf("field %q changed type to %s: its first rows were all null, which gave it no type (give it one: { expr: ..., type: %s })", ef.field, col.Type, col.Type)
	}
	if p.col == len(b.Cols) {
		b.Cols = append(b.Cols, col)
	} else {
		b.Cols[p.col] = col
	}
	b.Schema = p.out
	return nil
}

// setStep computes fields from expressions.
type setStep struct {
	name   string
	fields []*exprField
}

var _ etl.Step = (*setStep)(nil)

func newSet(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*SetConfig)
	if !ok {
		return nil, fmt.Errorf("set: config is %T, want *SetConfig", cfg)
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Err: errors.New("set needs at least one field: { field: expression }")}
	}
	s := &setStep{name: env.StepName}
	for _, f := range c.Fields {
		path := []string{f.Field}
		if f.mapping {
			path = []string{f.Field, "expr"}
		}
		ef, err := compileExprField(env.Clock, f.Field, f.Expr, f.Type, path[:1])
		if err != nil {
			var fe *etl.FieldError
			if errors.As(err, &fe) && f.mapping && len(fe.Path) == 1 {
				fe.Path = path
			}
			return nil, err
		}
		s.fields = append(s.fields, ef)
	}
	return s, nil
}

// Apply computes each field in turn over the whole batch.
func (s *setStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	n := b.Len()
	drop := make([]bool, n)
	var values []any
	for _, ef := range s.fields {
		col, vs, err := ef.evalColumn(b, s.name, values, drop)
		if err != nil {
			return nil, err
		}
		values = vs
		if err := ef.put(b, col); err != nil {
			return nil, err
		}
	}
	keepUnrejected(b, drop)
	return b, nil
}

// keepUnrejected removes the rows marked in drop, if any.
func keepUnrejected(b *etl.Batch, drop []bool) {
	any := false
	for _, d := range drop {
		if d {
			any = true
			break
		}
	}
	if !any {
		return
	}
	keep := make([]bool, len(drop))
	for i, d := range drop {
		keep[i] = !d
	}
	b.Keep(keep)
}
