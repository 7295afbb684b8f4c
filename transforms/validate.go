package transforms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "validate",
			Summary: "Check fields against rules; a failing row is rejected (quarantined), warned about, or fails the run.",
			Example: `validate:
  email: [required, email, unique]
  phone: { phone: true, action: warn }
  lead_score: { min: 0, max: 100 }
  country: { enum: [DE, AT, CH], action: warn }
  company: { length: { max: 80 } }
  lead_id: { regex: '^[0-9]+$', action: fail }
  created: { expr: 'created == nil || created <= now()' }`,
			Config: func() any { return new(ValidateConfig) },
		},
		New: newValidate,
	})
}

// ValidateConfig is the validate step's config: field → rules, in order.
// A field's rules are a rule name, a list of rules, or a mapping of rule →
// argument with an optional action; a list item may be a mapping with its
// own action:
//
//	email: [required, email]
//	score: { min: 0, max: 100, action: warn }
//	phone: [required, { phone: true, action: warn }]
type ValidateConfig struct {
	Fields []ValidateField
}

// ValidateField is the rules of one field.
type ValidateField struct {
	Field string
	Rules []ValidateRule
}

// ValidateRule is one rule: its kind (required, email, phone, url, regex,
// enum, min, max, length, unique, expr), its argument and its action
// (reject, warn or fail). path locates it in the YAML for errors.
type ValidateRule struct {
	Kind   string
	Arg    any
	Action string
	path   []string
}

var validateKinds = []string{"required", "email", "phone", "url", "regex", "enum", "min", "max", "length", "unique", "expr"}

// UnmarshalYAML decodes the mapping keeping its order.
func (c *ValidateConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var order yaml.MapSlice
	if err := unmarshal(&order); err != nil {
		return errors.New("want a mapping of field: rules")
	}
	for _, item := range order {
		name := fmt.Sprint(item.Key)
		f := ValidateField{Field: name}
		switch v := item.Value.(type) {
		case string:
			f.Rules = append(f.Rules, ValidateRule{Kind: v, path: []string{name}})
		case []any:
			for i, x := range v {
				at := []string{name, strconv.Itoa(i)}
				switch r := x.(type) {
				case string:
					f.Rules = append(f.Rules, ValidateRule{Kind: r, path: at})
				case map[string]any:
					f.Rules = append(f.Rules, rulesOfMapping(r, at)...)
				default:
					return fmt.Errorf("%s[%d]: want a rule name or { rule: argument }", name, i)
				}
			}
		case map[string]any:
			f.Rules = rulesOfMapping(v, []string{name})
		default:
			return fmt.Errorf("%s: want a rule, a list of rules or { rule: argument }", name)
		}
		c.Fields = append(c.Fields, f)
	}
	return nil
}

// rulesOfMapping reads { min: 0, max: 10, action: warn } in a stable order.
func rulesOfMapping(m map[string]any, at []string) []ValidateRule {
	action, _ := m["action"].(string)
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "action" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []ValidateRule
	for _, k := range keys {
		out = append(out, ValidateRule{Kind: k, Arg: m[k], Action: action, path: append(slices.Clone(at), k)})
	}
	if len(out) == 0 && action != "" {
		out = append(out, ValidateRule{Kind: "", Action: action, path: append(slices.Clone(at), "action")})
	}
	return out
}

// Actions of a failed rule.
const (
	actionReject = "reject"
	actionWarn   = "warn"
	actionFail   = "fail"
)

// rule is a validated ValidateRule.
type rule struct {
	field  string
	kind   string
	action string
	// check reports why a non-null value fails (text is the value as text);
	// "" when it passes.
	check func(c *etl.Column, i int, text string) string
	// expression rule
	expr  *compiledExpr
	binds schemaCache[*exprBinding]
	// unique rule: values seen in this run
	mu   sync.Mutex
	seen map[string]struct{}
}

type validateStep struct {
	name   string
	logger *slog.Logger
	rules  []*rule
	plans  schemaCache[[]int]

	warnMu sync.Mutex
	warns  int
}

var _ etl.Step = (*validateStep)(nil)

// maxLoggedWarnings bounds the warnings a validate step logs per run; the
// rest are only counted.
const maxLoggedWarnings = 20

func newValidate(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*ValidateConfig)
	if !ok {
		return nil, fmt.Errorf("validate: config is %T, want *ValidateConfig", cfg)
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Err: errors.New("validate needs at least one field: { field: [rules] }")}
	}
	s := &validateStep{name: env.StepName, logger: env.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	for _, f := range c.Fields {
		if len(f.Rules) == 0 {
			return nil, &etl.FieldError{Path: []string{f.Field}, Err: errors.New("no rules")}
		}
		for _, r := range f.Rules {
			compiled, err := newRule(env.Clock, f.Field, r)
			if err != nil {
				return nil, &etl.FieldError{Path: r.path, Err: err}
			}
			s.rules = append(s.rules, compiled)
		}
	}
	return s, nil
}

func argNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case uint64:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func newRule(clock etl.Clock, field string, r ValidateRule) (*rule, error) {
	out := &rule{field: field, kind: r.Kind, action: r.Action}
	switch r.Action {
	case "":
		out.action = actionReject
	case actionReject, actionWarn, actionFail:
	default:
		return nil, fmt.Errorf("unknown action %q (want reject, warn or fail)", r.Action)
	}
	flag := func() error {
		if r.Arg == nil {
			return nil
		}
		if b, ok := r.Arg.(bool); !ok || !b {
			return fmt.Errorf("%s takes no argument (write %s, or %s: true)", r.Kind, r.Kind, r.Kind)
		}
		return nil
	}
	switch r.Kind {
	case "required":
		return out, flag()
	case "email":
		out.check = func(_ *etl.Column, _ int, s string) string {
			if validEmail(s) {
				return ""
			}
			return "not an email address"
		}
		return out, flag()
	case "phone":
		out.check = func(_ *etl.Column, _ int, s string) string {
			if n := phoneDigits(s); n >= 7 && n <= 15 && strings.Trim(s, "+0123456789 ()-./") == "" {
				return ""
			}
			return "not a phone number"
		}
		return out, flag()
	case "url":
		out.check = func(_ *etl.Column, _ int, s string) string {
			if validURL(s) {
				return ""
			}
			return "not an http(s) URL"
		}
		return out, flag()
	case "regex":
		src, ok := r.Arg.(string)
		if !ok || src == "" {
			return nil, errors.New("regex wants a pattern string")
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("bad pattern: %v", err)
		}
		out.check = func(_ *etl.Column, _ int, s string) string {
			if re.MatchString(s) {
				return ""
			}
			return "does not match " + src
		}
		return out, nil
	case "enum":
		list, ok := r.Arg.([]any)
		if !ok || len(list) == 0 {
			return nil, errors.New("enum wants a list of allowed values")
		}
		allowed := make(map[string]bool, len(list))
		names := make([]string, len(list))
		for i, x := range list {
			names[i] = etl.FormatValue(yamlScalar(x))
			allowed[names[i]] = true
		}
		reason := "not one of " + strings.Join(names, ", ")
		out.check = func(_ *etl.Column, _ int, s string) string {
			if allowed[s] {
				return ""
			}
			return reason
		}
		return out, nil
	case "min", "max":
		return out, numberBound(out, r)
	case "length":
		return out, lengthRule(out, r.Arg)
	case "unique":
		out.seen = make(map[string]struct{})
		return out, flag()
	case "expr":
		src, ok := r.Arg.(string)
		if !ok {
			return nil, errors.New("expr wants an expression string")
		}
		c, err := compileExpr(clock, src, expr.AsBool())
		if err != nil {
			return nil, err
		}
		out.expr = c
		return out, nil
	case "":
		return nil, errors.New("action without a rule")
	}
	return nil, fmt.Errorf("unknown rule %q (want %s)", r.Kind, strings.Join(validateKinds, ", "))
}

// numberBound makes a min or max rule for numbers and times.
func numberBound(out *rule, r ValidateRule) error {
	isMin := r.Kind == "min"
	word := "at most"
	if isMin {
		word = "at least"
	}
	if s, ok := r.Arg.(string); ok {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, s); err != nil {
				return fmt.Errorf("%s wants a number or an RFC 3339 time, got %q", r.Kind, s)
			}
		}
		reason := fmt.Sprintf("must be %s %s", word, s)
		out.check = func(c *etl.Column, i int, _ string) string {
			if c.Type != etl.TypeTimestamp && c.Type != etl.TypeDate {
				return fmt.Sprintf("%s with a time applies to timestamp and date fields, not %s", r.Kind, c.Type)
			}
			if cmp := c.Time[i].Compare(t); isMin && cmp < 0 || !isMin && cmp > 0 {
				return reason
			}
			return ""
		}
		return nil
	}
	bound, ok := argNumber(r.Arg)
	if !ok {
		return fmt.Errorf("%s wants a number", r.Kind)
	}
	reason := fmt.Sprintf("must be %s %s", word, strconv.FormatFloat(bound, 'g', -1, 64))
	out.check = func(c *etl.Column, i int, text string) string {
		var v float64
		switch c.Type {
		case etl.TypeInt:
			v = float64(c.Int[i])
		case etl.TypeFloat:
			v = c.Float[i]
		default:
			return fmt.Sprintf("%s applies to int and float fields, not %s (cast it first)", r.Kind, c.Type)
		}
		if isMin && v < bound || !isMin && v > bound {
			return reason
		}
		return ""
	}
	return nil
}

