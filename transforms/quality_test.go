package transforms

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

func TestValidate(t *testing.T) {
	f := []string{"email", "phone", "code"}
	runStepCases(t, []stepCase{
		{name: "required and email", step: `validate: { email: [required, email] }`, fields: f,
			rows: [][]any{{"a@x.com", "", ""}, {nil, "", ""}, {"nope@", "", ""}, {"  ", "", ""}},
			want: [][]any{{"a@x.com", "", ""}},
			rejects: []rejectView{
				{Step: "steps[1] validate", Field: "email", Line: 3, Reason: "validate email required: missing value"},
				{Step: "steps[1] validate", Field: "email", Value: "nope@", Line: 4, Reason: "validate email email: not an email address"},
				{Step: "steps[1] validate", Field: "email", Value: "  ", Line: 5, Reason: "validate email required: missing value"},
			}},
		{name: "warn keeps the row", step: `validate: { phone: { phone: true, action: warn } }`, fields: f,
			rows: [][]any{{"", "call me", ""}}, want: [][]any{{"", "call me", ""}}},
		{name: "regex enum length unique", step: `validate: { code: [{ regex: '^[A-Z]+$' }, { enum: [AB, CD, EFGHIJ] }, { length: { max: 4 } }, unique] }`, fields: f,
			rows: [][]any{{"", "", "AB"}, {"", "", "ab"}, {"", "", "XY"}, {"", "", "EFGHIJ"}, {"", "", "AB"}, {"", "", nil}},
			want: [][]any{{"", "", "AB"}, {"", "", nil}},
			rejects: []rejectView{
				{Step: "steps[1] validate", Field: "code", Value: "ab", Line: 3, Reason: "validate code regex: does not match ^[A-Z]+$"},
				{Step: "steps[1] validate", Field: "code", Value: "XY", Line: 4, Reason: "validate code enum: not one of AB, CD, EFGHIJ"},
				{Step: "steps[1] validate", Field: "code", Value: "EFGHIJ", Line: 5, Reason: "validate code length: longer than 4 characters"},
				{Step: "steps[1] validate", Field: "code", Value: "AB", Line: 6, Reason: "validate code unique: duplicate value in this run"},
			}},
		{name: "expr", step: `validate: { code: { expr: 'len(code) == 2' } }`, fields: f,
			rows: [][]any{{"", "", "AB"}, {"", "", "ABC"}}, want: [][]any{{"", "", "AB"}},
			rejects: []rejectView{{Step: "steps[1] validate", Field: "code", Value: "ABC", Line: 3, Reason: "validate code expr: expression len(code) == 2 is false"}}},
		{name: "fail stops the run naming the row", step: `validate: { email: { email: true, action: fail } }`, fields: f,
			rows: [][]any{{"a@x.com", "", ""}, {"bad", "", ""}}, wantErr: `row in.csv:3: field email value "bad": validate email email: not an email address (action: fail)`},
		{name: "min on a string field", step: `validate: { code: { min: 1 } }`, fields: f,
			rows: [][]any{{"", "", "5"}}, want: [][]any{},
			rejects: []rejectView{{Step: "steps[1] validate", Field: "code", Value: "5", Line: 2, Reason: "validate code min: min applies to int and float fields, not string (cast it first)"}}},
		{name: "missing field", step: `validate: { nope: [email] }`, fields: f, rows: [][]any{{"", "", ""}}, wantErr: `field "nope" not in input`},
	})
}

func TestValidateMinMax(t *testing.T) {
	s := etl.MustSchema(etl.Field{Name: "score", Type: etl.TypeInt})
	b := typedBatch(t, s, []any{int64(5)}, []any{int64(-1)}, []any{int64(101)}, []any{nil})
	out, err := apply(t, mustStep(t, `validate: { score: { min: 0, max: 100 } }`), b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{2, 5}, linesOf(out)); diff != "" {
		t.Errorf("kept lines (-want +got):\n%s", diff)
	}
	want := []rejectView{
		{Step: "steps[1] validate", Field: "score", Value: "-1", Line: 3, Reason: "validate score min: must be at least 0"},
		{Step: "steps[1] validate", Field: "score", Value: "101", Line: 4, Reason: "validate score max: must be at most 100"},
	}
	if diff := cmp.Diff(want, rejectsOf(out)); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
}

