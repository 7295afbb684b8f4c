package csvfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// Small bounds, so that the fuzzer reaches them.
const (
	fuzzMaxField   = 64
	fuzzMaxColumns = 8
	fuzzMaxRecord  = 256
)

// FuzzCSVDecoder decodes arbitrary bytes with small bounds and checks what
// the decoder promises: a failure is a bound naming its line; otherwise
// every reject names the file and its line, no row is wider or longer than
// the bounds, batch size and a resume from the position after the first
// batch change nothing, and, for input without quotes (checked against a
// plain line split), rows and rejects account for every record.
func FuzzCSVDecoder(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n3\n\"x\"y,z\n"), uint8(0), true, uint8(2))
	f.Add([]byte("a;b;c\r\n1;2;3\r\n;;\r\n"), uint8(1), true, uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, delimIndex uint8, header bool, batch uint8) {
		delim := [...]string{",", ";", "tab", "|"}[delimIndex%4]
		opts := fileformat.DecodeOptions{File: "in.csv", CSV: fileformat.CSVOptions{
			Delimiter: delim, Header: header,
			MaxFieldSize: fuzzMaxField, MaxColumns: fuzzMaxColumns, MaxRecordSize: fuzzMaxRecord,
		}}
		batchSize := int(batch%16) + 1
		full, err := decodeAll(t, string(in), opts, 10000)
		if err != nil {
			var big *tooLargeError
			if !errors.As(err, &big) && !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q is neither a bound nor names a line", err)
			}
			if _, err2 := decodeAll(t, string(in), opts, batchSize); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("batch size %d: error %v, with 10000: %v", batchSize, err2, err)
			}
			return
		}
		lines := int64(bytes.Count(in, []byte{'\n'})) + 1
		for _, r := range full.Rejects {
			if r.Origin.File != "in.csv" || r.Origin.Line < 1 || r.Origin.Line > lines {
				t.Fatalf("reject origin %+v: want in.csv, a line in 1..%d", r.Origin, lines)
			}
			if prefix := fmt.Sprintf("line %d: ", r.Origin.Line); !strings.HasPrefix(r.Reason, prefix) {
				t.Fatalf("reject reason %q does not start with %q", r.Reason, prefix)
			}
		}
		checkLines(t, full)
		for i, row := range full.Rows {
			if len(row) > fuzzMaxColumns {
				t.Fatalf("line %d: %d fields, over max_columns %d", full.Lines[i], len(row), fuzzMaxColumns)
			}
			for _, v := range row {
				if s, ok := v.(string); ok && len(s) > fuzzMaxField {
					t.Fatalf("line %d: a field of %d bytes, over max_field_size %d", full.Lines[i], len(s), fuzzMaxField)
				}
			}
		}
		small, err := decodeAll(t, string(in), opts, batchSize)
		if err != nil {
			t.Fatalf("batch size %d: %v (none with 10000)", batchSize, err)
		}
		if diff := cmp.Diff(full, small); diff != "" {
			t.Fatalf("batch size %d vs 10000 (-10000 +%d):\n%s", batchSize, batchSize, diff)
		}
		checkResume(t, in, opts, batchSize, full)
		if !bytes.ContainsRune(in, '"') {
			checkAccounting(t, in, opts, full)
		}
	})
}

// checkLines: row lines and reject lines each rise, and no line is both.
func checkLines(t *testing.T, d decoded) {
	seen := map[int64]bool{}
	for i, l := range d.Lines {
		if i > 0 && l <= d.Lines[i-1] {
			t.Fatalf("row lines not rising: %v", d.Lines)
		}
		seen[l] = true
	}
	for i, r := range d.Rejects {
		if i > 0 && r.Origin.Line <= d.Rejects[i-1].Origin.Line {
			t.Fatalf("reject lines not rising at %d", r.Origin.Line)
		}
		if seen[r.Origin.Line] {
			t.Fatalf("line %d is both a row and a reject", r.Origin.Line)
		}
	}
}

// checkResume reads one batch, then a new decoder from its position: the
// two together must give what one decoder gave.
func checkResume(t *testing.T, in []byte, opts fileformat.DecodeOptions, batchSize int, full decoded) {
	d, err := NewDecoder(bytes.NewReader(in), opts)
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	b, err := d.Decode(context.Background(), batchSize)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("first batch: %v", err)
	}
	first := b.Len()
	firstRejects := len(b.Rejects)
	opts.Offset, opts.Line = d.Position()
	rest, err := decodeAll(t, string(in), opts, 10000)
	if err != nil {
		t.Fatalf("resume at offset %d line %d: %v", opts.Offset, opts.Line, err)
	}
	if diff := cmp.Diff(full.Rows[first:], rest.Rows, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("resumed rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(full.Rejects[firstRejects:], rest.Rejects, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("resumed rejects (-want +got):\n%s", diff)
	}
}

// checkAccounting splits quote-free input into lines and fields by hand:
// every non-blank line after the header is a record (a blank one too in a
// one-column file), a row when it has the header's (or the first
// well-formed record's) width, else a reject (as is a record wider than
// max_columns).
func checkAccounting(t *testing.T, in []byte, opts fileformat.DecodeOptions, got decoded) {
	delim, _ := opts.CSV.DelimiterByte()
	if delim == 0 {
		delim = '\t'
	}
	text := strings.TrimPrefix(string(in), "\uFEFF")
	var records [][]string
	for i, line := range strings.Split(text, "\n") {
		if i == strings.Count(text, "\n") && line == "" {
			break // after the last line break
		}
		line = strings.TrimSuffix(line, "\r")
		records = append(records, strings.Split(line, string(delim)))
	}
	blank := func(r []string) bool { return len(r) == 1 && r[0] == "" }
	width := -1
	if opts.CSV.Header {
		for len(records) > 0 && blank(records[0]) {
			records = records[1:]
		}
		if len(records) == 0 {
			return
		}
		width = len(records[0])
		records = records[1:]
	}
	var rows, rejects int
	for _, r := range records {
		if len(r) > fuzzMaxColumns {
			rejects++
			continue
		}
		if width == -1 && !blank(r) {
			width = len(r)
		}
		if blank(r) && width != 1 {
			continue
		}
		if len(r) == width {
			rows++
		} else {
			rejects++
		}
	}
	if rows != len(got.Rows) || rejects != len(got.Rejects) {
		t.Fatalf("%d rows and %d rejects, want %d and %d", len(got.Rows), len(got.Rejects), rows, rejects)
	}
}
