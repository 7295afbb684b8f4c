package transforms

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "lookup",
			Summary: "Enrich rows from a CSV file or an SQL table by key (loaded once per run and cached); a missing key keeps nulls or defaults, or rejects the row.",
			Example: `lookup:
  file: data/leads.csv
  on: { email: email }
  fields: { company: company, lead_id: id }
  missing: keep
  default: { company: unknown }
# or from a table of a sqlite, postgres or mysql connection:
# lookup: { connection: warehouse, table: customers, on: email, fields: [company, owner] }`,
			Config: func() any { return new(LookupConfig) },
		},
		New: newLookup,
	})
}

// LookupConfig is the lookup step's config: the rows come from File, or
// from Table through Connection.
type LookupConfig struct {
	// File is a CSV file with a header row, relative to the config file.
	File string `yaml:"file" doc:"a CSV file with a header row, relative to the config file"`
	// Connection names a connection (sqlite, postgres, mysql) to read
	// Table from instead of a file.
	Connection string `yaml:"connection" doc:"names a connection (sqlite, postgres, mysql) to read Table from instead of a file"`
	// Table is the table (or view) to read, "name" or "schema.name";
	// each part is quoted, so it is case-sensitive.
	Table string `yaml:"table" doc:"the table (or view) to read, \"name\" or \"schema.name\"; each part is quoted, so it is case-sensitive"`
	// On maps input fields to the lookup's key columns. Keys compare as
	// text, trimmed and case-folded.
	On ColumnMap `yaml:"on" doc:"maps input fields to the lookup's key columns"`
	// Fields maps new field names to the lookup's columns; the new fields
	// are strings (SQL values in their text form, SQL NULL as null).
	Fields ColumnMap `yaml:"fields" doc:"maps new field names to the lookup's columns; the new fields are strings (SQL values in their text form, SQL NULL as null)"`
	// Missing is keep (default: the new fields are null or their default)
	// or reject.
	Missing string `yaml:"missing" doc:"keep (default: the new fields are null or their default) or reject"`
	// Default gives values for the new fields when the key is missing.
	Default map[string]string `yaml:"default" doc:"gives values for the new fields when the key is missing"`
	// Delimiter is the file's field separator, "," by default.
	Delimiter string `yaml:"delimiter" doc:"the file's field separator, \",\" by default"`
}

// ColumnMap pairs names with columns, in the order written: a mapping
// (name: column), or a name or list of names where both are the same.
type ColumnMap []ColumnPair

// ColumnPair is one entry of a ColumnMap.
type ColumnPair struct {
	Name   string // the field in the rows
	Column string // the column of the lookup's file or table
}

// UnmarshalYAML accepts a name, a list of names or a mapping.
func (m *ColumnMap) UnmarshalYAML(unmarshal func(any) error) error {
	var names stringList
	if err := unmarshal(&names); err == nil {
		*m = make(ColumnMap, len(names))
		for i, n := range names {
			(*m)[i] = ColumnPair{Name: n, Column: n}
		}
		return nil
	}
	var order yaml.MapSlice
	if err := unmarshal(&order); err != nil {
		return errors.New("want a name, a list of names or a mapping of name: column")
	}
	*m = make(ColumnMap, len(order))
	for i, kv := range order {
		(*m)[i] = ColumnPair{Name: fmt.Sprint(kv.Key), Column: fmt.Sprint(kv.Value)}
	}
	return nil
}

// DBOpener is what a connection's config offers for the lookup step to
// read a table: the sqlite, postgres and mysql connections implement it,
// so that steps need not import connectors.
type DBOpener interface {
	// OpenDB opens the connection's database; relative paths are
	// relative to baseDir. Errors must not quote secrets (a DSN).
	OpenDB(ctx context.Context, baseDir string) (*sqlx.DB, error)
	// QuoteIdent quotes a name as the connection's database does (the
	// dialect its targets and sources use), or says why it cannot.
	QuoteIdent(name string) (string, error)
}