func TestHoldingSteps(t *testing.T) {
	f := []string{"k", "v", "t"}
	rows := [][]any{{"a", "1", "3"}, {"b", "2", "1"}, {"a", "3", "2"}, {"c", "4", "9"}, {"b", "5", "0"}}
	runStepCases(t, []stepCase{
		{name: "dedupe first", step: `dedupe: { key: [k] }`, fields: f, rows: rows,
			want: [][]any{{"a", "1", "3"}, {"b", "2", "1"}, {"c", "4", "9"}}},
		{name: "dedupe last", step: `dedupe: { key: [k], keep: last }`, fields: f, rows: rows,
			want: [][]any{{"a", "3", "2"}, {"c", "4", "9"}, {"b", "5", "0"}}},
		{name: "dedupe last by order_by", step: `dedupe: { key: [k], keep: last, order_by: t }`, fields: f, rows: rows,
			want: [][]any{{"a", "1", "3"}, {"b", "2", "1"}, {"c", "4", "9"}}},
		{name: "dedupe spills", step: `dedupe: { key: [k], keep: last, memory_rows: 2 }`, fields: f, rows: rows,
			want: [][]any{{"a", "3", "2"}, {"c", "4", "9"}, {"b", "5", "0"}}},
		{name: "sort desc with spill", step: `sort: { by: [-t], memory_rows: 2 }`, fields: f, rows: rows,
			want: [][]any{{"c", "4", "9"}, {"a", "1", "3"}, {"a", "3", "2"}, {"b", "2", "1"}, {"b", "5", "0"}}},
		{name: "dedupe missing key", step: `dedupe: { key: [zz] }`, fields: f, rows: rows, wantErr: `field "zz" not in input`},
		{name: "aggregate", step: `aggregate: { group_by: [k], order_by: t, fields: { n: { count: "*" }, vs: { concat: v, sep: "+" }, firstv: { first: v }, lastv: { last: v }, big: { count: "*", where: 'v > "2"' } } }`,
			fields: f, rows: rows,
			want: [][]any{{"a", int64(2), "3+1", "3", "1", int64(1)}, {"b", int64(2), "5+2", "5", "2", int64(1)}, {"c", int64(1), "4", "4", "4", int64(1)}}},
	})
}

func TestAggregateSessionsAcrossBatchesAndSpill(t *testing.T) {
	s := etl.MustSchema(
		etl.Field{Name: "conv", Type: etl.TypeString},
		etl.Field{Name: "at", Type: etl.TypeTimestamp},
		etl.Field{Name: "role", Type: etl.TypeString},
		etl.Field{Name: "n", Type: etl.TypeInt},
	)
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	min := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	for _, memory := range []int{0, 2} {
		step := mustStep(t, `aggregate:
  group_by: [conv]
  order_by: at
  session: { gap: 30m }
  memory_rows: `+map[int]string{0: "100", 2: "2"}[memory]+`
  fields:
    started_at: { min: at }
    ended_at: { max: at }
    turns: { count: "*" }
    total: { sum: n }
    avg_n: { avg: n }
    agent: { count: "*", where: 'role == "agent"' }
    first_user: { first: n, where: 'role == "user"' }
    roles: { collect: role, distinct: true }`)
		ctx := context.Background()
		batches := []*etl.Batch{
			typedBatch(t, s, []any{"c1", min(0), "user", int64(1)}, []any{"c2", min(1), "user", int64(10)}, []any{"c1", min(5), "bot", int64(2)}),
			typedBatch(t, s, []any{"c1", min(50), "user", int64(3)}, []any{"c1", min(52), "agent", int64(4)}),
		}
		for _, b := range batches {
			out, err := step.Apply(ctx, b)
			if err != nil || out.Len() != 0 {
				t.Fatalf("apply: %v, %d rows", err, out.Len())
			}
		}
		out := flushAll(t, step, nil)
		want := [][]any{
			{"c1", int64(1), min(0), min(5), int64(2), int64(3), 1.5, int64(0), int64(1), []any{"user", "bot"}},
			{"c1", int64(2), min(50), min(52), int64(2), int64(7), 3.5, int64(1), int64(3), []any{"user", "agent"}},
			{"c2", int64(1), min(1), min(1), int64(1), int64(10), 10.0, int64(0), int64(10), []any{"user"}},
		}
		if diff := cmp.Diff(want, rowsOf(out)); diff != "" {
			t.Errorf("memory %d: sessions (-want +got):\n%s", memory, diff)
		}
		wantNames := []string{"conv", "session", "started_at", "ended_at", "turns", "total", "avg_n", "agent", "first_user", "roles"}
		if diff := cmp.Diff(wantNames, out.Schema.Names()); diff != "" {
			t.Errorf("schema (-want +got):\n%s", diff)
		}
	}
}

