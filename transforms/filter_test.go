package transforms

import (
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/nightjar-etl/nightjar/etl"
)

func TestFilterApply(t *testing.T) {
	schema := etl.MustSchema(
		etl.Field{Name: "email", Type: etl.TypeString},
		etl.Field{Name: "score", Type: etl.TypeInt},
		etl.Field{Name: "tier", Type: etl.TypeString},
		etl.Field{Name: "E-Mail Address", Type: etl.TypeString},
	)
	rows := [][]any{
		{"A@X.COM ", int64(90), "hot", "a@x.com"},  // line 2
		{"b@x.com", int64(10), "spam", "b@x.com"},  // line 3
		{nil, int64(50), nil, nil},                 // line 4
		{"d@x.com", nil, "cold", "d@x.com"},        // line 5
		{" E@X.com", int64(80), "cold", "e@x.com"}, // line 6
	}
	tests := []struct {
		name        string
		step        string
		wantLines   []int64
		wantRejects []rejectView
	}{
		{
			name:      "keep and drop",
			step:      `filter: 'tier != "spam"'`,
			wantLines: []int64{2, 4, 5, 6}, // null != "spam" holds
		},
		{
			name:      "null compared with nil",
			step:      `filter: 'email == nil'`,
			wantLines: []int64{4},
		},
		{
			name:      "null in arithmetic comparison rejects the row",
			step:      `filter: 'score >= 50'`,
			wantLines: []int64{2, 4, 6},
			wantRejects: []rejectView{
				{Step: "steps[1] filter", Reason: "filter: invalid operation: <nil> >= int", Line: 5},
			},
		},
		{
			name:      "null guarded",
			step:      `filter: 'score != nil && score >= 50'`,
			wantLines: []int64{2, 4, 6},
		},
		{
			name:      "helpers pass null through",
			step:      `filter: 'trim(lower(email)) in ["a@x.com", "e@x.com"] || upper(tier) == "COLD" || lower(email) == nil'`,
			wantLines: []int64{2, 4, 5, 6},
		},
		{
			name:      "mapping form",
			step:      `filter: { expr: 'score > 85' }`,
			wantLines: []int64{2},
			wantRejects: []rejectView{
				{Step: "steps[1] filter", Reason: "filter: invalid operation: <nil> > int", Line: 5},
			},
		},
		{
			name:      "field with a space through $env",
			step:      `filter: '$env["E-Mail Address"] == "b@x.com"'`,
			wantLines: []int64{3},
		},
		{
			name:      "let variables are not fields",
			step:      `filter: 'let s = score ?? 0; s > 60'`,
			wantLines: []int64{2, 6},
		},
		{
			name:      "a non-bool value rejects the row, null drops it",
			step:      `filter: 'tier'`,
			wantLines: nil,
			wantRejects: []rejectView{
				{Step: "steps[1] filter", Reason: "filter: invalid operation: bool(string)", Line: 2},
				{Step: "steps[1] filter", Reason: "filter: invalid operation: bool(string)", Line: 3},
				{Step: "steps[1] filter", Reason: "filter: invalid operation: bool(string)", Line: 5},
				{Step: "steps[1] filter", Reason: "filter: invalid operation: bool(string)", Line: 6},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := mustStep(t, tc.step)
			in := typedBatch(t, schema, rows...)
			out, err := apply(t, step, in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantLines, linesOf(out), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("kept lines (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRejects, rejectsOf(out)); diff != "" {
				t.Errorf("rejects (-want +got):\n%s", diff)
			}
			// The kept rows are the input rows of those lines, intact.
			var want [][]any
			for _, l := range tc.wantLines {
				want = append(want, rows[l-2])
			}
			if diff := cmp.Diff(want, rowsOf(out), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if out.Schema != schema {
				t.Error("filter changed the schema")
			}
		})
	}
}

func TestFilterKeepsEverything(t *testing.T) {
	step := mustStep(t, `filter: 'n > 0'`)
	schema := etl.MustSchema(etl.Field{Name: "n", Type: etl.TypeFloat})
	b := typedBatch(t, schema, []any{1.5}, []any{2.5})
	out, err := apply(t, step, b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]any{{1.5}, {2.5}}, rowsOf(out)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestFilterCompileError(t *testing.T) {
	tests := []struct {
		name     string
		step     string
		wantPath []string
		wantMsg  string
	}{
		{"syntax", `filter: 'score >= '`, nil, "unexpected token"},
		{"not bool", `filter: '1 + 2'`, nil, "expected bool"},
		{"empty", `filter: ''`, nil, "empty expression"},
		{"helper arity", `filter: 'trim(email, "x") == "a"'`, nil, "too many arguments to call trim"},
		{"syntax in mapping form", `filter: { expr: 'a ==' }`, []string{"expr"}, "unexpected token"},
		{"unknown function", `filter: 'a && lowercase(email) == "x"'`, nil, `unknown function "lowercase" at column 6 (have lower, upper, trim`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildStep(t, tc.step)
			fe := wantFieldError(t, err, tc.wantPath)
			if !strings.Contains(fe.Err.Error(), tc.wantMsg) {
				t.Errorf("error %q lacks %q", fe.Err, tc.wantMsg)
			}
		})
	}
	if _, err := buildStep(t, `filter: { expr: 'a', extra: 1 }`); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("unknown key: error %v, want one naming extra", err)
	}
}

func TestFilterMissingField(t *testing.T) {
	step := mustStep(t, `filter: 'stauts == "open"'`)
	schema := etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "status", Type: etl.TypeString})
	_, err := apply(t, step, typedBatch(t, schema, []any{int64(1), "open"}))
	if err == nil {
		t.Fatal("no error for a field not in the input")
	}
	for _, s := range []string{"steps[1] filter", `field "stauts" not in input`, "have: id, status"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
}

