package transforms

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/expr-lang/expr"
	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "score",
			Summary: "Add up the points of the rules whose condition holds into a score field, and name a tier by thresholds (lead qualification).",
			Example: `score:
  field: lead_score
  rules:
    - { when: 'email != nil', points: 20 }
    - { when: 'phone != nil', points: 15 }
    - { when: 'handoff', points: 30 }
    - { when: 'turns >= 6', points: 10 }
  tiers: { hot: 60, warm: 30, cold: 0 }
  tier_field: tier`,
			Config: func() any { return new(ScoreConfig) },
		},
		New: newScore,
	})
}

// ScoreConfig is the score step's config.
type ScoreConfig struct {
	// Field receives the score (an int; float when a rule's points are
	// fractional). "score" by default.
	Field string `yaml:"field" doc:"receives the score (an int; float when a rule's points are fractional)"`
	// Rules are conditions with the points they add (negative to subtract).
	Rules []ScoreRule `yaml:"rules" doc:"conditions with the points they add (negative to subtract)"`
	// Tiers maps a tier name to the lowest score it takes; a row gets the
	// tier with the highest threshold its score reaches, null below all.
	Tiers yaml.MapSlice `yaml:"tiers" doc:"maps a tier name to the lowest score it takes; a row gets the tier with the highest threshold its score reaches, null below all"`
	// TierField receives the tier; "tier" by default.
	TierField string `yaml:"tier_field" doc:"receives the tier; \"tier\" by default"`
}

// ScoreRule is one scoring rule.
type ScoreRule struct {
	When   string  `yaml:"when" doc:"an expression; when it is true for a row, the rule's points are added"`
	Points float64 `yaml:"points" doc:"the points the rule adds (negative to subtract)"`
}

type scoreTier struct {
	name string
	min  float64
}

type scoreStep struct {
	name      string
	field     string
	tierField string
	rules     []*compiledExpr
	points    []float64
	integral  bool
	tiers     []scoreTier
	binds     []schemaCache[*exprBinding]
	plans     schemaCache[*etl.Schema]
}

var _ etl.Step = (*scoreStep)(nil)

func newScore(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*ScoreConfig)
	if !ok {
		return nil, fmt.Errorf("score: config is %T, want *ScoreConfig", cfg)
	}
	if len(c.Rules) == 0 {
		return nil, &etl.FieldError{Path: []string{"rules"}, Err: errors.New("score needs rules: [{ when, points }]")}
	}
	s := &scoreStep{name: env.StepName, field: c.Field, tierField: c.TierField, integral: true}
	if s.field == "" {
		s.field = "score"
	}
	if s.tierField == "" {
		s.tierField = "tier"
	}
	for i, r := range c.Rules {
		compiled, err := compileExpr(env.Clock, r.When, expr.AsBool())
		if err != nil {
			return nil, &etl.FieldError{Path: []string{"rules", fmt.Sprint(i), "when"}, Err: err}
		}
		s.rules = append(s.rules, compiled)
		s.points = append(s.points, r.Points)
		if r.Points != math.Trunc(r.Points) {
			s.integral = false
		}
	}
	for _, t := range c.Tiers {
		v, ok := argNumber(t.Value)
		if !ok {
			return nil, &etl.FieldError{Path: []string{"tiers", fmt.Sprint(t.Key)}, Err: errors.New("want the tier's lowest score, a number")}
		}
		s.tiers = append(s.tiers, scoreTier{name: fmt.Sprint(t.Key), min: v})
	}
	sort.SliceStable(s.tiers, func(a, b int) bool { return s.tiers[a].min > s.tiers[b].min })
	s.binds = make([]schemaCache[*exprBinding], len(s.rules))
	return s, nil
}

// Apply scores every row; a rule that fails to evaluate (a null where a
// number is needed) counts as not met.
func (s *scoreStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	n := b.Len()
	evals := make([]*exprEvaluator, len(s.rules))
	for k, r := range s.rules {
		bnd, err := s.binds[k].get(b.Schema, r.bind)
		if err != nil {
			return nil, fmt.Errorf("rules[%d]: %w", k, err)
		}
		evals[k] = newExprEvaluator(r, bnd)
	}
	scoreType := etl.TypeFloat
	if s.integral {
		scoreType = etl.TypeInt
	}
	scores := etl.NewColumn(scoreType, n)
	tiers := etl.NewColumn(etl.TypeString, n)
	for i := 0; i < n; i++ {
		total := 0.0
		for k, e := range evals {
			if v, err := e.eval(b, i); err == nil && v == true {
				total += s.points[k]
			}
		}
		if s.integral {
			scores.AppendInt(int64(total))
		} else {
			scores.AppendFloat(total)
		}
		tier := -1
		for t := range s.tiers {
			if total >= s.tiers[t].min {
				tier = t
				break
			}
		}
		if tier < 0 {
			tiers.AppendNull()
		} else {
			tiers.AppendString(s.tiers[tier].name)
		}
	}
	out, err := s.plans.get(b.Schema, func(in *etl.Schema) (*etl.Schema, error) {
		fields := in.Fields()
		for _, f := range []etl.Field{{Name: s.field, Type: scoreType}, {Name: s.tierField, Type: etl.TypeString}} {
			if len(s.tiers) == 0 && f.Name == s.tierField {
				continue
			}
			if j := in.Index(f.Name); j >= 0 {
				fields[j] = f
			} else {
				fields = append(fields, f)
			}
		}
		return etl.NewSchema(fields...)
	})
	if err != nil {
		return nil, err
	}
	put := func(name string, c etl.Column) {
		if j := b.Schema.Index(name); j >= 0 {
			b.Cols[j] = c
		} else {
			b.Cols = append(b.Cols, c)
		}
	}
	put(s.field, scores)
	if len(s.tiers) > 0 {
		put(s.tierField, tiers)
	}
	b.Schema = out
	return b, nil
}
