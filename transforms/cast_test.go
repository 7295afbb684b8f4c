package transforms

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

// rej marks an input the cast must reject, with the reason.
type rej string

func utc(y int, m time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, m, d, h, mi, s, ns, time.UTC)
}

func TestCastFromString(t *testing.T) {
	tests := []struct {
		name string
		rule string // the YAML of the rule for field v
		// in and want pair up: want[i] is the value of in[i] after the cast,
		// or a rej with the reason it is rejected.
		in   []any
		want []any
	}{
		{
			name: "int",
			rule: "int",
			in:   []any{"42", " -7 ", "+3", "", "  ", nil, "12.0", "1,000", "abc", "9223372036854775808"},
			want: []any{int64(42), int64(-7), int64(3), nil, nil, nil,
				rej("expected int"), rej("expected int"), rej("expected int"), rej("expected int: out of range")},
		},
		{
			name: "integer alias",
			rule: "integer",
			in:   []any{"5"},
			want: []any{int64(5)},
		},
		{
			name: "float",
			rule: "float",
			in:   []any{"1.5", "-2e3", "7", "", "NaN", "inf", "0x1p-2", "1,5", "1e999"},
			want: []any{1.5, -2000.0, 7.0, nil,
				rej("expected float"), rej("expected float"), rej("expected float"), rej("expected float"), rej("expected float")},
		},
		{
			name: "float with decimal comma",
			rule: "{ type: float, decimal_comma: true }",
			in:   []any{"1.234,56", "12,5", "1.234", "-0,5", "1.234.567,8", "1.5", "1,2,3", "1.23,4", "1,234.5", ".123"},
			want: []any{1234.56, 12.5, 1234.0, -0.5, 1234567.8,
				rej("expected float with decimal comma (1.234,56)"), rej("expected float with decimal comma (1.234,56)"),
				rej("expected float with decimal comma (1.234,56)"), rej("expected float with decimal comma (1.234,56)"),
				rej("expected float with decimal comma (1.234,56)")},
		},
		{
			name: "bool",
			rule: "bool",
			in:   []any{"true", "TRUE", "Yes", "y", "T", "1", "false", "No", "n", "f", "0", "", "maybe", "2"},
			want: []any{true, true, true, true, true, true, false, false, false, false, false, nil,
				rej("expected bool (true/false, yes/no, y/n, t/f, 1/0)"), rej("expected bool (true/false, yes/no, y/n, t/f, 1/0)")},
		},
		{
			name: "timestamp ISO forms",
			rule: "timestamp",
			in: []any{
				"2024-03-01T10:20:30Z",
				"2024-03-01T10:20:30.123+02:00",
				"2024-03-01 10:20:30",
				"2024-03-01T10:20",
				"2024-03-01",
				"2024-03-01T10:20:30+0530",
				"2024-03-01 10:20:30 -07:00",
				"2024-03-01t10:20:30.5z",
				"",
				"2024-02-30",
				"2024-03-01T25:00:00Z",
				"01/03/2024",
				"2024-03-01T10:20:30+2",
			},
			want: []any{
				utc(2024, 3, 1, 10, 20, 30, 0),
				utc(2024, 3, 1, 8, 20, 30, 123_000_000),
				utc(2024, 3, 1, 10, 20, 30, 0),
				utc(2024, 3, 1, 10, 20, 0, 0),
				utc(2024, 3, 1, 0, 0, 0, 0),
				utc(2024, 3, 1, 4, 50, 30, 0),
				utc(2024, 3, 1, 17, 20, 30, 0),
				utc(2024, 3, 1, 10, 20, 30, 500_000_000),
				nil,
				rej(`expected timestamp (RFC 3339, "2006-01-02 15:04:05" or "2006-01-02")`),
				rej(`expected timestamp (RFC 3339, "2006-01-02 15:04:05" or "2006-01-02")`),
				rej(`expected timestamp (RFC 3339, "2006-01-02 15:04:05" or "2006-01-02")`),
				rej(`expected timestamp (RFC 3339, "2006-01-02 15:04:05" or "2006-01-02")`),
			},
		},
		{
			name: "timestamp without offset in tz",
			rule: "{ type: timestamp, tz: Europe/Berlin }",
			in:   []any{"2024-03-01 10:00:00", "2024-07-01 10:00:00", "2024-03-01T10:00:00Z", "2024-03-01"},
			want: []any{
				utc(2024, 3, 1, 9, 0, 0, 0),   // CET, UTC+1
				utc(2024, 7, 1, 8, 0, 0, 0),   // CEST, UTC+2
				utc(2024, 3, 1, 10, 0, 0, 0),  // an explicit offset wins
				utc(2024, 2, 29, 23, 0, 0, 0), // midnight in Berlin
			},
		},
		{
			name: "timestamp layout in tz, ISO as fallback",
			rule: `{ type: timestamp, layout: "02/01/2006 15:04", tz: Europe/Berlin }`,
			in:   []any{"01/03/2024 10:00", "2024-03-01T10:00:00Z", "13/13/2024 10:00"},
			want: []any{
				utc(2024, 3, 1, 9, 0, 0, 0),
				utc(2024, 3, 1, 10, 0, 0, 0),
				rej(`expected timestamp (RFC 3339, "2006-01-02 15:04:05" or "2006-01-02" or "02/01/2006 15:04")`),
			},
		},
		{
			name: "timestamp layouts list",
			rule: `{ type: timestamp, layouts: ["02.01.2006", "2006/01/02 15:04:05"] }`,
			in:   []any{"01.03.2024", "2024/03/01 10:20:30"},
			want: []any{utc(2024, 3, 1, 0, 0, 0, 0), utc(2024, 3, 1, 10, 20, 30, 0)},
		},
		{
			name: "date",
			rule: "date",
			in:   []any{"2024-03-01", " 2024-12-31 ", "", "2024-03-01T10:00:00Z", "2023-02-29"},
			want: []any{utc(2024, 3, 1, 0, 0, 0, 0), utc(2024, 12, 31, 0, 0, 0, 0), nil,
				rej(`expected date ("2006-01-02")`), rej(`expected date ("2006-01-02")`)},
		},
		{
			name: "date with layout",
			rule: `{ type: date, layout: "02.01.2006" }`,
			in:   []any{"01.03.2024", "2024-03-02", "1.3.24"},
			want: []any{utc(2024, 3, 1, 0, 0, 0, 0), utc(2024, 3, 2, 0, 0, 0, 0), rej(`expected date ("2006-01-02" or "02.01.2006")`)},
		},
		{
			name: "json",
			rule: "json",
			in:   []any{`{"a": 1, "b": [true, "x"]}`, "[1,2]", `"s"`, "null", "", "{bad"},
			want: []any{
				map[string]any{"a": 1.0, "b": []any{true, "x"}},
				[]any{1.0, 2.0},
				"s",
				nil,
				nil,
				rej("expected json: invalid character 'b' looking for beginning of object key string"),
			},
		},
		{
			name: "string to string is a no-op",
			rule: "string",
			in:   []any{" a ", "", nil},
			want: []any{" a ", "", nil},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.in) != len(tc.want) {
				t.Fatalf("%d inputs, %d wants", len(tc.in), len(tc.want))
			}
			step := mustStep(t, fmt.Sprintf("cast: { id: int, v: %s }", tc.rule))
			var rows [][]any
			var wantRows [][]any
			var wantRejects []rejectView
			for i, v := range tc.in {
				id := fmt.Sprint(i)
				rows = append(rows, []any{id, v})
				line := int64(i + 2)
				if r, ok := tc.want[i].(rej); ok {
					wantRejects = append(wantRejects, rejectView{Step: "steps[1] cast", Field: "v", Value: v.(string), Reason: string(r), Line: line})
					continue
				}
				wantRows = append(wantRows, []any{int64(i), tc.want[i]})
			}
			out, err := apply(t, step, textBatch(t, []string{"id", "v"}, rows...))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantRows, rowsOf(out)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantRejects, rejectsOf(out)); diff != "" {
				t.Errorf("rejects (-want +got):\n%s", diff)
			}
			// Origins travel with their rows: id i came from line i+2.
			for i, row := range rowsOf(out) {
				if want := row[0].(int64) + 2; out.Origins[i].Line != want {
					t.Errorf("row %d (id %d) has line %d, want %d", i, row[0], out.Origins[i].Line, want)
				}
			}
		})
	}
}

