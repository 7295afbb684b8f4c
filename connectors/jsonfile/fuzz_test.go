package jsonfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// fuzzMaxDepth is small, so that the fuzzer reaches it.
const fuzzMaxDepth = 4

// nesting is how deeply objects and arrays nest in valid JSON text.
func nesting(text []byte) int {
	dec := json.NewDecoder(bytes.NewReader(text))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// fileResult is what a decoder made of a whole file.
type fileResult struct {
	rowLines []int64
	rejects  []etl.Reject
}

func readFile(t *testing.T, d fileformat.Decoder, batch int) (fileResult, error) {
	var out fileResult
	for {
		b, err := d.Decode(context.Background(), batch)
		if err != nil && !errors.Is(err, io.EOF) {
			return out, err
		}
		if cerr := b.Check(); cerr != nil {
			t.Fatalf("batch check: %v", cerr)
		}
		for i := range b.Len() {
			out.rowLines = append(out.rowLines, b.Origins[i].Line)
		}
		out.rejects = append(out.rejects, b.Rejects...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
	}
}

// checkRejects: each reject names the file and a line, and its reason
// starts with that line.
func checkRejects(t *testing.T, rejects []etl.Reject, file string, lines int64) {
	for _, r := range rejects {
		if r.Origin.File != file || r.Origin.Line < 1 || r.Origin.Line > lines {
			t.Fatalf("reject origin %+v: want %s, a line in 1..%d", r.Origin, file, lines)
		}
		if prefix := fmt.Sprintf("line %d: ", r.Origin.Line); !strings.HasPrefix(r.Reason, prefix) {
			t.Fatalf("reject reason %q does not start with %q", r.Reason, prefix)
		}
	}
}

// FuzzJSONLFile decodes a whole JSON Lines file with a small json.max_depth:
// every non-blank line is a row or a reject naming file and line; it is a
// row exactly when encoding/json reads it as an object no deeper than the
// bound; batch size and a resume from the first batch's position change no
// line's fate.
func FuzzJSONLFile(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n[1]\n{\"b\":{\"c\":[[[1]]]}}\r\n{bad\n"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, batch uint8) {
		opts := fileformat.DecodeOptions{File: "in.jsonl", JSON: fileformat.JSONOptions{MaxDepth: fuzzMaxDepth}}
		newDecoder := func(opts fileformat.DecodeOptions) *Decoder {
			d, err := NewDecoder(bytes.NewReader(in), opts)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		full, err := readFile(t, newDecoder(opts), 10000)
		if err != nil {
			t.Fatalf("%v (lines are short: nothing may fail the file)", err)
		}
		lines := bytes.Split(bytes.TrimPrefix(in, []byte("\uFEFF")), []byte{'\n'})
		checkRejects(t, full.rejects, "in.jsonl", int64(len(lines)))
		fate := map[int64]string{}
		for _, l := range full.rowLines {
			fate[l] = "row"
		}
		for _, r := range full.rejects {
			if fate[r.Origin.Line] != "" {
				t.Fatalf("line %d is a row and a reject", r.Origin.Line)
			}
			fate[r.Origin.Line] = "reject"
		}
		for i, line := range lines {
			n := int64(i + 1)
			line = bytes.TrimSuffix(line, []byte{'\r'})
			if len(bytes.TrimSpace(line)) == 0 {
				if fate[n] != "" {
					t.Fatalf("blank line %d is a %s", n, fate[n])
				}
				continue
			}
			var obj map[string]json.RawMessage
			want := "reject"
			if json.Unmarshal(line, &obj) == nil && obj != nil && nesting(line) <= fuzzMaxDepth {
				want = "row"
			}
			if fate[n] != want && !(want == "row" && fate[n] == "reject" && numberOutOfRange(full.rejects, n)) {
				t.Fatalf("line %d %q is a %q, want a %s", n, line, fate[n], want)
			}
		}
		small, err := readFile(t, newDecoder(opts), int(batch%8)+1)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(small) != fmt.Sprint(full) {
			t.Fatalf("batch size %d: %v, with 10000: %v", batch%8+1, small, full)
		}
		d := newDecoder(opts)
		first, err := d.Decode(context.Background(), int(batch%8)+1)
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		opts.Offset, opts.Line = d.Position()
		rest, err := readFile(t, newDecoder(opts), 10000)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(rest.rowLines) != fmt.Sprint(full.rowLines[first.Len():]) || len(rest.rejects) != len(full.rejects)-len(first.Rejects) {
			t.Fatalf("resumed at line %d: rows %v, rejects %d; want %v, %d", opts.Line, rest.rowLines, len(rest.rejects), full.rowLines[first.Len():], len(full.rejects)-len(first.Rejects))
		}
	})
}

// numberOutOfRange: the decoder rejects a number no float64 holds, which
// encoding/json reads into a json.RawMessage.
func numberOutOfRange(rejects []etl.Reject, line int64) bool {
	for _, r := range rejects {
		if r.Origin.Line == line && strings.HasSuffix(r.Reason, "out of range") {
			return true
		}
	}
	return false
}

// FuzzJSONArray decodes a JSON document (an array of records at the top or
// under "data") with a small json.max_depth: a failure names a line; a
// document encoding/json reads must load, each element a row (an object no
// deeper than the bound) or a reject naming file and line.
func FuzzJSONArray(f *testing.F) {
	f.Add([]byte("[{\"a\":1},\n2,\n{\"b\":[[[[1]]]]}]"), false)
	f.Add([]byte("{\"x\":[1],\"data\":[{\"a\":\"b\"}]}"), true)
	f.Fuzz(func(t *testing.T, in []byte, underData bool) {
		opts := fileformat.DecodeOptions{File: "in.json", JSON: fileformat.JSONOptions{MaxDepth: fuzzMaxDepth}}
		if underData {
			opts.JSON.Records = "data"
		}
		d, err := NewArrayDecoder(bytes.NewReader(in), opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readFile(t, d, 3)
		var elements []json.RawMessage
		var doc struct {
			Data []json.RawMessage `json:"data"`
		}
		valid := false
		if underData {
			valid = json.Unmarshal(in, &doc) == nil && doc.Data != nil
			elements = doc.Data
		} else {
			valid = json.Unmarshal(bytes.TrimPrefix(in, []byte("\uFEFF")), &elements) == nil && elements != nil
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") && !strings.HasPrefix(err.Error(), "records path ") {
				t.Fatalf("error %q names no line", err)
			}
			if valid && !underData {
				t.Fatalf("encoding/json reads the document, the decoder fails: %v", err)
			}
			return
		}
		if !valid {
			return // trailing text after the array is not read
		}
		checkRejects(t, got.rejects, "in.json", int64(bytes.Count(in, []byte{'\n'}))+1)
		wantRows := 0
		for _, e := range elements {
			var obj map[string]json.RawMessage
			if json.Unmarshal(e, &obj) == nil && obj != nil && nesting(e) <= fuzzMaxDepth {
				wantRows++
			}
		}
		if len(got.rowLines)+len(got.rejects) != len(elements) {
			t.Fatalf("%d rows and %d rejects for %d elements", len(got.rowLines), len(got.rejects), len(elements))
		}
		if len(got.rowLines) != wantRows && !numberOutOfRangeAny(got.rejects) {
			t.Fatalf("%d rows, want %d", len(got.rowLines), wantRows)
		}
	})
}

func numberOutOfRangeAny(rejects []etl.Reject) bool {
	for _, r := range rejects {
		if strings.HasSuffix(r.Reason, "out of range") {
			return true
		}
	}
	return false
}