type lookupStep struct {
	name     string
	cfg      LookupConfig
	source   string // for messages: the file, or "table T (connection C)"
	path     string
	opener   DBOpener
	baseDir  string
	inKeys   []string
	fileKeys []string
	outNames []string
	fileCols []string
	defaults []string // per output field; "" with hasDef false is null
	hasDef   []bool

	once  sync.Once
	table map[string][]sql.NullString
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
	s := &lookupStep{name: env.StepName, cfg: *c, path: c.File, baseDir: env.BaseDir}
	if err := s.resolveSource(env); err != nil {
		return nil, err
	}
	if len(c.On) == 0 {
		return nil, &etl.FieldError{Path: []string{"on"}, Err: errors.New("lookup needs on: { input_field: lookup_column }")}
	}
	if len(c.Fields) == 0 {
		return nil, &etl.FieldError{Path: []string{"fields"}, Err: errors.New("lookup needs fields: { new_field: lookup_column }")}
	}
	switch c.Missing {
	case "", "keep", "reject":
	default:
		return nil, &etl.FieldError{Path: []string{"missing"}, Err: fmt.Errorf("missing must be keep or reject, got %q", c.Missing)}
	}
	for _, p := range c.On {
		s.inKeys = append(s.inKeys, p.Name)
		s.fileKeys = append(s.fileKeys, p.Column)
	}
	for _, p := range c.Fields {
		s.outNames = append(s.outNames, p.Name)
		s.fileCols = append(s.fileCols, p.Column)
		d, has := c.Default[p.Name]
		s.defaults, s.hasDef = append(s.defaults, d), append(s.hasDef, has)
	}
	for name := range c.Default {
		if !contains(s.outNames, name) {
			return nil, &etl.FieldError{Path: []string{"default", name}, Err: fmt.Errorf("%q is not one of fields (%s)", name, fieldNames(s.outNames))}
		}
	}
	return s, nil
}

