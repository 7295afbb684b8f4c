package transforms

import (
	"context"
	"fmt"

	"github.com/expr-lang/expr"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "filter",
			Summary: "Keep the rows for which an expression is true; drop the others.",
			Example: `filter: 'lower(country) == "de" && lead_score >= 50'`,
			Config:  func() any { return new(FilterConfig) },
		},
		New: newFilter,
	})
}

// FilterConfig is the filter step's config: an expr-lang expression, written
// as a string or as { expr: '...' }.
type FilterConfig struct {
	Expr string

	// mapping records the { expr: } form, to point errors at the expr key.
	mapping bool
}

type filterConfigYAML struct {
	Expr string `yaml:"expr"`
}

// UnmarshalYAML accepts a string or a mapping with one key, expr.
func (c *FilterConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var raw any
	if err := unmarshal(&raw); err != nil {
		return err
	}
	switch v := raw.(type) {
	case string:
		*c = FilterConfig{Expr: v}
		return nil
	case map[string]any:
		var m filterConfigYAML
		if err := unmarshal(&m); err != nil {
			return err
		}
		*c = FilterConfig{Expr: m.Expr, mapping: true}
		return nil
	case nil:
		*c = FilterConfig{}
		return nil
	}
	return fmt.Errorf("filter: want an expression string or { expr: '...' }, got %T", raw)
}

// filterStep drops the rows for which its expression is false, and
// rejects those for which it fails.
type filterStep struct {
	name  string
	expr  *compiledExpr
	binds schemaCache[*exprBinding]
}

var _ etl.Step = (*filterStep)(nil)

func newFilter(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*FilterConfig)
	if !ok {
		return nil, fmt.Errorf("filter: config is %T, want *FilterConfig", cfg)
	}
	var path []string
	if c.mapping {
		path = []string{"expr"}
	}
	compiled, err := compileExpr(env.Clock, c.Expr, expr.AsBool())
	if err != nil {
		return nil, &etl.FieldError{Path: path, Err: err}
	}
	return &filterStep{name: env.StepName, expr: compiled}, nil
}

// Apply evaluates the expression on every row: true keeps the row, false
// drops it, an error (comparing a null to a number, say) rejects it with
// the error as the reason.
func (s *filterStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	bnd, err := s.binds.get(b.Schema, s.expr.bind)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	n := b.Len()
	if n == 0 {
		return b, nil
	}
	eval := newExprEvaluator(s.expr, bnd)
	keep := make([]bool, n)
	kept := 0
	for i := 0; i < n; i++ {
		out, err := eval.eval(b, i)
		if err == nil {
			if v, isBool := out.(bool); isBool {
				keep[i] = v
			} else {
				err = fmt.Errorf("expression gave %T, want bool", out)
			}
		}
		if err != nil {
			b.Reject(i, s.name, "", "", "filter: "+err.Error())
			continue
		}
		if keep[i] {
			kept++
		}
	}
	if kept < n {
		b.Keep(keep)
	}
	return b, nil
}
