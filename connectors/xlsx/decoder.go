package xlsx

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// SheetField names the field holding the sheet's name when every sheet is
// read (sheet: "*").
const SheetField = "_sheet"

// Cell kinds.
const (
	kindEmpty uint8 = iota
	kindString
	kindNumber
	kindBool
	kindDate
)

type cell struct {
	kind uint8
	s    string
	f    float64
}

// Decoder streams a workbook's sheet rows into batches. Each batch's
// fields are typed from its cells: a column of numbers is int (all
// integral) or float, of booleans bool, of dates (date-formatted numbers)
// timestamp in UTC; anything mixed is string. Empty rows are skipped; a
// batch never spans two sheets.
//
// Its Position offset is the sheet's place in the read order times 2^32
// plus the row number; the line is the row number.
type Decoder struct {
	wb     *workbook
	file   string
	opts   fileformat.XLSXOptions
	order  []int // sheets to read, by index
	all    bool
	next   int // place in order of the sheet to open next
	sheet  *sheetReader
	names  []string // the current sheet's fields (without _sheet)
	skipTo int64    // rows up to this one are skipped (resume)
	place  int      // place in order of the current sheet
	row    int64    // last row consumed
	bytes  int64    // input consumed by finished sheets, compressed
}

var _ fileformat.BinaryDecoder = (*Decoder)(nil)

// maxBatchCells ends a batch early once its rows times its widest row
// reach this many cells: a headerless sheet whose every row has a cell in
// column XFD would otherwise make a batch of 16,384 columns of 10,000
// rows.
const maxBatchCells = 1 << 22

// NewDecoder opens the workbook in r and checks the sheet option; rows are
// read from opts.Offset.
func NewDecoder(r io.ReadSeeker, opts fileformat.DecodeOptions) (*Decoder, error) {
	cell, sharedStrings, unzipped, err := opts.XLSX.Limits()
	if err != nil {
		return nil, err
	}
	wb, err := openWorkbook(r, limits{cell: cell, sharedStrings: sharedStrings, unzipped: unzipped})
	if err != nil {
		return nil, err
	}
	d := &Decoder{wb: wb, file: opts.File, opts: opts.XLSX}
	if d.opts.HeaderRow <= 0 {
		d.opts.HeaderRow = 1
	}
	if opts.XLSX.Sheet == "*" {
		d.all = true
		for i := range wb.sheets {
			d.order = append(d.order, i)
		}
	} else {
		i, err := wb.sheetIndex(opts.XLSX.Sheet)
		if err != nil {
			return nil, err
		}
		d.order = []int{i}
	}
	if opts.Offset > 0 {
		d.next = int(opts.Offset >> 32)
		d.skipTo = opts.Offset & math.MaxUint32
		for _, i := range d.order[:min(d.next, len(d.order))] {
			d.bytes += int64(wb.sheets[i].file.CompressedSize64)
		}
	}
	return d, nil
}

// Position implements fileformat.Decoder.
func (d *Decoder) Position() (offset, line int64) {
	return int64(d.place)<<32 | d.row, d.row
}

// Bytes implements fileformat.BinaryDecoder: the compressed bytes the rows
// read so far stand for.
func (d *Decoder) Bytes() int64 {
	if d.sheet == nil {
		return d.bytes
	}
	return d.bytes + d.sheet.compressedRead()
}

// openSheet opens the next sheet and reads its header; false at the end.
func (d *Decoder) openSheet() (bool, error) {
	if d.next >= len(d.order) {
		return false, nil
	}
	d.place = d.next
	ref := d.wb.sheets[d.order[d.next]]
	d.next++
	d.row = 0
	var merges []mergeRange
	if d.opts.Header {
		var err error
		if merges, err = readMerges(ref, int64(d.opts.HeaderRow), d.wb.limits.unzipped); err != nil {
			return false, fmt.Errorf("sheet %q: %w", ref.name, err)
		}
	}
	sr, err := openSheetReader(d.wb, ref)
	if err != nil {
		return false, fmt.Errorf("sheet %q: %w", ref.name, err)
	}
	d.sheet = sr
	d.names = nil
	if !d.opts.Header {
		return true, nil
	}
	above := map[int64][]cell{}
	for {
		row, cells, err := sr.next()
		if errors.Is(err, io.EOF) {
			return true, nil // no header: an empty sheet
		}
		if err != nil {
			return false, d.sheetErr(err)
		}
		if row < int64(d.opts.HeaderRow) {
			above[row] = append([]cell(nil), cells...)
			continue
		}
		if row > int64(d.opts.HeaderRow) {
			return false, fmt.Errorf("sheet %q: header row %d is empty", ref.name, d.opts.HeaderRow)
		}
		above[row] = cells
		d.names = headerNames(above, row, merges)
		d.row = row
		return true, nil
	}
}

