package postgres

import (
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nightjar-etl/nightjar/etl"
)

// copyRows hands a batch's rows to CopyFrom, reusing one slice of values;
// with ord, each row ends with its index in the batch.
type copyRows struct {
	batch *etl.Batch
	row   int
	ord   bool
	vals  []any
}

var _ pgx.CopyFromSource = (*copyRows)(nil)

func (r *copyRows) reset(b *etl.Batch, ord bool) {
	r.batch, r.row, r.ord = b, -1, ord
	clear(r.vals)
	if b == nil {
		return
	}
	n := len(b.Cols)
	if ord {
		n++
	}
	if cap(r.vals) < n {
		r.vals = make([]any, n)
	}
	r.vals = r.vals[:n]
}

// Next advances to the next row.
func (r *copyRows) Next() bool {
	r.row++
	return r.row < r.batch.Len()
}

// Values returns the current row's values, typed as pgx encodes them:
// string, int64, float64, bool, time.Time, []byte for bytes, and nested
// JSON values as they are (pgx marshals them for a json or jsonb column):
// etl.Column.Value's; an array as a pgtype.Array (see pgxArray).
func (r *copyRows) Values() ([]any, error) {
	i := r.row
	for c := range r.batch.Cols {
		col := &r.batch.Cols[c]
		if col.Null[i] {
			r.vals[c] = nil
			continue
		}
		r.vals[c] = col.Value(i)
		if col.Type == etl.TypeArray {
			v, err := pgxArray(r.batch.Schema.Field(c).Elem, r.vals[c])
			if err != nil {
				return nil, fmt.Errorf("row %s: field %q: %w", r.batch.Origins[i], r.batch.Schema.Field(c).Name, err)
			}
			r.vals[c] = v
		}
	}
	if r.ord {
		r.vals[len(r.batch.Cols)] = int64(i)
	}
	return r.vals, nil
}

// Err reports no error: the batch is in memory.
func (r *copyRows) Err() error { return nil }
