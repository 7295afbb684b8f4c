package sqlconn

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/internal/termtext"
)

// Inspector is what a dry run needs of a Backend besides its Dialect: a
// look at the database that changes nothing, and the load statement a
// batch would run.
type Inspector interface {
	// OpenExisting opens the target's database without creating anything
	// (no schema, database or file) and without any setting that writes;
	// a nil DB and no error when the database, schema or file does not
	// exist, so that every table is missing.
	OpenExisting(ctx context.Context) (*sqlx.DB, error)
	// DescribeLoad is the statement Load would run for a batch of s into
	// table (a merge: the upsert), short enough for a terminal line.
	DescribeLoad(table string, s *etl.Schema, keys []string) string
}

// maxDryRunLine caps a statement shown by a dry run: a CREATE TABLE of a
// wide batch would fill the terminal.
const maxDryRunLine = 200

// dryRunState is what a dry run has learnt of the table in this run, and
// what the statements it listed would have made of it.
type dryRunState struct {
	runID int64
	// columns are the table's after the statements listed; nil while the
	// table is missing (for replace: before the staging table is made).
	columns *TableColumns
	// live are the columns of cfg.Table in the database.
	live       []string
	noMarkers  bool
	indexShown bool
}

var _ etl.DryRunner = (*Table)(nil)

// DryRun lists the statements Write would run for b: the table's CREATE
// or ALTER when it is missing or lacks columns (read from the database's
// catalog on a read-only connection: no table, marker table, schema,
// database or file is made, no write lock taken), the key index of a
// merge, and the load statement with b's row count. The DDL is listed
// once per run (env.RunID), as Write would run it.
func (t *Table) DryRun(ctx context.Context, env etl.TargetEnv, b *etl.Batch) ([]string, error) {
	if b.Schema == nil || b.Schema.Len() == 0 || b.Len() == 0 {
		return nil, nil
	}
	if err := b.Check(); err != nil {
		return nil, t.errorf("batch %d: %w", b.Seq, err)
	}
	if err := OneColumnEach(t.backend, b.Schema); err != nil {
		return nil, t.errorf("%w", err)
	}
	var lines []string
	if t.dry == nil || t.dry.runID != env.RunID {
		st, err := t.inspect(ctx, env.RunID)
		if err != nil {
			return nil, t.errorf("dry run: %w", err)
		}
		t.dry = st
		if st.noMarkers && t.cfg.Mode != ModeMerge {
			create, _, _ := strings.Cut(CreateMarkerTable(t.backend), "(")
			lines = append(lines, shorten(create+"(…), the replay markers"))
		}
	}
	more, err := t.dryRunDDL(b.Schema)
	if err != nil {
		return nil, t.errorf("%w", err)
	}
	lines = append(lines, more...)
	table := t.cfg.Table
	var keys []string
	switch t.cfg.Mode {
	case ModeReplace:
		table += StagingSuffix
	case ModeMerge:
		keys = t.cfg.Key
	}
	load := t.backend.DescribeLoad(table, b.Schema, keys)
	lines = append(lines, fmt.Sprintf("%s: %d row(s)", shorten(load), b.Len()))
	return lines, nil
}

// inspect reads the table's columns and whether the marker table exists.
func (t *Table) inspect(ctx context.Context, runID int64) (*dryRunState, error) {
	st := &dryRunState{runID: runID, noMarkers: true}
	db, err := t.backend.OpenExisting(ctx)
	if err != nil || db == nil {
		return st, err
	}
	defer db.Close()
	if st.live, err = t.backend.Columns(ctx, db, t.cfg.Table); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	markers, err := t.backend.Columns(ctx, db, MarkerTable)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", MarkerTable, err)
	}
	st.noMarkers = len(markers) == 0
	if len(st.live) > 0 && t.cfg.Mode != ModeReplace {
		st.columns = NewTableColumns(t.backend, st.live)
	}
	return st, nil
}

