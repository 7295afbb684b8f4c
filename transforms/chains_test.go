package transforms

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

// The tests in this file are the bugs TestDifferentialChains found, each
// pinned down by hand: steps that are right alone and wrong after another.

// runChain builds steps from YAML in a temporary directory holding files
// (name → content) and runs batches through them as the runner does, with
// a job batch size of 2.
func runChain(t *testing.T, files map[string]string, srcs []string, batches ...*etl.Batch) ([]*etl.Batch, error) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	steps := make([]etl.NamedStep, len(srcs))
	for k, src := range srcs {
		name := fmt.Sprintf("steps[%d] %s", k, stepKind(src))
		step, err := decodeStep(src, etl.BuildEnv{BaseDir: dir, StepName: name, BatchSize: 2})
		if err != nil {
			t.Fatalf("build %s: %v", src, err)
		}
		steps[k] = etl.NamedStep{Name: name, Step: step}
	}
	out, err := runSteps(t.Context(), steps, batches)
	for k, b := range out {
		if err := b.Check(); err != nil {
			t.Fatalf("batch %d out: %v", k, err)
		}
	}
	return out, err
}

// chainRows runs a chain that must succeed and returns the rows that come
// out, each as its values in schema order, then its routes (name=bool)
// in name order; every batch must have one route entry per row.
func chainRows(t *testing.T, files map[string]string, srcs []string, batches ...*etl.Batch) [][]any {
	t.Helper()
	out, err := runChain(t, files, srcs, batches...)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	for k, b := range out {
		for route, mask := range b.Routes {
			if len(mask) != b.Len() {
				t.Fatalf("batch %d: route %s has %d entries for %d rows", k, route, len(mask), b.Len())
			}
		}
		for i, row := range rowsOf(b) {
			for _, route := range []string{"big", "small"} {
				if mask, ok := b.Routes[route]; ok {
					row = append(row, fmt.Sprintf("%s=%t", route, mask[i]))
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

var intsSchema = etl.MustSchema(etl.Field{Name: "a", Type: etl.TypeInt}, etl.Field{Name: "b", Type: etl.TypeInt})

// intBatches are rows (a, b) cut into batches of the given sizes.
func intBatches(t *testing.T, sizes []int, rows ...[]any) []*etl.Batch {
	t.Helper()
	var out []*etl.Batch
	for _, n := range sizes {
		out = append(out, typedBatch(t, intsSchema, rows[:n]...))
		rows = rows[n:]
	}
	return out
}

// TestRoutesTravelWithRows: a row routed before a step that holds rows
// (dedupe, sort, spilled or not) or that makes several rows of one
// (explode) keeps its route. The holding steps handed their rows on
// without routes (every routed target got every row); explode kept the
// input's route masks for its longer output.
func TestRoutesTravelWithRows(t *testing.T) {
	rows := [][]any{{int64(5), int64(1)}, {int64(1), int64(2)}, {int64(4), int64(3)}, {int64(2), int64(4)}, {int64(3), int64(5)}}
	route := `route: { big: 'a >= 3' }`
	sorted := [][]any{
		{int64(1), int64(2), "big=false"}, {int64(2), int64(4), "big=false"}, {int64(3), int64(5), "big=true"},
		{int64(4), int64(3), "big=true"}, {int64(5), int64(1), "big=true"},
	}
	for name, spill := range map[string]string{"in memory": "", "spilled": ", memory_rows: 1, spill_dir: ."} {
		t.Run("sort "+name, func(t *testing.T) {
			got := chainRows(t, nil, []string{route, `sort: { by: [a]` + spill + ` }`}, intBatches(t, []int{3, 2}, rows...)...)
			if diff := cmp.Diff(sorted, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
		t.Run("dedupe "+name, func(t *testing.T) {
			got := chainRows(t, nil, []string{route, `dedupe: { key: [a], keep: last` + spill + ` }`}, intBatches(t, []int{3, 2}, rows...)...)
			want := [][]any{
				{int64(5), int64(1), "big=true"}, {int64(1), int64(2), "big=false"}, {int64(4), int64(3), "big=true"},
				{int64(2), int64(4), "big=false"}, {int64(3), int64(5), "big=true"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("explode", func(t *testing.T) {
		got := chainRows(t, nil, []string{`set: { l: '[a, b]' }`, route, `explode: { field: l }`}, intBatches(t, []int{2}, rows[:2]...)...)
		want := [][]any{
			{int64(5), int64(1), int64(5), "big=true"}, {int64(5), int64(1), int64(1), "big=true"},
			{int64(1), int64(2), int64(1), "big=false"}, {int64(1), int64(2), int64(2), "big=false"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})
}

// TestSetAfterHoldingStep: a step that holds rows hands on each input
// batch empty; set fixed its field's type (string, for want of a value)
// from that empty batch and failed the run with "changed type" at the
// first rows. A map or list literal is json before any row is seen.
func TestSetAfterHoldingStep(t *testing.T) {
	rows := [][]any{{int64(2), nil}, {nil, int64(7)}, {int64(1), int64(3)}}
	for _, hold := range []string{`sort: { by: [a] }`, `dedupe: { key: [a] }`, `aggregate: { group_by: [a, b], fields: { n: { count: '*' } } }`} {
		t.Run(stepKind(hold), func(t *testing.T) {
			out, err := runChain(t, nil, []string{hold, `set: { l: '[a]', m: '{"b": b}', c: 'a ?? b' }`}, intBatches(t, []int{2, 1}, rows...)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range out {
				if b.Len() == 0 {
					continue
				}
				for name, want := range map[string]etl.Type{"l": etl.TypeJSON, "m": etl.TypeJSON, "c": etl.TypeInt} {
					if got := b.Col(name).Type; got != want {
						t.Errorf("field %s is %s, want %s", name, got, want)
					}
				}
			}
		})
	}
	t.Run("static json before any row", func(t *testing.T) {
		out, err := runChain(t, nil, []string{`filter: 'a > 100'`, `set: { l: '[a]', m: '{"b": b}' }`}, intBatches(t, []int{3}, rows...)...)
		if err != nil {
			t.Fatal(err)
		}
		if s := out[0].Schema.String(); s != "a int, b int, l json, m json" {
			t.Errorf("schema of the empty batch = %s", s)
		}
	})
}

// TestSetEnvKeepsEachRow: set collects a batch's values before storing
// them, and $env was one map reused for every row: with a fixed type
// every row got the text of the batch's last row.
func TestSetEnvKeepsEachRow(t *testing.T) {
	rows := [][]any{{int64(1), int64(2)}, {int64(3), nil}, {nil, int64(4)}}
	got := chainRows(t, nil, []string{`set: { row: { expr: '$env', type: string } }`}, intBatches(t, []int{3}, rows...)...)
	want := [][]any{
		{int64(1), int64(2), `{"a":1,"b":2}`}, {int64(3), nil, `{"a":3,"b":null}`}, {nil, int64(4), `{"a":null,"b":4}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestCoalesceSeesEarlierFields: each coalesced field reads the fields
// coalesced before it. The plan typed a later field from the input's
// field while Apply read the field an earlier rule had replaced (text
// appended to an int column), and a field added by an earlier rule was
// "not in input".
func TestCoalesceSeesEarlierFields(t *testing.T) {
	s := etl.MustSchema(etl.Field{Name: "a", Type: etl.TypeString}, etl.Field{Name: "b", Type: etl.TypeInt})
	for _, tc := range []struct {
		step string
		want [][]any
	}{
		{`coalesce: { b: [a], c: [b] }`, [][]any{{"x", "x", "x"}, {nil, nil, nil}}},
		{`coalesce: { c: [a], d: [c, b] }`, [][]any{{"x", int64(1), "x", "x"}, {nil, int64(2), nil, "2"}}},
	} {
		t.Run(tc.step, func(t *testing.T) {
			in := typedBatch(t, s, []any{"x", int64(1)}, []any{nil, int64(2)})
			if diff := cmp.Diff(tc.want, chainRows(t, nil, []string{tc.step}, in)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLookupNullKeyMatchesNothing: a null key is missing, as a NULL key
// of a table is; it matched the row of a file whose key is empty.
func TestLookupNullKeyMatchesNothing(t *testing.T) {
	files := map[string]string{"l.csv": "key,val\n,empty key\nx,found\n"}
	in := textBatch(t, []string{"k"}, []any{"x"}, []any{nil}, []any{""})
	got := chainRows(t, files, []string{`lookup: { file: l.csv, on: { k: key }, fields: { v: val } }`}, in)
	want := [][]any{{"x", "found"}, {nil, nil}, {"", "empty key"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	out, err := runChain(t, files, []string{`lookup: { file: l.csv, on: { k: key }, fields: { v: val }, missing: reject }`}, textBatch(t, []string{"k"}, []any{nil}))
	if err != nil {
		t.Fatal(err)
	}
	if got := rejectsOf(out[0]); len(got) != 1 || got[0].Reason != `lookup: key "" not in l.csv` {
		t.Errorf("rejects = %+v, want the null key rejected", got)
	}
}

// TestFlattenAfterHoldingStep: flatten found its keys in the first batch,
// which after a step that holds rows is an empty one: it fixed no keys
// and flattened nothing. The steps after flatten then see a batch that
// gained fields; a holding step binds to the first batch with rows.
func TestFlattenAfterHoldingStep(t *testing.T) {
	rows := [][]any{{int64(2), int64(5)}, {int64(1), nil}, {int64(2), int64(6)}}
	steps := []string{`set: { m: '{"k": b}' }`, `sort: { by: [a] }`, `flatten: { field: m }`}
	got := chainRows(t, nil, steps, intBatches(t, []int{2, 1}, rows...)...)
	want := [][]any{{int64(1), nil, nil}, {int64(2), int64(5), int64(5)}, {int64(2), int64(6), int64(6)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	for _, hold := range []string{`aggregate: { group_by: [a], fields: { bs: { collect: b } } }`, `sort: { by: [b] }`, `dedupe: { key: [b] }`} {
		t.Run(stepKind(hold), func(t *testing.T) {
			out, err := runChain(t, nil, append(steps, hold), intBatches(t, []int{2, 1}, rows...)...)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, b := range out {
				n += b.Len()
			}
			if n == 0 {
				t.Error("no rows came out")
			}
		})
	}
}

// TestSpillKeepsNestedValues: a spill file held a json field's values as
// JSON text, so a row came back from disk with its numbers as
// json.Number, its times as strings, and what a later step made of them
// (a template, an expression) depended on whether the step spilled.
func TestSpillKeepsNestedValues(t *testing.T) {
	s := etl.MustSchema(etl.Field{Name: "k", Type: etl.TypeInt}, etl.Field{Name: "j", Type: etl.TypeJSON})
	when := time.Date(2024, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	rows := [][]any{
		{int64(3), map[string]any{"t": when, "n": int64(7), "f": 2.5, "l": []any{}, "num": json.Number("1.0"), "in": []any{"x", true, nil}}},
		{int64(1), when},
		{int64(2), []any{int64(1), 1.0, "1"}},
		{int64(0), nil},
		{int64(4), etl.JSONNull}, // a JSON null, not a null field
	}
	want := [][]any{rows[3], rows[1], rows[2], rows[0], rows[4]}
	for name, spill := range map[string]string{"in memory": "", "spilled": ", memory_rows: 1, spill_dir: ."} {
		t.Run(name, func(t *testing.T) {
			got := chainRows(t, nil, []string{`sort: { by: [k]` + spill + ` }`}, typedBatch(t, s, rows...))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			got = chainRows(t, nil, []string{`sort: { by: [k]` + spill + ` }`, `template: { j: '{{ .j }}' }`}, typedBatch(t, s, rows[1:2]...))
			if diff := cmp.Diff([][]any{{int64(1), "2024-01-02 03:04:05.5 +0000 UTC"}}, got); diff != "" {
				t.Errorf("template after sort (-want +got):\n%s", diff)
			}
		})
	}
}
