package fileformat

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDelimiterByte(t *testing.T) {
	tests := []struct {
		in    string
		want  byte
		isErr bool
	}{
		{",", ',', false}, {";", ';', false}, {"tab", '\t', false}, {"\t", '\t', false},
		{"auto", 0, false}, {";;", 0, true}, {"", 0, true}, {`"`, 0, true}, {"\n", 0, true}, {"é", 0, true},
	}
	for _, tc := range tests {
		got, err := CSVOptions{Delimiter: tc.in}.DelimiterByte()
		if (err != nil) != tc.isErr || got != tc.want {
			t.Errorf("DelimiterByte(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.isErr)
		}
	}
}

// TestCSVLimits: the CSV bounds take their defaults, and one over
// MaxCSVBound (the decoder keeps text positions in 32 bits) or negative
// is refused naming its key.
func TestCSVLimits(t *testing.T) {
	field, columns, record, err := CSVOptions{}.Limits()
	if err != nil || field != MaxFieldSize || columns != DefaultMaxColumns || record != DefaultMaxRecordSize {
		t.Errorf("defaults: %d, %d, %d, %v", field, columns, record, err)
	}
	if _, _, record, err := (CSVOptions{MaxFieldSize: MaxCSVBound, MaxRecordSize: MaxCSVBound}).Limits(); err != nil || record != MaxCSVBound {
		t.Errorf("at the bound: record %d, %v", record, err)
	}
	for key, o := range map[string]CSVOptions{
		"csv.max_field_size":  {MaxFieldSize: MaxCSVBound + 1},
		"csv.max_record_size": {MaxRecordSize: MaxCSVBound + 1},
		"csv.max_columns":     {MaxColumns: -1},
	} {
		if _, _, _, err := o.Limits(); err == nil || !strings.HasPrefix(err.Error(), key+" ") {
			t.Errorf("%s out of bounds: %v", key, err)
		}
	}
}

func TestRejectValue(t *testing.T) {
	if got := RejectValue([]byte("a,b\r\n")); got != "a,b" {
		t.Errorf("line break kept: %q", got)
	}
	long := strings.Repeat("é", MaxRejectValue) // 2 bytes each
	got := RejectValue([]byte(long))
	if !utf8.ValidString(got) || len(got) > MaxRejectValue+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("truncated value: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

type failingWriter struct{ writes int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.writes++
	return 0, errors.New("disk full")
}

func TestOutputWritesInChunksAndNamesTheFile(t *testing.T) {
	var sink bytes.Buffer
	o := Output{W: &sink, File: "out/leads.csv"}
	o.Buf = append(o.Buf, "a,b\n"...)
	if err := o.FlushIfFull(); err != nil || sink.Len() != 0 {
		t.Fatalf("FlushIfFull below FlushSize wrote %d bytes (err %v)", sink.Len(), err)
	}
	o.Buf = append(o.Buf, bytes.Repeat([]byte("x"), FlushSize)...)
	if err := o.FlushIfFull(); err != nil || sink.Len() != FlushSize+4 || len(o.Buf) != 0 {
		t.Fatalf("FlushIfFull at FlushSize: wrote %d, %d left, err %v", sink.Len(), len(o.Buf), err)
	}
	fw := &failingWriter{}
	o = Output{W: fw, File: "out/leads.csv", Buf: []byte("row\n")}
	if err := o.Flush(); err == nil || !strings.Contains(err.Error(), "out/leads.csv") || fw.writes != 1 {
		t.Fatalf("Flush error = %v after %d writes, want one naming the file", err, fw.writes)
	}
}

func TestLimitUnmarshalText(t *testing.T) {
	for text, want := range map[string]Limit{"0": 0, "16384": 16384, "64KiB": 64 << 10, "16 MiB": 16 << 20, "2GiB": 2 << 30, "1mib": 1 << 20, "10 B": 10} {
		var l Limit
		if err := l.UnmarshalText([]byte(text)); err != nil || l != want {
			t.Errorf("%q: %d, %v; want %d", text, l, err, want)
		}
	}
	for _, text := range []string{"-1", "-1MiB", "1.5MiB", "16MB", "lots", "", "99999999999GiB"} {
		var l Limit
		if err := l.UnmarshalText([]byte(text)); err == nil {
			t.Errorf("%q: accepted as %d", text, l)
		}
	}
}
