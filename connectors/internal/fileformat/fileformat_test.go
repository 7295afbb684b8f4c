package fileformat

import (
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
