package transforms

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "lookup",
			Summary: "Enrich rows from a CSV file by key (loaded once per run and cached); a missing key keeps nulls or defaults, or rejects the row.",
			Example: `lookup:
  file: data/leads.csv
  on: { email: email }
  fields: { company: company, lead_id: id }
  missing: keep
  default: { company: unknown }`,
			Config: func() any { return new(LookupConfig) },
		},
		New: newLookup,
	})
}

// LookupConfig is the lookup step's config.
type LookupConfig struct {
	// File is a CSV file with a header row, relative to the config file.
	File string `yaml:"file"`
	// On maps input fields to the file's key columns. Keys compare as
	// text, trimmed and case-folded.
	On yaml.MapSlice `yaml:"on"`
	// Fields maps new field names to the file's columns (all string).
	Fields yaml.MapSlice `yaml:"fields"`
	// Missing is keep (default: the new fields are null or their default)
	// or reject.
	Missing string `yaml:"missing"`
	// Default gives values for the new fields when the key is missing.
	Default map[string]string `yaml:"default"`
	// Delimiter is the file's field separator, "," by default.
	Delimiter string `yaml:"delimiter"`
}

type lookupStep struct {
	name     string
	cfg      LookupConfig
	path     string
	inKeys   []string
	fileKeys []string
	outNames []string
	fileCols []string
	defaults []string // per output field; "" with hasDef false is null
	hasDef   []bool

	once  sync.Once
	table map[string][]string
	err   error
	plans schemaCache[*lookupPlan]
}

type lookupPlan struct {
	schema *etl.Schema
	keys   []int
}

var _ etl.Step = (*lookupStep)(nil)

func newLookup(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*LookupConfig)
	if !ok {
		return nil, fmt.Errorf("lookup: config is %T, want *LookupConfig", cfg)
	}
	if c.File == "" {
		return nil, &etl.FieldError{Path: []string{"file"}, Err: errors.New("lookup needs file: a CSV file with a header")}
	}
	if len(c.On) == 0 {
		return nil, &etl.FieldError{Path: []string{"on"}, Err: errors.New("lookup needs on: { input_field: file_column }")}
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Path: []string{"fields"}, Err: errors.New("lookup needs fields: { new_field: file_column }")}
	}
	switch c.Missing {
	case "", "keep", "reject":
	default:
		return nil, &etl.FieldError{Path: []string{"missing"}, Err: fmt.Errorf("missing must be keep or reject, got %q", c.Missing)}
	}
	if len([]rune(c.Delimiter)) > 1 {
		return nil, &etl.FieldError{Path: []string{"delimiter"}, Err: errors.New("want one character")}
	}
	s := &lookupStep{name: env.StepName, cfg: *c, path: c.File}
	if !filepath.IsAbs(s.path) && env.BaseDir != "" {
		s.path = filepath.Join(env.BaseDir, s.path)
	}
	for _, kv := range c.On {
		s.inKeys = append(s.inKeys, fmt.Sprint(kv.Key))
		s.fileKeys = append(s.fileKeys, fmt.Sprint(kv.Value))
	}
	for _, kv := range c.Fields {
		name := fmt.Sprint(kv.Key)
		s.outNames = append(s.outNames, name)
		s.fileCols = append(s.fileCols, fmt.Sprint(kv.Value))
		d, has := c.Default[name]
		s.defaults, s.hasDef = append(s.defaults, d), append(s.hasDef, has)
	}
	for name := range c.Default {
		if _, ok := c.Default[name]; ok && !contains(s.outNames, name) {
			return nil, &etl.FieldError{Path: []string{"default", name}, Err: fmt.Errorf("%q is not one of fields (%s)", name, fieldNames(s.outNames))}
		}
	}
	return s, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func lookupKey(parts []string) string {
	for i, p := range parts {
		parts[i] = strings.ToLower(strings.TrimSpace(p))
	}
	return strings.Join(parts, "\x00")
}

