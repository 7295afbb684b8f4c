package sqlconn

import (
	"fmt"
	"strings"

	"github.com/nightjar-etl/nightjar/etl"
)

// TableColumns is the set of a table's columns as a target knows them, so
// that it need not ask the database before every batch. Names are matched
// the way the dialect compares identifiers.
type TableColumns struct {
	dialect Dialect
	names   []string
	keys    map[string]bool
}

// NewTableColumns returns the known columns of a table.
func NewTableColumns(d Dialect, names []string) *TableColumns {
	c := &TableColumns{dialect: d, keys: make(map[string]bool, len(names))}
	for _, n := range names {
		c.Add(n)
	}
	return c
}

// Add records a new column.
func (c *TableColumns) Add(name string) {
	k := c.dialect.IdentKey(name)
	if !c.keys[k] {
		c.keys[k] = true
		c.names = append(c.names, name)
	}
}

// Has reports whether the table has a column matching name.
func (c *TableColumns) Has(name string) bool { return c.keys[c.dialect.IdentKey(name)] }

// Names returns the columns in table order.
func (c *TableColumns) Names() []string { return append([]string(nil), c.names...) }

// Missing returns the fields of s that the table has no column for, in
// schema order.
func (c *TableColumns) Missing(s *etl.Schema) []etl.Field {
	var out []etl.Field
	for i := range s.Len() {
		if f := s.Field(i); !c.Has(f.Name) {
			out = append(out, f)
		}
	}
	return out
}

// OneColumnEach refuses a schema two of whose fields the dialect would
// take for one column ("Email" and "email" where names ignore case), with
// both names, before a statement fails on a duplicate column.
func OneColumnEach(d Dialect, s *etl.Schema) error {
	seen := make(map[string]string, s.Len())
	for i := range s.Len() {
		name := s.Field(i).Name
		k := d.IdentKey(name)
		if first, dup := seen[k]; dup {
			return fmt.Errorf("fields %q and %q would be one column in %s, whose column names ignore case: rename one (a rename step) or drop it",
				first, name, d.Name())
		}
		seen[k] = name
	}
	return nil
}

// SchemaMismatchError is a strict target's refusal of a batch with fields
// its table has no column for.
type SchemaMismatchError struct {
	Table   string
	Missing []etl.Field // batch fields without a column
	// Diff lists the table's columns then the missing fields, each marked
	// "  " (column the batch fills), "- " (column the batch does not fill)
	// or "+ " (field the table lacks).
	Diff []string
}

func (e *SchemaMismatchError) Error() string {
	names := make([]string, len(e.Missing))
	for i, f := range e.Missing {
		names[i] = fmt.Sprintf("%q", f.Name)
	}
	return fmt.Sprintf("table %q has no column for field %s (schema: strict); set schema: evolve to add columns, or rename or drop the fields\n  table columns (-) vs batch fields (+):\n    %s",
		e.Table, strings.Join(names, ", "), strings.Join(e.Diff, "\n    "))
}

// CheckStrict returns a *SchemaMismatchError, marked etl.Permanent (a
// retry meets the same table), when s has fields the table lacks.
func (c *TableColumns) CheckStrict(table string, s *etl.Schema) error {
	missing := c.Missing(s)
	if len(missing) == 0 {
		return nil
	}
	inBatch := make(map[string]bool, s.Len())
	for i := range s.Len() {
		inBatch[c.dialect.IdentKey(s.Field(i).Name)] = true
	}
	var diff []string
	for _, n := range c.names {
		mark := "  "
		if !inBatch[c.dialect.IdentKey(n)] {
			mark = "- "
		}
		diff = append(diff, mark+n)
	}
	for _, f := range missing {
		diff = append(diff, "+ "+f.Name+" ("+f.Type.String()+")")
	}
	return etl.Permanent(&SchemaMismatchError{Table: table, Missing: missing, Diff: diff})
}
