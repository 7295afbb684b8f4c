package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// workbookXML wraps sheet and shared strings XML in a workbook's parts.
func workbookXML(t testing.TB, sheet, shared []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	parts := []struct {
		name string
		body []byte
	}{
		{"xl/workbook.xml", []byte(`<workbook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" r:id="rId1"/></sheets></workbook>`)},
		{"xl/_rels/workbook.xml.rels", []byte(`<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>`)},
		{"xl/worksheets/sheet1.xml", sheet},
		{"xl/sharedStrings.xml", shared},
		{"xl/styles.xml", []byte(`<styleSheet><cellXfs><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>`)},
	}
	for _, p := range parts {
		w, err := zw.Create(p.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Small bounds, so that the fuzzer reaches them.
var fuzzLimits = fileformat.XLSXOptions{MaxCellSize: 64, MaxSharedStrings: 4, MaxUnzippedSize: 4096}

// FuzzXLSXSheet reads a workbook made of fuzzed sheet and shared strings
// XML, with small bounds: opening fails (a broken part, a bound) or every
// batch checks, each row's origin names the file, sheet and a rising row,
// each reject names them too, no text value is longer than the cell
// bound, and a resume from the first batch's position gives the rest.
func FuzzXLSXSheet(f *testing.F) {
	f.Add([]byte(`<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>b</t></is></c></row><row r="2"><c r="A2"><v>1</v></c><c r="B2" s="1"><v>45306</v></c></row></sheetData></worksheet>`),
		[]byte(`<sst><si><t>a</t></si></sst>`), true, uint8(1))
	f.Fuzz(func(t *testing.T, sheet, shared []byte, header bool, batch uint8) {
		data := workbookXML(t, sheet, shared)
		opts := fileformat.DecodeOptions{File: "in.xlsx", XLSX: fuzzLimits}
		opts.XLSX.Header, opts.XLSX.HeaderRow = header, 1
		n := int(batch%4) + 1
		all, err := readSheet(t, data, opts, n, -1)
		if err != nil {
			var bound *boundError
			if !strings.HasPrefix(err.Error(), "sheet \"S\"") && !errors.Is(err, ErrBroken) && !errors.As(err, &bound) {
				t.Fatalf("error %q names no sheet, no bound and is not ErrBroken", err)
			}
			return
		}
		first, err := readSheet(t, data, opts, n, 1)
		if err != nil {
			t.Fatalf("first batch: %v", err)
		}
		opts.Offset = first.offset
		rest, err := readSheet(t, data, opts, n, -1)
		if err != nil {
			t.Fatalf("resume at %d: %v", opts.Offset, err)
		}
		if got, want := append(first.rows, rest.rows...), all.rows; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("first batch then resumed: rows %v, want %v", got, want)
		}
	})
}

type sheetRead struct {
	rows   []int64
	offset int64
}

// readSheet reads up to batches batches (all with -1) and checks each.
func readSheet(t *testing.T, data []byte, opts fileformat.DecodeOptions, n, batches int) (sheetRead, error) {
	var out sheetRead
	d, err := NewDecoder(bytes.NewReader(data), opts)
	if err != nil {
		return out, err
	}
	last := int64(0)
	for i := 0; batches < 0 || i < batches; i++ {
		b, err := d.Decode(context.Background(), n)
		if err != nil && !errors.Is(err, io.EOF) {
			return out, err
		}
		if cerr := b.Check(); cerr != nil {
			t.Fatalf("batch check: %v", cerr)
		}
		for r := range b.Len() {
			o := b.Origins[r]
			if o.File != "in.xlsx" || o.Sheet != "S" || o.Row <= last {
				t.Fatalf("origin %+v after row %d", o, last)
			}
			last = o.Row
			out.rows = append(out.rows, o.Row)
			for _, c := range b.Cols {
				if s, ok := c.Value(r).(string); ok && len(s) > int(opts.XLSX.MaxCellSize) {
					t.Fatalf("row %d: a value of %d bytes, over max_cell_size", o.Row, len(s))
				}
			}
		}
		for _, rj := range b.Rejects {
			if rj.Origin.File != "in.xlsx" || rj.Origin.Sheet != "S" || rj.Origin.Row < 1 || !strings.HasPrefix(rj.Reason, fmt.Sprintf("sheet %q row %d: ", "S", rj.Origin.Row)) {
				t.Fatalf("reject %+v names no file, sheet and row", rj)
			}
		}
		out.offset, _ = d.Position()
		if errors.Is(err, io.EOF) {
			break
		}
	}
	return out, nil
}
