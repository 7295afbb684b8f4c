package transforms

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "cast",
			Summary: "Convert fields to another type; an empty value becomes null, a value that does not parse is rejected.",
			Example: `cast:
  lead_score: int
  active: bool
  created: { type: timestamp, layout: "02/01/2006 15:04", tz: Europe/Berlin }
  amount: { type: float, decimal_comma: true }`,
			Config: func() any { return new(CastConfig) },
		},
		New: newCast,
	})
}

// CastConfig is the cast step's config: a mapping from field name to a type
// name or a CastRule, kept in the order written.
type CastConfig struct {
	Fields []CastField
}

// CastField is the rule for one field.
type CastField struct {
	Field string
	Rule  CastRule
}

// CastRule says which type a field becomes and how text is parsed into it.
// In YAML it is either a type name ("int") or a mapping:
//
//	{ type: timestamp, layout: "02/01/2006 15:04", tz: Europe/Berlin }
//	{ type: float, decimal_comma: true }
type CastRule struct {
	// Type is one of etl.TypeNames (or an alias accepted by etl.ParseType).
	Type string
	// Layouts are Go time layouts tried, in order, before the ISO forms;
	// timestamp and date only. YAML: layout (one or a list) or layouts.
	Layouts []string
	// TZ is the IANA zone of timestamps written without an offset (UTC by
	// default); for a date cast from a timestamp, the zone whose calendar
	// day is taken.
	TZ string
	// DecimalComma reads "1.234,56" as 1234.56; float only.
	DecimalComma bool

	// keys records which keys the mapping form used, to point errors at them.
	keys map[string]bool
}

type castRuleYAML struct {
	Type         string     `yaml:"type"`
	Layout       stringList `yaml:"layout"`
	Layouts      stringList `yaml:"layouts"`
	TZ           string     `yaml:"tz"`
	DecimalComma bool       `yaml:"decimal_comma"`
}

// UnmarshalYAML accepts a type name or a mapping.
func (r *CastRule) UnmarshalYAML(unmarshal func(any) error) error {
	var raw any
	if err := unmarshal(&raw); err != nil {
		return err
	}
	switch v := raw.(type) {
	case nil:
		*r = CastRule{}
		return nil
	case map[string]any:
		var m castRuleYAML
		if err := unmarshal(&m); err != nil {
			return err
		}
		*r = CastRule{
			Type:         m.Type,
			Layouts:      append(append([]string(nil), m.Layout...), m.Layouts...),
			TZ:           m.TZ,
			DecimalComma: m.DecimalComma,
			keys:         make(map[string]bool, len(v)),
		}
		for k := range v {
			r.keys[k] = true
		}
		return nil
	case []any:
		return errors.New("cast: want a type name or a mapping with type, layout, tz, decimal_comma; got a list")
	default:
		// A scalar: a type name (a number here fails as an unknown type in New).
		*r = CastRule{Type: fmt.Sprint(v)}
		return nil
	}
}

// stringList is a YAML string or list of strings.
type stringList []string

func (l *stringList) UnmarshalYAML(unmarshal func(any) error) error {
	var one string
	if err := unmarshal(&one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := unmarshal(&many); err != nil {
		return err
	}
	*l = many
	return nil
}

// UnmarshalYAML decodes the mapping keeping its order.
func (c *CastConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var order yaml.MapSlice
	if err := unmarshal(&order); err != nil {
		return err
	}
	var rules map[string]CastRule
	if err := unmarshal(&rules); err != nil {
		return err
	}
	c.Fields = make([]CastField, 0, len(order))
	for _, item := range order {
		field := fmt.Sprint(item.Key)
		c.Fields = append(c.Fields, CastField{Field: field, Rule: rules[field]})
	}
	return nil
}

// castRule is a validated CastRule.
type castRule struct {
	field        string
	to           etl.Type
	layouts      []string
	loc          *time.Location
	decimalComma bool
	// reason is the reject reason for a value that does not parse, built
	// once here rather than per row.
	reason string
}

// castStep converts fields to other types, one new column vector per cast
// field and batch.
type castStep struct {
	name  string
	rules []castRule
	plans schemaCache[*castPlan]
}

var _ etl.Step = (*castStep)(nil)

func newCast(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*CastConfig)
	if !ok {
		return nil, fmt.Errorf("cast: config is %T, want *CastConfig", cfg)
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Err: errors.New("cast needs at least one field: { field: type }")}
	}
	s := &castStep{name: env.StepName, rules: make([]castRule, 0, len(c.Fields))}
	for _, f := range c.Fields {
		rule, err := newCastRule(f.Field, f.Rule)
		if err != nil {
			return nil, err
		}
		s.rules = append(s.rules, rule)
	}
	return s, nil
}