func TestCastBetweenTypes(t *testing.T) {
	ts := utc(2024, 3, 1, 23, 30, 0, 0)
	schema := etl.MustSchema(
		etl.Field{Name: "i", Type: etl.TypeInt},
		etl.Field{Name: "f", Type: etl.TypeFloat},
		etl.Field{Name: "b", Type: etl.TypeBool},
		etl.Field{Name: "t", Type: etl.TypeTimestamp},
		etl.Field{Name: "d", Type: etl.TypeDate},
		etl.Field{Name: "j", Type: etl.TypeJSON},
	)
	tests := []struct {
		name        string
		rule        string // "field: rule" for the cast
		rows        [][]any
		wantField   int // column to compare
		wantType    etl.Type
		want        []any // values of the kept rows
		wantRejects []rejectView
	}{
		{
			name:      "int to float",
			rule:      "i: float",
			rows:      [][]any{{int64(3), nil, nil, nil, nil, nil}, {nil, nil, nil, nil, nil, nil}},
			wantField: 0, wantType: etl.TypeFloat,
			want: []any{3.0, nil},
		},
		{
			name:      "int to string",
			rule:      "i: string",
			rows:      [][]any{{int64(-12), nil, nil, nil, nil, nil}},
			wantField: 0, wantType: etl.TypeString,
			want: []any{"-12"},
		},
		{
			name:      "int to bool",
			rule:      "i: bool",
			rows:      [][]any{{int64(1), nil, nil, nil, nil, nil}, {int64(0), nil, nil, nil, nil, nil}, {int64(2), nil, nil, nil, nil, nil}},
			wantField: 0, wantType: etl.TypeBool,
			want:        []any{true, false},
			wantRejects: []rejectView{{"steps[1] cast", "i", "2", "expected bool: not 0 or 1", 4}},
		},
		{
			name: "float to int only when whole",
			rule: "f: int",
			rows: [][]any{
				{nil, 2.0, nil, nil, nil, nil},
				{nil, 2.5, nil, nil, nil, nil},
				{nil, 1e20, nil, nil, nil, nil},
				{nil, -4.0, nil, nil, nil, nil},
			},
			wantField: 1, wantType: etl.TypeInt,
			want: []any{int64(2), int64(-4)},
			wantRejects: []rejectView{
				{"steps[1] cast", "f", "2.5", "expected int: not a whole number", 3},
				{"steps[1] cast", "f", "1e+20", "expected int: out of range", 4},
			},
		},
		{
			name:      "float to string",
			rule:      "f: string",
			rows:      [][]any{{nil, 0.25, nil, nil, nil, nil}},
			wantField: 1, wantType: etl.TypeString,
			want: []any{"0.25"},
		},
		{
			name:      "bool to int",
			rule:      "b: int",
			rows:      [][]any{{nil, nil, true, nil, nil, nil}, {nil, nil, false, nil, nil, nil}},
			wantField: 2, wantType: etl.TypeInt,
			want: []any{int64(1), int64(0)},
		},
		{
			name:      "timestamp to date in UTC",
			rule:      "t: date",
			rows:      [][]any{{nil, nil, nil, ts, nil, nil}},
			wantField: 3, wantType: etl.TypeDate,
			want: []any{utc(2024, 3, 1, 0, 0, 0, 0)},
		},
		{
			name:      "timestamp to date in tz",
			rule:      "t: { type: date, tz: Europe/Berlin }",
			rows:      [][]any{{nil, nil, nil, ts, nil, nil}},
			wantField: 3, wantType: etl.TypeDate,
			want: []any{utc(2024, 3, 2, 0, 0, 0, 0)},
		},
		{
			name:      "timestamp to string",
			rule:      "t: string",
			rows:      [][]any{{nil, nil, nil, ts, nil, nil}},
			wantField: 3, wantType: etl.TypeString,
			want: []any{"2024-03-01T23:30:00Z"},
		},
		{
			name:      "date to timestamp",
			rule:      "d: timestamp",
			rows:      [][]any{{nil, nil, nil, nil, utc(2024, 3, 1, 0, 0, 0, 0), nil}},
			wantField: 4, wantType: etl.TypeTimestamp,
			want: []any{utc(2024, 3, 1, 0, 0, 0, 0)},
		},
		{
			name:      "json to string",
			rule:      "j: string",
			rows:      [][]any{{nil, nil, nil, nil, nil, map[string]any{"a": []any{1.0}}}},
			wantField: 5, wantType: etl.TypeString,
			want: []any{`{"a":[1]}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := mustStep(t, "cast: { "+tc.rule+" }")
			out, err := apply(t, step, typedBatch(t, schema, tc.rows...))
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Schema.Field(tc.wantField).Type; got != tc.wantType {
				t.Errorf("field type %s, want %s", got, tc.wantType)
			}
			var got []any
			for _, row := range rowsOf(out) {
				got = append(got, row[tc.wantField])
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRejects, rejectsOf(out)); diff != "" {
				t.Errorf("rejects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCastRejectsRowOnceWithOriginalValues(t *testing.T) {
	step := mustStep(t, "cast: { a: int, b: bool }")
	b := textBatch(t, []string{"a", "b"},
		[]any{"1", "yes"},
		[]any{"x", "maybe"}, // both fail: rejected once, for a (first in config order)
		[]any{"3", "maybe"},
		[]any{"4", ""},
	)
	out, err := apply(t, step, b)
	if err != nil {
		t.Fatal(err)
	}
	wantRejects := []rejectView{
		{"steps[1] cast", "a", "x", "expected int", 3},
		{"steps[1] cast", "b", "maybe", "expected bool (true/false, yes/no, y/n, t/f, 1/0)", 4},
	}
	if diff := cmp.Diff(wantRejects, rejectsOf(out)); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
	var row map[string]any
	if err := json.Unmarshal(out.Rejects[1].Row, &row); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"a": "3", "b": "maybe"}, row); diff != "" {
		t.Errorf("rejected row (-want +got):\n%s", diff)
	}
	if out.Rejects[0].Origin.File != "in.csv" {
		t.Errorf("reject origin %v", out.Rejects[0].Origin)
	}
	if diff := cmp.Diff([][]any{{int64(1), true}, {int64(4), nil}}, rowsOf(out)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{2, 5}, linesOf(out)); diff != "" {
		t.Errorf("origins (-want +got):\n%s", diff)
	}
}

func TestCastSchemaCachedPerInputSchema(t *testing.T) {
	step := mustStep(t, "cast: { n: int }")
	schema := etl.MustSchema(etl.Field{Name: "n", Type: etl.TypeString}, etl.Field{Name: "s", Type: etl.TypeString})
	out1, err := apply(t, step, typedBatch(t, schema, []any{"1", "a"}))
	if err != nil {
		t.Fatal(err)
	}
	out2, err := apply(t, step, typedBatch(t, schema, []any{"2", "b"}))
	if err != nil {
		t.Fatal(err)
	}
	if out1.Schema != out2.Schema {
		t.Error("output schema rebuilt for the same input schema")
	}
	if got := out1.Schema.String(); got != "n int, s string" {
		t.Errorf("schema %q", got)
	}
	// Already of the wanted type: the schema pointer passes through.
	typed := out2.Schema
	out3, err := apply(t, step, typedBatch(t, typed, []any{int64(3), "c"}))
	if err != nil {
		t.Fatal(err)
	}
	if out3.Schema != typed {
		t.Error("a cast that changes nothing replaced the schema")
	}
}

func TestCastApplyErrors(t *testing.T) {
	tests := []struct {
		name    string
		step    string
		schema  *etl.Schema
		wantErr []string
	}{
		{
			name:    "missing field",
			step:    "cast: { score: int }",
			schema:  etl.MustSchema(etl.Field{Name: "email", Type: etl.TypeString}, etl.Field{Name: "lead_score", Type: etl.TypeString}),
			wantErr: []string{"steps[1] cast", `field "score" not in input`, "have: email, lead_score"},
		},
		{
			name:    "unsupported conversion",
			step:    "cast: { ok: timestamp }",
			schema:  etl.MustSchema(etl.Field{Name: "ok", Type: etl.TypeBool}),
			wantErr: []string{`cannot cast field "ok" from bool to timestamp`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apply(t, mustStep(t, tc.step), etl.NewBatch(tc.schema, 0))
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestCastConfig(t *testing.T) {
	tests := []struct {
		name     string
		step     string
		wantPath []string
		wantMsg  string
	}{
		{"empty", "cast: {}", nil, "at least one field"},
		{"unknown type", "cast: { a: integr }", []string{"a"}, `unknown type "integr" (want string, int, float, bool, timestamp, date, json, bytes, local_timestamp, decimal, uuid)`},
		{"unknown type in mapping", "cast: { a: { type: stamp } }", []string{"a", "type"}, `unknown type "stamp"`},
		{"no type", "cast: { a: }", []string{"a"}, `no type for "a"`},
		{"no type in mapping", "cast: { a: { tz: UTC } }", []string{"a"}, `no type for "a"`},
		{"bad tz", "cast: { a: { type: timestamp, tz: Europe/Berln } }", []string{"a", "tz"}, `unknown time zone "Europe/Berln"`},
		{"tz on int", "cast: { a: { type: int, tz: UTC } }", []string{"a", "tz"}, "tz applies to timestamp and date, not int"},
		{"decimal comma on int", "cast: { a: { type: int, decimal_comma: true } }", []string{"a", "decimal_comma"}, "decimal_comma applies to float"},
		{"layout on bool", `cast: { a: { type: bool, layouts: ["x"] } }`, []string{"a", "layouts"}, "layout applies to timestamp and date"},
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
}

func TestCastConfigDecoding(t *testing.T) {
	step := mustStep(t, `cast:
  z: int
  a: { type: timestamp, layout: ["02/01/2006", "2006.01.02"], layouts: "15:04 02/01/2006", tz: Europe/Berlin }
  m: { type: float, decimal_comma: true }
`)
	rules := step.(*castStep).rules
	var got []string
	for _, r := range rules {
		got = append(got, fmt.Sprintf("%s %s %q %s %v", r.field, r.to, r.layouts, r.loc, r.decimalComma))
	}
	want := []string{
		`z int [] UTC false`,
		`a timestamp ["02/01/2006" "2006.01.02" "15:04 02/01/2006"] Europe/Berlin false`,
		`m float [] UTC true`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules in config order (-want +got):\n%s", diff)
	}

	// Strict decoding: an unknown key in the mapping form is an error.
	if _, err := buildStep(t, "cast: { a: { type: int, typo: 1 } }"); err == nil || !strings.Contains(err.Error(), "typo") {
		t.Errorf("unknown key: error %v, want one naming typo", err)
	}
	if _, err := buildStep(t, "cast: { a: [int] }"); err == nil {
		t.Error("a list as a rule decoded without error")
	}
}

// TestCastAllocations checks that the common conversions allocate the new
// vectors once per column, never per row.
func TestCastAllocations(t *testing.T) {
	const n = 1000
	tests := []struct {
		name  string
		rule  string
		value func(i int) string
	}{
		{"int", "int", func(i int) string { return fmt.Sprint(i * 7919) }},
		{"float", "float", func(i int) string { return fmt.Sprintf("%d.%d", i, i%100) }},
		{"float decimal comma", "{ type: float, decimal_comma: true }", func(i int) string { return fmt.Sprintf("1.%03d,%d", i%1000, i%10) }},
		{"bool", "bool", func(i int) string { return []string{"yes", "No", "1", "false"}[i%4] }},
		{"timestamp offset", "timestamp", func(i int) string { return fmt.Sprintf("2024-03-01T10:%02d:00.123+02:00", i%60) }},
		{"timestamp in tz", "{ type: timestamp, tz: Europe/Berlin }", func(i int) string { return fmt.Sprintf("2024-03-01 10:%02d:00", i%60) }},
		{"date", "date", func(i int) string { return fmt.Sprintf("2024-03-%02d", i%28+1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := mustStep(t, "cast: { v: "+tc.rule+" }").(*castStep)
			src := etl.NewColumn(etl.TypeString, n)
			for i := 0; i < n; i++ {
				src.AppendString(tc.value(i))
			}
			run := castRun{n: n}
			allocs := testing.AllocsPerRun(20, func() {
				castColumn(&src, &step.rules[0], &run)
			})
			if run.fails != nil {
				t.Fatalf("test values failed to cast: %+v", run.fails[0])
			}
			if allocs > 2 {
				t.Errorf("%v allocations per %d-row column, want 2 (values and nulls)", allocs, n)
			}
		})
	}
}

func TestParseISO(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// parseISO must agree with time.Parse on every form they share.
	for _, s := range []string{
		"2024-03-01T10:20:30Z",
		"2024-03-01T10:20:30.999999999Z",
		"2024-03-01T10:20:30.1-09:30",
		"2024-12-31T23:59:59+14:00",
		"2000-02-29T00:00:00+00:00",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseISO(s, berlin)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseISO(%q) = %v, %v; want %v UTC", s, got, ok, want.UTC())
		}
	}
	for _, s := range []string{"", "2024", "2024-1-01", "2024-13-01", "2024-00-10", "2024-01-32", "2024-01-01X10:00",
		"2024-01-01T10", "2024-01-01T10:60", "2024-01-01T10:00:60", "2024-01-01T10:00:00.", "2024-01-01T10:00:00+24:00",
		"2024-01-01T10:00:00 ", "2024-01-01T10:00:00Zjunk", "２024-01-01"} {
		if got, ok := parseISO(s, time.UTC); ok {
			t.Errorf("parseISO(%q) = %v, want failure", s, got)
		}
	}
}
