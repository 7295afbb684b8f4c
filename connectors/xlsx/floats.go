package xlsx

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// excelDigits is how many significant digits excelize writes a float
// with: 0.30000000000000004 becomes 0.3, another number. A float needing
// more is written in its shortest round-trip form instead (see
// exactFloats), which Excel, LibreOffice and openpyxl read back exactly.
const excelDigits = 15

// exactText returns f's shortest round-trip text when excelize would cut
// it, and false when excelize's own text is exact.
func exactText(f float64) (string, bool) {
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mantissa, _, _ := strings.Cut(e, "e")
	digits := 0
	for i := 0; i < len(mantissa); i++ {
		if '0' <= mantissa[i] && mantissa[i] <= '9' {
			digits++
		}
	}
	if digits <= excelDigits {
		return "", false
	}
	return strings.ToUpper(strconv.FormatFloat(f, 'g', -1, 64)), true
}

// floatMark starts the text a float excelize would cut is written as: a
// private-use character, then the float's exact text. Finish makes such
// cells numbers again (see rewriteValues); a text starting with the mark
// is written with the mark doubled, and gets it back single.
const floatMark = "\uE000"

// escapeMark doubles the mark starting s, noting that Finish must rewrite.
func (e *Encoder) escapeMark(s string) string {
	if !strings.HasPrefix(s, floatMark) {
		return s
	}
	e.marked = true
	return floatMark + s
}

// writeExact writes the workbook excelize wrote to tmp into w, its marked
// cells made numbers again: every zip entry is copied as it is but the
// worksheets, rewritten as they stream.
func writeExact(w io.Writer, tmp *os.File) error {
	info, err := tmp.Stat()
	if err != nil {
		return err
	}
	zr, err := zip.NewReader(tmp, info.Size())
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, "xl/worksheets/") || !strings.HasSuffix(f.Name, ".xml") {
			raw, err := f.OpenRaw()
			if err != nil {
				return err
			}
			dst, err := zw.CreateRaw(&f.FileHeader)
			if err != nil {
				return err
			}
			if _, err := io.Copy(dst, raw); err != nil {
				return err
			}
			continue
		}
		src, err := f.Open()
		if err != nil {
			return err
		}
		header := f.FileHeader
		dst, err := zw.CreateHeader(&header)
		if err != nil {
			src.Close()
			return err
		}
		err = rewriteValues(dst, src)
		src.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return zw.Close()
}

// inlineCell is excelize's inline string cell after its <c ...> tag:
// <is><t>text</t></is></c>.
var (
	isOpen   = []byte("<is>")
	tOpen    = []byte("<t>")
	tClose   = []byte("</t>")
	isClose  = []byte("</is>")
	inlineT  = []byte(` t="inlineStr"`)
	markByte = []byte(floatMark)
)

// rewriteValues copies a worksheet's XML from r to w, turning each inline
// string cell whose text starts with one mark into a number cell of the
// rest, and undoubling a doubled mark. excelize writes such a cell as
// <c r="B2" t="inlineStr"><is><t>text</t></is></c>, read tag by tag.
func rewriteValues(w io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	// held are the tags of an inline cell read so far: <c ...>, <is>, <t>.
	var held [][]byte
	flush := func() {
		for _, h := range held {
			bw.Write(h)
		}
		held = held[:0]
	}
	for {
		chunk, err := br.ReadSlice('>')
		if err == bufio.ErrBufferFull {
			flush()
			bw.Write(chunk)
			continue
		}
		switch {
		case len(chunk) == 0:
		case bytes.HasPrefix(chunk, []byte("<c ")) && bytes.Contains(chunk, inlineT) && !bytes.HasSuffix(chunk, []byte("/>")):
			flush()
			held = append(held, append([]byte(nil), chunk...))
		case len(held) == 1 && bytes.Equal(chunk, isOpen), len(held) == 2 && (bytes.Equal(chunk, tOpen) || bytes.HasPrefix(chunk, []byte("<t "))):
			held = append(held, append([]byte(nil), chunk...))
		case len(held) == 3 && bytes.HasSuffix(chunk, tClose) && bytes.HasPrefix(chunk, markByte):
			text := chunk[len(markByte) : len(chunk)-len(tClose)]
			if bytes.HasPrefix(text, markByte) { // a text that started with the mark
				flush()
				bw.Write(chunk[len(markByte):])
				break
			}
			// A float: <c r=".." s=".."><v>text</v>, then </is></c> of
			// which </is> is dropped.
			bw.Write(bytes.Replace(held[0], inlineT, nil, 1))
			bw.WriteString("<v>")
			bw.Write(text)
			bw.WriteString("</v>")
			held = held[:0]
			next, err := br.ReadSlice('>')
			if err != nil || !bytes.Equal(next, isClose) {
				return fmt.Errorf("a marked cell ends in %q, not </is>", next)
			}
		default:
			flush()
			bw.Write(chunk)
		}
		if err == io.EOF {
			flush()
			return bw.Flush()
		}
		if err != nil {
			return err
		}
	}
}
