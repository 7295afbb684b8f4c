package transforms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "aggregate",
			Summary: "Group rows by key and compute count, sum, avg, min, max, first, last, collect or concat per group; optionally split groups into sessions by an inactivity gap.",
			Example: `aggregate:
  group_by: [conversation_id]
  order_by: sent_at
  session: { gap: 30m, field: session }
  fields:
    started_at: { min: sent_at }
    ended_at: { max: sent_at }
    turns: { count: "*" }
    agent_turns: { count: "*", where: 'role == "agent"' }
    first_visitor_message: { first: text, where: 'role == "user"' }
    transcript: { concat: text, sep: "\n" }
    channels: { collect: channel, distinct: true }`,
			Config: func() any { return new(AggregateConfig) },
		},
		New: newAggregate,
	})
}

// AggregateConfig is the aggregate step's config.
type AggregateConfig struct {
	// GroupBy lists the key fields; the output has one row per key (per
	// session with session).
	GroupBy FieldList `yaml:"group_by" doc:"the key fields; the output has one row per key (per session with session)"`
	// OrderBy orders rows within a group, for first, last, collect, concat
	// and sessions; input order otherwise.
	OrderBy string `yaml:"order_by" doc:"orders rows within a group, for first, last, collect, concat and sessions; input order otherwise"`
	// Session splits a group where consecutive rows are more than Gap
	// apart in OrderBy (a timestamp).
	Session *SessionConfig `yaml:"session" doc:"splits a group where consecutive rows are more than gap apart in order_by (a timestamp)"`
	// Fields are the output fields: name → { function: field, where, sep,
	// distinct }, in order.
	Fields      AggregateFields `yaml:"fields" doc:"the output fields: name → { function: field, where, sep, distinct }, in order"`
	SpillConfig `yaml:",inline"`
}

// SessionConfig is sessionisation by inactivity.
type SessionConfig struct {
	// Gap is a Go duration ("30m"): a longer pause starts a new session.
	Gap string `yaml:"gap" doc:"a Go duration (\"30m\"): a longer pause starts a new session"`
	// Field names the output field numbering sessions within a key (from
	// 1); "session" by default.
	Field string `yaml:"field" doc:"names the output field numbering sessions within a key (from 1); \"session\" by default"`
}

// AggregateFields keeps the output fields in the order written.
type AggregateFields []AggregateField

// AggregateField is one output field of aggregate.
type AggregateField struct {
	Name     string
	Func     string // count, sum, avg, min, max, first, last, collect, concat
	Of       string // the input field; "*" for count of rows
	Where    string // an expression; rows where it is false are skipped
	Sep      string // concat separator (default ", ")
	Distinct bool   // collect and concat: each value once
}

var aggregateFuncs = []string{"count", "sum", "avg", "min", "max", "first", "last", "collect", "concat"}

// UnmarshalYAML decodes the mapping keeping its order.
func (fs *AggregateFields) UnmarshalYAML(unmarshal func(any) error) error {
	var order yaml.MapSlice
	if err := unmarshal(&order); err != nil {
		return errors.New("want a mapping of output field: { function: field }")
	}
	for _, item := range order {
		f := AggregateField{Name: fmt.Sprint(item.Key), Sep: ", "}
		m, ok := item.Value.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want { function: field }, e.g. { sum: amount }", f.Name)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := m[k]
			switch {
			case k == "where":
				f.Where = fmt.Sprint(v)
			case k == "sep":
				f.Sep = fmt.Sprint(v)
			case k == "distinct":
				b, isBool := v.(bool)
				if !isBool {
					return fmt.Errorf("%s.distinct: want true or false", f.Name)
				}
				f.Distinct = b
			case slices.Contains(aggregateFuncs, k):
				if f.Func != "" {
					return fmt.Errorf("%s: two functions, %s and %s; use one per output field", f.Name, f.Func, k)
				}
				f.Func, f.Of = k, fmt.Sprint(v)
			default:
				return fmt.Errorf("%s: unknown key %s (want one of %s, and where, sep, distinct)", f.Name, k, strings.Join(aggregateFuncs, ", "))
			}
		}
		if f.Func == "" {
			return fmt.Errorf("%s: no function (want one of %s)", f.Name, strings.Join(aggregateFuncs, ", "))
		}
		*fs = append(*fs, f)
	}
	return nil
}

type aggregateStep struct {
	name     string
	cfg      AggregateConfig
	spill    SpillConfig
	gap      time.Duration
	sessions string
	wheres   []*compiledExpr
	sorter   *rowSorter
	plan     *aggregatePlan
	flush    *aggregateFlush // set by the first Flush
}

