package transforms

import (
	"context"
	"fmt"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "select",
			Summary: "Keep only the listed fields, in the order listed.",
			Example: `select: [email, first_name, lead_score]`,
			Config:  func() any { return new(FieldList) },
		},
		New: func(cfg any, env etl.BuildEnv) (etl.Step, error) {
			l, ok := cfg.(*FieldList)
			if !ok {
				return nil, fmt.Errorf("select: config is %T, want *FieldList", cfg)
			}
			if err := l.check("select"); err != nil {
				return nil, err
			}
			fields := *l
			return &projectStep{plan: func(in *etl.Schema) (*projection, error) {
				cols, err := indexes(fields, in)
				if err != nil {
					return nil, err
				}
				return newProjection(in, cols)
			}}, nil
		},
	})
}

// projection picks columns of an input schema: select and drop.
type projection struct {
	schema *etl.Schema
	cols   []int
}

func newProjection(in *etl.Schema, cols []int) (*projection, error) {
	fields := make([]etl.Field, len(cols))
	for i, j := range cols {
		fields[i] = in.Field(j)
	}
	s, err := etl.NewSchema(fields...)
	if err != nil {
		return nil, err
	}
	return &projection{schema: s, cols: cols}, nil
}

// projectStep reorders and drops columns without copying their values.
type projectStep struct {
	plan  func(*etl.Schema) (*projection, error)
	plans schemaCache[*projection]
}

var _ etl.Step = (*projectStep)(nil)

// Apply swaps in the projected schema and columns.
func (s *projectStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	p, err := s.plans.get(b.Schema, s.plan)
	if err != nil {
		return nil, err
	}
	cols := make([]etl.Column, len(p.cols))
	for i, j := range p.cols {
		cols[i] = b.Cols[j]
	}
	b.Schema, b.Cols = p.schema, cols
	return b, nil
}
