package transforms

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "extract",
			Summary: "Copy the first match of a pattern in a text field into a new field (the first email or phone a visitor typed).",
			Example: `extract:
  visitor_email: { from: transcript, pattern: email }
  visitor_phone: { from: transcript, pattern: phone }
  order_no: { from: notes, regex: 'ORD-([0-9]{6})' }`,
			Config: func() any { return new(ExtractConfig) },
		},
		New: newExtract,
	})
}

// ExtractConfig is the extract step's config: new field → rule, in order.
type ExtractConfig struct {
	Fields []ExtractField
}

// ExtractField is one extracted field. Pattern names a built-in pattern
// (email, phone, card, iban, url); Regex is a regular expression whose
// first capture group (or whole match) is taken. All collects every match
// as a JSON list instead of the first. Regions are the regions (ISO 3166
// codes) whose national formats pattern phone recognises
// (DefaultPhoneRegions when empty).
type ExtractField struct {
	Field   string
	From    string   `yaml:"from"`
	Pattern string   `yaml:"pattern"`
	Regex   string   `yaml:"regex"`
	All     bool     `yaml:"all"`
	Regions []string `yaml:"regions"`
}

type extractFieldYAML struct {
	From    string   `yaml:"from"`
	Pattern string   `yaml:"pattern"`
	Regex   string   `yaml:"regex"`
	All     bool     `yaml:"all"`
	Regions []string `yaml:"regions"`
}

// UnmarshalYAML decodes the mapping keeping its order.
func (c *ExtractConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var order yaml.MapSlice
	if err := unmarshal(&order); err != nil {
		return errors.New("want a mapping of field: { from, pattern | regex }")
	}
	var rules map[string]extractFieldYAML
	if err := unmarshal(&rules); err != nil {
		return err
	}
	for _, item := range order {
		name := fmt.Sprint(item.Key)
		r := rules[name]
		c.Fields = append(c.Fields, ExtractField{Field: name, From: r.From, Pattern: r.Pattern, Regex: r.Regex, All: r.All, Regions: r.Regions})
	}
	return nil
}

type extractRule struct {
	ExtractField
	pattern *piiPattern
	group   int
}

type extractStep struct {
	rules []extractRule
	plans schemaCache[*extractPlan]
}

type extractPlan struct {
	schema *etl.Schema
	from   []int
}

var _ etl.Step = (*extractStep)(nil)

func newExtract(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*ExtractConfig)
	if !ok {
		return nil, fmt.Errorf("extract: config is %T, want *ExtractConfig", cfg)
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Err: errors.New("extract needs at least one field: { field: { from, pattern } }")}
	}
	s := &extractStep{}
	for _, f := range c.Fields {
		if f.From == "" {
			return nil, &etl.FieldError{Path: []string{f.Field}, Err: errors.New("missing key from (the text field to search)")}
		}
		r := extractRule{ExtractField: f}
		switch {
		case f.Pattern != "" && f.Regex != "":
			return nil, &etl.FieldError{Path: []string{f.Field, "regex"}, Err: errors.New("give pattern or regex, not both")}
		case f.Pattern != "":
			p, ok := builtinPatterns()[f.Pattern]
			if !ok {
				return nil, &etl.FieldError{Path: []string{f.Field, "pattern"}, Err: fmt.Errorf("unknown pattern %q (want %s, or use regex)", f.Pattern, strings.Join(builtinPatternNames, ", "))}
			}
			r.pattern = p
			if len(f.Regions) > 0 {
				if f.Pattern != "phone" {
					return nil, &etl.FieldError{Path: []string{f.Field, "regions"}, Err: errors.New("regions is for pattern phone")}
				}
				if err := checkPhoneRegions(f.Regions); err != nil {
					return nil, &etl.FieldError{Path: []string{f.Field, "regions"}, Err: err}
				}
				r.pattern = phonePattern(f.Regions)
			}
		case f.Regex != "":
			re, err := regexp.Compile(f.Regex)
			if err != nil {
				return nil, &etl.FieldError{Path: []string{f.Field, "regex"}, Err: fmt.Errorf("bad pattern: %v", err)}
			}
			r.pattern = &piiPattern{name: f.Field, re: re}
			if re.NumSubexp() > 0 {
				r.group = 1
			}
		default:
			return nil, &etl.FieldError{Path: []string{f.Field}, Err: errors.New("missing key pattern or regex")}
		}
		s.rules = append(s.rules, r)
	}
	return s, nil
}

func (s *extractStep) plan(in *etl.Schema) (*extractPlan, error) {
	p := &extractPlan{}
	fields := in.Fields()
	for _, r := range s.rules {
		j, err := stringIndexes("extract", []string{r.From}, in)
		if err != nil {
			return nil, err
		}
		p.from = append(p.from, j[0])
		typ := etl.TypeString
		if r.All {
			typ = etl.TypeJSON
		}
		if in.Index(r.Field) >= 0 {
			return nil, fmt.Errorf("extract: the input already has a field %q", r.Field)
		}
		fields = append(fields, etl.Field{Name: r.Field, Type: typ})
	}
	var err error
	p.schema, err = etl.NewSchema(fields...)
	return p, err
}

// Apply adds one column per rule.
func (s *extractStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	p, err := s.plans.get(b.Schema, s.plan)
	if err != nil {
		return nil, err
	}
	n := b.Len()
	for k, r := range s.rules {
		src := &b.Cols[p.from[k]]
		out := etl.NewColumn(p.schema.Field(b.Schema.Len()+k).Type, n)
		for i := 0; i < n; i++ {
			if src.Null[i] {
				out.AppendNull()
				continue
			}
			matches := r.matches(src.Str[i])
			switch {
			case r.All:
				list := make([]any, len(matches))
				for m, v := range matches {
					list[m] = v
				}
				out.AppendJSON(list)
			case len(matches) == 0:
				out.AppendNull()
			default:
				out.AppendString(matches[0])
			}
		}
		b.Cols = append(b.Cols, out)
	}
	b.Schema = p.schema
	return b, nil
}

// matches returns the valid matches in s (the capture group with regex),
// only the first unless All.
func (r *extractRule) matches(s string) []string {
	var out []string
	if r.group > 0 {
		limit := 1
		if r.All {
			limit = -1
		}
		for _, m := range r.pattern.re.FindAllStringSubmatch(s, limit) {
			out = append(out, m[r.group])
		}
		return out
	}
	for _, sp := range r.pattern.find(s) {
		out = append(out, s[sp[0]:sp[1]])
		if !r.All {
			break
		}
	}
	return out
}
