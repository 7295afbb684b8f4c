package transforms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "redact",
			Summary: "Mask, remove or hash personal data: whole fields, or emails, phone numbers, card numbers (Luhn-checked), IBANs and custom patterns inside free text.",
			Example: `redact:
  fields: [transcript, notes]
  patterns: [email, phone, card, iban]
  custom: { order_id: 'ORD-[0-9]{6}' }
  mode: mask`,
			Config: func() any { return new(RedactConfig) },
		},
		New: newRedact,
	})
}

// RedactConfig is the redact step's config.
type RedactConfig struct {
	// Fields are free-text fields searched for the patterns.
	Fields FieldList `yaml:"fields" doc:"free-text fields searched for the patterns"`
	// Patterns are built-in patterns: email, phone, card, iban, url. All
	// but url by default.
	Patterns FieldList `yaml:"patterns" doc:"built-in patterns: email, phone, card, iban, url"`
	// Custom are extra patterns, name → regular expression.
	Custom map[string]string `yaml:"custom" doc:"extra patterns, name → regular expression"`
	// Whole are fields whose entire value is personal data (an email
	// column): the value is replaced as a whole.
	Whole FieldList `yaml:"whole" doc:"fields whose entire value is personal data (an email column): the value is replaced as a whole"`
	// PhoneRegions are the regions (ISO 3166 codes) whose national phone
	// formats are recognised; DefaultPhoneRegions when empty. A number with
	// its country code is recognised whatever its region.
	PhoneRegions []string `yaml:"phone_regions" doc:"the regions (ISO 3166 codes) whose national phone formats are recognised; DE, FR, GB, US and others by default"`
	// Mode is mask (default: keep a hint such as ***@example.com or the
	// last digits), remove (replace with [email], [phone], ...) or hash
	// (HMAC-SHA256 keyed by the secret in KeyEnv, so equal values hash
	// equal across runs and joins still work).
	Mode string `yaml:"mode" doc:"mask (default: keep a hint such as ***@example.com or the last digits), remove (replace with [email], [phone], ...) or hash (HMAC-SHA256 keyed by key_env's secret, so equal values hash equal across runs)"`
	// KeyEnv names the environment variable holding the hash key;
	// NIGHTJAR_REDACT_KEY by default.
	KeyEnv string `yaml:"key_env" doc:"the environment variable holding the hash key; NIGHTJAR_REDACT_KEY by default"`
}

// DefaultRedactKeyEnv is the environment variable read for mode: hash.
const DefaultRedactKeyEnv = "NIGHTJAR_REDACT_KEY"

type redactStep struct {
	fields   []string
	whole    []string
	patterns []*piiPattern
	mode     string
	key      []byte
	plans    schemaCache[[2][]int]
}

var _ etl.Step = (*redactStep)(nil)

func newRedact(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*RedactConfig)
	if !ok {
		return nil, fmt.Errorf("redact: config is %T, want *RedactConfig", cfg)
	}
	if len(c.Fields) == 0 && len(c.Whole) == 0 {
		return nil, &etl.FieldError{Path: []string{"fields"}, Err: errors.New("redact needs fields (free text) or whole (entire values)")}
	}
	s := &redactStep{fields: c.Fields, whole: c.Whole, mode: c.Mode}
	switch c.Mode {
	case "":
		s.mode = "mask"
	case "mask", "remove":
	case "hash":
		name := c.KeyEnv
		if name == "" {
			name = DefaultRedactKeyEnv
		}
		key := os.Getenv(name)
		if key == "" {
			path := []string{"mode"}
			if c.KeyEnv != "" {
				path = []string{"key_env"}
			}
			return nil, &etl.FieldError{Path: path, Err: fmt.Errorf("mode hash needs a secret key in the environment variable %s", name)}
		}
		s.key = []byte(key)
	default:
		return nil, &etl.FieldError{Path: []string{"mode"}, Err: fmt.Errorf("mode must be mask, remove or hash, got %q", c.Mode)}
	}
	names := c.Patterns
	if len(names) == 0 {
		names = FieldList{"email", "phone", "card", "iban"}
	}
	// Specific patterns claim their text first: a card number or an IBAN
	// would otherwise read as a phone number.
	names = slices.Clone(names)
	priority := map[string]int{"card": 0, "iban": 1, "email": 2, "url": 3, "phone": 4}
	sort.SliceStable(names, func(a, b int) bool { return priority[names[a]] < priority[names[b]] })
	var custom []*piiPattern
	if err := checkPhoneRegions(c.PhoneRegions); err != nil {
		return nil, &etl.FieldError{Path: []string{"phone_regions"}, Err: err}
	}
	for _, n := range names {
		p, ok := builtinPatterns()[n]
		if !ok {
			return nil, &etl.FieldError{Path: []string{"patterns", fmt.Sprint(slices.Index(c.Patterns, n))}, Err: fmt.Errorf("unknown pattern %q (want %s, or a custom one)", n, strings.Join(builtinPatternNames, ", "))}
		}
		if n == "phone" && len(c.PhoneRegions) > 0 {
			p = phonePattern(c.PhoneRegions)
		}
		s.patterns = append(s.patterns, p)
	}
	customNames := make([]string, 0, len(c.Custom))
	for n := range c.Custom {
		customNames = append(customNames, n)
	}
	sort.Strings(customNames)
	for _, n := range customNames {
		re, err := regexp.Compile(c.Custom[n])
		if err != nil {
			return nil, &etl.FieldError{Path: []string{"custom", n}, Err: fmt.Errorf("bad pattern: %v", err)}
		}
		custom = append(custom, &piiPattern{name: n, re: re, label: "[" + n + "]"})
	}
	s.patterns = append(custom, s.patterns...)
	return s, nil
}