var _ etl.Flusher = (*aggregateStep)(nil)

func newAggregate(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*AggregateConfig)
	if !ok {
		return nil, fmt.Errorf("aggregate: config is %T, want *AggregateConfig", cfg)
	}
	if len(c.GroupBy) == 0 {
		return nil, &etl.FieldError{Path: []string{"group_by"}, Err: errors.New("aggregate needs group_by: [fields]")}
	}
	if err := c.GroupBy.check("aggregate", "group_by"); err != nil {
		return nil, err
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Path: []string{"fields"}, Err: errors.New("aggregate needs fields: { name: { function: field } }")}
	}
	if err := c.SpillConfig.check(); err != nil {
		return nil, err
	}
	s := &aggregateStep{name: env.StepName, cfg: *c, spill: c.SpillConfig.resolve(env)}
	if c.Session != nil {
		if c.OrderBy == "" {
			return nil, &etl.FieldError{Path: []string{"session"}, Err: errors.New("session needs order_by: a timestamp field")}
		}
		gap, err := time.ParseDuration(c.Session.Gap)
		if err != nil || gap <= 0 {
			return nil, &etl.FieldError{Path: []string{"session", "gap"}, Err: fmt.Errorf("want a positive duration such as 30m, got %q", c.Session.Gap)}
		}
		s.gap, s.sessions = gap, c.Session.Field
		if s.sessions == "" {
			s.sessions = "session"
		}
	}
	seen := map[string]bool{}
	for _, g := range c.GroupBy {
		seen[g] = true
	}
	for _, f := range c.Fields {
		if seen[f.Name] || f.Name == s.sessions {
			return nil, &etl.FieldError{Path: []string{"fields", f.Name}, Err: fmt.Errorf("output field %q defined twice", f.Name)}
		}
		seen[f.Name] = true
		if f.Of == "*" && f.Func != "count" {
			return nil, &etl.FieldError{Path: []string{"fields", f.Name, f.Func}, Err: fmt.Errorf("%s needs a field, not *", f.Func)}
		}
		var w *compiledExpr
		if f.Where != "" {
			var err error
			if w, err = compileExpr(env.Clock, f.Where, expr.AsBool()); err != nil {
				return nil, &etl.FieldError{Path: []string{"fields", f.Name, "where"}, Err: err}
			}
		}
		s.wheres = append(s.wheres, w)
	}
	return s, nil
}

// aggregatePlan is the aggregate resolved against the input schema.
type aggregatePlan struct {
	in      *etl.Schema
	out     *etl.Schema
	keyCols []int
	keyCmp  rowCompare
	timeCol int
	aggs    []*aggregator
}

func (s *aggregateStep) buildPlan(in *etl.Schema) (*aggregatePlan, error) {
	p := &aggregatePlan{in: in, timeCol: -1}
	var err error
	if p.keyCols, err = indexes(s.cfg.GroupBy, in); err != nil {
		return nil, err
	}
	p.keyCmp = keyCompare(p.keyCols, nil)
	var outFields []etl.Field
	for _, j := range p.keyCols {
		outFields = append(outFields, in.Field(j))
	}
	if s.cfg.OrderBy != "" {
		if p.timeCol = in.Index(s.cfg.OrderBy); p.timeCol < 0 {
			return nil, missingFieldError(s.cfg.OrderBy, in)
		}
		if s.gap > 0 && in.Field(p.timeCol).Type != etl.TypeTimestamp {
			return nil, fmt.Errorf("session: order_by %q is %s, want timestamp (cast it first)", s.cfg.OrderBy, in.Field(p.timeCol).Type)
		}
	}
	if s.gap > 0 {
		outFields = append(outFields, etl.Field{Name: s.sessions, Type: etl.TypeInt})
	}
	for k, f := range s.cfg.Fields {
		a := &aggregator{AggregateField: f, col: -1}
		if f.Of != "*" {
			if a.col = in.Index(f.Of); a.col < 0 {
				return nil, fmt.Errorf("fields.%s: %w", f.Name, missingFieldError(f.Of, in))
			}
		}
		if w := s.wheres[k]; w != nil {
			bnd, err := w.bind(in)
			if err != nil {
				return nil, fmt.Errorf("fields.%s.where: %w", f.Name, err)
			}
			a.where = newExprEvaluator(w, bnd)
		}
		if a.outType, err = a.resultType(in); err != nil {
			return nil, fmt.Errorf("fields.%s: %w", f.Name, err)
		}
		a.reset(in)
		outFields = append(outFields, etl.Field{Name: f.Name, Type: a.outType})
		p.aggs = append(p.aggs, a)
	}
	if p.out, err = etl.NewSchema(outFields...); err != nil {
		return nil, err
	}
	return p, nil
}

