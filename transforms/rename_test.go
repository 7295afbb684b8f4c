package transforms

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

func TestRenameApply(t *testing.T) {
	tests := []struct {
		name      string
		step      string
		in        []string
		wantNames []string
		wantErr   []string // substrings of the error
	}{
		{
			name:      "renames keep field order",
			step:      `rename: { "E-Mail Address": email, "First Name": first_name }`,
			in:        []string{"First Name", "id", "E-Mail Address"},
			wantNames: []string{"first_name", "id", "email"},
		},
		{
			name:      "swap applies at once",
			step:      `rename: { a: b, b: a }`,
			in:        []string{"a", "b", "c"},
			wantNames: []string{"b", "a", "c"},
		},
		{
			name:      "same name is a no-op",
			step:      `rename: { a: a }`,
			in:        []string{"a"},
			wantNames: []string{"a"},
		},
		{
			name:    "missing field names it and lists the others",
			step:    `rename: { mail: email }`,
			in:      []string{"id", "E-Mail"},
			wantErr: []string{"steps[1] rename", `field "mail" not in input`, "have: id, E-Mail"},
		},
		{
			name:    "renaming onto an existing field",
			step:    `rename: { mail: email }`,
			in:      []string{"email", "mail"},
			wantErr: []string{`renaming "mail" to "email"`, `already has a field "email"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := mustStep(t, tc.step)
			row := make([]any, len(tc.in))
			for i := range row {
				row[i] = "v" + string(rune('0'+i))
			}
			b := textBatch(t, tc.in, row)
			out, err := apply(t, step, b)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, schema %v", out.Schema)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantNames, out.Schema.Names()); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([][]any{row}, rowsOf(out)); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenameReusesColumnsAndCachesSchema(t *testing.T) {
	step := mustStep(t, `rename: { a: x }`)
	schema := etl.MustSchema(etl.Field{Name: "a", Type: etl.TypeString}, etl.Field{Name: "n", Type: etl.TypeInt})
	b1 := typedBatch(t, schema, []any{"one", int64(1)}, []any{"two", int64(2)})
	b2 := typedBatch(t, schema, []any{"three", int64(3)})
	first := &b1.Cols[0].Str[0]

	out1, err := apply(t, step, b1)
	if err != nil {
		t.Fatal(err)
	}
	if &out1.Cols[0].Str[0] != first {
		t.Error("rename copied the column")
	}
	out2, err := apply(t, step, b2)
	if err != nil {
		t.Fatal(err)
	}
	if out1.Schema != out2.Schema {
		t.Error("output schema rebuilt for the same input schema")
	}
	want := etl.MustSchema(etl.Field{Name: "x", Type: etl.TypeString}, etl.Field{Name: "n", Type: etl.TypeInt})
	if !out1.Schema.Equal(want) {
		t.Errorf("schema %v, want %v", out1.Schema, want)
	}
	if diff := cmp.Diff([][]any{{"three", int64(3)}}, rowsOf(out2)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestRenameConfig(t *testing.T) {
	tests := []struct {
		name     string
		step     string
		wantPath []string
		wantMsg  string
	}{
		{"empty", `rename: {}`, nil, "at least one field"},
		{"no new name", `rename: { a: "" }`, []string{"a"}, `no new name for "a"`},
		{"two to one", `rename: { a: x, b: x }`, []string{"b"}, `"a" and "b" are both renamed to "x"`},
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

func TestRenameConfigKeepsOrder(t *testing.T) {
	step := mustStep(t, "rename:\n  z: a\n  y: b\n  x: c\n")
	got := step.(*renameStep).renames
	want := []Rename{{"z", "a"}, {"y", "b"}, {"x", "c"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("renames (-want +got):\n%s", diff)
	}
}

func TestRenameConfigRejectsList(t *testing.T) {
	if _, err := buildStep(t, `rename: [a, b]`); err == nil {
		t.Fatal("a list decoded as a rename mapping")
	}
}
