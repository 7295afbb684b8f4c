package transforms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "default",
			Summary: "Fill null (or empty) values with a constant; a field the input lacks is added with it.",
			Example: `default: { country: DE, lead_score: 0, source: unknown }`,
			Config:  func() any { return new(DefaultConfig) },
		},
		New: newDefault,
	})
}

// DefaultConfig is the default step's config: field → constant, in order.
// A constant is converted to the field's type when the first batch
// arrives; an empty or blank string counts as missing in string fields.
type DefaultConfig struct {
	Fields []DefaultField
}

// DefaultField is one field's default.
type DefaultField struct {
	Field string
	Value any
}

// UnmarshalYAML decodes the mapping keeping its order.
func (c *DefaultConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var order yaml.MapSlice
	if err := unmarshal(&order); err != nil {
		return errors.New("want a mapping of field: value")
	}
	for _, item := range order {
		c.Fields = append(c.Fields, DefaultField{Field: fmt.Sprint(item.Key), Value: item.Value})
	}
	return nil
}

type defaultPlan struct {
	schema *etl.Schema
	cols   []int
	// consts are one-row columns holding each default in its field's type.
	consts []etl.Column
	added  []etl.Type // types of the fields appended (absent from the input)
}

type defaultStep struct {
	fields []DefaultField
	plans  schemaCache[*defaultPlan]
}

var _ etl.Step = (*defaultStep)(nil)

func newDefault(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*DefaultConfig)
	if !ok {
		return nil, fmt.Errorf("default: config is %T, want *DefaultConfig", cfg)
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Err: errors.New("default needs at least one field: { field: value }")}
	}
	for _, f := range c.Fields {
		switch f.Value.(type) {
		case nil:
			return nil, &etl.FieldError{Path: []string{f.Field}, Err: errors.New("no default value (a null default changes nothing)")}
		case map[string]any, []any:
			return nil, &etl.FieldError{Path: []string{f.Field}, Err: errors.New("want a scalar default (text, number, true/false)")}
		}
	}
	return &defaultStep{fields: c.Fields}, nil
}

func (s *defaultStep) plan(in *etl.Schema) (*defaultPlan, error) {
	p := &defaultPlan{}
	fields := in.Fields()
	for _, f := range s.fields {
		j := in.Index(f.Field)
		typ := etl.TypeString
		if j >= 0 {
			typ = in.Field(j).Type
		} else if t, ok := valueType(yamlScalar(f.Value)); ok {
			typ = t
			j = len(fields)
			fields = append(fields, etl.Field{Name: f.Field, Type: typ})
			p.added = append(p.added, typ)
		}
		c := etl.NewColumn(typ, 1)
		if err := appendValue(&c, yamlScalar(f.Value)); err != nil {
			return nil, fmt.Errorf("default for %q: %v, the field is %s", f.Field, err, typ)
		}
		p.cols = append(p.cols, j)
		p.consts = append(p.consts, c)
	}
	var err error
	p.schema, err = etl.NewSchema(fields...)
	return p, err
}

// yamlScalar normalises a decoded YAML scalar (uint64 → int64).
func yamlScalar(v any) any {
	if u, ok := v.(uint64); ok {
		return int64(u)
	}
	return v
}

// Apply fills the missing values in place.
func (s *defaultStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	p, err := s.plans.get(b.Schema, s.plan)
	if err != nil {
		return nil, err
	}
	n := b.Len()
	for _, typ := range p.added {
		c := etl.NewColumn(typ, n)
		for i := 0; i < n; i++ {
			c.AppendNull()
		}
		b.Cols = append(b.Cols, c)
	}
	b.Schema = p.schema
	for k, j := range p.cols {
		col, def := &b.Cols[j], &p.consts[k]
		for i := 0; i < n; i++ {
			missing := col.Null[i] || col.Type == etl.TypeString && strings.TrimSpace(col.Str[i]) == ""
			if missing {
				col.Null[i] = false
				switch col.Type {
				case etl.TypeString:
					col.Str[i] = def.Str[0]
				case etl.TypeInt:
					col.Int[i] = def.Int[0]
				case etl.TypeFloat:
					col.Float[i] = def.Float[0]
				case etl.TypeBool:
					col.Bool[i] = def.Bool[0]
				case etl.TypeTimestamp, etl.TypeDate:
					col.Time[i] = def.Time[0]
				case etl.TypeJSON:
					col.JSON[i] = def.JSON[0]
				}
			}
		}
	}
	return b, nil
}