// lengthRule: length: 5 (exactly) or length: { min: 1, max: 80 }, in
// characters.
func lengthRule(out *rule, arg any) error {
	lo, hi := -1.0, -1.0
	if n, ok := argNumber(arg); ok {
		lo, hi = n, n
	} else if m, ok := arg.(map[string]any); ok {
		for k, v := range m {
			n, ok := argNumber(v)
			if !ok {
				return fmt.Errorf("length %s wants a number", k)
			}
			switch k {
			case "min":
				lo = n
			case "max":
				hi = n
			default:
				return fmt.Errorf("length: unknown key %s (want min, max)", k)
			}
		}
	} else {
		return errors.New("length wants a number or { min, max }")
	}
	out.check = func(_ *etl.Column, _ int, s string) string {
		n := float64(utf8.RuneCountInString(s))
		switch {
		case lo >= 0 && n < lo:
			return fmt.Sprintf("shorter than %g characters", lo)
		case hi >= 0 && n > hi:
			return fmt.Sprintf("longer than %g characters", hi)
		}
		return ""
	}
	return nil
}

// Apply checks every row against every rule; a row is rejected for its
// first failing reject rule.
func (s *validateStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	cols, err := s.plans.get(b.Schema, func(in *etl.Schema) ([]int, error) {
		out := make([]int, len(s.rules))
		for k, r := range s.rules {
			j := in.Index(r.field)
			if j < 0 && r.kind != "required" {
				return nil, missingFieldError(r.field, in)
			}
			out[k] = j
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	n := b.Len()
	drop := make([]bool, n)
	evals := make([]*exprEvaluator, len(s.rules))
	for k, r := range s.rules {
		if r.expr != nil {
			bnd, err := r.binds.get(b.Schema, r.expr.bind)
			if err != nil {
				return nil, err
			}
			evals[k] = newExprEvaluator(r.expr, bnd)
		}
	}
	for i := 0; i < n; i++ {
		for k, r := range s.rules {
			if drop[i] {
				break
			}
			reason, value := s.check(r, cols[k], evals[k], b, i)
			if reason == "" {
				continue
			}
			reason = fmt.Sprintf("validate %s %s: %s", r.field, ruleName(r), reason)
			switch r.action {
			case actionReject:
				b.Reject(i, s.name, r.field, value, reason)
				drop[i] = true
			case actionWarn:
				s.warn(b.Origins[i], r.field, value, reason)
			case actionFail:
				return nil, fmt.Errorf("row %s: field %s value %q: %s (action: fail)", b.Origins[i], r.field, value, reason)
			}
		}
	}
	keepUnrejected(b, drop)
	return b, nil
}

func ruleName(r *rule) string { return r.kind }

// check runs one rule on row i; it returns the failure reason ("" if the
// row passes) and the value as text.
func (s *validateStep) check(r *rule, col int, eval *exprEvaluator, b *etl.Batch, i int) (reason, value string) {
	if col < 0 { // required, field absent
		return "missing field", ""
	}
	c := &b.Cols[col]
	text, ok := c.Text(i)
	switch {
	case r.kind == "required":
		if !ok || c.Type == etl.TypeString && strings.TrimSpace(text) == "" {
			return "missing value", text
		}
		return "", text
	case r.expr != nil:
		out, err := eval.eval(b, i)
		if err != nil {
			return err.Error(), text
		}
		if v, _ := out.(bool); !v {
			return "expression " + r.expr.source + " is false", text
		}
		return "", text
	case !ok:
		return "", "" // null passes every rule but required
	case r.seen != nil:
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, dup := r.seen[text]; dup {
			return "duplicate value in this run", text
		}
		r.seen[text] = struct{}{}
		return "", text
	}
	return r.check(c, i, text), text
}

func (s *validateStep) warn(o etl.Origin, field, value, reason string) {
	s.warnMu.Lock()
	s.warns++
	n := s.warns
	s.warnMu.Unlock()
	switch {
	case n <= maxLoggedWarnings:
		s.logger.Warn(reason, "step", s.name, "origin", o.String(), "field", field, "value", value)
	case n == maxLoggedWarnings+1:
		s.logger.Warn("more validation warnings; not logging them", "step", s.name)
	}
}