func TestExprFields(t *testing.T) {
	tests := []struct {
		src         string
		wantFields  []string
		wantDynamic bool
	}{
		{`a > 1 && lower(b) == c`, []string{"a", "b", "c"}, false},
		{`let x = a; x + y > 0`, []string{"a", "y"}, false},
		{`all(tags, # != "x") && len(name) > 2`, []string{"name", "tags"}, false},
		{`$env["E-Mail"] == nil`, nil, true},
		{`true`, nil, false},
	}
	for _, tc := range tests {
		c, err := compileExpr(etl.SystemClock{}, tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if diff := cmp.Diff(tc.wantFields, c.fields); diff != "" || c.dynamic != tc.wantDynamic {
			t.Errorf("%s: fields (-want +got):\n%s dynamic %v", tc.src, diff, c.dynamic)
		}
	}
}

func TestExprHelpers(t *testing.T) {
	tests := []struct {
		src  string
		env  map[string]any
		want any
	}{
		{`lower(s)`, map[string]any{"s": "AbC"}, "abc"},
		{`upper(s)`, map[string]any{"s": "AbC"}, "ABC"},
		{`trim(s)`, map[string]any{"s": " a b \t"}, "a b"},
		{`lower(s)`, map[string]any{"s": nil}, nil},
		{`trim(s) == nil`, map[string]any{"s": nil}, true},
	}
	for _, tc := range tests {
		c, err := compileExpr(etl.SystemClock{}, tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		var machine vm.VM
		got, err := machine.Run(c.program, tc.env)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.src, diff)
		}
	}
	c, err := compileExpr(etl.SystemClock{}, `lower(n)`)
	if err != nil {
		t.Fatal(err)
	}
	var machine vm.VM
	if _, err := machine.Run(c.program, map[string]any{"n": int64(3)}); err == nil || !strings.Contains(err.Error(), "lower wants a string, got int64") {
		t.Errorf("lower(int): error %v", err)
	}
}