func TestRedactExtract(t *testing.T) {
	t.Setenv("NJ_TEST_REDACT_KEY", "k1")
	text := "mail ANN@Example.com or call +49 30 1234567, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, fake 4111 1111 1111 1112"
	f := []string{"text", "email"}
	runStepCases(t, []stepCase{
		{name: "mask", step: `redact: { fields: [text] }`, fields: f, rows: [][]any{{text, nil}},
			want: [][]any{{"mail ***@Example.com or call +** ** *****67, card **** **** **** 1111, IBAN DE** **** **** **** **30 00, fake 4111 1111 1111 1112", nil}}},
		{name: "remove", step: `redact: { fields: [text], patterns: [email, card], mode: remove }`, fields: f, rows: [][]any{{text, nil}},
			want: [][]any{{"mail [email] or call +49 30 1234567, card [card], IBAN DE89 3704 0044 0532 0130 00, fake 4111 1111 1111 1112", nil}}},
		{name: "custom", step: `redact: { fields: [text], patterns: [email], custom: { ord: 'ORD-[0-9]+' }, mode: remove }`, fields: f,
			rows: [][]any{{"see ORD-123", nil}}, want: [][]any{{"see [ord]", nil}}},
		{name: "extract", step: `extract: { e: { from: text, pattern: email }, p: { from: text, pattern: phone }, n: { from: text, regex: 'IBAN ([A-Z]{2})' }, none: { from: email, pattern: email } }`,
			fields: f, rows: [][]any{{text, nil}},
			want: [][]any{{text, nil, "ANN@Example.com", "+49 30 1234567", "DE", nil}}},
		{name: "extract from non-string", step: `extract: { e: { from: text, pattern: email } }`, fields: f, rows: [][]any{{"x", nil}},
			want: [][]any{{"x", nil, nil}}},
	})
	// hash: equal across spellings and runs, different with another key
	hash := func(key, v string) string {
		t.Setenv("NJ_TEST_REDACT_KEY", key)
		out, err := apply(t, mustStep(t, `redact: { whole: [email], mode: hash, key_env: NJ_TEST_REDACT_KEY }`), textBatch(t, f, []any{"", v}))
		if err != nil {
			t.Fatal(err)
		}
		return out.Cols[1].Str[0]
	}
	a, b, c := hash("k1", "Ann@Example.com"), hash("k1", " ann@example.com"), hash("k2", "ann@example.com")
	if a != b || a == c || len(a) != 64 || strings.Contains(a, "ann") {
		t.Errorf("hashes %q %q %q: want the first two equal hex, the third different", a, b, c)
	}
	t.Setenv("NJ_TEST_REDACT_KEY", "")
	_, err := buildStep(t, `redact: { whole: [email], mode: hash, key_env: NJ_TEST_REDACT_KEY }`)
	wantFieldError(t, err, []string{"key_env"})
}

