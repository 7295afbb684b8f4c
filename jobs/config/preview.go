package config

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

	schema *etl.Schema // of the rows shown
}

// DefaultPreviewSample is how many source rows a preview reads at most.
const DefaultPreviewSample = 1000

// Preview reads up to sample source rows of job (DefaultPreviewSample if
// sample ≤ 0) without touching the state store, runs them through the
// steps, and returns the first limit rows after each step; with step > 0
// only the stage after that step. Nothing is written, and the file ledger
// is not consulted: a preview shows files even when they were loaded.
// Holding steps (dedupe, aggregate, sort) see the sample only. The rows
// go through the steps as in a run (etl.StepChain); when a step fails, the
// stages end before it and the error is that of the first step to fail.
func (c *Config) Preview(ctx context.Context, job string, limit, step, sample int) ([]PreviewStage, error) {
	built, err := c.Build(job, nil, nil)
	if err != nil {
		return nil, err
	}
	return preview(ctx, job, built, limit, step, sample)
}

func preview(ctx context.Context, job string, built *etl.Job, limit, step, sample int) ([]PreviewStage, error) {
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
	defer src.Close(context.WithoutCancel(ctx))
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
	// stages[0] is the source, stages[i] the rows leaving step i; a step
	// may change a batch in place, so each stage takes its rows as they go.
	stages := make([]PreviewStage, len(built.Steps)+1)
	stages[0] = PreviewStage{Step: 0, Name: "source"}
	for i, s := range built.Steps {
		stages[i+1] = PreviewStage{Step: i + 1, Name: s.Name}
	}
	for _, b := range batches {
		stages[0].add(b, limit)
	}
	tap := func(i int, b *etl.Batch) { stages[i+1].add(b, limit) }
	// Streamed, as a run does. A step that fails ends the stages there,
	// the steps before it going on over the whole sample, so that they
	// show what they make of it and the error is the first step's to fail.
	shown, next := len(built.Steps), 0
	var err error
	var stepErr *etl.StepError
	for {
		chain := etl.StepChain{Steps: built.Steps[:shown], Tap: tap}
		err = func() error {
			for ; next < len(batches); next++ {
				if _, err := chain.Apply(ctx, batches[next]); err != nil {
					next++
					return err
				}
			}
			return chain.Flush(ctx, func(*etl.Batch) error { return nil })
		}()
		if !errors.As(err, &stepErr) {
			break
		}
		shown = stepErr.Step
	}
	var out []PreviewStage
	for _, st := range stages[:shown+1] {
		if step == 0 || step == st.Step {
			out = append(out, st)
		}
	}
	if stepErr != nil {
		return out, fmt.Errorf("preview %s: %w", job, stepErr)
	}
	return out, err
}

// add takes b's rows and rejects into the stage: rows of the first
// schema with rows (a later schema would not line up with the header),
// the first limit of them as text.
func (st *PreviewStage) add(b *etl.Batch, limit int) {
	st.Rejects = append(st.Rejects, b.Rejects...)
	if b.Len() == 0 {
		return
	}
	if st.Fields == nil {
		st.Fields, st.schema = b.Schema.Fields(), b.Schema
	} else if !b.Schema.Equal(st.schema) {
		return
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