// Apply holds the rows until the end of input. The plan binds to the
// first batch with rows, as sort does; an empty batch before it gets the
// output schema the plan would have for it. Rows carry no routes past
// aggregate: a group is not one of the rows a route was decided for.
func (s *aggregateStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	if s.plan == nil {
		p, err := s.buildPlan(b.Schema)
		if err != nil {
			return nil, err
		}
		if b.Len() == 0 {
			return emptied(b, p.out), nil
		}
		keys := make([]sortKey, 0, len(s.cfg.GroupBy)+1)
		for _, g := range s.cfg.GroupBy {
			keys = append(keys, sortKey{field: g})
		}
		if s.cfg.OrderBy != "" {
			keys = append(keys, sortKey{field: s.cfg.OrderBy})
		}
		compare, err := sortKeyCompare(keys, b.Schema)
		if err != nil {
			return nil, err
		}
		s.plan, s.sorter = p, newRowSorter(s.spill, compare)
	}
	return hold(s.sorter, b, s.plan.out)
}

// aggregateFlush is the state of an aggregate handing on its groups: the
// walk over the sorted rows and the group in progress.
type aggregateFlush struct {
	it      *rowIter
	prev    *etl.Batch // the group's latest row (one row)
	first   etl.Origin // the group's first row
	have    bool       // a group is in progress
	session int64
}

// Flush computes the groups (sessions) from the sorted rows and returns
// them, at most batch_size per call, then nil.
func (s *aggregateStep) Flush(ctx context.Context) (*etl.Batch, error) {
	if s.flush == nil {
		if s.sorter == nil || s.sorter.schema == nil {
			return nil, nil
		}
		it, err := s.sorter.iter()
		if err != nil {
			return nil, err
		}
		s.flush = &aggregateFlush{it: it, prev: etl.NewBatch(s.plan.in, 1)}
	}
	f := s.flush
	if f.it == nil {
		return nil, nil
	}
	out, err := s.nextGroups(ctx, f)
	if err != nil {
		f.it.close()
		f.it = nil
		return nil, err
	}
	if out.Len() == 0 {
		return nil, nil
	}
	return out, nil
}

// nextGroups fills a batch with up to batch_size finished groups; at the
// end of the rows it finishes the last group and closes the walk.
func (s *aggregateStep) nextGroups(ctx context.Context, f *aggregateFlush) (*etl.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := s.plan
	out := etl.NewBatch(p.out, min(s.spill.BatchSize, 1024))
	for out.Len() < s.spill.BatchSize {
		b, i, _, err := f.it.next()
		if err != nil {
			return nil, err
		}
		if b == nil {
			if f.have {
				if err := s.finishGroup(f, out); err != nil {
					return nil, err
				}
				f.have = false
			}
			err := f.it.close()
			f.it = nil
			return out, err
		}
		sameKey := f.have && p.keyCmp(f.prev, 0, b, i) == 0
		newGroup := !sameKey
		if sameKey && s.gap > 0 {
			t0, t1 := &f.prev.Cols[p.timeCol], &b.Cols[p.timeCol]
			if !t0.Null[0] && !t1.Null[i] && t1.Time[i].Sub(t0.Time[0]) > s.gap {
				newGroup = true
			}
		}
		if newGroup {
			if f.have {
				if err := s.finishGroup(f, out); err != nil {
					return nil, err
				}
			}
			if sameKey {
				f.session++
			} else {
				f.session = 1
			}
			f.first = b.Origins[i]
		}
		for _, a := range p.aggs {
			if err := a.add(b, i); err != nil {
				return nil, fmt.Errorf("row %s: %s: %w", b.Origins[i], a.Name, err)
			}
		}
		resetBatch(f.prev)
		appendRow(f.prev, b, i)
		f.have = true
	}
	return out, nil
}

// finishGroup appends the group in progress to out and resets the
// aggregators for the next one.
func (s *aggregateStep) finishGroup(f *aggregateFlush, out *etl.Batch) error {
	p := s.plan
	for k, j := range p.keyCols {
		appendCell(&out.Cols[k], &f.prev.Cols[j], 0)
	}
	c := len(p.keyCols)
	if s.gap > 0 {
		out.Cols[c].AppendInt(f.session)
		c++
	}
	for _, a := range p.aggs {
		if err := a.result(&out.Cols[c]); err != nil {
			return err
		}
		a.reset(p.in)
		c++
	}
	out.Origins = append(out.Origins, f.first)
	return nil
}