// dryRunDDL lists the DDL a batch of schema s would run, as ensureTable
// and create would, and records its effect in t.dry.
func (t *Table) dryRunDDL(s *etl.Schema) ([]string, error) {
	d, st := t.backend, t.dry
	var lines []string
	table := t.cfg.Table
	if t.cfg.Mode == ModeReplace {
		table += StagingSuffix
	}
	if st.columns == nil {
		var keys []string
		if t.cfg.Mode == ModeMerge {
			keys = t.cfg.Key
		}
		stmt, err := createAbridged(d, table, s, keys)
		if err != nil {
			return nil, err
		}
		names := s.Names()
		if t.cfg.Mode == ModeReplace && t.cfg.Schema == SchemaStrict && len(st.live) > 0 {
			if err := NewTableColumns(d, st.live).CheckStrict(t.cfg.Table, s); err != nil {
				return nil, err
			}
			qt, _ := d.QuoteIdent(table)
			ql, _ := d.QuoteIdent(t.cfg.Table)
			stmt, names = "CREATE TABLE "+qt+" with the columns of "+ql, st.live
		}
		lines = append(lines, shorten(stmt))
		if t.cfg.Mode == ModeReplace {
			qs, _ := d.QuoteIdent(table)
			qt, _ := d.QuoteIdent(t.cfg.Table)
			lines = append(lines, shorten("at the end of the run "+qs+" replaces "+qt))
		}
		st.columns = NewTableColumns(d, names)
	}
	if missing := st.columns.Missing(s); len(missing) > 0 {
		if t.cfg.Schema == SchemaStrict {
			return nil, st.columns.CheckStrict(t.cfg.Table, s)
		}
		for _, f := range missing {
			add, err := AddColumn(d, table, f)
			if err != nil {
				return nil, err
			}
			lines = append(lines, shorten(add))
			st.columns.Add(f.Name)
		}
	}
	if t.cfg.Mode == ModeMerge && !st.indexShown {
		index, err := CreateUniqueIndex(d, t.cfg.Table+KeyIndexSuffix, table, t.cfg.Key)
		if err != nil {
			return nil, err
		}
		lines = append(lines, shorten(index))
		st.indexShown = true
	}
	return lines, nil
}

// maxListed is how many columns a dry run's statement names before it
// gives their number instead.
const maxListed = 5

// ColumnList is names quoted and joined for a dry run's statement; past
// maxListed, the first few and the count: "a", "b", "c", "d", … (20 columns).
func ColumnList(d Dialect, names []string) string {
	shown := names
	if len(names) > maxListed {
		shown = names[:maxListed-1]
	}
	q, err := QuoteAll(d, shown)
	if err != nil {
		q = shown
	}
	list := strings.Join(q, ", ")
	if len(shown) < len(names) {
		list += fmt.Sprintf(", … (%d columns)", len(names))
	}
	return list
}

// createAbridged is the CREATE TABLE of CreateTableWithKeys, naming no
// more than maxListed columns: past them, the first few and the count.
func createAbridged(d Dialect, table string, s *etl.Schema, keys []string) (string, error) {
	if s.Len() <= maxListed {
		return CreateTableWithKeys(d, table, s, keys)
	}
	first, err := etl.NewSchema(s.Fields()[:maxListed-1]...)
	if err != nil {
		return "", err
	}
	stmt, err := CreateTableWithKeys(d, table, first, keys)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s, … (%d columns))", strings.TrimSuffix(stmt, ")"), s.Len()), nil
}

// LoadStatement is the INSERT (with keys, the upsert) that NewInsert
// would build, its VALUES list replaced by from ("VALUES (…)", or "SELECT
// … FROM stage"), the columns and updates abridged: the load a
// DescribeLoad shows.
func LoadStatement(d Dialect, table string, columns, keys []string, from string) string {
	qt, err := d.QuoteIdent(table)
	if err != nil {
		qt = table
	}
	stmt := "INSERT INTO " + qt + " (" + ColumnList(d, columns) + ") " + from
	if len(keys) == 0 {
		return stmt
	}
	qk, _ := QuoteAll(d, keys)
	var updates []string
	for _, c := range columns {
		if indexFold(d, keys, c) < 0 {
			updates = append(updates, c)
		}
	}
	qu, _ := QuoteAll(d, updates[:min(1, len(updates))])
	clause := d.UpsertClause(qk, qu)
	if len(updates) > 1 {
		// Up to the first column updated: "ON CONFLICT (k) DO UPDATE SET".
		if i := strings.LastIndex(clause, qu[0]+" ="); i > 0 {
			clause = clause[:i] + fmt.Sprintf("… (%d columns)", len(updates))
		} else {
			clause += fmt.Sprintf(", … (%d columns)", len(updates))
		}
	}
	return stmt + clause
}

// shorten readies a statement for a terminal line: what could break or
// drive the line (a line break or escape sequence in a hostile name) is
// escaped (termtext), and past maxDryRunLine bytes the statement is cut,
// the cut marked.
func shorten(s string) string {
	var b strings.Builder
	cut := false
	termtext.Each(s, func(shown string, _ rune, _ int) bool {
		if b.Len() >= maxDryRunLine {
			cut = true
			return false
		}
		b.WriteString(shown)
		return true
	})
	if cut {
		return strings.TrimRight(b.String(), " ") + " …"
	}
	return b.String()
}
