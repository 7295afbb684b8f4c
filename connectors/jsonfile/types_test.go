package jsonfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// decodeRows decodes in with batches of n and returns each row as text
// (json values as JSON, nulls as <null>), the rejects and each batch's
// schema.
func decodeRows(t *testing.T, in string, n int, offset, line int64) (rows []string, rejects []etl.Reject, schemas []string) {
	t.Helper()
	d, err := NewDecoder(strings.NewReader(in), fileformat.DecodeOptions{File: "chat.jsonl", Offset: offset, Line: line})
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := d.Decode(context.Background(), n)
		if b != nil {
			if cerr := b.Check(); cerr != nil {
				t.Fatal(cerr)
			}
			schemas = append(schemas, b.Schema.String())
			for i := range b.Len() {
				var row []string
				for j := range b.Cols {
					row = append(row, b.Schema.Field(j).Name+"="+cellText(b, i, j))
				}
				rows = append(rows, strings.Join(row, " "))
			}
			rejects = append(rejects, b.Rejects...)
		}
		if errors.Is(err, io.EOF) {
			return rows, rejects, schemas
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestFieldKeepsItsTypeAcrossBatches: each batch inferred its own types,
// so a field that was a string in one batch and an object in a later one
// reached the targets as string then json: SQLite and MariaDB stored
// alpha then "gamma" (JSON quotes), PostgreSQL's COPY failed. A field has
// one type for the whole file, whatever the batch size and wherever a
// resumed read starts: the type its values in the file's first 1,000
// records give (strings and objects mixed: json for every row). A later
// value of another kind converts when nothing is lost, else its row is
// quarantined naming the field.
func TestFieldKeepsItsTypeAcrossBatches(t *testing.T) {
	mixed := `{"v":"alpha"}` + "\n" + `{"v":{"x":1}}` + "\n" + `{"v":"gamma"}` + "\n"
	for _, n := range []int{1, 2, 10} {
		rows, _, schemas := decodeRows(t, mixed, n, 0, 0)
		if diff := cmp.Diff([]string{`v="alpha"`, `v={"x":1}`, `v="gamma"`}, rows); diff != "" || schemas[0] != "v json" {
			t.Errorf("batches of %d: schemas %q, rows (-want +got):\n%s", n, schemas, diff)
		}
	}

	var b strings.Builder
	for i := range typeSample {
		fmt.Fprintf(&b, `{"id":%d,"v":"s%d","n":%d,"o":{"k":%d},"f":%d.5}`+"\n", i, i, i, i, i)
	}
	b.WriteString(`{"id":1000,"v":{"x":1},"n":1000,"o":"gamma","f":3}` + "\n") // converts: object → text, string → json, int → float
	b.WriteString(`{"id":1001,"v":7,"n":"four","o":[1],"f":4.5}` + "\n")       // n is an int: quarantined
	b.WriteString(`{"id":1002,"v":true,"n":5,"o":null,"f":null}` + "\n")
	for _, n := range []int{7, 500, 5000} {
		rows, rejects, schemas := decodeRows(t, b.String(), n, 0, 0)
		for _, s := range schemas {
			if s != "id int, v string, n int, o json, f float" {
				t.Fatalf("batches of %d: schema %q", n, s)
			}
		}
		want := []string{
			`id=1000 v={"x":1} n=1000 o="gamma" f=3`,
			`id=1002 v=true n=5 o=<null> f=<null>`,
		}
		if diff := cmp.Diff(want, rows[typeSample:]); diff != "" {
			t.Errorf("batches of %d: rows after the sample (-want +got):\n%s", n, diff)
		}
		if len(rejects) != 1 || rejects[0].Origin.String() != "chat.jsonl:1002" || rejects[0].Field != "n" ||
			rejects[0].Reason != "n is int (from its first values in the file), got a string" {
			t.Errorf("batches of %d: rejects %+v", n, rejects)
		}
	}
	// A read resumed after the sample has the file's types too.
	offset := int64(strings.Index(b.String(), `{"id":1000`))
	rows, _, schemas := decodeRows(t, b.String(), 10, offset, typeSample)
	if schemas[0] != "id int, v string, n int, o json, f float" || len(rows) != 2 {
		t.Errorf("resumed: schemas %q, rows %q", schemas, rows)
	}
}
