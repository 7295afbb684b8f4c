package transforms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

// buildStep does what the config loader does with one entry of a job's
// steps list ("cast: { a: int }"): look the kind up, decode the value
// strictly into the spec's config, call New.
func buildStep(t *testing.T, src string) (etl.Step, error) {
	t.Helper()
	return buildStepEnv(t, src, etl.BuildEnv{})
}

// buildStepEnv is buildStep with env (its StepName is set here).
func buildStepEnv(t *testing.T, src string, env etl.BuildEnv) (etl.Step, error) {
	t.Helper()
	env.StepName = "steps[1] " + stepKind(src)
	step, err := decodeStep(src, env)
	var se *stepSourceError
	if errors.As(err, &se) {
		t.Fatal(err)
	}
	return step, err
}

// stepSourceError is a step's YAML that is not one entry of a steps list:
// a mistake of the test, not of the step.
type stepSourceError struct{ err error }

func (e *stepSourceError) Error() string { return e.err.Error() }

// stepKind is the key of a one-entry YAML mapping ("cast" for "cast: {}").
func stepKind(src string) string {
	kind, _, _ := strings.Cut(src, ":")
	return strings.TrimSpace(kind)
}

// decodeStep is buildStep's decoding without a *testing.T: a mistake in
// src (not one mapping entry, an unknown kind) is a *stepSourceError.
func decodeStep(src string, env etl.BuildEnv) (etl.Step, error) {
	f, err := parser.ParseBytes([]byte(src), 0)
	if err != nil {
		return nil, &stepSourceError{fmt.Errorf("parse %q: %w", src, err)}
	}
	body := f.Docs[0].Body
	var kv *ast.MappingValueNode
	switch n := body.(type) {
	case *ast.MappingNode:
		if len(n.Values) != 1 {
			return nil, &stepSourceError{fmt.Errorf("step %q: want one key", src)}
		}
		kv = n.Values[0]
	case *ast.MappingValueNode:
		kv = n
	default:
		return nil, &stepSourceError{fmt.Errorf("step %q: want a mapping, got %T", src, body)}
	}
	kind := kv.Key.String()
	spec, ok := etl.LookupStep(kind)
	if !ok {
		return nil, &stepSourceError{fmt.Errorf("step kind %q not registered", kind)}
	}
	cfg := spec.Config()
	if err := yaml.NodeToValue(kv.Value, cfg, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return spec.New(cfg, env)
}

// mustStep is buildStep that fails the test on error.
func mustStep(t *testing.T, src string) etl.Step {
	t.Helper()
	s, err := buildStep(t, src)
	if err != nil {
		t.Fatalf("build %q: %v", src, err)
	}
	return s
}

// textBatch builds a batch of string fields; a nil cell is null. Row i
// comes from line i+2 of in.csv (line 1 being the header).
func textBatch(t testing.TB, names []string, rows ...[]any) *etl.Batch {
	t.Helper()
	fields := make([]etl.Field, len(names))
	for i, n := range names {
		fields[i] = etl.Field{Name: n, Type: etl.TypeString}
	}
	return typedBatch(t, etl.MustSchema(fields...), rows...)
}

// typedBatch builds a batch of schema s from Go values (see Column.Append).
func typedBatch(t testing.TB, s *etl.Schema, rows ...[]any) *etl.Batch {
	t.Helper()
	b := etl.NewBatch(s, len(rows))
	for r, row := range rows {
		if len(row) != s.Len() {
			t.Fatalf("row %d has %d values for %d fields", r, len(row), s.Len())
		}
		for j, v := range row {
			if err := b.Cols[j].Append(v); err != nil {
				t.Fatalf("row %d field %d: %v", r, j, err)
			}
		}
		b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: int64(r + 2)})
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	return b
}

// apply runs step on b and checks the result's shape.
func apply(t *testing.T, step etl.Step, b *etl.Batch) (*etl.Batch, error) {
	t.Helper()
	out, err := step.Apply(context.Background(), b)
	if err != nil {
		return nil, err
	}
	if err := out.Check(); err != nil {
		t.Fatalf("batch after step: %v", err)
	}
	return out, nil
}

// flushBatches calls Flush until it returns nil, checking each batch, and
// that a call after the end returns nil too.
func flushBatches(t *testing.T, step etl.Step) []*etl.Batch {
	t.Helper()
	f, ok := step.(etl.Flusher)
	if !ok {
		t.Fatalf("%T is not a Flusher", step)
	}
	var out []*etl.Batch
	for {
		b, err := f.Flush(t.Context())
		if err != nil {
			t.Fatalf("flush: %v", err)
		}
		if b == nil {
			break
		}
		if err := b.Check(); err != nil {
			t.Fatalf("flushed batch %d: %v", len(out), err)
		}
		if len(out) > 1000 {
			t.Fatal("flush never returned nil")
		}
		out = append(out, b)
	}
	if b, err := f.Flush(t.Context()); b != nil || err != nil {
		t.Fatalf("flush after the end = %v, %v; want nil, nil", b, err)
	}
	return out
}

// flushAll is flushBatches as one batch; a step that flushes nothing
// gives an empty batch of schema empty.
func flushAll(t *testing.T, step etl.Step, empty *etl.Schema) *etl.Batch {
	t.Helper()
	batches := flushBatches(t, step)
	if len(batches) == 0 {
		return etl.NewBatch(empty, 0)
	}
	all := etl.NewBatch(batches[0].Schema, 0)
	for _, b := range batches {
		for i := 0; i < b.Len(); i++ {
			appendRow(all, b, i)
		}
	}
	return all
}

// rowsOf returns the batch's rows as values in schema order.
func rowsOf(b *etl.Batch) [][]any {
	out := make([][]any, b.Len())
	for i := range out {
		row := make([]any, len(b.Cols))
		for j := range b.Cols {
			row[j] = b.Cols[j].Value(i)
		}
		out[i] = row
	}
	return out
}

func linesOf(b *etl.Batch) []int64 {
	out := make([]int64, b.Len())
	for i, o := range b.Origins {
		out[i] = o.Line
	}
	return out
}

// rejectView is a Reject without the row JSON, for comparisons.
type rejectView struct {
	Step, Field, Value, Reason string
	Line                       int64
}

func rejectsOf(b *etl.Batch) []rejectView {
	var out []rejectView
	for _, r := range b.Rejects {
		out = append(out, rejectView{Step: r.Step, Field: r.Field, Value: r.Value, Reason: r.Reason, Line: r.Origin.Line})
	}
	return out
}

// wantFieldError checks that err is an *etl.FieldError at path.
func wantFieldError(t *testing.T, err error, path []string) *etl.FieldError {
	t.Helper()
	var fe *etl.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *etl.FieldError", err, err)
	}
	if diff := cmp.Diff(path, fe.Path); diff != "" {
		t.Fatalf("FieldError.Path (-want +got):\n%s\nerror: %v", diff, err)
	}
	return fe
}
