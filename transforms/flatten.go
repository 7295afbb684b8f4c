package transforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "flatten",
			Summary: "Turn a nested JSON object field into columns (prefix + key); nested objects flatten recursively with the separator.",
			Example: `flatten: { field: message, prefix: "", separator: _, fields: { ts: string, role: string, text: string } }`,
			Config:  func() any { return new(FlattenConfig) },
		},
		New: newFlatten,
	})
}

// FlattenConfig is the flatten step's config.
type FlattenConfig struct {
	// Field is a json field holding objects; it is replaced by the columns.
	Field string `yaml:"field" doc:"a json field holding objects; it is replaced by the columns"`
	// Prefix is put before each key; "<field>_" by default. "" is allowed
	// when written.
	Prefix *string `yaml:"prefix" doc:"put before each key; \"<field>_\" by default"`
	// Separator joins nested keys ("_").
	Separator string `yaml:"separator" doc:"joins nested keys (\"_\")"`
	// Fields fixes the flattened keys and their types, in order. Without
	// it, the keys and types come from the first batch with rows and stay
	// fixed; a batch before it (the empty batches a step that holds rows
	// hands on) gets none of them, so a later step that names a flattened
	// field needs Fields.
	Fields yaml.MapSlice `yaml:"fields" doc:"fixes the flattened keys and their types, in order"`
	// Keep keeps the original field too.
	Keep bool `yaml:"keep" doc:"keeps the original field too"`
}

type flattenKey struct {
	path string // flattened key, without prefix
	typ  etl.Type
}

type flattenStep struct {
	name   string
	cfg    FlattenConfig
	prefix string
	mu     sync.Mutex
	keys   []flattenKey // fixed on first sight
	plans  schemaCache[*flattenPlan]
}

type flattenPlan struct {
	schema *etl.Schema
	src    int
	keep   []int
}

var _ etl.Step = (*flattenStep)(nil)

func newFlatten(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*FlattenConfig)
	if !ok {
		return nil, fmt.Errorf("flatten: config is %T, want *FlattenConfig", cfg)
	}
	if c.Field == "" {
		return nil, &etl.FieldError{Path: []string{"field"}, Err: errors.New("flatten needs field: the object field")}
	}
	if c.Separator == "" {
		c.Separator = "_"
	}
	s := &flattenStep{name: env.StepName, cfg: *c, prefix: c.Field + "_"}
	if c.Prefix != nil {
		s.prefix = *c.Prefix
	}
	for _, item := range c.Fields {
		t, err := etl.ParseType(fmt.Sprint(item.Value))
		if err != nil {
			return nil, &etl.FieldError{Path: []string{"fields", fmt.Sprint(item.Key)}, Err: err}
		}
		s.keys = append(s.keys, flattenKey{path: fmt.Sprint(item.Key), typ: t})
	}
	return s, nil
}

// flattenInto walks an object, writing leaf values by flattened key.
func flattenInto(dst map[string]any, prefix, sep string, v map[string]any) {
	for k, x := range v {
		if m, ok := x.(map[string]any); ok {
			flattenInto(dst, prefix+k+sep, sep, m)
			continue
		}
		dst[prefix+k] = x
	}
}

// fixedKeys returns the keys and their types: from config, or found in
// the first batch with rows; nil before that batch (a step that holds rows
// hands on every input batch empty, and those must not fix the keys).
func (s *flattenStep) fixedKeys(b *etl.Batch, src int) []flattenKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil && b.Len() > 0 {
		s.discover(b, src)
	}
	return s.keys
}

