package transforms

import (
	"context"
	"errors"
	"fmt"

	"github.com/expr-lang/expr"
	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "route",
			Summary: "Send rows to named targets by condition: a target with name: N gets only the rows whose condition N holds; targets without a name get every row.",
			Example: `route:
  hot_leads: 'tier == "hot"'
  crm: 'email != nil && lead_score >= 30'`,
			Config: func() any { return new(RouteConfig) },
		},
		New: newRoute,
	})
}

// RouteConfig is the route step's config: route name → condition. A
// target opts into a route with `name: ROUTE`.
type RouteConfig struct {
	Routes yaml.MapSlice
}

// UnmarshalYAML decodes the mapping keeping its order.
func (c *RouteConfig) UnmarshalYAML(unmarshal func(any) error) error {
	if err := unmarshal(&c.Routes); err != nil {
		return errors.New("want a mapping of route name: condition")
	}
	return nil
}

type routeStep struct {
	name   string
	routes []string
	exprs  []*compiledExpr
	binds  []schemaCache[*exprBinding]
}

var _ etl.Step = (*routeStep)(nil)

func newRoute(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*RouteConfig)
	if !ok {
		return nil, fmt.Errorf("route: config is %T, want *RouteConfig", cfg)
	}
	if len(c.Routes) == 0 {
		return nil, &etl.FieldError{Err: errors.New("route needs at least one route: { name: condition }")}
	}
	s := &routeStep{name: env.StepName}
	for _, r := range c.Routes {
		name := fmt.Sprint(r.Key)
		src, ok := r.Value.(string)
		if !ok {
			if b, isBool := r.Value.(bool); isBool {
				src = fmt.Sprint(b)
			} else {
				return nil, &etl.FieldError{Path: []string{name}, Err: errors.New("want a condition (an expression)")}
			}
		}
		compiled, err := compileExpr(env.Clock, src, expr.AsBool())
		if err != nil {
			return nil, &etl.FieldError{Path: []string{name}, Err: err}
		}
		s.routes = append(s.routes, name)
		s.exprs = append(s.exprs, compiled)
	}
	s.binds = make([]schemaCache[*exprBinding], len(s.exprs))
	return s, nil
}

// Apply sets b.Routes; a condition that fails to evaluate is false (the
// row does not go that way) rather than a reject, since the other targets
// still want the row.
func (s *routeStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	n := b.Len()
	if b.Routes == nil {
		b.Routes = make(map[string][]bool, len(s.routes))
	}
	for k, r := range s.exprs {
		bnd, err := s.binds[k].get(b.Schema, r.bind)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", s.routes[k], err)
		}
		eval := newExprEvaluator(r, bnd)
		mask := make([]bool, n)
		for i := 0; i < n; i++ {
			v, err := eval.eval(b, i)
			mask[i] = err == nil && v == true
		}
		b.Routes[s.routes[k]] = mask
	}
	return b, nil
}
