package jobs

import (
	"context"
	"fmt"

	"github.com/nightjar-etl/nightjar/etl"
)

// applyStep runs one step over every batch the way the runner does,
// flushing a holding step once all batches went through it.
func applyStep(ctx context.Context, s etl.NamedStep, batches []*etl.Batch) ([]*etl.Batch, error) {
	out := make([]*etl.Batch, 0, len(batches)+1)
	for _, b := range batches {
		nb, err := etl.ApplyStep(ctx, s, b)
		if err != nil {
			return nil, err
		}
		out = append(out, nb)
	}
	if f, ok := s.Step.(etl.Flusher); ok {
		fb, err := f.Flush(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: flush: %w", s.Name, err)
		}
		if fb != nil {
			out = append(out, fb)
		}
	}
	return out, nil
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