func (d *Decoder) sheetErr(err error) error {
	where := fmt.Sprintf("sheet %q", d.sheet.name)
	if d.sheet.row > 0 {
		where += fmt.Sprintf(" row %d", d.sheet.row)
	}
	var bound *boundError
	if errors.As(err, &bound) {
		return fmt.Errorf("%s: %w", where, err)
	}
	return fmt.Errorf("%s: %w: %v", where, ErrBroken, err)
}

// Decode implements fileformat.Decoder.
func (d *Decoder) Decode(ctx context.Context, n int) (*etl.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		n = etl.DefaultBatchSize
	}
	for d.sheet == nil {
		ok, err := d.openSheet()
		if err != nil {
			return nil, err
		}
		if !ok {
			return etl.NewBatch(etl.MustSchema(), 0), io.EOF
		}
	}
	var rows [][]cell
	var lines []int64
	var rejects []etl.Reject
	atEnd := false
	widest := 0 // the batch's columns: every row is as wide
	for len(rows)+len(rejects) < n && len(rows)*widest < maxBatchCells {
		row, rowCells, err := d.sheet.next()
		if errors.Is(err, io.EOF) {
			atEnd = true
			break
		}
		if err != nil {
			return nil, d.sheetErr(err)
		}
		if row <= d.row || row <= d.skipTo {
			continue
		}
		d.row = row
		if blank(rowCells) {
			continue
		}
		if d.names == nil && !d.opts.Header {
			// Headerless: the width is the widest row's, per batch.
		} else if width := lastNonEmpty(rowCells) + 1; width > len(d.names) {
			rejects = append(rejects, etl.Reject{
				Step: "source", Origin: etl.Origin{File: d.file, Sheet: d.sheet.name, Row: row},
				Reason: fmt.Sprintf("sheet %q row %d: a value in column %s, beyond the header's %d columns", d.sheet.name, row, columnName(width-1), len(d.names)),
				Value:  fileformat.RejectValue([]byte(rowText(rowCells))),
			})
			continue
		}
		rows = append(rows, append([]cell(nil), rowCells...))
		lines = append(lines, row)
		widest = max(widest, len(rowCells))
	}
	b := d.build(rows, lines)
	b.Rejects = rejects
	if atEnd {
		d.bytes += int64(d.sheet.ref.file.CompressedSize64)
		d.sheet.close()
		d.sheet = nil
		d.skipTo = 0
		if d.next >= len(d.order) {
			return b, io.EOF
		}
	}
	return b, nil
}

func blank(cells []cell) bool { return lastNonEmpty(cells) < 0 }

func lastNonEmpty(cells []cell) int {
	for i := len(cells) - 1; i >= 0; i-- {
		if cells[i].kind != kindEmpty {
			return i
		}
	}
	return -1
}

func rowText(cells []cell) string {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = cellText(c)
	}
	return strings.Join(parts, ",")
}

