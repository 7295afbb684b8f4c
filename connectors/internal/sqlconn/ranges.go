package sqlconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/nightjar-etl/nightjar/etl"
)

// A table source with partition_rows set is split by `nightjar worker`
// into key ranges: partitions of about that many rows each, by ranges of
// its range column (the cursor, or the first key without one), run by any
// worker. Ranges computes them; OnlyRange restricts a partition's run to
// its range.
//
// The bounds are found by walking the range column's index from the job's
// position: each is the value partition_rows rows past the last one
// (ORDER BY the column LIMIT 1 OFFSET partition_rows-1). That is one pass
// over the index entries of the rows to load, as count(*) would be, with
// partitions of exactly partition_rows rows whatever the gaps and skew of
// the values (rows sharing a bound's value go with it, so a partition may
// hold more); min/max with equal-width ranges costs less but gives empty
// and overfull partitions on gapped or skewed keys, and NTILE or
// percentile_disc sort every row to load on the source (and SQLite has
// neither).

// KeyRange is one partition's share of a split table source (see
// etl.KeyRange).
type KeyRange = etl.KeyRange

// PartitionRows is the source's partition_rows: 0 when it is not split.
func (s *Source) PartitionRows() int { return s.cfg.PartitionRows }

// splittable says why the opened source cannot be split into key ranges
// ("" when it can).
func (s *Source) splittable() string {
	switch {
	case s.cfg.PartitionRows <= 0:
		return "partition_rows is not set"
	case s.cfg.Table == "":
		return "a query is read in one run (partition_rows splits a table)"
	case s.cfg.Lookback > 0:
		return "a lookback reads rows again across ranges"
	case s.drv.StoredOrder != nil:
		return "this database's source compares stored values (SQLite): read in one run"
	}
	switch t := s.schema.Field(s.order[0]).Type; t {
	case etl.TypeInt, etl.TypeFloat, etl.TypeDecimal, etl.TypeTimestamp, etl.TypeDate, etl.TypeLocalTimestamp:
		return ""
	default:
		return fmt.Sprintf("its range column %q is %s, not a number, date or timestamp", s.schema.Field(s.order[0]).Name, t)
	}
}

// Ranges opens the source at env's position (the job's) and returns the
// key ranges, in order, of the rows past it: partitions of PartitionRows
// rows, the last one of what is left. It returns no range when there is
// no row to read, and why not ("" when it split) when the source cannot be
// split (then a run reads it whole).
func (s *Source) Ranges(ctx context.Context, env etl.SourceEnv) (ranges []KeyRange, whyNot string, err error) {
	if err := s.Open(ctx, env); err != nil {
		return nil, "", err
	}
	defer s.Close(ctx)
	if why := s.splittable(); why != "" {
		return nil, why, nil
	}
	col, _ := s.rangeExpr(nil)
	var lo any // the last bound; nil: the job's position
	for {
		where, args := s.rangeWhere(lo, nil)
		q := "SELECT " + col + " FROM " + s.from + " WHERE " + where + " ORDER BY " + col + " LIMIT 1 OFFSET " + strconv.Itoa(s.cfg.PartitionRows-1)
		var v any
		err := s.db.QueryRowContext(ctx, q, args...).Scan(&v)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, "", s.errorf("split into key ranges after %s: %w", s.describeBound(lo), err)
		}
		if err != nil {
			// What is left is fewer rows: the last range ends at the
			// greatest value.
			q = "SELECT max(" + col + ") FROM " + s.from + " WHERE " + where
			if err := s.db.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
				return nil, "", s.errorf("split into key ranges after %s: %w", s.describeBound(lo), err)
			}
			if v == nil {
				return ranges, "", nil
			}
		}
		hi, err := s.fieldValue(v)
		if err != nil {
			return nil, "", s.errorf("split into key ranges: bound after %s: %w", s.describeBound(lo), err)
		}
		ranges = append(ranges, KeyRange{Lo: formatBound(lo), Hi: etl.FormatValue(hi)})
		lo = hi
	}
}

// formatBound is a bound as KeyRange holds it ("" for none).
func formatBound(v any) string {
	if v == nil {
		return ""
	}
	return etl.FormatValue(v)
}

func (s *Source) describeBound(v any) string {
	if v == nil {
		return s.describePosition()
	}
	return s.schema.Field(s.order[0]).Name + "=" + etl.FormatValue(v)
}

// fieldValue converts a value of the range column as the database returns
// it (or a KeyRange's text) to the field's, the values a position holds.
func (s *Source) fieldValue(v any) (any, error) {
	col := etl.NewColumn(s.schema.Field(s.order[0]).Type, 1)
	if err := AppendValue(&col, v); err != nil {
		return nil, err
	}
	return col.Value(0), nil
}

// rangeWhere is the condition, and its arguments, of the rows of the range
// (lo, hi] of the range column: after the position when lo is nil, no
// upper bound when hi is nil. Rows with a null cursor are never read.
func (s *Source) rangeWhere(lo, hi any) (string, []any) {
	d := s.drv.Dialect
	quoted, _ := d.QuoteIdent(s.schema.Field(s.order[0]).Name)
	expr := s.rangeExpr
	where := quoted + " IS NOT NULL"
	var args []any
	switch {
	case lo != nil:
		e, v := expr(lo)
		args = append(args, v)
		where += " AND " + e + " > " + d.Placeholder(len(args))
	case s.last != nil:
		_, exprs, binds := s.orderExprs()
		cond, condArgs := s.after(exprs, binds, 0)
		where += " AND " + cond
		args = append(args, condArgs...)
	}
	if hi != nil {
		e, v := expr(hi)
		args = append(args, v)
		where += " AND " + e + " <= " + d.Placeholder(len(args))
	}
	return where, args
}

// rangeExpr is the expression the range column is ordered and compared
// by, and the value to bind for v (see SourceDriver.OrderExpr).
func (s *Source) rangeExpr(v any) (string, any) {
	c := s.order[0]
	quoted, _ := s.drv.Dialect.QuoteIdent(s.schema.Field(c).Name)
	if s.drv.OrderExpr != nil {
		return s.drv.OrderExpr(quoted, s.schema.Field(c).Type, s.types[c], v)
	}
	return quoted, v
}

// OnlyRange restricts the source to r, a partition's range: its run reads
// the rows of r only, from its own position (that of the partition's
// stream) or, at the partition's first run, from r.Lo; from is the
// position the first range starts after (the job's when it was split).
func (s *Source) OnlyRange(r KeyRange, from []byte) {
	s.only = &onlyRange{KeyRange: r, from: from}
}

// onlyRange is OnlyRange's restriction, its bounds as field values once
// the source is open.
type onlyRange struct {
	KeyRange
	from   []byte
	lo, hi any
}

// openRange reads the restriction's bounds once the columns are known.
func (s *Source) openRange() error {
	r := s.only
	if s.cfg.PartitionRows <= 0 || s.splittable() != "" {
		return fmt.Errorf("cannot read key range (%s, %s]: %s", r.Lo, r.Hi, s.splittable())
	}
	var err error
	if r.hi, err = s.fieldValue(r.Hi); err != nil {
		return fmt.Errorf("key range (%s, %s]: upper bound: %w", r.Lo, r.Hi, err)
	}
	if r.Lo != "" {
		if r.lo, err = s.fieldValue(r.Lo); err != nil {
			return fmt.Errorf("key range (%s, %s]: lower bound: %w", r.Lo, r.Hi, err)
		}
	}
	return nil
}