func newCastRule(field string, r CastRule) (castRule, error) {
	at := func(key string) []string {
		if r.keys[key] {
			return []string{field, key}
		}
		return []string{field}
	}
	if strings.TrimSpace(r.Type) == "" {
		return castRule{}, &etl.FieldError{Path: at("type"), Err: fmt.Errorf("no type for %q (want %s)", field, strings.Join(etl.TypeNames(), ", "))}
	}
	to, err := etl.ParseType(r.Type)
	if err != nil {
		return castRule{}, &etl.FieldError{Path: at("type"), Err: err}
	}
	rule := castRule{field: field, to: to, layouts: r.Layouts, loc: time.UTC, decimalComma: r.DecimalComma}
	if r.DecimalComma && to != etl.TypeFloat {
		return castRule{}, &etl.FieldError{Path: at("decimal_comma"), Err: fmt.Errorf("decimal_comma applies to float, not %s", to)}
	}
	if len(r.Layouts) > 0 && to != etl.TypeTimestamp && to != etl.TypeDate {
		key := "layout"
		if r.keys["layouts"] {
			key = "layouts"
		}
		return castRule{}, &etl.FieldError{Path: at(key), Err: fmt.Errorf("layout applies to timestamp and date, not %s", to)}
	}
	for _, l := range r.Layouts {
		if strings.TrimSpace(l) == "" {
			return castRule{}, &etl.FieldError{Path: at("layout"), Err: errors.New("empty layout")}
		}
	}
	if r.TZ != "" {
		if to != etl.TypeTimestamp && to != etl.TypeDate {
			return castRule{}, &etl.FieldError{Path: at("tz"), Err: fmt.Errorf("tz applies to timestamp and date, not %s", to)}
		}
		// LoadLocation reads the zone database; doing it here, once, is what
		// lets a misspelt zone fail validation instead of the run.
		loc, err := time.LoadLocation(r.TZ)
		if err != nil {
			return castRule{}, &etl.FieldError{Path: at("tz"), Err: fmt.Errorf("unknown time zone %q (want an IANA name like Europe/Berlin)", r.TZ)}
		}
		rule.loc = loc
	}
	rule.reason = castReason(rule)
	return rule, nil
}

func castReason(r castRule) string {
	var layouts string
	for _, l := range r.layouts {
		layouts += fmt.Sprintf(" or %q", l)
	}
	switch r.to {
	case etl.TypeInt:
		return "expected int"
	case etl.TypeFloat:
		if r.decimalComma {
			return "expected float with decimal comma (1.234,56)"
		}
		return "expected float"
	case etl.TypeBool:
		return "expected bool (true/false, yes/no, y/n, t/f, 1/0)"
	case etl.TypeTimestamp:
		return `expected timestamp (RFC 3339, "2006-01-02 15:04:05" or "2006-01-02"` + layouts + ")"
	case etl.TypeDate:
		return `expected date ("2006-01-02"` + layouts + ")"
	case etl.TypeJSON:
		return "expected json"
	case etl.TypeLocalTimestamp:
		return `expected local_timestamp ("2006-01-02T15:04:05" or "2006-01-02 15:04:05", no zone)`
	case etl.TypeBytes:
		return "expected bytes (standard base64)"
	case etl.TypeDecimal:
		return "expected decimal (digits, an optional minus and point: -12.50)"
	case etl.TypeUUID:
		return "expected uuid (8-4-4-4-12 lower-case hex digits)"
	}
	return "expected " + r.to.String()
}

// castPlan is what a cast does to one input schema.
type castPlan struct {
	out *etl.Schema
	ops []castOp
}

type castOp struct {
	col  int
	from etl.Type
	rule *castRule
}

func (s *castStep) plan(in *etl.Schema) (*castPlan, error) {
	fields := in.Fields()
	p := &castPlan{}
	for k := range s.rules {
		rule := &s.rules[k]
		i := in.Index(rule.field)
		if i < 0 {
			return nil, missingFieldError(rule.field, in)
		}
		from := fields[i].Type
		if !castable(from, rule.to) {
			return nil, fmt.Errorf("cannot cast field %q from %s to %s", rule.field, from, rule.to)
		}
		fields[i].Type = rule.to
		if from != rule.to {
			p.ops = append(p.ops, castOp{col: i, from: from, rule: rule})
		}
	}
	out, err := etl.NewSchema(fields...)
	if err != nil {
		return nil, err
	}
	p.out = out
	if in.Equal(out) {
		p.out = in // nothing changes: keep the pointer, targets compare by it
	}
	return p, nil
}

