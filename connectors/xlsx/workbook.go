package xlsx

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// ErrEncrypted is wrapped by the error for a password-protected workbook.
var ErrEncrypted = errors.New("the workbook is encrypted (password-protected); save an unprotected copy")

// ErrBroken is wrapped by the error for a file that is not a readable
// workbook.
var ErrBroken = errors.New("not a readable XLSX workbook")

// oleMagic starts an OLE compound file: an encrypted workbook, or an old
// binary .xls.
var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// sheetRef is one sheet of a workbook.
type sheetRef struct {
	name string
	file *zip.File
}

// workbook is what reading sheets needs from a workbook's parts.
type workbook struct {
	zr       *zip.Reader
	sheets   []sheetRef
	date1904 bool
	strings  []string
	dateXF   []bool // per cell style (cellXfs index), whether it formats a date
	limits   limits
}

// limits are a workbook's bounds (xlsx.max_cell_size, max_shared_strings,
// max_unzipped_size).
type limits struct {
	cell, sharedStrings int
	unzipped            int64
}

// maxColumns is Excel's last column, XFD: a cell beyond it is refused, not
// padded up to.
const maxColumns = 16384

// boundError is a bound passed; it names the config key.
type boundError struct {
	what string // "a cell larger than 1 MiB"
	key  string
}

func (e *boundError) Error() string { return fmt.Sprintf("%s (xlsx.%s)", e.what, e.key) }

// boundedReader reads a part, failing once it unzips to more than total
// bytes or once a token (as marked by the XML reader's user) runs to more
// than token bytes: encoding/xml holds a whole text token in memory.
type boundedReader struct {
	r     io.Reader
	n     int64 // bytes read
	mark  int64 // n when the token being read began
	token int64 // 0: no bound
	total int64
	part  string
}

// readAhead is what the bufio.Reader between a boundedReader and its XML
// decoder may hold beyond the token being read.
const readAhead = 64 << 10

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n > b.total {
		return 0, &boundError{what: fmt.Sprintf("%s unzips to more than %s (a zip bomb?)", b.part, fileformat.SizeText(b.total)), key: "max_unzipped_size"}
	}
	if b.token > 0 && b.n-b.mark > b.token+readAhead {
		return 0, &boundError{what: fmt.Sprintf("a cell larger than %s", fileformat.SizeText(b.token)), key: "max_cell_size"}
	}
	p = p[:min(int64(len(p)), b.total+1-b.n)]
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// openWorkbook reads a workbook's directory, sheet list, shared strings and
// styles; the sheets themselves are streamed later.
func openWorkbook(r io.ReadSeeker, lim limits) (*workbook, error) {
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	ra, ok := r.(io.ReaderAt)
	if !ok {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		ra = bytes.NewReader(data)
	}
	head := make([]byte, 8)
	if n, _ := ra.ReadAt(head, 0); n == 8 && bytes.Equal(head, oleMagic) {
		// An encrypted OOXML package names its EncryptionInfo stream (in
		// UTF-16) in the compound file's directory.
		probe := make([]byte, min(size, 1<<20))
		n, _ := ra.ReadAt(probe, 0)
		if bytes.Contains(probe[:n], utf16le("EncryptionInfo")) {
			return nil, ErrEncrypted
		}
		return nil, fmt.Errorf("%w: an old binary .xls workbook (save it as .xlsx)", ErrBroken)
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBroken, err)
	}
	wb := &workbook{zr: zr, limits: lim}
	if err := wb.readSheets(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBroken, err)
	}
	if err := wb.readStrings(); err != nil {
		var bound *boundError
		if errors.As(err, &bound) {
			return nil, fmt.Errorf("shared strings: %w", err)
		}
		return nil, fmt.Errorf("%w: shared strings: %v", ErrBroken, err)
	}
	if err := wb.readStyles(); err != nil {
		return nil, fmt.Errorf("%w: styles: %v", ErrBroken, err)
	}
	return wb, nil
}

func utf16le(s string) []byte {
	out := make([]byte, 0, 2*len(s))
	for i := range len(s) {
		out = append(out, s[i], 0)
	}
	return out
}

