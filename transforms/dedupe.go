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
			Type:    "dedupe",
			Summary: "Keep one row per key, the first or the last (by input order or by order_by), across all batches of the run.",
			Example: `dedupe: { key: [email], keep: last, order_by: updated_at }`,
			Config:  func() any { return new(DedupeConfig) },
		},
		New: newDedupe,
	})
}

// DedupeConfig is the dedupe step's config.
type DedupeConfig struct {
	// Key lists the fields that identify a record.
	Key FieldList `yaml:"key" doc:"the fields that identify a record"`
	// Keep is first (default) or last.
	Keep string `yaml:"keep" doc:"first (default) or last"`
	// OrderBy decides first and last instead of the input order; ties keep
	// the input order.
	OrderBy     string `yaml:"order_by" doc:"decides first and last instead of the input order; ties keep the input order"`
	SpillConfig `yaml:",inline"`
}

type dedupeStep struct {
	key     []string
	last    bool
	orderBy string
	cfg     SpillConfig
	sorter  *rowSorter
	keyCmp  rowCompare
	out     *rowStream // set by the first Flush
}

var _ etl.Flusher = (*dedupeStep)(nil)

func newDedupe(cfg any, env etl.BuildEnv) (etl.Step, error) {
	c, ok := cfg.(*DedupeConfig)
	if !ok {
		return nil, fmt.Errorf("dedupe: config is %T, want *DedupeConfig", cfg)
	}
	if len(c.Key) == 0 {
		return nil, &etl.FieldError{Path: []string{"key"}, Err: errors.New("dedupe needs key: [fields]")}
	}
	if err := c.Key.check("dedupe", "key"); err != nil {
		return nil, err
	}
	switch c.Keep {
	case "", "first", "last":
	default:
		return nil, &etl.FieldError{Path: []string{"keep"}, Err: fmt.Errorf("keep must be first or last, got %q", c.Keep)}
	}
	if err := c.SpillConfig.check(); err != nil {
		return nil, err
	}
	return &dedupeStep{key: c.Key, last: c.Keep == "last", orderBy: c.OrderBy, cfg: c.SpillConfig.resolve(env)}, nil
}

// Apply holds the rows; the duplicates are decided at the end of input.
// It binds to the first batch with rows, as sort does.
func (s *dedupeStep) Apply(ctx context.Context, b *etl.Batch) (*etl.Batch, error) {
	if s.sorter == nil && b.Len() == 0 {
		return b, nil
	}
	if s.sorter == nil {
		keys := make([]sortKey, 0, len(s.key)+1)
		for _, k := range s.key {
			keys = append(keys, sortKey{field: k})
		}
		keyCmp, err := sortKeyCompare(keys, b.Schema)
		if err != nil {
			return nil, err
		}
		if s.orderBy != "" {
			keys = append(keys, sortKey{field: s.orderBy})
		}
		full, err := sortKeyCompare(keys, b.Schema)
		if err != nil {
			return nil, err
		}
		s.keyCmp = keyCmp
		s.sorter = newRowSorter(s.cfg, full)
	}
	return hold(s.sorter, b, nil)
}

// Flush returns the surviving rows in input order, at most batch_size per
// call, then nil. The first call sorts the rows by key (and order_by),
// keeps the first or last of each key, and sorts the survivors back into
// the order they arrived; every call then hands on the next of them.
func (s *dedupeStep) Flush(ctx context.Context) (*etl.Batch, error) {
	if s.out == nil {
		if s.sorter == nil || s.sorter.schema == nil {
			return nil, nil
		}
		bySeq, err := s.survivors()
		if err != nil {
			return nil, err
		}
		it, err := bySeq.iter()
		if err != nil {
			return nil, err
		}
		s.out = &rowStream{it: it, size: s.cfg.BatchSize}
	}
	return s.out.nextBatch(ctx)
}

// survivors walks the rows by key and returns the kept ones in a sorter
// ordered by arrival.
func (s *dedupeStep) survivors() (*rowSorter, error) {
	defer s.sorter.close()
	bySeq := newRowSorter(s.cfg, func(*etl.Batch, int, *etl.Batch, int) int { return 0 })
	// prev holds the pending survivor of the current key.
	prev := etl.NewBatch(s.sorter.schema, 1)
	var prevSeq int64
	have := false
	emit := func() error {
		if !have {
			return nil
		}
		return bySeq.addRow(prev, 0, prevSeq)
	}
	err := s.sorter.each(func(b *etl.Batch, i int, seq int64) error {
		same := have && s.keyCmp(prev, 0, b, i) == 0
		if same && !s.last {
			return nil
		}
		if !same {
			if err := emit(); err != nil {
				return err
			}
		}
		resetBatch(prev)
		appendRow(prev, b, i)
		prevSeq, have = seq, true
		return nil
	})
	if err == nil {
		err = emit()
	}
	if err != nil {
		bySeq.close()
		return nil, err
	}
	return bySeq, nil
}
