package jsonfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// TestKeysAgainstEncodingJSON searches objects whose keys repeat in order
// or not (the parser takes a key equal to the one the last object had at
// its place without scanning it), among keys that are prefixes of others,
// keys written with escapes (one of them the same key as a plain one) and
// keys that cannot be written without one: each row's values must be the
// ones encoding/json finds under each key, a key absent from a line null.
func TestKeysAgainstEncodingJSON(t *testing.T) {
	// Written keys; several name the same field ("ab" and "a\u0062").
	written := []string{`"a"`, `"ab"`, `"a\u0062"`, `"a\"b"`, `"é"`, `" a"`, `"a\\"`, `"abc"`, `"b"`}
	rapid.Check(t, func(rt *rapid.T) {
		var in bytes.Buffer
		lines := rapid.IntRange(1, 30).Draw(rt, "lines")
		var order []int
		for range lines {
			if len(order) == 0 || !rapid.Bool().Draw(rt, "same keys") {
				order = rapid.Permutation(rapid.Just([]int{0, 1, 2, 3, 4, 5, 6, 7, 8}).Draw(rt, "keys")).Draw(rt, "order")
				order = order[:rapid.IntRange(0, len(order)).Draw(rt, "n keys")]
			}
			in.WriteByte('{')
			seen := map[string]bool{}
			first := true
			for _, k := range order {
				var name string
				_ = json.Unmarshal([]byte(written[k]), &name)
				if seen[name] { // one key once per object: the same field written twice is another test
					continue
				}
				seen[name] = true
				if !first {
					in.WriteByte(',')
				}
				first = false
				v, _ := json.Marshal(rapid.StringMatching(`[a-z"\\]{0,3}`).Draw(rt, "value"))
				in.WriteString(written[k] + rapid.SampledFrom([]string{":", " : "}).Draw(rt, "colon") + string(v))
			}
			in.WriteString("}\n")
		}
		d, err := NewDecoder(bytes.NewReader(in.Bytes()), fileformat.DecodeOptions{File: "k.jsonl"})
		if err != nil {
			rt.Fatal(err)
		}
		var got []map[string]any
		for {
			b, err := d.Decode(context.Background(), rapid.IntRange(1, 8).Draw(rt, "batch"))
			if err != nil && !errors.Is(err, io.EOF) {
				rt.Fatal(err)
			}
			if len(b.Rejects) > 0 {
				rt.Fatalf("rejected: %v", b.Rejects)
			}
			for i := range b.Len() {
				row := map[string]any{}
				for j, f := range b.Schema.Fields() {
					if v, ok := b.Cols[j].Text(i); ok {
						row[f.Name] = v
					}
				}
				got = append(got, row)
			}
			if errors.Is(err, io.EOF) {
				break
			}
		}
		var want []map[string]any
		for _, line := range bytes.Split(bytes.TrimSuffix(in.Bytes(), []byte{'\n'}), []byte{'\n'}) {
			var obj map[string]any
			if err := json.Unmarshal(line, &obj); err != nil {
				rt.Fatal(err)
			}
			want = append(want, obj)
		}
		if len(got) != len(want) {
			rt.Fatalf("%d rows, want %d", len(got), len(want))
		}
		for i := range want {
			if len(got[i]) != len(want[i]) {
				rt.Fatalf("input %q: row %d: %v, encoding/json %v", in.String(), i+1, got[i], want[i])
			}
			for k, v := range want[i] {
				if got[i][k] != v {
					rt.Fatalf("input %q: row %d, key %q: %v, encoding/json %v", in.String(), i+1, k, got[i][k], v)
				}
			}
		}
	})
}