// castable reports whether cast converts from into to: text to anything,
// anything to text, between numbers and bools, timestamp and date.
func castable(from, to etl.Type) bool {
	if from == to || from == etl.TypeString || to == etl.TypeString {
		return true
	}
	switch from {
	case etl.TypeInt:
		return to == etl.TypeFloat || to == etl.TypeBool
	case etl.TypeFloat:
		return to == etl.TypeInt
	case etl.TypeBool:
		return to == etl.TypeInt || to == etl.TypeFloat
	case etl.TypeTimestamp:
		return to == etl.TypeDate
	case etl.TypeDate:
		return to == etl.TypeTimestamp
	}
	return false
}

// castFailure is a row that failed to cast, with the first field that did.
type castFailure struct {
	row    int
	field  string
	value  string
	reason string
}

// castRun collects a batch's failures; a row is rejected once, for the
// first field (in config order) that failed.
type castRun struct {
	n     int
	bad   []bool
	fails []castFailure
}

func (r *castRun) fail(i int, field, value, reason string) {
	if r.bad == nil {
		r.bad = make([]bool, r.n)
	}
	if r.bad[i] {
		return
	}
	r.bad[i] = true
	r.fails = append(r.fails, castFailure{row: i, field: field, value: value, reason: reason})
}

// Apply converts the cast fields of b. Rows with a value that does not
// parse are rejected, with the row as it was before the cast.
func (s *castStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	p, err := s.plans.get(b.Schema, s.plan)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if len(p.ops) == 0 {
		b.Schema = p.out
		return b, nil
	}
	run := castRun{n: b.Len()}
	cols := make([]etl.Column, len(p.ops))
	for k := range p.ops {
		cols[k] = castColumn(&b.Cols[p.ops[k].col], p.ops[k].rule, &run)
	}
	// Reject while b still holds the original values, so the quarantine
	// shows the row as it came in.
	slices.SortFunc(run.fails, func(a, b castFailure) int { return a.row - b.row })
	for _, f := range run.fails {
		b.Reject(f.row, s.name, f.field, f.value, f.reason)
	}
	for k, op := range p.ops {
		b.Cols[op.col] = cols[k]
	}
	b.Schema = p.out
	if run.bad != nil {
		for i := range run.bad {
			run.bad[i] = !run.bad[i]
		}
		b.Keep(run.bad)
	}
	return b, nil
}

// castColumn converts src into a new column of rule.to, with every typed
// vector allocated once at the batch's length.
func castColumn(src *etl.Column, rule *castRule, run *castRun) etl.Column {
	n := src.Len()
	dst := etl.Column{Type: rule.to, Null: make([]bool, n)}
	switch rule.to.Storage() {
	case etl.StoreStr:
		dst.Str = make([]string, n)
	case etl.StoreInt:
		dst.Int = make([]int64, n)
	case etl.StoreFloat:
		dst.Float = make([]float64, n)
	case etl.StoreBool:
		dst.Bool = make([]bool, n)
	case etl.StoreTime:
		dst.Time = make([]time.Time, n)
	case etl.StoreJSON:
		dst.JSON = make([]any, n)
	}
	copy(dst.Null, src.Null)
	switch {
	case src.Type == etl.TypeString:
		castFromString(src, &dst, rule, run)
	case rule.to == etl.TypeString:
		for i := 0; i < n; i++ {
			dst.Str[i], _ = src.Text(i)
		}
	default:
		castBetween(src, &dst, rule, run)
	}
	return dst
}

