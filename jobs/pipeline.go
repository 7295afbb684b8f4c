package jobs

import (
	"context"
	"fmt"

	"github.com/nightjar-etl/nightjar/etl"
)

// applyStep runs one step over every batch the way the runner does,
// flushing a holding step once all batches went through it (each flushed
// batch is one more batch out, as in a run).
func applyStep(ctx context.Context, s etl.NamedStep, batches []*etl.Batch) ([]*etl.Batch, error) {
	out := make([]*etl.Batch, 0, len(batches)+1)
	for _, b := range batches {
		nb, err := etl.ApplyStep(ctx, s, b)
		if err != nil {
			return nil, err
		}
		out = append(out, nb)
	}
	f, ok := s.Step.(etl.Flusher)
	if !ok {
		return out, nil
	}
	for {
		fb, err := f.Flush(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: flush: %w", s.Name, err)
		}
		if fb == nil {
			return out, nil
		}
		out = append(out, fb)
	}
}

// rowsAndRejects gathers the rows (as one batch of the last non-empty
// schema) and the rejects of batches.
func rowsAndRejects(batches []*etl.Batch) (rows []*etl.Batch, rejects []etl.Reject) {
	for _, b := range batches {
		rejects = append(rejects, b.Rejects...)
		if b.Len() > 0 {
			rows = append(rows, b)
		}
	}
	return rows, rejects
}
