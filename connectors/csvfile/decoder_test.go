package csvfile

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// decoded is everything a decoder produced, in a comparable form.
type decoded struct {
	Names   []string
	Rows    [][]any // string or nil for null
	Lines   []int64
	Rejects []etl.Reject
}

func decodeAll(t *testing.T, input string, opts fileformat.DecodeOptions, batchSize int) (decoded, error) {
	t.Helper()
	if opts.File == "" {
		opts.File = "in.csv"
	}
	if opts.CSV.Delimiter == "" {
		opts.CSV.Delimiter = ","
	}
	d, err := NewDecoder(strings.NewReader(input), opts)
	if err != nil {
		return decoded{}, err
	}
	var out decoded
	for {
		b, err := d.Decode(context.Background(), batchSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return out, err
		}
		if cerr := b.Check(); cerr != nil {
			t.Fatalf("batch check: %v", cerr)
		}
		out.add(b)
		for _, o := range b.Origins {
			if o.File != opts.File {
				t.Errorf("origin file %q, want %q", o.File, opts.File)
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
	}
}

// add appends b's rows, lines and rejects.
func (out *decoded) add(b *etl.Batch) {
	out.Names = b.Schema.Names()
	for i := range b.Len() {
		row := make([]any, len(b.Cols))
		for j := range b.Cols {
			row[j] = b.Cols[j].Value(i)
			if s, ok := row[j].(string); ok {
				row[j] = strings.Clone(s) // the batch's text is read into again once it is released
			}
		}
		out.Rows = append(out.Rows, row)
		out.Lines = append(out.Lines, b.Origins[i].Line)
	}
	out.Rejects = append(out.Rejects, b.Rejects...)
}

func TestDecode(t *testing.T) {
	header := fileformat.CSVOptions{Delimiter: ",", Header: true}
	tests := []struct {
		name  string
		in    string
		csv   fileformat.CSVOptions
		want  decoded
		isErr bool
	}{
		{
			name: "plain with trailing newline",
			in:   "a,b\n1,2\n3,4\n",
			want: decoded{Names: []string{"a", "b"}, Rows: [][]any{{"1", "2"}, {"3", "4"}}, Lines: []int64{2, 3}},
		},
		{
			name: "no trailing newline",
			in:   "a,b\n1,2\n3,4",
			want: decoded{Names: []string{"a", "b"}, Rows: [][]any{{"1", "2"}, {"3", "4"}}, Lines: []int64{2, 3}},
		},
		{
			name: "quoted commas",
			in:   "a,b\n\"x, y\",\"Company 1, Inc.\"\n",
			want: decoded{Names: []string{"a", "b"}, Rows: [][]any{{"x, y", "Company 1, Inc."}}, Lines: []int64{2}},
		},
		{
			name: "CR LF inside quotes kept byte for byte",
			in:   "a,b\r\n\"line1\r\nline2\",\"lf\nonly\"\r\nnext,row\r\n",
			want: decoded{Names: []string{"a", "b"}, Rows: [][]any{{"line1\r\nline2", "lf\nonly"}, {"next", "row"}}, Lines: []int64{2, 5}},
		},
		{
			name: "doubled quotes",
			in:   "a\n\"say \"\"hi\"\"\"\n\"\"\"\"\n",
			want: decoded{Names: []string{"a"}, Rows: [][]any{{`say "hi"`}, {`"`}}, Lines: []int64{2, 3}},
		},
		{
			name: "BOM stripped",
			in:   "\uFEFFid,name\n1,x\n",
			want: decoded{Names: []string{"id", "name"}, Rows: [][]any{{"1", "x"}}, Lines: []int64{2}},
		},
		{
			name: "CRLF line ends",
			in:   "a,b\r\n1,2\r\n3,\r\n",
			want: decoded{Names: []string{"a", "b"}, Rows: [][]any{{"1", "2"}, {"3", nil}}, Lines: []int64{2, 3}},
		},
		{
			name: "empty is null, quoted empty is empty string",
			in:   "a,b,c\n,\"\",x\n\"\",,\n",
			want: decoded{Names: []string{"a", "b", "c"}, Rows: [][]any{{nil, "", "x"}, {"", nil, nil}}, Lines: []int64{2, 3}},
		},
		{
			name: "blank lines skipped",
			in:   "a,b\n\n1,2\n\r\n3,4\n\n",
			want: decoded{Names: []string{"a", "b"}, Rows: [][]any{{"1", "2"}, {"3", "4"}}, Lines: []int64{3, 5}},
		},
		{
			name: "one column: blank line is null",
			in:   "a\nx\n\n\"\"\n",
			want: decoded{Names: []string{"a"}, Rows: [][]any{{"x"}, {nil}, {""}}, Lines: []int64{2, 3, 4}},
		},
		{
			name: "bare quote in unquoted field is literal",
			in:   "h\n5'10\"\n",
			want: decoded{Names: []string{"h"}, Rows: [][]any{{`5'10"`}}, Lines: []int64{2}},
		},
		{
			name: "wrong field count rejected, rest loads",
			in:   "a,b\n1,2\n1,2,3\n\"multi\nline\"\n4,5\n",
			want: decoded{
				Names: []string{"a", "b"}, Rows: [][]any{{"1", "2"}, {"4", "5"}}, Lines: []int64{2, 6},
				Rejects: []etl.Reject{
					{Step: "source", Origin: etl.Origin{File: "in.csv", Line: 3}, Reason: "line 3: 3 fields, header has 2", Value: "1,2,3"},
					{Step: "source", Origin: etl.Origin{File: "in.csv", Line: 4}, Reason: "line 4: 1 fields, header has 2", Value: "\"multi\nline\""},
				},
			},
		},
		{
			name: "text after closing quote rejected",
			in:   "a,b\n\"x\"y,2\n3,4\n",
			want: decoded{
				Names: []string{"a", "b"}, Rows: [][]any{{"3", "4"}}, Lines: []int64{3},
				Rejects: []etl.Reject{{Step: "source", Origin: etl.Origin{File: "in.csv", Line: 2}, Reason: `line 2: field 1: unexpected 'y' after the closing quote`, Value: `"x"y,2`}},
			},
		},
		{
			name: "unterminated quote at EOF rejected",
			in:   "a,b\n1,2\n3,\"open\n4,5\n",
			want: decoded{
				Names: []string{"a", "b"}, Rows: [][]any{{"1", "2"}}, Lines: []int64{2},
				Rejects: []etl.Reject{{Step: "source", Origin: etl.Origin{File: "in.csv", Line: 3}, Reason: "line 3: field 2: quoted field not closed before the end of the file", Value: "3,\"open\n4,5"}},
			},
		},
		{
			name: "duplicate and empty header names made unique",
			in:   "id,id,,col_3\n1,2,3,4\n",
			want: decoded{Names: []string{"id", "id_2", "col_3_2", "col_3"}, Rows: [][]any{{"1", "2", "3", "4"}}, Lines: []int64{2}},
		},
		{
			name: "header only",
			in:   "a,b\n",
			want: decoded{Names: []string{"a", "b"}},
		},
		{
			name: "empty file",
			in:   "",
			want: decoded{Names: []string{}},
		},
		{
			name: "no header",
			in:   "1,2\n3,4\n5\n",
			csv:  fileformat.CSVOptions{Delimiter: ",", Header: false},
			want: decoded{
				Names: []string{"col_1", "col_2"}, Rows: [][]any{{"1", "2"}, {"3", "4"}}, Lines: []int64{1, 2},
				Rejects: []etl.Reject{{Step: "source", Origin: etl.Origin{File: "in.csv", Line: 3}, Reason: "line 3: 1 fields, the first record has 2", Value: "5"}},
			},
		},
		{
			name: "semicolon",
			in:   "a;b\n\"x;y\";2\n",
			csv:  fileformat.CSVOptions{Delimiter: ";", Header: true},
			want: decoded{Names: []string{"a", "b"}, Rows: [][]any{{"x;y", "2"}}, Lines: []int64{2}},
		},
		{
			name: "auto delimiter picks tab",
			in:   "a\tb\tc,d\n1\t2\t3,4\n",
			csv:  fileformat.CSVOptions{Delimiter: "auto", Header: true},
			want: decoded{Names: []string{"a", "b", "c,d"}, Rows: [][]any{{"1", "2", "3,4"}}, Lines: []int64{2}},
		},
		{
			name: "CR before end of input ends the line",
			in:   "a\nx\r",
			want: decoded{Names: []string{"a"}, Rows: [][]any{{"x"}}, Lines: []int64{2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := fileformat.DecodeOptions{CSV: header}
			if tc.csv.Delimiter != "" {
				opts.CSV = tc.csv
			}
			for _, batch := range []int{1, 2, 1000} {
				got, err := decodeAll(t, tc.in, opts, batch)
				if err != nil {
					t.Fatalf("batch size %d: %v", batch, err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("batch size %d (-want +got):\n%s", batch, diff)
				}
			}
		})
	}
}

// TestDecodeSmallReads feeds the input one byte per read, so every state
// of the scanner meets the end of its buffer.
func TestDecodeSmallReads(t *testing.T) {
	in := "\uFEFFa,b\r\n\"x\r\ny\",\"\"\"q\"\"\"\r\n,\"\"\r\n3,4"
	d, err := NewDecoder(readSeeker{io.Reader(&oneByteReader{s: in})}, fileformat.DecodeOptions{File: "f", CSV: fileformat.DefaultCSVOptions()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(context.Background(), 100)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want io.EOF", err)
	}
	var got [][]any
	for i := range b.Len() {
		got = append(got, []any{b.Cols[0].Value(i), b.Cols[1].Value(i)})
	}
	want := [][]any{{"x\r\ny", `"q"`}, {nil, ""}, {"3", "4"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if off, _ := d.Position(); off != int64(len(in)) {
		t.Errorf("offset %d, want %d", off, len(in))
	}
}

type oneByteReader struct{ s string }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	p[0] = r.s[0]
	r.s = r.s[1:]
	return 1, nil
}

// readSeeker makes a reader an io.ReadSeeker for decoders that never seek
// (offset 0).
type readSeeker struct{ io.Reader }

func (readSeeker) Seek(int64, int) (int64, error) { return 0, errors.New("no seeking") }

func TestDecodeFieldTooLarge(t *testing.T) {
	in := "a,b\n1,\"" + strings.Repeat("x", fileformat.MaxFieldSize+10)
	_, err := decodeAll(t, in, fileformat.DecodeOptions{CSV: fileformat.DefaultCSVOptions()}, 10)
	if err == nil || !strings.Contains(err.Error(), "line 2: field 2 is larger than 16 MiB") {
		t.Fatalf("err = %v, want a field-too-large error naming line 2 field 2", err)
	}
}

func TestDecodeResume(t *testing.T) {
	in := "\uFEFFid,note\n1,a\n2,\"b\nb\"\n3,c\n4,\"d\r\nd\"\n5,e\n"
	opts := fileformat.DecodeOptions{File: "f.csv", CSV: fileformat.DefaultCSVOptions()}
	full, err := decodeAll(t, in, opts, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Read two batches of two, then resume from the position.
	d, err := NewDecoder(strings.NewReader(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := d.Decode(context.Background(), 2); err != nil {
			t.Fatal(err)
		}
	}
	opts.Offset, opts.Line = d.Position()
	if opts.Line != 7 {
		t.Errorf("line after 4 rows = %d, want 7", opts.Line)
	}
	rest, err := decodeAll(t, in, opts, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := decoded{Names: full.Names, Rows: full.Rows[4:], Lines: full.Lines[4:]}
	if diff := cmp.Diff(want, rest); diff != "" {
		t.Errorf("resumed (-want +got):\n%s", diff)
	}
}

// FuzzCSV checks the scanner against encoding/csv on inputs without CR
// (encoding/csv rewrites CR LF in quotes, which nightjar keeps): wherever
// encoding/csv reads the input without error, both give the same fields.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "\"x, y\",\"a\"\"b\"\n", "a,\"multi\nline\"\nc,d", "\n\n,\n", `"",,""`, "x\"y,z\n",
		"\"unterminated\n", "\"a\"b,c\n", "é,ü\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if strings.ContainsRune(in, '\r') || strings.HasPrefix(in, "\uFEFF") {
			return
		}
		r := csv.NewReader(strings.NewReader(in))
		r.FieldsPerRecord = -1
		want, err := r.ReadAll()
		if err != nil {
			return
		}
		sc := newScanner(strings.NewReader(in), ',', 0, 0)
		var got [][]string
		var rec record
		var dst []byte
		for {
			dst, err = sc.readRecord(dst[:0], &rec)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("readRecord: %v", err)
			}
			if rec.bad != "" {
				t.Fatalf("line %d rejected (%s), encoding/csv accepts it", rec.line, rec.bad)
			}
			if rec.blank() {
				continue // encoding/csv skips empty lines
			}
			fields := make([]string, len(rec.fields))
			for i, f := range rec.fields {
				fields[i] = string(sc.text(dst, f))
			}
			got = append(got, fields)
		}
		if sc.offset() != int64(len(in)) {
			t.Errorf("offset %d at the end, want %d", sc.offset(), len(in))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("records (-encoding/csv +scanner):\n%s", diff)
		}
	})
}

// TestDefaultDelimiterIsSniffed: with the default options a ";"-separated
// export loads as its columns (not one column named "id;name"), the choice
// is logged, and a file with no candidate or a tie reads as ",".
func TestDefaultDelimiterIsSniffed(t *testing.T) {
	tests := []struct {
		name, in  string
		wantNames []string
		wantLog   string
	}{
		{"semicolon export", "id;name;score\n1;Ann;3,5\n", []string{"id", "name", "score"}, `in.csv: csv delimiter semicolon, detected`},
		{"tab", "id\tname\n1\tAnn\n", []string{"id", "name"}, `csv delimiter tab,`},
		{"comma", "id,name\n1,Ann\n", []string{"id", "name"}, `csv delimiter comma,`},
		{"one column", "id\n1\n", []string{"id"}, `csv delimiter comma,`},
		{"tie goes to comma", "a;b,c\n1;2,3\n", []string{"a;b", "c"}, `csv delimiter comma,`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			opts := fileformat.DecodeOptions{CSV: fileformat.DefaultCSVOptions(), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			got, err := decodeAll(t, tc.in, opts, 10)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantNames, got.Names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, logs.String())
			}
		})
	}
}