// castFromString parses text. An empty (or all-blank) value is null.
func castFromString(src, dst *etl.Column, rule *castRule, run *castRun) {
	for i, raw := range src.Str {
		if src.Null[i] {
			continue
		}
		s := strings.TrimSpace(raw)
		if s == "" {
			dst.Null[i] = true
			continue
		}
		ok := true
		reason := rule.reason
		switch rule.to {
		case etl.TypeInt:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				ok = false
				if errors.Is(err, strconv.ErrRange) {
					reason = "expected int: out of range"
				}
			}
			dst.Int[i] = v
		case etl.TypeFloat:
			dst.Float[i], ok = parseFloat(s, rule.decimalComma)
		case etl.TypeBool:
			dst.Bool[i], ok = parseBool(s)
		case etl.TypeTimestamp:
			dst.Time[i], ok = rule.parseTimestamp(s)
		case etl.TypeDate:
			dst.Time[i], ok = rule.parseDate(s)
		case etl.TypeLocalTimestamp:
			dst.Time[i], ok = parseLocal(s)
		case etl.TypeDecimal, etl.TypeUUID:
			dst.Str[i], ok = s, etl.CheckText(rule.to, s) == nil
		case etl.TypeBytes:
			b, err := base64.StdEncoding.DecodeString(s)
			dst.Str[i], ok = string(b), err == nil
		case etl.TypeJSON:
			v, err := parseJSON(s)
			if err != nil {
				ok, reason = false, "expected json: "+err.Error()
			}
			dst.JSON[i] = v
			// JSON null parses fine and is a null value.
			dst.Null[i] = v == nil
		}
		if !ok {
			dst.Null[i] = true
			run.fail(i, rule.field, raw, reason)
		}
	}
}

// castBetween converts between non-text types.
func castBetween(src, dst *etl.Column, rule *castRule, run *castRun) {
	for i := 0; i < src.Len(); i++ {
		if src.Null[i] {
			continue
		}
		switch {
		case src.Type == etl.TypeInt && rule.to == etl.TypeFloat:
			dst.Float[i] = float64(src.Int[i])
		case src.Type == etl.TypeInt && rule.to == etl.TypeBool:
			switch src.Int[i] {
			case 0, 1:
				dst.Bool[i] = src.Int[i] == 1
			default:
				dst.Null[i] = true
				run.fail(i, rule.field, strconv.FormatInt(src.Int[i], 10), "expected bool: not 0 or 1")
			}
		case src.Type == etl.TypeFloat && rule.to == etl.TypeInt:
			f := src.Float[i]
			switch {
			case f != math.Trunc(f):
				dst.Null[i] = true
				run.fail(i, rule.field, strconv.FormatFloat(f, 'g', -1, 64), "expected int: not a whole number")
			case f < -(1<<63) || f >= 1<<63:
				dst.Null[i] = true
				run.fail(i, rule.field, strconv.FormatFloat(f, 'g', -1, 64), "expected int: out of range")
			default:
				dst.Int[i] = int64(f)
			}
		case src.Type == etl.TypeBool && rule.to == etl.TypeInt:
			if src.Bool[i] {
				dst.Int[i] = 1
			}
		case src.Type == etl.TypeBool && rule.to == etl.TypeFloat:
			if src.Bool[i] {
				dst.Float[i] = 1
			}
		case src.Type == etl.TypeTimestamp && rule.to == etl.TypeDate:
			y, m, d := src.Time[i].In(rule.loc).Date()
			dst.Time[i] = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		case src.Type == etl.TypeDate && rule.to == etl.TypeTimestamp:
			dst.Time[i] = src.Time[i]
		}
	}
}

// parseBool accepts true/false, 1/0, yes/no, y/n, t/f in any case.
func parseBool(s string) (v, ok bool) {
	switch {
	case strings.EqualFold(s, "true"), strings.EqualFold(s, "yes"), strings.EqualFold(s, "y"),
		strings.EqualFold(s, "t"), s == "1":
		return true, true
	case strings.EqualFold(s, "false"), strings.EqualFold(s, "no"), strings.EqualFold(s, "n"),
		strings.EqualFold(s, "f"), s == "0":
		return false, true
	}
	return false, false
}

