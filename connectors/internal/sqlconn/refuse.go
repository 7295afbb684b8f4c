package sqlconn

import (
	"fmt"

	"github.com/nightjar-etl/nightjar/etl"
)

// TextChecker is implemented by a backend whose text or JSON columns
// refuse some values (PostgreSQL: a NUL byte). CheckColumn calls refuse
// with each non-null row of col the backend cannot store and why; it looks
// at a whole column at a time, so that the common case, nothing refused,
// is one tight loop and no call per value.
type TextChecker interface {
	CheckColumn(col *etl.Column, refuse func(row int, why string))
}

var _ etl.Rejecter = (*Table)(nil)

// refuse takes out of b the rows the table cannot take, as rejects naming
// their origin, field and reason, so that one poison row does not fail the
// batch on every later run: a merge row with a null key, a text the
// database cannot store. It returns b itself when every row is fine.
func (t *Table) refuse(b *etl.Batch) (*etl.Batch, error) {
	var keep []bool
	reject := func(i int, field, value, reason string) {
		if keep == nil {
			keep = allRows(b.Len())
		}
		if keep[i] {
			keep[i] = false
			t.refused = append(t.refused, etl.Reject{Step: t.name, Origin: b.Origins[i], Field: field,
				Value: value, Reason: reason, Row: b.RowJSON(i)})
		}
	}
	if t.cfg.Mode == ModeMerge {
		for _, k := range t.cfg.Key {
			col := b.Col(k)
			if col == nil {
				return nil, fmt.Errorf("key field %q is not in the batch (fields: %s)", k, b.Schema)
			}
			for i, null := range col.Null {
				if null {
					reject(i, k, "", fmt.Sprintf("key field %q is null; a merge needs every key", k))
				}
			}
		}
	}
	if tc, ok := t.backend.(TextChecker); ok {
		for j := range b.Cols {
			col := &b.Cols[j]
			tc.CheckColumn(col, func(i int, why string) {
				text, _ := col.Text(i)
				reject(i, b.Schema.Field(j).Name, text, why)
			})
		}
	}
	if rp, ok := t.backend.(Representer); ok {
		copied := false
		if keep != nil { // the rows refused so far go first
			b, keep, copied = b.Select(keep), nil, true
		}
		var nulls [][2]int // column, row
		var failed error
		rp.Representable().each(b, func(e *UnrepresentableError, c, r int) bool {
			switch t.cfg.OnUnrepresentable {
			case UnrepresentableReject:
				reject(r, e.Field, e.Value, fmt.Sprintf("%s cannot be stored in a %s column exactly (%s)", e.Value, e.Column, e.Why))
			case UnrepresentableNull:
				nulls = append(nulls, [2]int{c, r})
			default:
				failed = etl.Permanent(e)
				return false
			}
			return true
		})
		if failed != nil {
			return nil, failed
		}
		if len(nulls) > 0 {
			if !copied { // other targets may be reading b
				b = b.Select(allRows(b.Len()))
			}
			for _, cr := range nulls {
				b.Cols[cr[0]].Null[cr[1]] = true
			}
			t.logger.Warn(fmt.Sprintf("%d value(s) the table's columns cannot hold stored as NULL (on_unrepresentable: null)", len(nulls)))
		}
	}
	if keep == nil {
		return b, nil
	}
	return b.Select(keep), nil
}

// allRows is a mask keeping every one of n rows.
func allRows(n int) []bool {
	keep := make([]bool, n)
	for i := range keep {
		keep[i] = true
	}
	return keep
}

// TakeRejects returns the rows refused since the last call (etl.Rejecter).
func (t *Table) TakeRejects() []etl.Reject {
	out := t.refused
	t.refused = nil
	return out
}
