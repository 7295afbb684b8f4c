package sqlconn

import (
	"fmt"
	"strings"

	"github.com/nightjar-etl/nightjar/etl"
)

// Insert builds multi-row INSERT (or upsert) statements for one table and
// one column list: the quoted names are computed once, then SQL(rows) is
// cheap to call for a full chunk and for the remainder of a batch.
type Insert struct {
	dialect Dialect
	prefix  string // INSERT INTO "t" ("a", "b") VALUES
	suffix  string // the upsert clause, or ""
	columns int
}

// NewInsert prepares the statements inserting columns into table. With
// keys, rows whose key already exists update every other column of the
// list (an upsert); keys must be a subset of columns. SQLite applies a key
// repeated within one statement row after row; PostgreSQL refuses it, so
// its target will have to keep the last row per key first.
func NewInsert(d Dialect, table string, columns, keys []string) (*Insert, error) {
	if len(columns) == 0 {
		return nil, fmt.Errorf("insert into %q: no columns", table)
	}
	qt, err := d.QuoteIdent(table)
	if err != nil {
		return nil, err
	}
	qc, err := QuoteAll(d, columns)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(qt)
	b.WriteString(" (")
	b.WriteString(strings.Join(qc, ", "))
	b.WriteString(") VALUES ")
	ins := &Insert{dialect: d, prefix: b.String(), columns: len(columns)}
	if len(keys) > 0 {
		isKey := make(map[string]bool, len(keys))
		var qk []string
		for _, k := range keys {
			i := indexFold(d, columns, k)
			if i < 0 {
				return nil, fmt.Errorf("upsert into %q: key %q is not among the columns", table, k)
			}
			isKey[d.IdentKey(k)] = true
			qk = append(qk, qc[i])
		}
		var updates []string
		for i, c := range columns {
			if !isKey[d.IdentKey(c)] {
				updates = append(updates, qc[i])
			}
		}
		ins.suffix = d.UpsertClause(qk, updates)
	}
	return ins, nil
}

func indexFold(d Dialect, names []string, name string) int {
	key := d.IdentKey(name)
	for i, n := range names {
		if d.IdentKey(n) == key {
			return i
		}
	}
	return -1
}

// Columns is the number of columns (bind parameters per row).
func (ins *Insert) Columns() int { return ins.columns }

// RowsPerStatement is how many rows one statement holds: as many as the
// dialect's parameter limit allows, at most limit when limit > 0.
func (ins *Insert) RowsPerStatement(limit int) int {
	n := ins.dialect.MaxParams() / ins.columns
	if limit > 0 && n > limit {
		n = limit
	}
	return max(n, 1)
}

// SQL returns the statement inserting rows rows.
func (ins *Insert) SQL(rows int) string {
	var b strings.Builder
	b.Grow(len(ins.prefix) + len(ins.suffix) + rows*(ins.columns*3+4))
	b.WriteString(ins.prefix)
	n := 0
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range ins.columns {
			if c > 0 {
				b.WriteByte(',')
			}
			n++
			b.WriteString(ins.dialect.Placeholder(n))
		}
		b.WriteByte(')')
	}
	b.WriteString(ins.suffix)
	return b.String()
}

// KeyTyper is implemented by dialects whose key columns need another
// column type than ColumnType gives (MySQL cannot index TEXT without a
// prefix length, so its string keys are VARCHAR).
type KeyTyper interface {
	KeyColumnType(f etl.Field) string
}

// keyColumnType is the type of a key column for f.
func keyColumnType(d Dialect, f etl.Field) string {
	if kt, ok := d.(KeyTyper); ok {
		return kt.KeyColumnType(f)
	}
	return d.ColumnType(f)
}

// CreateTable returns the statement creating table with a nullable column
// per field of s.
func CreateTable(d Dialect, table string, s *etl.Schema) (string, error) {
	return CreateTableWithKeys(d, table, s, nil)
}

// CreateTableWithKeys is CreateTable where the fields named in keys get
// the dialect's key column type (see KeyTyper).
func CreateTableWithKeys(d Dialect, table string, s *etl.Schema, keys []string) (string, error) {
	qt, err := d.QuoteIdent(table)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(qt)
	b.WriteString(" (")
	for i := range s.Len() {
		f := s.Field(i)
		qc, err := d.QuoteIdent(f.Name)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(qc)
		b.WriteByte(' ')
		if indexFold(d, keys, f.Name) >= 0 {
			b.WriteString(keyColumnType(d, f))
		} else {
			b.WriteString(d.ColumnType(f))
		}
	}
	b.WriteByte(')')
	return b.String(), nil
}

// AddColumn returns the statement adding a nullable column for f.
func AddColumn(d Dialect, table string, f etl.Field) (string, error) {
	qt, err := d.QuoteIdent(table)
	if err != nil {
		return "", err
	}
	qc, err := d.QuoteIdent(f.Name)
	if err != nil {
		return "", err
	}
	return "ALTER TABLE " + qt + " ADD COLUMN " + qc + " " + d.ColumnType(f), nil
}

// CreateUniqueIndex returns the statement creating, if missing, the unique
// index named index on table's keys, which a merge's upsert relies on.
func CreateUniqueIndex(d Dialect, index, table string, keys []string) (string, error) {
	qi, err := d.QuoteIdent(index)
	if err != nil {
		return "", err
	}
	qt, err := d.QuoteIdent(table)
	if err != nil {
		return "", err
	}
	qk, err := QuoteAll(d, keys)
	if err != nil {
		return "", err
	}
	return "CREATE UNIQUE INDEX IF NOT EXISTS " + qi + " ON " + qt + " (" + strings.Join(qk, ", ") + ")", nil
}

// DropTable returns the statement dropping table if it exists.
func DropTable(d Dialect, table string) (string, error) {
	qt, err := d.QuoteIdent(table)
	if err != nil {
		return "", err
	}
	return "DROP TABLE IF EXISTS " + qt, nil
}

// Parts returns the statement's prefix, up to and including "VALUES ",
// and its upsert clause ("" without keys), for statements that insert
// from a SELECT instead of a VALUES list.
func (ins *Insert) Parts() (prefix, upsert string) { return ins.prefix, ins.suffix }
