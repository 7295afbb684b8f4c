package transforms

import (
	"context"
	"errors"
	"fmt"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "explode",
			Summary: "Turn a JSON array field into one row per element (a conversation document into its messages); the other fields are repeated.",
			Example: `explode: { field: messages, as: message, index: turn }`,
			Config:  func() any { return new(ExplodeConfig) },
		},
		New: newExplode,
	})
}

// ExplodeConfig is the explode step's config.
type ExplodeConfig struct {
	// Field is a json field holding an array.
	Field string `yaml:"field" doc:"a json field holding an array"`
	// As names the element's field; Field itself (replaced) by default.
	As string `yaml:"as" doc:"names the element's field; the exploded field itself (replaced) by default"`
	// Index, if set, adds the element's position (from 0) as an int field.
	Index string `yaml:"index" doc:"if set, adds the element's position (from 0) as an int field"`
	// KeepEmpty keeps a row with a null element for a null or empty array;
	// such rows are dropped by default.
	KeepEmpty bool `yaml:"keep_empty" doc:"keeps a row with a null element for a null or empty array; such rows are dropped by default"`
}

type explodeStep struct {
	name  string
	cfg   ExplodeConfig
	plans schemaCache[*explodePlan]
}

type explodePlan struct {
	schema *etl.Schema
	src    int
	// copy maps output columns to input columns; -1 for the element and
	// -2 for the index.
	copy []int
}

var _ etl.Step = (*explodeStep)(nil)

func newExplode(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*ExplodeConfig)
	if !ok {
		return nil, fmt.Errorf("explode: config is %T, want *ExplodeConfig", cfg)
	}
	if c.Field == "" {
		return nil, &etl.FieldError{Path: []string{"field"}, Err: errors.New("explode needs field: the array field")}
	}
	if c.As == "" {
		c.As = c.Field
	}
	if c.Index != "" && c.Index == c.As {
		return nil, &etl.FieldError{Path: []string{"index"}, Err: errors.New("index and as name the same field")}
	}
	return &explodeStep{name: env.StepName, cfg: *c}, nil
}

func (s *explodeStep) plan(in *etl.Schema) (*explodePlan, error) {
	p := &explodePlan{src: in.Index(s.cfg.Field)}
	if p.src < 0 {
		return nil, missingFieldError(s.cfg.Field, in)
	}
	if t := in.Field(p.src).Type; t != etl.TypeJSON {
		return nil, fmt.Errorf("explode: %q is %s, want a json array", s.cfg.Field, t)
	}
	var fields []etl.Field
	for j, f := range in.Fields() {
		if j == p.src && s.cfg.As == s.cfg.Field {
			fields = append(fields, f)
			p.copy = append(p.copy, -1)
			continue
		}
		fields = append(fields, f)
		p.copy = append(p.copy, j)
	}
	if s.cfg.As != s.cfg.Field {
		fields = append(fields, etl.Field{Name: s.cfg.As, Type: etl.TypeJSON})
		p.copy = append(p.copy, -1)
	}
	if s.cfg.Index != "" {
		fields = append(fields, etl.Field{Name: s.cfg.Index, Type: etl.TypeInt})
		p.copy = append(p.copy, -2)
	}
	var err error
	p.schema, err = etl.NewSchema(fields...)
	return p, err
}

// Apply builds the exploded batch; a value that is not an array is
// rejected.
func (s *explodeStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	p, err := s.plans.get(b.Schema, s.plan)
	if err != nil {
		return nil, err
	}
	out := etl.NewBatch(p.schema, b.Len())
	src := &b.Cols[p.src]
	for i := 0; i < b.Len(); i++ {
		var elems []any
		if !src.Null[i] {
			list, ok := src.JSON[i].([]any)
			if !ok {
				b.Reject(i, s.name, s.cfg.Field, etl.FormatValue(src.JSON[i]), fmt.Sprintf("explode: %s is not an array", s.cfg.Field))
				continue
			}
			elems = list
		}
		if len(elems) == 0 {
			if !s.cfg.KeepEmpty {
				continue
			}
			elems = []any{nil}
		}
		for e, v := range elems {
			for k, j := range p.copy {
				switch j {
				case -1:
					out.Cols[k].AppendJSON(v)
				case -2:
					out.Cols[k].AppendInt(int64(e))
				default:
					appendCell(&out.Cols[k], &b.Cols[j], i)
				}
			}
			appendRoutes(out, b.Routes, i)
			out.Origins = append(out.Origins, b.Origins[i])
		}
	}
	out.Rejects, out.Files = b.Rejects, b.Files
	return out, nil
}