func TestExplodeFlatten(t *testing.T) {
	s := etl.MustSchema(etl.Field{Name: "id", Type: etl.TypeString}, etl.Field{Name: "msgs", Type: etl.TypeJSON})
	b := typedBatch(t, s,
		[]any{"c1", []any{map[string]any{"role": "user", "n": "1", "meta": map[string]any{"ch": "web"}}, map[string]any{"role": "bot", "n": "2"}}},
		[]any{"c2", []any{}},
		[]any{"c3", "not a list"},
	)
	out, err := apply(t, mustStep(t, `explode: { field: msgs, as: msg, index: turn }`), b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"id", "msgs", "msg", "turn"}, out.Schema.Names()); diff != "" {
		t.Errorf("schema: %s", diff)
	}
	if diff := cmp.Diff([]int64{2, 2}, linesOf(out)); diff != "" {
		t.Errorf("lines: %s", diff)
	}
	if diff := cmp.Diff([]rejectView{{Step: "steps[1] explode", Field: "msgs", Value: "not a list", Line: 4, Reason: "explode: msgs is not an array"}}, rejectsOf(out)); diff != "" {
		t.Errorf("rejects: %s", diff)
	}
	out, err = apply(t, mustStep(t, `drop: [msgs]`), out)
	if err != nil {
		t.Fatal(err)
	}
	out, err = apply(t, mustStep(t, `flatten: { field: msg, prefix: "" }`), out)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"c1", int64(0), "web", "1", "user"}, {"c1", int64(1), nil, "2", "bot"}}
	if diff := cmp.Diff(want, rowsOf(out)); diff != "" {
		t.Errorf("flattened (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"id", "turn", "meta_ch", "n", "role"}, out.Schema.Names()); diff != "" {
		t.Errorf("schema: %s", diff)
	}
}

func TestScoreRouteLookup(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "crm.csv"), []byte("mail,company\nA@X.COM,Acme\nb@y.com,Beta\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := []string{"email", "turns"}
	rows := [][]any{{"a@x.com", "7"}, {nil, "2"}, {"c@z.com", "1"}}
	runStepCases(t, []stepCase{
		{name: "score and tier", step: `score: { field: s, rules: [{ when: 'email != nil', points: 20 }, { when: 'int(turns) > 5', points: 50 }, { when: 'email endsWith "z.com"', points: -5 }], tiers: { hot: 60, warm: 15 } }`,
			fields: f, rows: rows,
			want: [][]any{{"a@x.com", "7", int64(70), "hot"}, {nil, "2", int64(0), nil}, {"c@z.com", "1", int64(15), "warm"}}},
	})
	step := mustStepIn(t, dir, `lookup: { file: crm.csv, on: { email: mail }, fields: { company: company }, missing: reject }`)
	out, err := apply(t, step, textBatch(t, f, rows...))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]any{{"a@x.com", "7", "Acme"}}, rowsOf(out)); diff != "" {
		t.Errorf("lookup (-want +got):\n%s", diff)
	}
	if len(out.Rejects) != 2 || out.Rejects[1].Reason != `lookup: key "c@z.com" not in crm.csv` {
		t.Errorf("rejects: %+v", out.Rejects)
	}
	step = mustStepIn(t, dir, `lookup: { file: missing.csv, on: { email: mail }, fields: { company: company } }`)
	if _, err := apply(t, step, textBatch(t, f, rows...)); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("lookup of a missing file: %v", err)
	}

	out, err = apply(t, mustStep(t, `route: { hot: 'int(turns) > 5', mail: 'email != nil' }`), textBatch(t, f, rows...))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]bool{"hot": {true, false, false}, "mail": {true, false, true}}, out.Routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