// resolveSource checks where the rows come from: a file, or a table through a
// connection the loader resolved into env.Connection.
func (s *lookupStep) resolveSource(env etl.BuildEnv) error {
	c := &s.cfg
	switch {
	case c.File != "" && (c.Connection != "" || c.Table != ""):
		return &etl.FieldError{Path: []string{"file"}, Err: errors.New("give file, or connection and table, not both")}
	case c.File != "":
		if len([]rune(c.Delimiter)) > 1 {
			return &etl.FieldError{Path: []string{"delimiter"}, Err: errors.New("want one character")}
		}
		if !filepath.IsAbs(s.path) && env.BaseDir != "" {
			s.path = filepath.Join(env.BaseDir, s.path)
		}
		s.source = c.File
		return nil
	case c.Connection == "" && c.Table == "":
		return &etl.FieldError{Err: errors.New("lookup needs a file (a CSV file with a header), or a connection and a table")}
	case c.Connection == "":
		return &etl.FieldError{Path: []string{"table"}, Err: errors.New("table needs connection: the connection to read it from")}
	case c.Table == "":
		return &etl.FieldError{Path: []string{"connection"}, Err: errors.New("connection needs table: the table to read")}
	case c.Delimiter != "":
		return &etl.FieldError{Path: []string{"delimiter"}, Err: errors.New("delimiter applies to a file, not a table")}
	}
	conn := env.Connection
	if conn == nil || conn.Name != c.Connection {
		return &etl.FieldError{Path: []string{"connection"}, Err: fmt.Errorf("unknown connection %q", c.Connection)}
	}
	opener, ok := conn.Config.(DBOpener)
	if !ok {
		return &etl.FieldError{Path: []string{"connection"}, Err: fmt.Errorf("connection %q is of type %s; lookup reads tables of sqlite, postgres and mysql connections", conn.Name, conn.Type)}
	}
	for _, part := range strings.Split(c.Table, ".") {
		if strings.TrimSpace(part) == "" {
			return &etl.FieldError{Path: []string{"table"}, Err: fmt.Errorf("%q: want name or schema.name", c.Table)}
		}
	}
	s.opener = opener
	s.source = fmt.Sprintf("table %s (connection %s)", c.Table, c.Connection)
	return nil
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

// load reads the file or table once; the first row wins for a repeated
// key.
func (s *lookupStep) load(ctx context.Context) (map[string][]sql.NullString, error) {
	s.once.Do(func() {
		if s.opener != nil {
			s.table, s.err = s.loadTable(ctx)
		} else {
			s.table, s.err = s.loadFile()
		}
	})
	return s.table, s.err
}

// missingColumn is the error for a key or field column the lookup's file
// or table lacks.
func (s *lookupStep) missingColumn(header []string) error {
	for _, want := range append(append([]string(nil), s.fileKeys...), s.fileCols...) {
		if !contains(header, want) {
			return fmt.Errorf("lookup %s: no column %q (have: %s)", s.source, want, fieldNames(header))
		}
	}
	return nil
}

func (s *lookupStep) loadFile() (map[string][]sql.NullString, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	if s.cfg.Delimiter != "" {
		r.Comma = []rune(s.cfg.Delimiter)[0]
	}
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("lookup %s: read header: %w", s.source, err)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff")
	if err := s.missingColumn(header); err != nil {
		return nil, err
	}
	keyCols, valCols := make([]int, len(s.fileKeys)), make([]int, len(s.fileCols))
	for i, k := range s.fileKeys {
		keyCols[i] = slices.Index(header, k)
	}
	for i, k := range s.fileCols {
		valCols[i] = slices.Index(header, k)
	}
	table := map[string][]sql.NullString{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return table, nil
		}
		if err != nil {
			return nil, fmt.Errorf("lookup %s: %w", s.source, err)
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
		vals := make([]sql.NullString, len(valCols))
		for i, c := range valCols {
			if c < len(rec) {
				vals[i] = sql.NullString{String: rec[c], Valid: true}
			}
		}
		table[key] = vals
	}
}

// loadTable reads the key and field columns of every row of the table.
func (s *lookupStep) loadTable(ctx context.Context) (map[string][]sql.NullString, error) {
	db, err := s.opener.OpenDB(ctx, s.baseDir)
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", s.source, err)
	}
	defer db.Close()
	var table []string
	for _, part := range strings.Split(s.cfg.Table, ".") {
		q, err := s.opener.QuoteIdent(part)
		if err != nil {
			return nil, fmt.Errorf("lookup %s: table %q: %w", s.source, s.cfg.Table, err)
		}
		table = append(table, q)
	}
	from := " FROM " + strings.Join(table, ".")
	// The columns are checked first, so that a typo gets the list of the
	// table's columns rather than the database's message.
	rows, err := db.QueryContext(ctx, "SELECT *"+from+" WHERE 1 = 0")
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", s.source, err)
	}
	header, err := rows.Columns()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", s.source, err)
	}
	if err := s.missingColumn(header); err != nil {
		return nil, err
	}
	cols := append(append([]string(nil), s.fileKeys...), s.fileCols...)
	for i, c := range cols {
		if cols[i], err = s.opener.QuoteIdent(c); err != nil {
			return nil, fmt.Errorf("lookup %s: column %q: %w", s.source, c, err)
		}
	}
	rows, err = db.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+from)
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", s.source, err)
	}
	defer rows.Close()
	nk := len(s.fileKeys)
	cells := make([]sql.NullString, len(cols))
	dest := make([]any, len(cols))
	for i := range cells {
		dest[i] = &cells[i]
	}
	parts := make([]string, nk)
	out := map[string][]sql.NullString{}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("lookup %s: %w", s.source, err)
		}
		null := false
		for i := range parts {
			parts[i], null = cells[i].String, null || !cells[i].Valid
		}
		if null { // a NULL key matches nothing
			continue
		}
		key := lookupKey(parts)
		if _, dup := out[key]; dup {
			continue
		}
		out[key] = slices.Clone(cells[nk:])
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lookup %s: %w", s.source, err)
	}
	return out, nil
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
	table, err := s.load(ctx)
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
		null := false
		for k, j := range p.keys {
			var ok bool
			parts[k], ok = b.Cols[j].Text(i)
			null = null || !ok
		}
		display := strings.Join(parts, ", ")
		vals, found := table[lookupKey(parts)]
		if null {
			// A null key matches nothing, as a NULL key of a table does;
			// not the row of a file whose key is empty.
			vals, found = nil, false
		}
		if !found && s.cfg.Missing == "reject" {
			b.Reject(i, s.name, fieldNames(s.inKeys), display, fmt.Sprintf("lookup: key %q not in %s", display, s.source))
			drop[i] = true
		}
		for k := range added {
			switch {
			case found && vals[k].Valid:
				added[k].AppendString(vals[k].String)
			case found:
				added[k].AppendNull()
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
