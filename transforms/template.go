package transforms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "template",
			Summary: "Build string fields from Go text/template strings over the row's fields.",
			Example: `template:
  greeting: 'Hi {{ .first_name }}, thanks for contacting {{ .company | upper }}!'
  crm_key: '{{ .lead_id }}-{{ lower .email }}'`,
			Config: func() any { return new(TemplateConfig) },
		},
		New: newTemplate,
	})
}

// TemplateConfig is the template step's config: field → template, in
// order. Fields are read as {{ .name }} (null prints as nothing);
// functions: lower, upper, trim, default.
type TemplateConfig struct {
	Fields []TemplateField
}

// TemplateField is one templated field.
type TemplateField struct {
	Field    string
	Template string
}

// UnmarshalYAML decodes the mapping keeping its order.
func (c *TemplateConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var order yaml.MapSlice
	if err := unmarshal(&order); err != nil {
		return errors.New("want a mapping of field: template")
	}
	for _, item := range order {
		s, ok := item.Value.(string)
		if !ok {
			return fmt.Errorf("%v: want a template string", item.Key)
		}
		c.Fields = append(c.Fields, TemplateField{Field: fmt.Sprint(item.Key), Template: s})
	}
	return nil
}

var templateFuncs = template.FuncMap{
	"lower": func(v any) string { return strings.ToLower(templateText(v)) },
	"upper": func(v any) string { return strings.ToUpper(templateText(v)) },
	"trim":  func(v any) string { return strings.TrimSpace(templateText(v)) },
	"default": func(def string, v any) any {
		if v == nil || v == "" {
			return def
		}
		return v
	},
}

// templateText is a value as text for the template functions; null is "".
func templateText(v any) string {
	if v == nil {
		return ""
	}
	return etl.FormatValue(v)
}

type compiledTemplate struct {
	field  string
	tmpl   *template.Template
	fields []string // the top-level fields it reads
}

type templateStep struct {
	name  string
	tmpls []compiledTemplate
	plans schemaCache[*templatePlan]
}

type templatePlan struct {
	schema *etl.Schema
	to     []int
	// read are the columns each template reads, by field name.
	read [][]int
}

var _ etl.Step = (*templateStep)(nil)

func newTemplate(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*TemplateConfig)
	if !ok {
		return nil, fmt.Errorf("template: config is %T, want *TemplateConfig", cfg)
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Err: errors.New("template needs at least one field: { field: template }")}
	}
	s := &templateStep{name: env.StepName}
	for _, f := range c.Fields {
		t, err := template.New(f.Field).Funcs(templateFuncs).Option("missingkey=zero").Parse(f.Template)
		if err != nil {
			return nil, &etl.FieldError{Path: []string{f.Field}, Err: err}
		}
		s.tmpls = append(s.tmpls, compiledTemplate{field: f.Field, tmpl: t, fields: templateFields(t.Tree.Root)})
	}
	return s, nil
}

// templateFields lists the .field references of a template outside range
// and with blocks (where the dot is something else).
func templateFields(root parse.Node) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch x := n.(type) {
		case *parse.ListNode:
			if x == nil {
				return
			}
			for _, c := range x.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(x.Pipe)
		case *parse.PipeNode:
			if x == nil {
				return
			}
			for _, c := range x.Cmds {
				for _, a := range c.Args {
					walk(a)
				}
			}
		case *parse.FieldNode:
			if len(x.Ident) > 0 && !seen[x.Ident[0]] {
				seen[x.Ident[0]] = true
				out = append(out, x.Ident[0])
			}
		case *parse.IfNode:
			walk(x.Pipe)
			walk(x.List)
			walk(x.ElseList)
		}
	}
	walk(root)
	return out
}

func (s *templateStep) plan(in *etl.Schema) (*templatePlan, error) {
	p := &templatePlan{}
	fields := in.Fields()
	cur := in
	for _, t := range s.tmpls {
		read, err := indexes(t.fields, cur)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", t.field, err)
		}
		to := cur.Index(t.field)
		if to < 0 {
			to = len(fields)
			fields = append(fields, etl.Field{Name: t.field, Type: etl.TypeString})
		} else {
			fields[to].Type = etl.TypeString
		}
		if cur, err = etl.NewSchema(fields...); err != nil {
			return nil, err
		}
		p.to, p.read = append(p.to, to), append(p.read, read)
	}
	p.schema = cur
	return p, nil
}

// Apply renders each template for every row, through one reused data map.
func (s *templateStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	p, err := s.plans.get(b.Schema, s.plan)
	if err != nil {
		return nil, err
	}
	n := b.Len()
	drop := make([]bool, n)
	var buf strings.Builder
	for k, t := range s.tmpls {
		data := make(map[string]any, len(t.fields))
		out := etl.NewColumn(etl.TypeString, n)
		for i := 0; i < n; i++ {
			for f, j := range p.read[k] {
				data[t.fields[f]] = b.Cols[j].Value(i)
			}
			buf.Reset()
			if err := t.tmpl.Execute(&buf, data); err != nil {
				if !drop[i] {
					b.Reject(i, s.name, t.field, "", "template: "+err.Error())
					drop[i] = true
				}
				out.AppendNull()
				continue
			}
			out.AppendString(strings.ReplaceAll(buf.String(), "<no value>", ""))
		}
		if p.to[k] == len(b.Cols) {
			b.Cols = append(b.Cols, out)
		} else {
			b.Cols[p.to[k]] = out
		}
	}
	b.Schema = p.schema
	keepUnrejected(b, drop)
	return b, nil
}