// Apply redacts in place.
func (s *redactStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	cols, err := s.plans.get(b.Schema, func(in *etl.Schema) ([2][]int, error) {
		text, err := stringIndexes("redact", s.fields, in)
		if err != nil {
			return [2][]int{}, err
		}
		whole, err := stringIndexes("redact", s.whole, in)
		return [2][]int{text, whole}, err
	})
	if err != nil {
		return nil, err
	}
	for _, j := range cols[0] {
		c := &b.Cols[j]
		for i, v := range c.Str {
			if !c.Null[i] && v != "" {
				c.Str[i] = s.redactText(v)
			}
		}
	}
	for _, j := range cols[1] {
		c := &b.Cols[j]
		for i, v := range c.Str {
			if !c.Null[i] && v != "" {
				c.Str[i] = s.replace(wholePattern(v), v)
			}
		}
	}
	return b, nil
}

// wholePattern guesses what a whole value is, for mask hints.
func wholePattern(v string) *piiPattern {
	switch {
	case validEmail(strings.TrimSpace(v)):
		return builtinPatterns()["email"]
	case phoneDigits(v) >= 7 && strings.Trim(v, "+0123456789 ()-./") == "":
		return builtinPatterns()["phone"]
	}
	return &piiPattern{name: "value", label: "[redacted]"}
}

// redactText replaces every match of every pattern; overlapping matches
// of later patterns are skipped.
func (s *redactStep) redactText(v string) string {
	type span struct {
		start, end int
		p          *piiPattern
	}
	var spans []span
	for _, p := range s.patterns {
		for _, m := range p.find(v) {
			overlap := slices.ContainsFunc(spans, func(o span) bool { return m[0] < o.end && o.start < m[1] })
			if !overlap {
				spans = append(spans, span{m[0], m[1], p})
			}
		}
	}
	if len(spans) == 0 {
		return v
	}
	sort.Slice(spans, func(a, b int) bool { return spans[a].start < spans[b].start })
	var out strings.Builder
	last := 0
	for _, sp := range spans {
		out.WriteString(v[last:sp.start])
		out.WriteString(s.replace(sp.p, v[sp.start:sp.end]))
		last = sp.end
	}
	out.WriteString(v[last:])
	return out.String()
}

// replace is what one piece of personal data becomes.
func (s *redactStep) replace(p *piiPattern, v string) string {
	switch s.mode {
	case "remove":
		return p.label
	case "hash":
		return hashValue(s.key, p, v)
	}
	return maskValue(p, v)
}

// hashValue is the HMAC-SHA256 of the value, normalised so that the same
// email or phone number written differently hashes the same.
func hashValue(key []byte, p *piiPattern, v string) string {
	norm := strings.TrimSpace(v)
	switch p.name {
	case "email":
		norm = strings.ToLower(norm)
	case "phone":
		if e, ok := phoneE164(norm, ""); ok {
			norm = e
		}
	case "card", "iban":
		norm = strings.NewReplacer(" ", "", "-", "").Replace(norm)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(norm))
	return hex.EncodeToString(m.Sum(nil))
}

// maskValue keeps a hint: the domain of an email (never any of its local
// part), the last digits of numbers; custom patterns become their label.
func maskValue(p *piiPattern, v string) string {
	switch p.name {
	case "email":
		at := strings.LastIndexByte(v, '@')
		if at <= 0 {
			return p.label
		}
		return "***" + v[at:]
	case "phone", "card", "iban":
		keep := 2
		if p.name != "phone" {
			keep = 4
		}
		b := []byte(v)
		seen := 0
		for i := len(b) - 1; i >= 0; i-- {
			c := b[i]
			if c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' {
				if seen >= keep && !(i < 2 && p.name == "iban") {
					b[i] = '*'
				}
				seen++
			}
		}
		return string(b)
	}
	return p.label
}
