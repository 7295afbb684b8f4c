package transforms

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "coalesce",
			Summary: "Set a field to the first non-null, non-empty value among other fields.",
			Example: `coalesce: { email: [work_email, private_email, email], phone: [mobile, landline] }`,
			Config:  func() any { return new(CoalesceConfig) },
		},
		New: newCoalesce,
	})
}

// CoalesceConfig is the coalesce step's config: target field → the source
// fields tried in order, kept in the order written; each target sees the
// targets coalesced before it.
type CoalesceConfig struct {
	Fields []CoalesceField
}

// CoalesceField is one coalesced field.
type CoalesceField struct {
	Field string
	From  []string
}

// UnmarshalYAML decodes the mapping keeping its order.
func (c *CoalesceConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var order yaml.MapSlice
	if err := unmarshal(&order); err != nil {
		return errors.New("want a mapping of field: [source fields]")
	}
	for _, item := range order {
		f := CoalesceField{Field: fmt.Sprint(item.Key)}
		list, ok := item.Value.([]any)
		if !ok {
			return fmt.Errorf("%s: want a list of source fields", f.Field)
		}
		for _, x := range list {
			f.From = append(f.From, fmt.Sprint(x))
		}
		c.Fields = append(c.Fields, f)
	}
	return nil
}

type coalescePlan struct {
	schema *etl.Schema
	from   [][]int
	to     []int
	types  []etl.Type
}

type coalesceStep struct {
	fields []CoalesceField
	plans  schemaCache[*coalescePlan]
}

var _ etl.Step = (*coalesceStep)(nil)

func newCoalesce(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*CoalesceConfig)
	if !ok {
		return nil, fmt.Errorf("coalesce: config is %T, want *CoalesceConfig", cfg)
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Err: errors.New("coalesce needs at least one field: { field: [sources] }")}
	}
	for _, f := range c.Fields {
		if err := FieldList(f.From).check("coalesce", f.Field); err != nil {
			return nil, err
		}
	}
	return &coalesceStep{fields: c.Fields}, nil
}

// plan resolves the fields in order: each sees the fields coalesced
// before it, as Apply builds them.
func (s *coalesceStep) plan(in *etl.Schema) (*coalescePlan, error) {
	p := &coalescePlan{}
	fields := in.Fields()
	index := func(name string) int {
		return slices.IndexFunc(fields, func(f etl.Field) bool { return f.Name == name })
	}
	for _, f := range s.fields {
		from := make([]int, len(f.From))
		for k, name := range f.From {
			if from[k] = index(name); from[k] < 0 {
				return nil, missingFieldError(name, in)
			}
		}
		typ := fields[from[0]].Type
		for _, j := range from[1:] {
			if fields[j].Type != typ {
				typ = etl.TypeString // mixed types meet as text
			}
		}
		to := index(f.Field)
		if to < 0 {
			to = len(fields)
			fields = append(fields, etl.Field{Name: f.Field, Type: typ})
		} else {
			fields[to].Type = typ
		}
		p.from, p.to, p.types = append(p.from, from), append(p.to, to), append(p.types, typ)
	}
	var err error
	p.schema, err = etl.NewSchema(fields...)
	return p, err
}

// present reports whether row i of c has a value worth taking.
func present(c *etl.Column, i int) bool {
	return !c.Null[i] && (c.Type != etl.TypeString || c.Str[i] != "")
}

// Apply builds each coalesced column from its sources.
func (s *coalesceStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	p, err := s.plans.get(b.Schema, s.plan)
	if err != nil {
		return nil, err
	}
	n := b.Len()
	for k := range p.to {
		out := etl.NewColumn(p.types[k], n)
		for i := 0; i < n; i++ {
			done := false
			for _, j := range p.from[k] {
				src := &b.Cols[j]
				if !present(src, i) {
					continue
				}
				if src.Type == out.Type {
					appendCell(&out, src, i)
				} else {
					text, _ := src.Text(i)
					out.AppendString(text)
				}
				done = true
				break
			}
			if !done {
				out.AppendNull()
			}
		}
		if p.to[k] == len(b.Cols) {
			b.Cols = append(b.Cols, out)
		} else {
			b.Cols[p.to[k]] = out
		}
	}
	b.Schema = p.schema
	return b, nil
}