// discover fixes the keys and their types from a batch; s.mu is held.
func (s *flattenStep) discover(b *etl.Batch, src int) {
	types := map[string]etl.Type{}
	c := &b.Cols[src]
	for i := 0; i < b.Len(); i++ {
		m, ok := c.JSON[i].(map[string]any)
		if c.Null[i] || !ok {
			continue
		}
		flat := map[string]any{}
		flattenInto(flat, "", s.cfg.Separator, m)
		for k, v := range flat {
			t, ok := jsonValueType(v)
			if !ok {
				continue
			}
			if old, seen := types[k]; seen && old != t {
				if old == etl.TypeInt && t == etl.TypeFloat || old == etl.TypeFloat && t == etl.TypeInt {
					t = etl.TypeFloat
				} else {
					t = etl.TypeJSON
				}
			}
			types[k] = t
		}
	}
	keys := make([]string, 0, len(types))
	for k := range types {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.keys = make([]flattenKey, 0, len(keys))
	for _, k := range keys {
		s.keys = append(s.keys, flattenKey{path: k, typ: types[k]})
	}
}

func jsonValueType(v any) (etl.Type, bool) {
	if n, ok := v.(json.Number); ok {
		if _, err := n.Int64(); err == nil {
			return etl.TypeInt, true
		}
		return etl.TypeFloat, true
	}
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return etl.TypeInt, true
	}
	return valueType(v)
}

func (s *flattenStep) plan(in *etl.Schema, keys []flattenKey) (*flattenPlan, error) {
	p := &flattenPlan{src: in.Index(s.cfg.Field)}
	var fields []etl.Field
	for j, f := range in.Fields() {
		if j == p.src && !s.cfg.Keep {
			continue
		}
		fields = append(fields, f)
		p.keep = append(p.keep, j)
	}
	for _, k := range keys {
		fields = append(fields, etl.Field{Name: s.prefix + k.path, Type: k.typ})
	}
	var err error
	p.schema, err = etl.NewSchema(fields...)
	if err != nil {
		return nil, fmt.Errorf("flatten: %w (set prefix)", err)
	}
	return p, nil
}

// Apply adds the columns; a value that does not fit its column's type is
// rejected.
func (s *flattenStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	src := b.Schema.Index(s.cfg.Field)
	if src < 0 {
		return nil, missingFieldError(s.cfg.Field, b.Schema)
	}
	if t := b.Schema.Field(src).Type; t != etl.TypeJSON {
		return nil, fmt.Errorf("flatten: %q is %s, want a json object", s.cfg.Field, t)
	}
	keys := s.fixedKeys(b, src)
	plan := func(in *etl.Schema) (*flattenPlan, error) { return s.plan(in, keys) }
	var p *flattenPlan
	var err error
	if keys != nil {
		p, err = s.plans.get(b.Schema, plan)
	} else {
		p, err = plan(b.Schema) // not kept: the keys are not known yet
	}
	if err != nil {
		return nil, err
	}
	n := b.Len()
	cols := make([]etl.Column, 0, len(p.keep)+len(keys))
	for _, j := range p.keep {
		cols = append(cols, b.Cols[j])
	}
	added := make([]etl.Column, len(keys))
	for k, key := range keys {
		added[k] = etl.NewColumn(key.typ, n)
	}
	drop := make([]bool, n)
	flat := map[string]any{}
	c := &b.Cols[src]
	for i := 0; i < n; i++ {
		clear(flat)
		if m, ok := c.JSON[i].(map[string]any); ok && !c.Null[i] {
			flattenInto(flat, "", s.cfg.Separator, m)
		} else if !c.Null[i] {
			b.Reject(i, s.name, s.cfg.Field, etl.FormatValue(c.JSON[i]), "flatten: not an object")
			drop[i] = true
		}
		for k, key := range keys {
			v := flat[key.path]
			if n, ok := v.(json.Number); ok {
				if key.typ == etl.TypeInt {
					if iv, err := n.Int64(); err == nil {
						v = iv
					}
				} else if f, err := n.Float64(); err == nil && key.typ == etl.TypeFloat {
					v = f
				}
			}
			if f, ok := v.(float64); ok && key.typ == etl.TypeInt && f == float64(int64(f)) {
				v = int64(f)
			}
			if err := appendValue(&added[k], v); err != nil {
				added[k].AppendNull()
				if !drop[i] {
					b.Reject(i, s.name, s.prefix+key.path, etl.FormatValue(v), fmt.Sprintf("flatten: %v, want %s", err, key.typ))
					drop[i] = true
				}
			}
		}
	}
	b.Schema, b.Cols = p.schema, append(cols, added...)
	keepUnrejected(b, drop)
	return b, nil
}