func (wb *workbook) file(name string) *zip.File {
	name = strings.TrimPrefix(name, "/")
	for _, f := range wb.zr.File {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

func (wb *workbook) decodeXML(name string, v any) error {
	f := wb.file(name)
	if f == nil {
		return fmt.Errorf("%s is missing", name)
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return xml.NewDecoder(rc).Decode(v)
}

// readSheets reads the sheet names, their parts and the date system.
func (wb *workbook) readSheets() error {
	var book struct {
		Pr struct {
			Date1904 string `xml:"date1904,attr"`
		} `xml:"workbookPr"`
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := wb.decodeXML("xl/workbook.xml", &book); err != nil {
		return err
	}
	wb.date1904 = book.Pr.Date1904 == "1" || strings.EqualFold(book.Pr.Date1904, "true")
	var rels struct {
		Rels []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if err := wb.decodeXML("xl/_rels/workbook.xml.rels", &rels); err != nil {
		return err
	}
	for _, s := range book.Sheets {
		for _, r := range rels.Rels {
			if r.ID != s.RID {
				continue
			}
			target := r.Target
			if !strings.HasPrefix(target, "/") {
				target = path.Join("xl", target)
			}
			if f := wb.file(target); f != nil {
				wb.sheets = append(wb.sheets, sheetRef{name: s.Name, file: f})
			}
		}
	}
	if len(wb.sheets) == 0 {
		return errors.New("the workbook has no sheets")
	}
	return nil
}

// readStrings loads the shared strings table (rich text runs joined,
// phonetic runs left out).
func (wb *workbook) readStrings() error {
	f := wb.file("xl/sharedStrings.xml")
	if f == nil {
		return nil
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	br := &boundedReader{r: rc, token: int64(wb.limits.cell), total: wb.limits.unzipped, part: f.Name}
	dec := xml.NewDecoder(bufio.NewReaderSize(br, readAhead))
	var cur strings.Builder
	inSI, inT, skip := false, false, 0
	for {
		br.mark = br.n
		if cur.Len() > wb.limits.cell {
			return &boundError{what: fmt.Sprintf("string %d is larger than %s", len(wb.strings)+1, fileformat.SizeText(int64(wb.limits.cell))), key: "max_cell_size"}
		}
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "si":
				inSI = true
				cur.Reset()
			case "rPh":
				skip++
			case "t":
				inT = inSI && skip == 0
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				if len(wb.strings) == wb.limits.sharedStrings {
					return &boundError{what: fmt.Sprintf("more than %d strings", wb.limits.sharedStrings), key: "max_shared_strings"}
				}
				wb.strings = append(wb.strings, cur.String())
				inSI = false
			case "rPh":
				skip--
			case "t":
				inT = false
			}
		case xml.CharData:
			if inT {
				cur.Write(t)
			}
		}
	}
}

// readStyles marks the cell styles whose number format shows a date.
func (wb *workbook) readStyles() error {
	if wb.file("xl/styles.xml") == nil {
		return nil
	}
	var styles struct {
		NumFmts []struct {
			ID   int    `xml:"numFmtId,attr"`
			Code string `xml:"formatCode,attr"`
		} `xml:"numFmts>numFmt"`
		XFs []struct {
			NumFmtID int `xml:"numFmtId,attr"`
		} `xml:"cellXfs>xf"`
	}
	if err := wb.decodeXML("xl/styles.xml", &styles); err != nil {
		return err
	}
	custom := make(map[int]bool, len(styles.NumFmts))
	for _, f := range styles.NumFmts {
		custom[f.ID] = isDateFormat(f.Code)
	}
	wb.dateXF = make([]bool, len(styles.XFs))
	for i, xf := range styles.XFs {
		if d, ok := custom[xf.NumFmtID]; ok {
			wb.dateXF[i] = d
		} else {
			wb.dateXF[i] = builtinDate(xf.NumFmtID)
		}
	}
	return nil
}

// builtinDate reports whether a built-in number format shows a date or
// time.
func builtinDate(id int) bool {
	return (id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 45 && id <= 47) || (id >= 50 && id <= 58)
}

// isDateFormat reports whether a custom format code shows a date or time:
// it has d, m, y, h or s outside quotes, escapes and brackets (colours,
// conditions), [h] elapsed hours counting too.
func isDateFormat(code string) bool {
	section, _, _ := strings.Cut(code, ";")
	quoted := false
	for i := 0; i < len(section); i++ {
		c := section[i]
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\\' || c == '_' || c == '*':
			i++
		case c == '[':
			end := strings.IndexByte(section[i:], ']')
			if end < 0 {
				return false
			}
			inner := strings.ToLower(section[i+1 : i+end])
			if inner == "h" || inner == "hh" || inner == "m" || inner == "mm" || inner == "s" || inner == "ss" {
				return true
			}
			i += end
		default:
			switch c | 0x20 {
			case 'd', 'm', 'y', 'h', 's':
				return true
			}
		}
	}
	return false
}

// sheetIndex finds a sheet by name, 1-based index or "" (the first).
func (wb *workbook) sheetIndex(sel string) (int, error) {
	if sel == "" {
		return 0, nil
	}
	for i, s := range wb.sheets {
		if s.name == sel {
			return i, nil
		}
	}
	if n, err := strconv.Atoi(sel); err == nil {
		if n >= 1 && n <= len(wb.sheets) {
			return n - 1, nil
		}
		return 0, fmt.Errorf("sheet %d does not exist: the workbook has %d", n, len(wb.sheets))
	}
	names := make([]string, len(wb.sheets))
	for i, s := range wb.sheets {
		names[i] = strconv.Quote(s.name)
	}
	return 0, fmt.Errorf("no sheet named %q (sheets: %s)", sel, strings.Join(names, ", "))
}
