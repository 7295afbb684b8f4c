package config

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/etltest"
)

// previewSource gives one batch per row, the rows "1", "2", … "rows".
type previewSource struct {
	rows, next int
}

func (*previewSource) Open(context.Context, etl.SourceEnv) error { return nil }
func (*previewSource) Close(context.Context) error               { return nil }
func (s *previewSource) Next(context.Context) (*etl.Batch, error) {
	if s.next == s.rows {
		return nil, etl.ErrEndOfInput
	}
	s.next++
	v := fmt.Sprint(s.next)
	return etltest.StringBatch("in.csv", int64(s.next+1), v, []string{"v"}, []string{v}), nil
}

// holdStep holds every row and gives them back, one batch, at Flush.
type holdStep struct{ held [][]string }

func (s *holdStep) Apply(_ context.Context, b *etl.Batch) (*etl.Batch, error) {
	for i := range b.Len() {
		v, _ := b.Cols[0].Text(i)
		s.held = append(s.held, []string{v})
	}
	b.Keep(make([]bool, b.Len()))
	return b, nil
}

func (s *holdStep) Flush(context.Context) (*etl.Batch, error) {
	if s.held == nil {
		return nil, nil
	}
	b := etltest.StringBatch("in.csv", 2, "", []string{"v"}, s.held...)
	s.held = nil
	return b, nil
}

// failStep fails on a row holding its value.
type failStep struct{ on string }

func (s *failStep) Apply(_ context.Context, b *etl.Batch) (*etl.Batch, error) {
	for i := range b.Len() {
		if v, _ := b.Cols[0].Text(i); v == s.on {
			return nil, errors.New("cannot take " + v)
		}
	}
	return b, nil
}

// TestPreviewStreamsAsARunDoes: preview runs the sample through the steps
// with etl.StepChain. A holding step's rows show after it once flushed;
// a step that fails ends the stages before it, the steps before it having
// gone over the whole sample, and the error is the first step's to fail,
// as when each step went over every batch before the next step began.
func TestPreviewStreamsAsARunDoes(t *testing.T) {
	preview := func(t *testing.T, steps ...etl.Step) ([]PreviewStage, error) {
		t.Helper()
		job := &etl.Job{Source: &previewSource{rows: 3}, BatchSize: 10}
		for i, s := range steps {
			job.Steps = append(job.Steps, etl.NamedStep{Name: fmt.Sprintf("step %d", i+1), Step: s})
		}
		return preview(context.Background(), "j", job, 10, 0, 0)
	}
	totals := func(stages []PreviewStage) string {
		var out []string
		for _, st := range stages {
			out = append(out, fmt.Sprintf("%d:%d", st.Step, st.Total))
		}
		return strings.Join(out, " ")
	}
	t.Run("holding step", func(t *testing.T) {
		stages, err := preview(t, &holdStep{}, &failStep{on: "none"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := totals(stages), "0:3 1:3 2:3"; got != want {
			t.Errorf("stages (step:rows) %s, want %s", got, want)
		}
		if rows := fmt.Sprint(stages[2].Rows); rows != "[[1] [2] [3]]" {
			t.Errorf("rows after the last step: %s", rows)
		}
	})
	t.Run("a step fails", func(t *testing.T) {
		// Step 2 fails on the second batch, step 1 on the third: the error
		// is step 1's, and only the source's stage goes before it.
		stages, err := preview(t, &failStep{on: "3"}, &failStep{on: "2"})
		if err == nil || !strings.Contains(err.Error(), "cannot take 3") {
			t.Fatalf("err = %v, want step 1's", err)
		}
		var se *etl.StepError
		if !errors.As(err, &se) || se.Step != 0 {
			t.Errorf("err = %#v, want a StepError of step 0", err)
		}
		if got, want := totals(stages), "0:3"; got != want {
			t.Errorf("stages (step:rows) %s, want %s", got, want)
		}
		// Step 2 fails on the second batch: step 1's stage has every row.
		stages, err = preview(t, &failStep{on: "none"}, &failStep{on: "2"}, &holdStep{})
		if err == nil || !strings.Contains(err.Error(), "cannot take 2") {
			t.Fatalf("err = %v, want step 2's", err)
		}
		if got, want := totals(stages), "0:3 1:3"; got != want {
			t.Errorf("stages (step:rows) %s, want %s", got, want)
		}
	})
}
