package xlsx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

func inlineRow(r, text string) string {
	return `<row r="` + r + `"><c r="A` + r + `" t="inlineStr"><is><t>` + text + `</t></is></c></row>`
}

func sheetOf(rows ...string) []byte {
	return []byte(`<worksheet><sheetData>` + strings.Join(rows, "") + `</sheetData></worksheet>`)
}

// TestBounds: a workbook just over each bound fails naming the bound's key
// (and the sheet and row where it applies) instead of taking the memory
// it asks for; at the bound it loads.
func TestBounds(t *testing.T) {
	big := strings.Repeat("x", fileformat.DefaultMaxCellSize+1)
	tests := []struct {
		name          string
		sheet, shared []byte
		opts          fileformat.XLSXOptions
		wantErr       string
	}{
		{name: "cell at the default bound", sheet: sheetOf(inlineRow("1", "h"), inlineRow("2", strings.Repeat("x", fileformat.DefaultMaxCellSize)))},
		{name: "cell over the default bound", sheet: sheetOf(inlineRow("1", "h"), inlineRow("2", big)),
			wantErr: `sheet "S" row 2: a cell larger than 1 MiB (xlsx.max_cell_size)`},
		{name: "cell over a set bound", sheet: sheetOf(inlineRow("1", "h"), inlineRow("2", strings.Repeat("y", 11))),
			opts: fileformat.XLSXOptions{MaxCellSize: 10}, wantErr: `sheet "S" row 2: a cell larger than 10 bytes (xlsx.max_cell_size)`},
		{name: "shared strings at the bound", sheet: sheetOf(inlineRow("1", "h")), shared: []byte(`<sst><si><t>a</t></si><si><t>b</t></si></sst>`),
			opts: fileformat.XLSXOptions{MaxSharedStrings: 2}},
		{name: "shared strings over", sheet: sheetOf(inlineRow("1", "h")), shared: []byte(`<sst><si><t>a</t></si><si><t>b</t></si><si><t>c</t></si></sst>`),
			opts: fileformat.XLSXOptions{MaxSharedStrings: 2}, wantErr: `shared strings: more than 2 strings (xlsx.max_shared_strings)`},
		{name: "unzipped over", sheet: sheetOf(inlineRow("1", "h"), inlineRow("2", strings.Repeat("z", 200_000))),
			opts: fileformat.XLSXOptions{MaxUnzippedSize: 100_000}, wantErr: `xl/worksheets/sheet1.xml unzips to more than 100000 bytes (a zip bomb?) (xlsx.max_unzipped_size)`},
		{name: "unzipped over, merged ranges read first", sheet: sheetOf(inlineRow("1", "h"), inlineRow("2", strings.Repeat("z", 200_000))),
			opts: fileformat.XLSXOptions{MaxUnzippedSize: 100_000, Header: true}, wantErr: `sheet "S": xl/worksheets/sheet1.xml unzips to more than 100000 bytes`},
		{name: "beyond column XFD", sheet: sheetOf(`<row r="1"><c r="XFE1"><v>1</v></c></row>`),
			wantErr: `sheet "S" row 1: not a readable XLSX workbook: a cell beyond column XFD, Excel's last`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shared := tt.shared
			if shared == nil {
				shared = []byte(`<sst/>`)
			}
			opts := fileformat.DecodeOptions{File: "b.xlsx", XLSX: tt.opts}
			opts.XLSX.Header, opts.XLSX.HeaderRow = true, 1
			d, err := NewDecoder(bytes.NewReader(workbookXML(t, tt.sheet, shared)), opts)
			if err == nil {
				_, err = d.Decode(context.Background(), 100)
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := NewDecoder(bytes.NewReader(workbookXML(t, sheetOf(), nil)), fileformat.DecodeOptions{XLSX: fileformat.XLSXOptions{MaxCellSize: -1}}); err == nil {
		t.Error("a negative xlsx.max_cell_size is accepted")
	}
}