// parseFloat reads a plain decimal number ("-12.5", "1e3"); NaN, infinities
// and hex floats are refused since no target can store them faithfully.
// With decimalComma, "1.234,56" is 1234.56: dots group thousands (three
// digits after each), one comma marks the decimals, and "1.5" is refused
// rather than read as 15.
func parseFloat(s string, decimalComma bool) (float64, bool) {
	var buf [64]byte
	if len(s) > len(buf) {
		return 0, false
	}
	n := 0
	comma := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c == '+', c == '-', c == 'e', c == 'E':
		case c == '.' && !decimalComma:
		case c == '.' && decimalComma:
			// A thousands separator: after a digit, before the comma, and
			// followed by exactly three digits.
			if comma || n == 0 || buf[n-1] < '0' || buf[n-1] > '9' || i+4 > len(s) || !isDigits(s[i+1:i+4]) {
				return 0, false
			}
			if i+4 < len(s) {
				if next := s[i+4]; next != '.' && next != ',' && next != 'e' && next != 'E' {
					return 0, false
				}
			}
			continue
		case c == ',' && decimalComma && !comma:
			comma = true
			c = '.'
		default:
			return 0, false
		}
		buf[n] = c
		n++
	}
	v, err := strconv.ParseFloat(string(buf[:n]), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

// parseJSON parses JSON text into a nested value (numbers as float64).
func parseJSON(s string) (any, error) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	return v, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseTimestamp tries the configured layouts, then the ISO forms.
func (r *castRule) parseTimestamp(s string) (time.Time, bool) {
	for _, layout := range r.layouts {
		if t, err := time.ParseInLocation(layout, s, r.loc); err == nil {
			return t.UTC(), true
		}
	}
	return parseISO(s, r.loc)
}

// localLayouts are the spellings of a local timestamp a cast reads.
var localLayouts = []string{etl.LocalLayout, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04", time.DateOnly}

// parseLocal reads a wall-clock time without a zone (an offset is refused:
// it would be an instant).
func parseLocal(s string) (time.Time, bool) {
	for _, layout := range localLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseDate tries the configured layouts, then "2006-01-02"; the result is
// midnight UTC of that calendar day.
func (r *castRule) parseDate(s string) (time.Time, bool) {
	for _, layout := range r.layouts {
		if t, err := time.ParseInLocation(layout, s, r.loc); err == nil {
			y, m, d := t.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), true
		}
	}
	if len(s) != len(time.DateOnly) {
		return time.Time{}, false
	}
	return parseISO(s, time.UTC)
}

// parseISO reads "2006-01-02", "2006-01-02T15:04", "2006-01-02 15:04:05"
// and RFC 3339 ("2006-01-02T15:04:05.999999999Z07:00"): T or a space between
// date and time, optional seconds and fraction, an optional offset (Z,
// +07:00, +0700, +07, optionally after a space). Without an offset the time
// is in loc. It returns UTC and, unlike time.Parse, allocates nothing for
// an offset other than Z.
func parseISO(s string, loc *time.Location) (time.Time, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	year, ok1 := atoiN(s[0:4])
	month, ok2 := atoiN(s[5:7])
	day, ok3 := atoiN(s[8:10])
	if !ok1 || !ok2 || !ok3 || month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) {
		return time.Time{}, false
	}
	if len(s) == 10 {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, loc).UTC(), true
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, false
	}
	rest := s[11:]
	if len(rest) < 5 || rest[2] != ':' {
		return time.Time{}, false
	}
	hour, ok1 := atoiN(rest[0:2])
	minute, ok2 := atoiN(rest[3:5])
	if !ok1 || !ok2 || hour > 23 || minute > 59 {
		return time.Time{}, false
	}
	rest = rest[5:]
	var sec, nsec int
	if len(rest) >= 3 && rest[0] == ':' {
		var ok bool
		if sec, ok = atoiN(rest[1:3]); !ok || sec > 59 {
			return time.Time{}, false
		}
		rest = rest[3:]
		if len(rest) > 1 && (rest[0] == '.' || rest[0] == ',') {
			j := 1
			scale := 100_000_000
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				nsec += int(rest[j]-'0') * scale // digits past nanoseconds add 0
				scale /= 10
				j++
			}
			if j == 1 {
				return time.Time{}, false
			}
			rest = rest[j:]
		}
	}
	if len(rest) > 1 && rest[0] == ' ' {
		rest = rest[1:]
	}
	switch {
	case rest == "":
		return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc).UTC(), true
	case rest == "Z" || rest == "z":
		return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
	case rest[0] == '+' || rest[0] == '-':
		offset, ok := parseOffset(rest[1:])
		if !ok {
			return time.Time{}, false
		}
		if rest[0] == '-' {
			offset = -offset
		}
		t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
		return t.Add(-time.Duration(offset) * time.Second), true
	}
	return time.Time{}, false
}

// parseOffset reads "07:00", "0700" or "07" as seconds.
func parseOffset(s string) (int, bool) {
	var h, m int
	var ok1, ok2 bool
	switch len(s) {
	case 2:
		h, ok1 = atoiN(s)
		ok2 = true
	case 4:
		h, ok1 = atoiN(s[0:2])
		m, ok2 = atoiN(s[2:4])
	case 5:
		if s[2] != ':' {
			return 0, false
		}
		h, ok1 = atoiN(s[0:2])
		m, ok2 = atoiN(s[3:5])
	default:
		return 0, false
	}
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, false
	}
	return h*3600 + m*60, true
}

// atoiN parses a fixed-width run of ASCII digits.
func atoiN(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