// build types the batch's columns from their cells.
func (d *Decoder) build(rows [][]cell, lines []int64) *etl.Batch {
	names := d.names
	if !d.opts.Header {
		width := 0
		for _, r := range rows {
			width = max(width, lastNonEmpty(r)+1)
		}
		names = make([]string, width)
		for i := range names {
			names[i] = "col_" + strconv.Itoa(i+1)
		}
	}
	fields := make([]etl.Field, 0, len(names)+1)
	if d.all {
		fields = append(fields, etl.Field{Name: SheetField, Type: etl.TypeString})
	}
	for j, name := range names {
		fields = append(fields, etl.Field{Name: name, Type: columnType(rows, j)})
	}
	b := etl.NewBatch(etl.MustSchema(fields...), len(rows))
	cols := b.Cols
	if d.all {
		for range rows {
			cols[0].AppendString(d.sheet.name)
		}
		cols = cols[1:]
	}
	for j := range names {
		c := &cols[j]
		for _, r := range rows {
			if j >= len(r) || r[j].kind == kindEmpty {
				c.AppendNull()
				continue
			}
			v := r[j]
			switch c.Type {
			case etl.TypeInt:
				c.AppendInt(int64(v.f))
			case etl.TypeFloat:
				c.AppendFloat(v.f)
			case etl.TypeBool:
				c.AppendBool(v.f != 0)
			case etl.TypeTimestamp:
				c.AppendTime(serialTime(v.f, d.wb.date1904))
			default:
				if v.kind == kindDate {
					c.AppendString(serialTime(v.f, d.wb.date1904).Format(time.RFC3339))
				} else {
					c.AppendString(cellText(v))
				}
			}
		}
	}
	for _, line := range lines {
		b.Origins = append(b.Origins, etl.Origin{File: d.file, Sheet: d.sheet.name, Row: line})
	}
	return b
}

// columnType is the type of column j over rows: the one kind of its
// non-empty cells, string when they mix.
func columnType(rows [][]cell, j int) etl.Type {
	kind := kindEmpty
	integral := true
	for _, r := range rows {
		if j >= len(r) || r[j].kind == kindEmpty {
			continue
		}
		k := r[j].kind
		if kind != kindEmpty && k != kind {
			return etl.TypeString
		}
		kind = k
		if k == kindNumber && (r[j].f != math.Trunc(r[j].f) || math.Abs(r[j].f) > 1<<53) {
			integral = false
		}
	}
	switch kind {
	case kindNumber:
		if integral {
			return etl.TypeInt
		}
		return etl.TypeFloat
	case kindBool:
		return etl.TypeBool
	case kindDate:
		return etl.TypeTimestamp
	}
	return etl.TypeString
}

// cellText renders a cell as text.
func cellText(c cell) string {
	switch c.kind {
	case kindNumber, kindDate:
		return strconv.FormatFloat(c.f, 'f', -1, 64)
	case kindBool:
		if c.f != 0 {
			return "TRUE"
		}
		return "FALSE"
	}
	return c.s
}

// serialTime converts a date serial to a UTC time: days since 1899-12-30
// (the 1900 system, whose phantom 29 February 1900 shifts serials below
// 61 by a day) or since 1904-01-01, rounded to the millisecond.
func serialTime(serial float64, date1904 bool) time.Time {
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	if date1904 {
		epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	} else if serial < 61 {
		epoch = epoch.AddDate(0, 0, 1)
	}
	days := math.Floor(serial)
	ms := math.Round((serial - days) * 86400e3)
	return epoch.AddDate(0, 0, int(days)).Add(time.Duration(ms) * time.Millisecond)
}

// headerNames names the fields from the header row: a merged cell's name
// spreads over the columns it covers (name, name_2, ...), an empty name is
// col_N, a repeated one gets _2, _3.
func headerNames(rows map[int64][]cell, header int64, merges []mergeRange) []string {
	cells := rows[header]
	raw := make([]string, len(cells))
	for i, c := range cells {
		raw[i] = strings.TrimSpace(cellText(c))
	}
	for _, m := range merges {
		if m.r1 > header || m.r2 < header || m.c2 == m.c1 {
			continue
		}
		top := ""
		if r := rows[m.r1]; m.c1 < len(r) {
			top = strings.TrimSpace(cellText(r[m.c1]))
		}
		for len(raw) <= m.c2 {
			raw = append(raw, "")
		}
		for c := m.c1; c <= m.c2; c++ {
			if raw[c] == "" || c == m.c1 {
				raw[c] = top
				if c > m.c1 {
					raw[c] = top + "_" + strconv.Itoa(c-m.c1+1)
				}
			}
		}
	}
	for len(raw) > 0 && raw[len(raw)-1] == "" {
		raw = raw[:len(raw)-1]
	}
	taken := make(map[string]bool, len(raw))
	for _, n := range raw {
		taken[n] = true
	}
	out := make([]string, len(raw))
	used := make(map[string]bool, len(raw))
	for i, n := range raw {
		name := n
		if name == "" {
			name = "col_" + strconv.Itoa(i+1)
		}
		for k := 2; used[name] || (n == "" && taken[name]); k++ {
			name = n + "_" + strconv.Itoa(k)
			if n == "" {
				name = "col_" + strconv.Itoa(i+1) + "_" + strconv.Itoa(k)
			}
		}
		used[name] = true
		out[i] = name
	}
	return out
}

