package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/nightjar-etl/nightjar/etl"
)

// PreviewStage is what the rows look like after one step (or, for Step
// 0, as the source reads them).
type PreviewStage struct {
	// Step is 0 for the source, i for the i-th step (1-based).
	Step int
	// Name is "source" or the step's name ("step 3 cast").
	Name string
	// Fields are the field names and types of the shown rows.
	Fields []etl.Field
	// Rows are the first rows as text; Null marks nulls.
	Rows [][]string
	Null [][]bool
	// Total is the number of rows after the step, within the sample.
	Total int
	// Rejects are the rows refused so far, within the sample.
	Rejects []etl.Reject
}

// DefaultPreviewSample is how many source rows a preview reads at most.
const DefaultPreviewSample = 1000

// Preview reads up to sample source rows of job (DefaultPreviewSample if
// sample ≤ 0) without touching the state store, runs them through the
// steps, and returns the first limit rows after each step; with step > 0
// only the stage after that step. Nothing is written, and the file ledger
// is not consulted: a preview shows files even when they were loaded.
// Holding steps (dedupe, aggregate, sort) see the sample only.
func (c *Config) Preview(ctx context.Context, job string, limit, step, sample int) ([]PreviewStage, error) {
	built, err := c.Build(job, nil)
	if err != nil {
		return nil, err
	}
	if step < 0 || step > len(built.Steps) {
		return nil, fmt.Errorf("preview %s: step %d out of range (the job has %d steps)", job, step, len(built.Steps))
	}
	if limit <= 0 {
		limit = 20
	}
	if sample <= 0 {
		sample = DefaultPreviewSample
	}
	src := built.Source
	if err := src.Open(ctx, etl.SourceEnv{Job: job, FullRefresh: true, BatchSize: min(sample, built.BatchSize), Clock: etl.SystemClock{}}); err != nil {
		return nil, fmt.Errorf("preview %s: open source: %w", job, err)
	}
	defer src.Close()
	var batches []*etl.Batch
	read := 0
	for read < sample {
		b, err := src.Next(ctx)
		if errors.Is(err, etl.ErrEndOfInput) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("preview %s: read: %w", job, err)
		}
		if over := read + b.Len() - sample; over > 0 {
			keep := make([]bool, b.Len())
			for i := range keep {
				keep[i] = i < b.Len()-over
			}
			b.Keep(keep)
		}
		read += b.Len()
		batches = append(batches, b)
	}
	var stages []PreviewStage
	if step == 0 {
		stages = append(stages, previewStage(0, "source", batches, limit))
	}
	for i, s := range built.Steps {
		if batches, err = applyStep(ctx, s, batches); err != nil {
			return stages, fmt.Errorf("preview %s: %w", job, err)
		}
		if step == 0 || step == i+1 {
			stages = append(stages, previewStage(i+1, s.Name, batches, limit))
		}
	}
	return stages, nil
}

func previewStage(n int, name string, batches []*etl.Batch, limit int) PreviewStage {
	st := PreviewStage{Step: n, Name: name}
	rows, rejects := rowsAndRejects(batches)
	st.Rejects = rejects
	for _, b := range rows {
		if st.Fields == nil {
			st.Fields = b.Schema.Fields()
		} else if !b.Schema.Equal(rows[0].Schema) {
			continue // a later schema would not line up with the header
		}
		st.Total += b.Len()
		for i := 0; i < b.Len() && len(st.Rows) < limit; i++ {
			row := make([]string, len(b.Cols))
			null := make([]bool, len(b.Cols))
			for j := range b.Cols {
				text, ok := b.Cols[j].Text(i)
				row[j], null[j] = text, !ok
			}
			st.Rows = append(st.Rows, row)
			st.Null = append(st.Null, null)
		}
	}
	return st
}