// mustStepIn builds a step whose relative paths are relative to dir.
func mustStepIn(t *testing.T, dir, src string) etl.Step {
	t.Helper()
	s, err := buildStepEnv(t, src, etl.BuildEnv{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestQualityConfigErrors(t *testing.T) {
	tests := []struct {
		step string
		path []string
		msg  string
	}{
		{`validate: { email: [emial] }`, []string{"email", "0"}, `unknown rule "emial"`},
		{`validate: { code: { regex: '([' } }`, []string{"code", "regex"}, "bad pattern"},
		{`validate: { code: { enum: [a], action: explode } }`, []string{"code", "enum"}, "unknown action"},
		{`validate: { code: { expr: 'code ==' } }`, []string{"code", "expr"}, "unexpected token"},
		{`dedupe: { key: [a], keep: middle }`, []string{"keep"}, "first or last"},
		{`dedupe: { keep: last }`, []string{"key"}, "needs key"},
		{`aggregate: { group_by: [a], session: { gap: 5m }, fields: { n: { count: "*" } } }`, []string{"session"}, "order_by"},
		{`aggregate: { group_by: [a], order_by: t, session: { gap: soon }, fields: { n: { count: "*" } } }`, []string{"session", "gap"}, "duration"},
		{`aggregate: { group_by: [a], fields: { n: { count: "*", where: 'a ==' } } }`, []string{"fields", "n", "where"}, "unexpected token"},
		{`redact: { fields: [t], patterns: [ssn] }`, []string{"patterns", "0"}, `unknown pattern "ssn"`},
		{`redact: { fields: [t], mode: scramble }`, []string{"mode"}, "mask, remove or hash"},
		{`redact: { fields: [t], custom: { x: '(' } }`, []string{"custom", "x"}, "bad pattern"},
		{`extract: { e: { from: t, regex: '(' } }`, []string{"e", "regex"}, "bad pattern"},
		{`extract: { e: { from: t } }`, []string{"e"}, "pattern or regex"},
		{`explode: { as: x }`, []string{"field"}, "needs field"},
		{`score: { rules: [{ when: 'a >', points: 1 }] }`, []string{"rules", "0", "when"}, "unexpected token"},
		{`score: { rules: [{ when: 'a', points: 1 }], tiers: { hot: lots } }`, []string{"tiers", "hot"}, "number"},
		{`route: { hot: 'a +' }`, []string{"hot"}, "unexpected token"},
		{`lookup: { file: x.csv, on: { a: b }, fields: { c: d }, missing: explode }`, []string{"missing"}, "keep or reject"},
		{`lookup: { on: a, fields: b }`, nil, "needs a file"},
		{`lookup: { file: x.csv, connection: w, table: t, on: a, fields: b }`, []string{"file"}, "not both"},
		{`lookup: { table: t, on: a, fields: b }`, []string{"table"}, "needs connection"},
		{`lookup: { connection: w, on: a, fields: b }`, []string{"connection"}, "needs table"},
		{`lookup: { connection: w, table: t, on: a, fields: b }`, []string{"connection"}, `unknown connection "w"`},
		{`lookup: { file: x.csv, on: [], fields: b }`, []string{"on"}, "needs on"},
		{`sort: { by: [a], batch_size: -1 }`, []string{"batch_size"}, "must be positive"},
		{`sort: { by: [] }`, []string{"by"}, "needs by"},
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

func TestSortSpillsEveryType(t *testing.T) {
	s := etl.MustSchema(
		etl.Field{Name: "k", Type: etl.TypeInt}, etl.Field{Name: "f", Type: etl.TypeFloat},
		etl.Field{Name: "b", Type: etl.TypeBool}, etl.Field{Name: "at", Type: etl.TypeTimestamp},
		etl.Field{Name: "j", Type: etl.TypeJSON}, etl.Field{Name: "s", Type: etl.TypeString},
	)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rows := [][]any{
		{int64(3), 1.5, true, at, map[string]any{"a": []any{"x", nil}}, ""},
		{int64(1), nil, false, nil, nil, "one"},
		{int64(2), 2.5, nil, at, []any{}, nil},
	}
	step := mustStepIn(t, t.TempDir(), `sort: { by: [k], memory_rows: 1, spill_dir: . }`)
	if _, err := apply(t, step, typedBatch(t, s, rows...)); err != nil {
		t.Fatal(err)
	}
	out := flushAll(t, step, nil)
	want := [][]any{rows[1], rows[2], rows[0]}
	if diff := cmp.Diff(want, rowsOf(out)); diff != "" {
		t.Errorf("sorted (-want +got):\n%s", diff)
	}
}