// mergeRange is a merged cell range, 0-based columns, 1-based rows.
type mergeRange struct {
	r1, r2 int64
	c1, c2 int
}

// readMerges finds the sheet's merged ranges that cross the header row,
// which its XML lists after the rows: a byte scan of the part, not an XML
// parse. Ranges beyond Excel's last column are left out.
func readMerges(ref sheetRef, header, maxUnzipped int64) ([]mergeRange, error) {
	rc, err := ref.file.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(&boundedReader{r: rc, total: maxUnzipped, part: ref.file.Name}, readAhead)
	var out []mergeRange
	tag := []byte(`<mergeCell `)
	var carry []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := br.Read(buf)
		chunk := append(carry, buf[:n]...)
		for {
			i := bytes.Index(chunk, tag)
			if i < 0 {
				break
			}
			end := bytes.IndexByte(chunk[i:], '>')
			if end < 0 {
				break
			}
			elem := chunk[i : i+end]
			if j := bytes.Index(elem, []byte(`ref="`)); j >= 0 {
				ref := elem[j+5:]
				if k := bytes.IndexByte(ref, '"'); k >= 0 {
					if m, ok := parseRange(string(ref[:k])); ok && m.r1 <= header && header <= m.r2 && 0 <= m.c1 && m.c1 <= m.c2 && m.c2 < maxColumns {
						out = append(out, m)
					}
				}
			}
			chunk = chunk[i+end:]
		}
		keep := min(len(chunk), 256)
		carry = append(carry[:0], chunk[len(chunk)-keep:]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func parseRange(s string) (mergeRange, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return mergeRange{}, false
	}
	c1, r1, ok1 := cellRef(a)
	c2, r2, ok2 := cellRef(b)
	return mergeRange{r1: r1, r2: r2, c1: c1, c2: c2}, ok1 && ok2
}

// cellRef splits "AB12" into column 27 (0-based) and row 12.
func cellRef(s string) (col int, row int64, ok bool) {
	i := 0
	for i < len(s) && s[i] >= 'A' && s[i] <= 'Z' {
		col = col*26 + int(s[i]-'A'+1)
		i++
	}
	if i == 0 {
		return 0, 0, false
	}
	row, err := strconv.ParseInt(s[i:], 10, 64)
	return col - 1, row, err == nil || i == len(s)
}

func columnName(col int) string {
	name := ""
	for col++; col > 0; col = (col - 1) / 26 {
		name = string(rune('A'+(col-1)%26)) + name
	}
	return name
}

// sheetReader streams one sheet's rows.
type sheetReader struct {
	wb    *workbook
	ref   sheetRef
	name  string
	rc    io.ReadCloser
	count *boundedReader
	dec   *xml.Decoder
	cells []cell
	row   int64
}

func openSheetReader(wb *workbook, ref sheetRef) (*sheetReader, error) {
	rc, err := ref.file.Open()
	if err != nil {
		return nil, err
	}
	br := &boundedReader{r: rc, token: int64(wb.limits.cell), total: wb.limits.unzipped, part: ref.file.Name}
	return &sheetReader{wb: wb, ref: ref, name: ref.name, rc: rc, count: br, dec: xml.NewDecoder(bufio.NewReaderSize(br, readAhead))}, nil
}

// token returns the next XML token; the bound on one token's size counts
// from here.
func (sr *sheetReader) token() (xml.Token, error) {
	sr.count.mark = sr.count.n
	return sr.dec.Token()
}

func (sr *sheetReader) close() { sr.rc.Close() }

// compressedRead estimates the compressed bytes behind what was read.
func (sr *sheetReader) compressedRead() int64 {
	u := sr.ref.file.UncompressedSize64
	if u == 0 {
		return 0
	}
	return int64(float64(sr.count.n) / float64(u) * float64(sr.ref.file.CompressedSize64))
}

// next returns the next row's number and cells (by column; missing cells
// empty), or io.EOF after the last row. The cells are reused.
func (sr *sheetReader) next() (int64, []cell, error) {
	for {
		tok, err := sr.token()
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		if err != nil {
			return 0, nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "row" {
				sr.row++
				if r := attr(t, "r"); r != "" {
					if n, err := strconv.ParseInt(r, 10, 64); err == nil {
						sr.row = n
					}
				}
				if err := sr.readRow(); err != nil {
					return 0, nil, err
				}
				return sr.row, sr.cells, nil
			}
		case xml.EndElement:
			if t.Name.Local == "sheetData" {
				return 0, nil, io.EOF
			}
		}
	}
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// readRow reads a row's cells up to </row>.
func (sr *sheetReader) readRow() error {
	sr.cells = sr.cells[:0]
	col := -1
	for {
		tok, err := sr.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "c" {
				continue
			}
			col++
			if r := attr(t, "r"); r != "" {
				if c, _, ok := cellRef(r); ok {
					col = c
				}
			}
			if col < 0 || col >= maxColumns {
				return fmt.Errorf("a cell beyond column %s, Excel's last", columnName(maxColumns-1))
			}
			c, err := sr.readCell(t)
			if err != nil {
				return err
			}
			for len(sr.cells) < col {
				sr.cells = append(sr.cells, cell{})
			}
			sr.cells = append(sr.cells[:col], c)
		case xml.EndElement:
			if t.Name.Local == "row" {
				return nil
			}
		}
	}
}

// readCell reads one <c> element: its type, style and cached value (a
// formula's result).
func (sr *sheetReader) readCell(start xml.StartElement) (cell, error) {
	typ := attr(start, "t")
	style := -1
	if s := attr(start, "s"); s != "" {
		style, _ = strconv.Atoi(s)
	}
	var v, inline strings.Builder
	inV, inT := false, false
	for {
		tok, err := sr.token()
		if err != nil {
			return cell{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "v":
				inV = true
			case "t":
				inT = true
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "v":
				inV = false
			case "t":
				inT = false
			case "c":
				return sr.value(typ, style, v.String(), inline.String())
			}
		case xml.CharData:
			if inV {
				v.Write(t)
			} else if inT {
				inline.Write(t)
			}
			if v.Len()+inline.Len() > sr.wb.limits.cell { // text split into many tokens
				return cell{}, &boundError{what: fmt.Sprintf("a cell larger than %s", fileformat.SizeText(int64(sr.wb.limits.cell))), key: "max_cell_size"}
			}
		}
	}
}

func (sr *sheetReader) value(typ string, style int, v, inline string) (cell, error) {
	switch typ {
	case "inlineStr":
		return cell{kind: kindString, s: inline}, nil
	case "s":
		if v == "" {
			return cell{}, nil
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= len(sr.wb.strings) {
			return cell{}, fmt.Errorf("shared string %q does not exist", v)
		}
		return cell{kind: kindString, s: sr.wb.strings[i]}, nil
	case "str", "e":
		if v == "" && typ == "str" {
			return cell{kind: kindString}, nil
		}
		return cell{kind: kindString, s: v}, nil
	case "b":
		return cell{kind: kindBool, f: map[bool]float64{true: 1}[v == "1" || v == "true"]}, nil
	case "d":
		t, err := time.Parse("2006-01-02T15:04:05", strings.TrimSuffix(v, "Z"))
		if err != nil {
			return cell{kind: kindString, s: v}, nil
		}
		return cell{kind: kindDate, f: timeSerial(t, sr.wb.date1904)}, nil
	}
	if v == "" {
		return cell{}, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return cell{kind: kindString, s: v}, nil
	}
	if style >= 0 && style < len(sr.wb.dateXF) && sr.wb.dateXF[style] {
		return cell{kind: kindDate, f: f}, nil
	}
	return cell{kind: kindNumber, f: f}, nil
}

// timeSerial converts an ISO date cell to a serial of the workbook's date
// system.
func timeSerial(t time.Time, date1904 bool) float64 {
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	if date1904 {
		epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t.Sub(epoch).Hours() / 24
}
