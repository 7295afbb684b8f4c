package jsonfile

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

func TestDecodeInfersSchema(t *testing.T) {
	in := strings.Join([]string{
		`{"id": 1, "name": "a", "score": 1, "ok": true, "tags": ["x"], "mixed": 1, "nothing": null}`,
		``,
		`{"name": "b\u00e9\n", "id": 2, "score": 2.5, "ok": false, "tags": {"k": 1}, "mixed": "one", "extra": 9}`,
		`  {"id": 3}  `,
	}, "\r\n")
	d, err := NewDecoder(strings.NewReader(in), fileformat.DecodeOptions{File: "x.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(context.Background(), 100)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want io.EOF with the last batch", err)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	wantSchema := etl.MustSchema(
		etl.Field{Name: "id", Type: etl.TypeInt}, etl.Field{Name: "name", Type: etl.TypeString},
		etl.Field{Name: "score", Type: etl.TypeFloat}, etl.Field{Name: "ok", Type: etl.TypeBool},
		etl.Field{Name: "tags", Type: etl.TypeJSON}, etl.Field{Name: "mixed", Type: etl.TypeJSON},
		etl.Field{Name: "nothing", Type: etl.TypeString}, etl.Field{Name: "extra", Type: etl.TypeInt},
	)
	if !b.Schema.Equal(wantSchema) {
		t.Errorf("schema %v, want %v", b.Schema, wantSchema)
	}
	var rows [][]any
	for i := range b.Len() {
		row := make([]any, len(b.Cols))
		for j := range b.Cols {
			row[j] = b.Cols[j].Value(i)
		}
		rows = append(rows, row)
	}
	want := [][]any{
		{int64(1), "a", 1.0, true, []any{"x"}, json.Number("1"), nil, nil},
		{int64(2), "bé\n", 2.5, false, map[string]any{"k": json.Number("1")}, "one", nil, int64(9)},
		{int64(3), nil, nil, nil, nil, nil, nil, nil},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	lines := []int64{b.Origins[0].Line, b.Origins[1].Line, b.Origins[2].Line}
	if !cmp.Equal(lines, []int64{1, 3, 4}) {
		t.Errorf("lines %v, want [1 3 4]", lines)
	}
	if off, line := d.Position(); off != int64(len(in)) || line != 4 {
		t.Errorf("position %d/%d, want %d/4", off, line, len(in))
	}
}

func TestDecodeRejects(t *testing.T) {
	in := "{\"a\":1}\n{\"a\":\n[1,2]\n\"s\"\n{\"a\":1e999}\n{\"a\":2}\n"
	d, err := NewDecoder(strings.NewReader(in), fileformat.DecodeOptions{File: "x.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(context.Background(), 100)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v", err)
	}
	if b.Len() != 2 || b.Cols[0].Int[0] != 1 || b.Cols[0].Int[1] != 2 {
		t.Errorf("rows: %d, %v", b.Len(), b.Cols[0].Int)
	}
	var got []string
	for _, r := range b.Rejects {
		got = append(got, r.Reason+" | "+r.Value)
		if r.Origin.File != "x.jsonl" || r.Step != "source" {
			t.Errorf("reject origin %+v step %q", r.Origin, r.Step)
		}
	}
	want := []string{
		`line 2: unexpected end of JSON input | {"a":`,
		`line 3: not a JSON object | [1,2]`,
		`line 4: not a JSON object | "s"`,
		`line 5: field "a": number 1e999 out of range | {"a":1e999}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
}

func TestDecodeResumeAndBatches(t *testing.T) {
	in := "\uFEFF{\"n\":1}\n{\"n\":2}\n\n{\"n\":3}\n{\"n\":4}\n"
	opts := fileformat.DecodeOptions{File: "x.jsonl"}
	d, err := NewDecoder(strings.NewReader(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(context.Background(), 2)
	if err != nil || b.Len() != 2 {
		t.Fatalf("first batch: %d rows, err %v", b.Len(), err)
	}
	opts.Offset, opts.Line = d.Position()
	d, err = NewDecoder(strings.NewReader(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err = d.Decode(context.Background(), 10)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v", err)
	}
	if !cmp.Equal(b.Cols[0].Int, []int64{3, 4}) || b.Origins[0].Line != 4 || b.Origins[1].Line != 5 {
		t.Errorf("resumed rows %v origins %+v", b.Cols[0].Int, b.Origins)
	}
}

func TestDecodeLineTooLong(t *testing.T) {
	in := "{\"a\":1}\n{\"a\":\"" + strings.Repeat("x", fileformat.MaxFieldSize+1) + "\"}\n"
	d, err := NewDecoder(strings.NewReader(in), fileformat.DecodeOptions{File: "x.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Decode(context.Background(), 10)
	if err == nil || !strings.Contains(err.Error(), "line 2 is longer than 16 MiB") {
		t.Errorf("err = %v, want a line-too-long error naming line 2", err)
	}
}

// FuzzAppendString checks that the encoder's strings decode back to their
// input (invalid UTF-8 aside, which becomes U+FFFD as in encoding/json).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\", "\n\r\t\x00\x1f", "é€😀", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := appendString(nil, s)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, enc, err)
		}
		// Invalid UTF-8 becomes U+FFFD byte by byte, as with encoding/json.
		std, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if back != want {
			t.Errorf("%q round-trips to %q, want %q", s, back, want)
		}
	})
}
