package transforms

import (
	"fmt"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "drop",
			Summary: "Remove the listed fields; the others keep their order.",
			Example: `drop: [internal_notes, raw_payload]`,
			Config:  func() any { return new(DropConfig) },
		},
		New: newDrop,
	})
}

// DropConfig is the drop step's config: the fields to remove, as a list,
// or { fields: [...], missing_ok: true } to accept inputs that lack some.
type DropConfig struct {
	Fields    FieldList `yaml:"fields"`
	MissingOK bool      `yaml:"missing_ok"`
}

// UnmarshalYAML accepts a field list or the mapping form.
func (c *DropConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var l FieldList
	if err := unmarshal(&l); err == nil {
		*c = DropConfig{Fields: l}
		return nil
	}
	type plain DropConfig
	return unmarshal((*plain)(c))
}

func newDrop(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*DropConfig)
	if !ok {
		return nil, fmt.Errorf("drop: config is %T, want *DropConfig", cfg)
	}
	if err := c.Fields.check("drop"); err != nil {
		return nil, err
	}
	fields := c.Fields
	return &projectStep{plan: func(in *etl.Schema) (*projection, error) {
		gone := make(map[int]bool, len(fields))
		for _, f := range fields {
			j := in.Index(f)
			if j < 0 && !c.MissingOK {
				return nil, missingFieldError(f, in)
			}
			gone[j] = true
		}
		var cols []int
		for j := 0; j < in.Len(); j++ {
			if !gone[j] {
				cols = append(cols, j)
			}
		}
		return newProjection(in, cols)
	}}, nil
}
