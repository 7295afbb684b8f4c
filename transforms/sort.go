package transforms

import (
	"context"
	"errors"
	"fmt"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "sort",
			Summary: "Sort all rows by fields (prefix - for descending); holds rows until the end of input, spilling to disk beyond memory_rows.",
			Example: `sort: { by: [country, -lead_score], memory_rows: 100000 }`,
			Config:  func() any { return new(SortConfig) },
		},
		New: newSort,
	})
}

// SortConfig is the sort step's config.
type SortConfig struct {
	// By lists the fields to sort by; "-field" sorts descending. Nulls
	// come first (last when descending). Equal rows keep their input order.
	By          FieldList `yaml:"by" doc:"the fields to sort by; \"-field\" sorts descending"`
	SpillConfig `yaml:",inline"`
}

type sortStep struct {
	keys   []sortKey
	cfg    SpillConfig
	sorter *rowSorter
	out    *rowStream // set by the first Flush
}

var _ etl.Flusher = (*sortStep)(nil)

func newSort(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*SortConfig)
	if !ok {
		return nil, fmt.Errorf("sort: config is %T, want *SortConfig", cfg)
	}
	if len(c.By) == 0 {
		return nil, &etl.FieldError{Path: []string{"by"}, Err: errors.New("sort needs by: [fields]")}
	}
	if err := c.By.check("sort", "by"); err != nil {
		return nil, err
	}
	if err := c.SpillConfig.check(); err != nil {
		return nil, err
	}
	return &sortStep{keys: parseSortKeys(c.By), cfg: c.SpillConfig.resolve(env)}, nil
}

// sortKeyCompare resolves sort keys against a schema.
func sortKeyCompare(keys []sortKey, s *etl.Schema) (rowCompare, error) {
	cols := make([]int, len(keys))
	desc := make([]bool, len(keys))
	for k, key := range keys {
		j := s.Index(key.field)
		if j < 0 {
			return nil, missingFieldError(key.field, s)
		}
		cols[k], desc[k] = j, key.desc
	}
	return keyCompare(cols, desc), nil
}

// hold moves b's rows into the sorter and leaves b empty, so that the
// batch still carries its rejects and bookkeeping to the targets.
//
// out is the schema the step will flush (nil: the input's), so that the
// steps after it can bind to the empty batch.
func hold(sorter *rowSorter, b *etl.Batch, out *etl.Schema) (*etl.Batch, error) {
	if err := sorter.add(b); err != nil {
		return nil, err
	}
	b.Keep(make([]bool, b.Len()))
	return emptied(b, out), nil
}

// emptied is b, which has no rows, as a batch of schema out (nil: b's
// own), with b's bookkeeping.
func emptied(b *etl.Batch, out *etl.Schema) *etl.Batch {
	if out == nil || out == b.Schema {
		return b
	}
	empty := etl.NewBatch(out, 0)
	empty.Position, empty.Seq, empty.Bytes = b.Position, b.Seq, b.Bytes
	empty.Rejects, empty.Files, empty.Routes = b.Rejects, b.Files, b.Routes
	return empty
}

// Apply holds the rows. The sort binds to the first batch with rows: an
// empty batch before it (a step before this one that holds rows hands on
// its input batches empty) may lack fields that later batches have.
func (s *sortStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	if s.sorter == nil && b.Len() == 0 {
		return b, nil
	}
	if s.sorter == nil {
		compare, err := sortKeyCompare(s.keys, b.Schema)
		if err != nil {
			return nil, err
		}
		s.sorter = newRowSorter(s.cfg, compare)
	}
	return hold(s.sorter, b, nil)
}

// Flush returns the rows in order, at most batch_size per call, then nil.
func (s *sortStep) Flush(ctx context.Context) (*etl.Batch, error) {
	if s.out == nil {
		if s.sorter == nil || s.sorter.schema == nil {
			return nil, nil
		}
		it, err := s.sorter.iter()
		if err != nil {
			return nil, err
		}
		s.out = &rowStream{it: it, size: s.cfg.BatchSize}
	}
	return s.out.nextBatch(ctx)
}
