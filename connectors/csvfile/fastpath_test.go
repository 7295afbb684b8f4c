package csvfile

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// scanned is what the scanner says of one record, for comparisons.
type scanned struct {
	Fields []string
	Quoted []bool
	Line   int64
	Bad    string
	// Line breaks consumed and input offset after the record; not after
	// an error, where they depend on how far the reads went.
	Lines, Offset int64
	Err           string
}

// scanAll reads every record of in through a scanner reading r, with small
// bounds so that records reach them.
func scanAll(r io.Reader) []scanned {
	sc := newScanner(r, ',', 0, 0)
	sc.maxField, sc.maxColumns, sc.maxRecord = 40, 6, 90
	var out []scanned
	var rec record
	var dst []byte
	for {
		var err error
		dst, err = sc.readRecord(dst[:0], &rec)
		if errors.Is(err, io.EOF) {
			return out
		}
		s := scanned{Line: rec.line, Bad: rec.bad}
		if err != nil {
			s.Err = err.Error()
			return append(out, s)
		}
		s.Lines, s.Offset = sc.lines, sc.offset()
		for _, f := range rec.fields {
			s.Fields = append(s.Fields, string(sc.text(dst, f)))
			s.Quoted = append(s.Quoted, f.quoted)
		}
		out = append(out, s)
	}
}

// TestFastPathMatchesGeneralPath draws CSV text rich in what the fast path
// handles itself (quoted fields across line breaks, doubled quotes, CR LF)
// and what it leaves to the general path (malformed quoting, unterminated
// quotes, records over the bounds), and checks that reading it from one
// buffer (the fast path wherever a record's lines are in the buffer) says
// exactly what reading it one byte at a time (the general path only) says:
// fields, quoting, lines, rejects, offsets and errors.
func TestFastPathMatchesGeneralPath(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		piece := rapid.SampledFrom([]string{"a", "bc", "x y", ",", ",", "\n", "\r\n", "\"", "\"\"", "\"\n", "\n\"", "é", "\r"})
		var b strings.Builder
		for _, p := range rapid.SliceOfN(piece, 0, 60).Draw(t, "pieces") {
			b.WriteString(p)
		}
		in := b.String()
		fast := scanAll(strings.NewReader(in))
		general := scanAll(&oneByteReader{s: in})
		if diff := cmp.Diff(general, fast); diff != "" {
			t.Fatalf("input %q: records (-one byte per read +whole buffer):\n%s", in, diff)
		}
	})
}
