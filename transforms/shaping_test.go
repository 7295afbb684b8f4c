package transforms

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

// stepCase is one run of a step over rows of string fields.
type stepCase struct {
	name    string
	step    string
	fields  []string
	rows    [][]any
	want    [][]any  // rows after the step
	wantErr string   // a run failure, substring
	schema  []string // names after the step, when checked
	rejects []rejectView
}

func runStepCases(t *testing.T, cases []stepCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			step := mustStep(t, tc.step)
			out, err := apply(t, step, textBatch(t, tc.fields, tc.rows...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := step.(etl.Flusher); ok {
				if out.Len() != 0 {
					t.Fatalf("holding step passed %d rows on", out.Len())
				}
				rejects := out.Rejects
				out = flushAll(t, step, out.Schema)
				out.Rejects = rejects
			}
			if diff := cmp.Diff(tc.want, rowsOf(out)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if tc.schema != nil {
				if diff := cmp.Diff(tc.schema, out.Schema.Names()); diff != "" {
					t.Errorf("schema (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tc.rejects, rejectsOf(out)); diff != "" {
				t.Errorf("rejects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestShapingSteps(t *testing.T) {
	ab := []string{"a", "b"}
	runStepCases(t, []stepCase{
		{name: "trim", step: `trim: [a]`, fields: ab,
			rows: [][]any{{"  x ", " y "}, {nil, "z"}}, want: [][]any{{"x", " y "}, {nil, "z"}}},
		{name: "trim one field as string", step: `trim: b`, fields: ab,
			rows: [][]any{{" x ", " y "}}, want: [][]any{{" x ", "y"}}},
		{name: "lower ascii and unicode", step: `lower: [a, b]`, fields: ab,
			rows: [][]any{{"A@X.COM", "ÉVA"}, {"same", nil}}, want: [][]any{{"a@x.com", "éva"}, {"same", nil}}},
		{name: "upper", step: `upper: [a]`, fields: ab,
			rows: [][]any{{"de", "x"}}, want: [][]any{{"DE", "x"}}},
		{name: "trim missing field", step: `trim: [c]`, fields: ab,
			rows: [][]any{{"x", "y"}}, wantErr: `field "c" not in input (have: a, b)`},
		{name: "select reorders", step: `select: [b, a]`, fields: []string{"a", "b", "c"},
			rows: [][]any{{"1", "2", "3"}}, want: [][]any{{"2", "1"}}, schema: []string{"b", "a"}},
		{name: "select missing", step: `select: [x]`, fields: ab, rows: [][]any{{"1", "2"}}, wantErr: `field "x" not in input`},
		{name: "drop", step: `drop: [a]`, fields: []string{"a", "b", "c"},
			rows: [][]any{{"1", "2", "3"}}, want: [][]any{{"2", "3"}}, schema: []string{"b", "c"}},
		{name: "drop missing_ok", step: `drop: { fields: [a, zz], missing_ok: true }`, fields: ab,
			rows: [][]any{{"1", "2"}}, want: [][]any{{"2"}}},
		{name: "set with types", step: `set: { n: 'len(a)', tier: 'a == "x" ? "hot" : "cold"', b: 'upper(b)' }`, fields: ab,
			rows: [][]any{{"x", "y"}, {"zz", nil}}, want: [][]any{{"x", "Y", int64(1), "hot"}, {"zz", nil, int64(2), "cold"}},
			schema: []string{"a", "b", "n", "tier"}},
		{name: "set sees earlier fields", step: `set: { n: 'len(a)', m: 'n * 2' }`, fields: ab,
			rows: [][]any{{"abc", ""}}, want: [][]any{{"abc", "", int64(3), int64(6)}}},
		{name: "set failing row is rejected", step: `set: { n: 'int(a) + 1' }`, fields: ab,
			rows: [][]any{{"4", ""}, {"x", ""}}, want: [][]any{{"4", "", int64(5)}},
			rejects: []rejectView{{Step: "steps[1] set", Field: "n", Line: 3, Reason: `set n: invalid operation: int(x)`}}},
		{name: "set fixed type rejects mismatch", step: `set: { n: { expr: 'a', type: int } }`, fields: ab,
			rows: [][]any{{"x", ""}}, want: [][]any{},
			rejects: []rejectView{{Step: "steps[1] set", Field: "n", Value: "x", Line: 2, Reason: `set n: cannot store string in an int column, want int`}}},
		{name: "set helpers", step: `set: { d: email_domain(a), p: 'phone_e164(b, "49")', c: 'coalesce(nil, "", b)' }`, fields: ab,
			rows: [][]any{{"Ann@Example.COM", "030 1234567"}}, want: [][]any{{"Ann@Example.COM", "030 1234567", "example.com", "+49301234567", "030 1234567"}}},
		{name: "default", step: `default: { a: none, n: 0 }`, fields: ab,
			rows: [][]any{{nil, "1"}, {" ", "2"}, {"v", "3"}}, want: [][]any{{"none", "1", int64(0)}, {"none", "2", int64(0)}, {"v", "3", int64(0)}}},
		{name: "coalesce", step: `coalesce: { c: [a, b] }`, fields: ab,
			rows: [][]any{{nil, "1"}, {"", "2"}, {"x", "3"}, {nil, nil}}, want: [][]any{{nil, "1", "1"}, {"", "2", "2"}, {"x", "3", "x"}, {nil, nil, nil}}},
		{name: "template", step: `template: { g: 'Hi {{ .a }} ({{ upper .b }})' }`, fields: ab,
			rows: [][]any{{"Ann", "de"}, {"Bo", nil}}, want: [][]any{{"Ann", "de", "Hi Ann (DE)"}, {"Bo", nil, "Hi Bo ()"}}},
		{name: "template missing field", step: `template: { g: '{{ .zz }}' }`, fields: ab,
			rows: [][]any{{"Ann", "de"}}, wantErr: `field "zz" not in input`},
	})
}

func TestShapingConfigErrors(t *testing.T) {
	tests := []struct {
		step string
		path []string
		msg  string
	}{
		{`trim: []`, nil, "at least one field"},
		{`lower: [a, a]`, []string{"1"}, "listed twice"},
		{`set: { x: 'a +' }`, []string{"x"}, "unexpected token"},
		{`set: { x: { expr: 'a', type: money } }`, []string{"x", "type"}, "unknown type"},
		{`set: { x: 'lowercase(a)' }`, []string{"x"}, `unknown function "lowercase"`},
		{`default: { a: [1] }`, []string{"a"}, "scalar"},
		{`template: { g: '{{ .a ' }`, []string{"g"}, "unclosed action"},
		{`coalesce: { c: [] }`, []string{"c"}, "at least one field"},
	}
	for _, tc := range tests {
		t.Run(tc.step, func(t *testing.T) {
			_, err := buildStep(t, tc.step)
			fe := wantFieldError(t, err, tc.path)
			if !strings.Contains(fe.Err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", fe.Err, tc.msg)
			}
		})
	}
}
