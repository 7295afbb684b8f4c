package xmlfile

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// fuzzMaxDepth is small, so that the fuzzer reaches it.
const fuzzMaxDepth = 3

// reference counts a document's records (the root's children) the plain
// way: encoding/xml's tokens over the whole input, records closed before
// the first fault, and whether there is a fault (including no root or a
// second one).
func reference(in []byte) (records int, fault bool) {
	dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(in, []byte("\uFEFF"))))
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return records, roots == 0
		}
		if err != nil {
			return records, true
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if roots++; roots > 1 {
					return records, true
				}
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 1 {
				records++
			}
		}
	}
}

// show is what a read delivered, as text to compare.
func show(r read) string {
	return fmt.Sprint(r.rows, r.lines, r.rejects, r.types, r.err != nil && r.err.Error() != "", r.err)
}

var faultLine = regexp.MustCompile(`^line (\d+): `)

// FuzzXMLFile decodes a whole document with a small xml.max_depth: each of
// the root's children closed before the first fault is a row or a reject
// naming file and line (against a plain token walk), a fault fails the
// file naming a line of it after those records load, and neither the
// batch size nor a resume from the first batch's position changes what is
// read.
func FuzzXMLFile(f *testing.F) {
	f.Add([]byte("<?xml version=\"1.0\"?>\n<r xmlns:p=\"urn:p\">\n<p:row a=\"1\"><b>x</b><b>y</b>t</p:row>\n<row><a><b><c/></b></a></row>\n</r>"), uint8(1))
	f.Add([]byte("\uFEFF<r><row>&lt;&#233;<![CDATA[x]]></row><row><x></row></r>"), uint8(2))
	f.Add([]byte("<!DOCTYPE r [<!ENTITY e \"x\">]><r><row>&e;</row></r>"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, batch uint8) {
		opts := fileformat.DecodeOptions{File: "in.xml", XML: fileformat.XMLOptions{MaxDepth: fuzzMaxDepth}}
		lines := int64(bytes.Count(in, []byte{'\n'})) + 1
		full := readAll(t, string(in), opts, 10000)
		records, fault := reference(in)
		if got := len(full.rows) + len(full.rejects); got != records {
			t.Fatalf("%d rows and %d rejects (error %v), a token walk closes %d records", len(full.rows), len(full.rejects), full.err, records)
		}
		if (full.err != nil) != fault {
			t.Fatalf("error %v, a token walk finds a fault: %v", full.err, fault)
		}
		if full.err != nil {
			m := faultLine.FindStringSubmatch(full.err.Error())
			if m == nil {
				t.Fatalf("error %q names no line", full.err)
			}
			if n, _ := strconv.ParseInt(m[1], 10, 64); n < 1 || n > lines {
				t.Fatalf("error %q names a line outside 1..%d", full.err, lines)
			}
		}
		for _, r := range full.rejects {
			if r.Origin.File != "in.xml" || r.Origin.Line < 1 || r.Origin.Line > lines || r.Field == "" {
				t.Fatalf("reject %+v names no file, line and field", r)
			}
		}
		size := int(batch%8) + 1
		small := readAll(t, string(in), opts, size)
		if show(small) != show(full) {
			t.Fatalf("batch size %d: %v, with 10000: %v", size, small, full)
		}
		d, err := NewDecoder(bytes.NewReader(in), opts)
		if err != nil {
			t.Fatal(err)
		}
		first, err := d.Decode(context.Background(), size)
		if err != nil && !errors.Is(err, io.EOF) {
			return // the first batch is the fault: nothing to resume from
		}
		opts.Offset, opts.Line = d.Position()
		rest := readAll(t, string(in), opts, 10000)
		if fmt.Sprint(rest.rows) != fmt.Sprint(full.rows[first.Len():]) || len(rest.rejects) != len(full.rejects)-len(first.Rejects) {
			t.Fatalf("resumed at offset %d: rows %v, rejects %d; want %v, %d", opts.Offset, rest.rows, len(rest.rejects), full.rows[first.Len():], len(full.rejects)-len(first.Rejects))
		}
	})
}