// load reads the file once; the first row wins for a repeated key.
func (s *lookupStep) load() (map[string][]string, error) {
	s.once.Do(func() {
		f, err := os.Open(s.path)
		if err != nil {
			s.err = fmt.Errorf("lookup: %w", err)
			return
		}
		defer f.Close()
		r := csv.NewReader(f)
		if s.cfg.Delimiter != "" {
			r.Comma = []rune(s.cfg.Delimiter)[0]
		}
		r.FieldsPerRecord = -1
		header, err := r.Read()
		if err != nil {
			s.err = fmt.Errorf("lookup %s: read header: %w", s.cfg.File, err)
			return
		}
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
		col := func(name string) int {
			for i, h := range header {
				if h == name {
					return i
				}
			}
			return -1
		}
		keyCols, valCols := make([]int, len(s.fileKeys)), make([]int, len(s.fileCols))
		for i, k := range s.fileKeys {
			if keyCols[i] = col(k); keyCols[i] < 0 {
				s.err = fmt.Errorf("lookup %s: no column %q (have: %s)", s.cfg.File, k, fieldNames(header))
				return
			}
		}
		for i, k := range s.fileCols {
			if valCols[i] = col(k); valCols[i] < 0 {
				s.err = fmt.Errorf("lookup %s: no column %q (have: %s)", s.cfg.File, k, fieldNames(header))
				return
			}
		}
		table := map[string][]string{}
		for {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				s.err = fmt.Errorf("lookup %s: %w", s.cfg.File, err)
				return
			}
			parts := make([]string, len(keyCols))
			for i, c := range keyCols {
				if c < len(rec) {
					parts[i] = rec[c]
				}
			}
			key := lookupKey(parts)
			if _, dup := table[key]; dup {
				continue
			}
			vals := make([]string, len(valCols))
			for i, c := range valCols {
				if c < len(rec) {
					vals[i] = rec[c]
				}
			}
			table[key] = vals
		}
		s.table = table
	})
	return s.table, s.err
}

func (s *lookupStep) plan(in *etl.Schema) (*lookupPlan, error) {
	p := &lookupPlan{}
	var err error
	if p.keys, err = indexes(s.inKeys, in); err != nil {
		return nil, err
	}
	fields := in.Fields()
	for _, n := range s.outNames {
		if in.Index(n) >= 0 {
			return nil, fmt.Errorf("lookup: the input already has a field %q", n)
		}
		fields = append(fields, etl.Field{Name: n, Type: etl.TypeString})
	}
	p.schema, err = etl.NewSchema(fields...)
	return p, err
}

// Apply adds the looked-up fields.
func (s *lookupStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	table, err := s.load()
	if err != nil {
		return nil, err
	}
	p, err := s.plans.get(b.Schema, s.plan)
	if err != nil {
		return nil, err
	}
	n := b.Len()
	added := make([]etl.Column, len(s.outNames))
	for k := range added {
		added[k] = etl.NewColumn(etl.TypeString, n)
	}
	drop := make([]bool, n)
	parts := make([]string, len(p.keys))
	for i := 0; i < n; i++ {
		for k, j := range p.keys {
			parts[k], _ = b.Cols[j].Text(i)
		}
		display := strings.Join(parts, ", ")
		vals, found := table[lookupKey(parts)]
		if !found && s.cfg.Missing == "reject" {
			b.Reject(i, s.name, fieldNames(s.inKeys), display, fmt.Sprintf("lookup: key %q not in %s", display, s.cfg.File))
			drop[i] = true
		}
		for k := range added {
			switch {
			case found:
				added[k].AppendString(vals[k])
			case s.hasDef[k]:
				added[k].AppendString(s.defaults[k])
			default:
				added[k].AppendNull()
			}
		}
	}
	b.Schema, b.Cols = p.schema, append(b.Cols, added...)
	keepUnrejected(b, drop)
	return b, nil
}
