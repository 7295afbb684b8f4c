package jsonfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// deep returns a record whose field a nests levels-1 arrays: levels in
// all, the record itself the first.
func deep(levels int) string {
	return `{"a":` + strings.Repeat("[", levels-1) + strings.Repeat("]", levels-1) + "}"
}

// TestMaxDepth: a record one level over json.max_depth (default 1,000) is
// rejected naming its line and field; one at the bound loads, and so does
// the rest of the file.
func TestMaxDepth(t *testing.T) {
	for _, tt := range []struct {
		name  string
		limit int
		over  int
	}{{"default", 0, fileformat.DefaultMaxDepth + 1}, {"set", 3, 4}} {
		t.Run(tt.name, func(t *testing.T) {
			in := deep(tt.over-1) + "\n" + deep(tt.over) + "\n"
			opts := fileformat.DecodeOptions{File: "deep.jsonl", JSON: fileformat.JSONOptions{MaxDepth: fileformat.Limit(tt.limit)}}
			d, err := NewDecoder(strings.NewReader(in), opts)
			if err != nil {
				t.Fatal(err)
			}
			b, err := d.Decode(context.Background(), 10)
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			want := `line 2: field "a": nested deeper than ` + map[bool]string{true: "1000", false: "3"}[tt.limit == 0] + " levels (json.max_depth)"
			if b.Len() != 1 || len(b.Rejects) != 1 || b.Rejects[0].Reason != want || b.Rejects[0].Origin.File != "deep.jsonl" {
				t.Fatalf("%d rows, rejects %+v; want 1 row and the reject %q", b.Len(), b.Rejects, want)
			}
			ad, err := NewArrayDecoder(strings.NewReader("["+deep(tt.over-1)+",\n"+deep(tt.over)+"]"), opts)
			if err != nil {
				t.Fatal(err)
			}
			b, err = ad.Decode(context.Background(), 10)
			if !errors.Is(err, io.EOF) || b.Len() != 1 || len(b.Rejects) != 1 || b.Rejects[0].Reason != want {
				t.Fatalf("array: err %v, %d rows, rejects %+v; want 1 row and the reject %q", err, b.Len(), b.Rejects, want)
			}
		})
	}
	if _, err := NewDecoder(strings.NewReader(""), fileformat.DecodeOptions{JSON: fileformat.JSONOptions{MaxDepth: -1}}); err == nil {
		t.Error("a negative json.max_depth is accepted")
	}
}

// TestArrayElementTooLarge: one element of a JSON document over 16 MiB
// fails the file naming its line instead of being held whole in memory.
func TestArrayElementTooLarge(t *testing.T) {
	in := `[{"a":1},` + "\n" + `{"a":"` + strings.Repeat("x", fileformat.MaxFieldSize+1) + `"}]`
	d, err := NewArrayDecoder(bytes.NewReader([]byte(in)), fileformat.DecodeOptions{File: "big.json"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Decode(context.Background(), 10)
	if err == nil || !strings.HasPrefix(err.Error(), "line 2: a value larger than 16 MiB") {
		t.Fatalf("err = %v, want line 2: a value larger than 16 MiB", err)
	}
}

// TestTruncatedArrayIsNotEOF: a document that ends inside its array is an
// error, not the decoder's clean end (which the files source reads as
// io.EOF with a nil batch: found by FuzzJSONArray).
func TestTruncatedArrayIsNotEOF(t *testing.T) {
	for _, in := range []string{"[", `[{"a":1},`, `{"data":[`} {
		d, err := NewArrayDecoder(strings.NewReader(in), fileformat.DecodeOptions{JSON: fileformat.JSONOptions{Records: map[bool]string{true: "data"}[in[0] == '{']}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Decode(context.Background(), 10)
		if err == nil || errors.Is(err, io.EOF) || !strings.HasPrefix(err.Error(), "line 1: ") {
			t.Errorf("%q: err = %v, want a line 1 error that is not io.EOF", in, err)
		}
	}
}
