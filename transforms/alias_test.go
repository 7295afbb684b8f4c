package transforms

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

// TestBuiltValuesDoNotAliasVectors is defect 3 of issue 11: expressions
// read cells boxed in place (cells.go's boxAt), so a map or list an
// expression builds held pointers into the batch's vectors; a filter's
// Keep compacting those vectors, or trim rewriting them, then changed
// the values already stored in a json field; $env, one map reused for
// every row, was stored as it was. Every row must keep what was built
// from its own cells.
func TestBuiltValuesDoNotAliasVectors(t *testing.T) {
	const rows = 5000
	schema := etl.MustSchema(
		etl.Field{Name: "name", Type: etl.TypeString},
		etl.Field{Name: "amount", Type: etl.TypeInt},
	)
	input := func() *etl.Batch {
		in := make([][]any, rows)
		for i := range in {
			in[i] = []any{fmt.Sprintf(" name-%d ", i), int64(i*7919) % 10}
		}
		return typedBatch(t, schema, in...)
	}
	tests := []struct {
		name  string
		steps []string
		// want is the expected value of each output field of the row
		// built from name and amount (the untrimmed name), or nil when the
		// row is filtered out.
		want map[string]func(name string, amount int64) any
		keep func(amount int64) bool
	}{
		{
			name: "set map and list then filter",
			steps: []string{
				`set: { meta: '{"who": name, "n": amount}', pair: '[name, amount]' }`,
				`filter: 'amount > 4'`,
			},
			want: map[string]func(string, int64) any{
				"meta": func(name string, amount int64) any { return map[string]any{"who": name, "n": amount} },
				"pair": func(name string, amount int64) any { return []any{name, amount} },
			},
			keep: func(amount int64) bool { return amount > 4 },
		},
		{
			name: "scalar stored in a json field then filter",
			steps: []string{
				`set: { who: { expr: name, type: json }, n: { expr: amount, type: json } }`,
				`filter: 'amount > 4'`,
			},
			want: map[string]func(string, int64) any{
				"who": func(name string, _ int64) any { return name },
				"n":   func(_ string, amount int64) any { return amount },
			},
			keep: func(amount int64) bool { return amount > 4 },
		},
		{
			name: "the row through $env then filter",
			steps: []string{
				`set: { row: '$env' }`,
				`filter: 'amount > 4'`,
			},
			want: map[string]func(string, int64) any{
				"row": func(name string, amount int64) any { return map[string]any{"name": name, "amount": amount} },
			},
			keep: func(amount int64) bool { return amount > 4 },
		},
		{
			name: "set map then trim the field it read",
			steps: []string{
				`set: { meta: '{"who": name}' }`,
				`trim: [name]`,
				`upper: [name]`,
			},
			want: map[string]func(string, int64) any{
				"meta": func(name string, _ int64) any { return map[string]any{"who": name} },
			},
			keep: func(int64) bool { return true },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := input()
			names := append([]string(nil), b.Cols[0].Str...)
			amounts := append([]int64(nil), b.Cols[1].Int...)
			for k, src := range tc.steps {
				var err error
				step := etl.NamedStep{Name: fmt.Sprintf("steps[%d]", k), Step: mustStep(t, src)}
				if b, err = etl.ApplyStep(context.Background(), step, b); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Check(); err != nil {
				t.Fatal(err)
			}
			wrong, out := 0, 0
			for i := 0; i < rows; i++ {
				if !tc.keep(amounts[i]) {
					continue
				}
				for field, want := range tc.want {
					got := b.Col(field).Value(out)
					if diff := cmp.Diff(want(names[i], amounts[i]), got); diff != "" {
						if wrong < 3 {
							t.Errorf("line %d: %s (-want +got):\n%s", i+2, field, diff)
						}
						wrong++
					}
				}
				out++
			}
			if out != b.Len() {
				t.Errorf("%d rows out, want %d", b.Len(), out)
			}
			if wrong > 0 {
				t.Errorf("%d wrong values in %d rows", wrong, out)
			}
		})
	}
}