// aggregator accumulates one output field over a group.
type aggregator struct {
	AggregateField
	col     int
	outType etl.Type
	where   *exprEvaluator

	count int64
	sumI  int64
	sumF  float64
	best  etl.Column // min, max, first, last: the value so far (one row)
	list  []any
	text  []string
	seen  map[string]bool
}

func (a *aggregator) resultType(in *etl.Schema) (etl.Type, error) {
	var t etl.Type
	if a.col >= 0 {
		t = in.Field(a.col).Type
	}
	switch a.Func {
	case "count":
		return etl.TypeInt, nil
	case "sum":
		if t == etl.TypeInt || t == etl.TypeFloat {
			return t, nil
		}
		return 0, fmt.Errorf("sum of %q needs an int or float field, not %s", a.Of, t)
	case "avg":
		if t == etl.TypeInt || t == etl.TypeFloat {
			return etl.TypeFloat, nil
		}
		return 0, fmt.Errorf("avg of %q needs an int or float field, not %s", a.Of, t)
	case "collect":
		return etl.TypeJSON, nil
	case "concat":
		return etl.TypeString, nil
	}
	return t, nil // min, max, first, last
}

func (a *aggregator) reset(in *etl.Schema) {
	a.count, a.sumI, a.sumF = 0, 0, 0
	a.list, a.text = nil, nil
	if a.Distinct {
		a.seen = map[string]bool{}
	}
	if a.col >= 0 {
		if a.best.Type == 0 {
			a.best = etl.NewColumn(in.Field(a.col).Type, 1)
		}
		b := etl.Batch{Cols: []etl.Column{a.best}}
		resetBatch(&b)
		a.best = b.Cols[0]
	}
}

// add takes row i of b into the group.
func (a *aggregator) add(b *etl.Batch, i int) error {
	if a.where != nil {
		v, err := a.where.eval(b, i)
		if err != nil {
			return fmt.Errorf("where: %w", err)
		}
		if ok, _ := v.(bool); !ok {
			return nil
		}
	}
	if a.col < 0 { // count(*)
		a.count++
		return nil
	}
	c := &b.Cols[a.col]
	if c.Null[i] {
		return nil
	}
	a.count++
	switch a.Func {
	case "sum", "avg":
		if c.Type == etl.TypeInt {
			a.sumI += c.Int[i]
			a.sumF += float64(c.Int[i])
		} else {
			a.sumF += c.Float[i]
		}
	case "min", "max", "first", "last":
		take := a.best.Len() == 0 || a.Func == "last"
		if !take && a.Func != "first" {
			r := compareCells(c, i, &a.best, 0)
			take = a.Func == "min" && r < 0 || a.Func == "max" && r > 0
		}
		if take {
			b := etl.Batch{Cols: []etl.Column{a.best}}
			resetBatch(&b)
			a.best = b.Cols[0]
			appendCell(&a.best, c, i)
		}
	case "collect", "concat":
		text, _ := c.Text(i)
		if a.seen != nil {
			if a.seen[text] {
				return nil
			}
			a.seen[text] = true
		}
		if a.Func == "collect" {
			a.list = append(a.list, c.Value(i))
		} else {
			a.text = append(a.text, text)
		}
	}
	return nil
}

// result appends the group's value to c.
func (a *aggregator) result(c *etl.Column) error {
	switch a.Func {
	case "count":
		c.AppendInt(a.count)
	case "sum":
		if a.count == 0 {
			c.AppendNull()
		} else if c.Type == etl.TypeInt {
			c.AppendInt(a.sumI)
		} else {
			c.AppendFloat(a.sumF)
		}
	case "avg":
		if a.count == 0 {
			c.AppendNull()
		} else {
			c.AppendFloat(a.sumF / float64(a.count))
		}
	case "min", "max", "first", "last":
		if a.best.Len() == 0 {
			c.AppendNull()
		} else {
			appendCell(c, &a.best, 0)
		}
	case "collect":
		if a.list == nil {
			c.AppendJSON([]any{})
		} else {
			c.AppendJSON(a.list)
		}
	case "concat":
		if len(a.text) == 0 {
			c.AppendNull()
		} else {
			c.AppendString(strings.Join(a.text, a.Sep))
		}
	}
	return nil
}
