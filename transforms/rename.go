package transforms

import (
	"context"
	"errors"
	"fmt"

	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "rename",
			Summary: "Rename fields: old name → new name; the values are not copied.",
			Example: `rename: { "E-Mail Address": email, "First Name": first_name }`,
			Config:  func() any { return new(RenameConfig) },
		},
		New: newRename,
	})
}

// RenameConfig is the rename step's config: a mapping from old field name to
// new field name, kept in the order written.
type RenameConfig struct {
	Fields []Rename
}

// Rename renames one field.
type Rename struct {
	From string
	To   string
}

// UnmarshalYAML decodes the mapping keeping its order.
func (c *RenameConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var order yaml.MapSlice
	if err := unmarshal(&order); err != nil {
		return err
	}
	var names map[string]string
	if err := unmarshal(&names); err != nil {
		return err
	}
	c.Fields = make([]Rename, 0, len(order))
	for _, item := range order {
		from := fmt.Sprint(item.Key)
		c.Fields = append(c.Fields, Rename{From: from, To: names[from]})
	}
	return nil
}

// renameStep renames fields by swapping the batch's schema: the columns are
// reused as they are.
type renameStep struct {
	name    string
	renames []Rename
	plans   schemaCache[*etl.Schema]
}

var _ etl.Step = (*renameStep)(nil)

func newRename(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*RenameConfig)
	if !ok {
		return nil, fmt.Errorf("rename: config is %T, want *RenameConfig", cfg)
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Err: errors.New("rename needs at least one field: { old: new }")}
	}
	targets := make(map[string]string, len(c.Fields))
	for _, r := range c.Fields {
		if r.To == "" {
			return nil, &etl.FieldError{Path: []string{r.From}, Err: fmt.Errorf("no new name for %q", r.From)}
		}
		if prev, dup := targets[r.To]; dup {
			return nil, &etl.FieldError{Path: []string{r.From}, Err: fmt.Errorf("%q and %q are both renamed to %q", prev, r.From, r.To)}
		}
		targets[r.To] = r.From
	}
	return &renameStep{name: env.StepName, renames: c.Fields}, nil
}

// Apply gives b the renamed schema, built once per input schema.
func (s *renameStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	out, err := s.plans.get(b.Schema, s.plan)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	b.Schema = out
	return b, nil
}

// plan builds the output schema for in. All renames apply at once, so
// { a: b, b: a } swaps two fields.
func (s *renameStep) plan(in *etl.Schema) (*etl.Schema, error) {
	fields := in.Fields()
	renamed := make(map[int]string, len(s.renames))
	for _, r := range s.renames {
		i := in.Index(r.From)
		if i < 0 {
			return nil, missingFieldError(r.From, in)
		}
		fields[i].Name = r.To
		renamed[i] = r.From
	}
	seen := make(map[string]int, len(fields))
	for i, f := range fields {
		if j, dup := seen[f.Name]; dup {
			// One of the two is a renamed field (the input has no duplicates).
			from, to := renamed[i], f.Name
			if from == "" {
				from = renamed[j]
			}
			return nil, fmt.Errorf("renaming %q to %q: the input already has a field %q", from, to, to)
		}
		seen[f.Name] = i
	}
	return etl.NewSchema(fields...)
}
