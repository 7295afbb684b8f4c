package xlsx

import (
	"fmt"
	"io"
	"os"

	"github.com/xuri/excelize/v2"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// maxRows is the number of rows a worksheet holds, the header included.
const maxRows = excelize.TotalRows

// sheetName is the written workbook's one sheet.
const sheetName = "Sheet1"

// Encoder writes batches to one sheet with excelize's StreamWriter (rows go
// to a temporary file, not memory): a bold header row, frozen, then one
// row per record with typed cells — numbers, booleans, timestamps as
// dates (yyyy-mm-dd hh:mm:ss, UTC), dates as yyyy-mm-dd, nested JSON as
// text. The workbook is written to w at Finish.
type Encoder struct {
	w    io.Writer
	file string

	f         *excelize.File
	sw        *excelize.StreamWriter
	header    []string
	mapSchema *etl.Schema
	mapping   []int
	timeStyle int
	dateStyle int
	row       int
	values    []any
	err       error
	// marked says a float was written as marked text (see floatMark).
	marked bool
}

var _ fileformat.Finisher = (*Encoder)(nil)

// NewEncoder returns an encoder writing a workbook to w.
func NewEncoder(w io.Writer, opts fileformat.EncodeOptions) *Encoder {
	return &Encoder{w: w, file: opts.File}
}

func (e *Encoder) start(names []string) error {
	e.f = excelize.NewFile()
	var err error
	if e.sw, err = e.f.NewStreamWriter(sheetName); err != nil {
		return err
	}
	bold, err := e.f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}}})
	if err != nil {
		return err
	}
	timeFmt, dateFmt := "yyyy-mm-dd hh:mm:ss", "yyyy-mm-dd"
	if e.timeStyle, err = e.f.NewStyle(&excelize.Style{CustomNumFmt: &timeFmt}); err != nil {
		return err
	}
	if e.dateStyle, err = e.f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt}); err != nil {
		return err
	}
	if err := e.sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	head := make([]any, len(names))
	for i, n := range names {
		head[i] = excelize.Cell{StyleID: bold, Value: e.escapeMark(n)}
	}
	e.header = names
	e.row = 1
	return e.sw.SetRow("A1", head)
}

// Write implements fileformat.Encoder; fields are matched to the first
// batch's header by name (a missing one is an empty cell, a new one an
// error).
func (e *Encoder) Write(b *etl.Batch) error {
	if e.err != nil {
		return e.err
	}
	if b.Len() == 0 {
		return nil
	}
	if e.f == nil {
		if err := e.start(b.Schema.Names()); err != nil {
			e.err = fmt.Errorf("%s: %w", e.file, err)
			return e.err
		}
	}
	if b.Schema != e.mapSchema {
		mapping, err := fileformat.HeaderMapping(e.header, b.Schema, e.file)
		if err != nil {
			return err
		}
		e.mapSchema, e.mapping = b.Schema, mapping
	}
	if e.row+b.Len() > maxRows {
		return fmt.Errorf("%s: more than %d rows do not fit in a worksheet", e.file, maxRows-1)
	}
	for i := range b.Len() {
		e.values = e.values[:0]
		for _, j := range e.mapping {
			if j < 0 || b.Cols[j].Null[i] {
				e.values = append(e.values, nil)
				continue
			}
			c := &b.Cols[j]
			switch c.Type {
			case etl.TypeString:
				e.values = append(e.values, e.escapeMark(c.Str[i]))
			case etl.TypeInt:
				e.values = append(e.values, c.Int[i])
			case etl.TypeFloat:
				if text, ok := exactText(c.Float[i]); ok {
					// excelize would cut it to 15 digits: marked text,
					// made a number again at Finish.
					e.values = append(e.values, floatMark+text)
					e.marked = true
				} else {
					e.values = append(e.values, c.Float[i])
				}
			case etl.TypeBool:
				e.values = append(e.values, c.Bool[i])
			case etl.TypeTimestamp:
				e.values = append(e.values, excelize.Cell{StyleID: e.timeStyle, Value: c.Time[i].UTC()})
			case etl.TypeDate:
				e.values = append(e.values, excelize.Cell{StyleID: e.dateStyle, Value: c.Time[i].UTC()})
			default:
				text, _ := c.Text(i)
				e.values = append(e.values, e.escapeMark(text))
			}
		}
		e.row++
		cellName, _ := excelize.CoordinatesToCellName(1, e.row)
		if err := e.sw.SetRow(cellName, e.values); err != nil {
			e.err = fmt.Errorf("%s: row %d: %w", e.file, e.row, err)
			return e.err
		}
	}
	return nil
}

// Finish implements fileformat.Finisher: it writes the workbook.
func (e *Encoder) Finish() error {
	if e.err != nil {
		return e.err
	}
	if e.f == nil {
		return nil
	}
	defer e.f.Close()
	if err := e.sw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", e.file, err)
	}
	if !e.marked {
		if _, err := e.f.WriteTo(e.w); err != nil {
			return fmt.Errorf("%s: %w", e.file, err)
		}
		return nil
	}
	// Written aside, then copied with the exact floats put back.
	tmp, err := os.CreateTemp("", "nightjar-*.xlsx")
	if err != nil {
		return fmt.Errorf("%s: %w", e.file, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := e.f.WriteTo(tmp); err != nil {
		return fmt.Errorf("%s: %w", e.file, err)
	}
	if err := writeExact(e.w, tmp); err != nil {
		return fmt.Errorf("%s: %w", e.file, err)
	}
	return nil
}
