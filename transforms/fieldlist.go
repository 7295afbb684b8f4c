package transforms

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
	"unsafe"

	"github.com/nightjar-etl/nightjar/etl"
)

// FieldList is a list of field names, written in YAML as a list or, for
// one field, as a plain string.
type FieldList []string

// UnmarshalYAML accepts a string or a list of strings.
func (l *FieldList) UnmarshalYAML(unmarshal func(any) error) error {
	var sl stringList
	if err := unmarshal(&sl); err != nil {
		return errors.New("want a field name or a list of field names")
	}
	*l = FieldList(sl)
	return nil
}

// check validates a list of fields: at least one, no empty or repeated
// name. Errors point at the list item.
func (l FieldList) check(kind string, prefix ...string) error {
	if len(l) == 0 {
		return &etl.FieldError{Path: prefix, Err: fmt.Errorf("%s needs at least one field", kind)}
	}
	seen := make(map[string]bool, len(l))
	for i, f := range l {
		at := append(append([]string(nil), prefix...), fmt.Sprint(i))
		if f == "" {
			return &etl.FieldError{Path: at, Err: errors.New("empty field name")}
		}
		if seen[f] {
			return &etl.FieldError{Path: at, Err: fmt.Errorf("field %q listed twice", f)}
		}
		seen[f] = true
	}
	return nil
}

// indexes resolves names against s.
func indexes(names []string, s *etl.Schema) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		j := s.Index(n)
		if j < 0 {
			return nil, missingFieldError(n, s)
		}
		out[i] = j
	}
	return out, nil
}

// stringIndexes is indexes for steps that work on text only.
func stringIndexes(kind string, names []string, s *etl.Schema) ([]int, error) {
	out, err := indexes(names, s)
	if err != nil {
		return nil, err
	}
	for k, j := range out {
		if t := s.Field(j).Type; t != etl.TypeString {
			return nil, fmt.Errorf("%s applies to string fields; %q is %s (cast it to string first, or leave it out)", kind, names[k], t)
		}
	}
	return out, nil
}

// textStep applies a string transformation in place to named string
// fields: trim, lower and upper.
type textStep struct {
	name   string
	kind   string
	fields []string
	apply  func(c *etl.Column)
	plans  schemaCache[[]int]
}

var _ etl.Step = (*textStep)(nil)

func newTextStep(kind string, apply func(c *etl.Column)) func(cfg any, env etl.BuildEnv) (etl.Step, error) {
	return func(cfg any, env etl.BuildEnv) (etl.Step, error) {
		l, ok := cfg.(*FieldList)
		if !ok {
			return nil, fmt.Errorf("%s: config is %T, want *FieldList", kind, cfg)
		}
		if err := l.check(kind); err != nil {
			return nil, err
		}
		return &textStep{name: env.StepName, kind: kind, fields: *l, apply: apply}, nil
	}
}

// Apply rewrites the named columns in place; nulls stay null.
func (s *textStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	cols, err := s.plans.get(b.Schema, func(in *etl.Schema) ([]int, error) { return stringIndexes(s.kind, s.fields, in) })
	if err != nil {
		return nil, err
	}
	for _, j := range cols {
		s.apply(&b.Cols[j])
	}
	return b, nil
}

// mapASCIICase rewrites every string of c with conv, which maps ASCII
// letters one to one. Strings that are already right are kept as they are;
// the changed ASCII ones are written into one arena per column and batch,
// so the step allocates nothing per row. Non-ASCII strings go through
// full, per-string Unicode mapping.
func mapASCIICase(c *etl.Column, needs func(byte) bool, conv func(byte) byte, unicodeMap func(string) string) {
	size := 0
	for i, v := range c.Str {
		if c.Null[i] {
			continue
		}
		for k := 0; k < len(v); k++ {
			if v[k] >= utf8.RuneSelf || needs(v[k]) {
				size += len(v)
				break
			}
		}
	}
	if size == 0 {
		return
	}
	arena := make([]byte, 0, size)
	for i, v := range c.Str {
		if c.Null[i] {
			continue
		}
		change, ascii := false, true
		for k := 0; k < len(v); k++ {
			if v[k] >= utf8.RuneSelf {
				ascii = false
				break
			}
			if needs(v[k]) {
				change = true
			}
		}
		if !ascii {
			c.Str[i] = unicodeMap(v)
			continue
		}
		if !change {
			continue
		}
		start := len(arena)
		for k := 0; k < len(v); k++ {
			arena = append(arena, conv(v[k]))
		}
		c.Str[i] = unsafe.String(&arena[start], len(v))
	}
}
