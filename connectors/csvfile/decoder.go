package csvfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"unsafe"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// maxPresized bounds the rows a batch's spans and lines are sized for
// before it is read; more grow them as they come.
const maxPresized = 1 << 16

// maxBatchText ends a batch early once it has read this much input, so
// that a batch of long records (each under the bounds) stays in memory's
// reach: 10,000 records of 16 MiB would be 160 GiB.
const maxBatchText = 64 << 20

// Decoder reads CSV records into batches of string columns. An unquoted
// empty field is null, a quoted empty one ("") an empty string. A record
// with the wrong number of fields, or malformed quoting, is rejected with
// its line; the rest loads.
type Decoder struct {
	sc     *scanner
	file   string
	header bool
	logger *slog.Logger

	schema *etl.Schema // nil until the first record of a headerless file
	ncols  int

	rec       record
	spans     []span  // the current batch's fields, ncols per row
	lines     []int64 // the current batch's row lines
	arenaHint int
	free      fileformat.Stack[*vectors] // released batches' vectors (see build)
	offset    int64
	line      int64

	maxField, maxColumns, maxRecord int
	// widthLine is the line of the record a resumed headerless file took
	// its width from: a blank line before it was skipped when the file was
	// read from the start (no width yet), so it is skipped again.
	widthLine int64
}

var _ fileformat.Decoder = (*Decoder)(nil)

// NewDecoder returns a decoder of r. With opts.Offset > 0 it reads the
// header (and detects the delimiter) from the start of r, then seeks to
// the offset; a UTF-8 BOM at the start is skipped.
func NewDecoder(r io.ReadSeeker, opts fileformat.DecodeOptions) (*Decoder, error) {
	delim, err := opts.CSV.DelimiterByte()
	if err != nil {
		return nil, err
	}
	maxField, maxColumns, maxRecord, err := opts.CSV.Limits()
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Decoder{
		file: opts.File, header: opts.CSV.Header, logger: logger, arenaHint: 64 << 10,
		maxField: maxField, maxColumns: maxColumns, maxRecord: maxRecord,
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil && opts.Offset > 0 {
		return nil, fmt.Errorf("seek: %w", err)
	}
	d.sc = d.newScanner(r, delim, 0, 0)
	if opts.Offset == 0 {
		d.sc.consumed = opts.Consumed
	}
	if err := d.sc.skipBOM(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if delim == 0 {
		d.sc.delim = detectDelimiter(d.sc.firstLine())
		if d.sc.rerr != nil {
			return nil, fmt.Errorf("read: %w", d.sc.rerr)
		}
		if opts.Offset == 0 {
			logger.Info(fmt.Sprintf("%s: csv delimiter %s, detected (set csv.delimiter to choose another)", opts.File, delimiterName(d.sc.delim)),
				"file", opts.File, "delimiter", string(d.sc.delim))
		}
	}
	if d.header {
		if err := d.readHeader(); err != nil {
			return nil, err
		}
	} else if opts.Offset > 0 {
		// A headerless file's width is its first record's.
		if err := d.readWidth(); err != nil {
			return nil, err
		}
	}
	if opts.Offset > 0 {
		if _, err := r.Seek(opts.Offset, io.SeekStart); err != nil {
			return nil, fmt.Errorf("seek to offset %d: %w", opts.Offset, err)
		}
		d.sc = d.newScanner(r, d.sc.delim, opts.Offset, opts.Line)
		d.sc.consumed = opts.Consumed
	}
	d.offset, d.line = d.sc.offset(), d.sc.lines
	d.sc.feed(d.offset)
	return d, nil
}

// newScanner returns a scanner with the decoder's bounds.
func (d *Decoder) newScanner(r io.Reader, delim byte, offset, lines int64) *scanner {
	sc := newScanner(r, delim, offset, lines)
	sc.maxField, sc.maxColumns, sc.maxRecord = d.maxField, d.maxColumns, d.maxRecord
	return sc
}

// readHeader reads the header record into the schema.
func (d *Decoder) readHeader() error {
	var names []byte
	var err error
	for {
		names, err = d.sc.readRecord(names[:0], &d.rec)
		if errors.Is(err, io.EOF) {
			d.schema = etl.MustSchema() // an empty file
			return nil
		}
		if err != nil {
			return d.fatal(err)
		}
		if !d.rec.blank() {
			break
		}
	}
	if d.rec.bad != "" {
		return fmt.Errorf("line %d: header: %s", d.rec.line, d.rec.bad)
	}
	raw := make([]string, len(d.rec.fields))
	for i, f := range d.rec.fields {
		raw[i] = string(d.sc.text(names, f))
	}
	d.sc.drop()
	fields, renamed := headerFields(raw)
	for _, msg := range renamed {
		d.logger.Warn("csv header: "+msg, "file", d.file, "line", d.rec.line)
	}
	d.schema = etl.MustSchema(fields...)
	d.ncols = len(fields)
	return nil
}

// readWidth reads the first record of a headerless file to learn its width.
func (d *Decoder) readWidth() error {
	for {
		_, err := d.sc.readRecord(nil, &d.rec)
		d.sc.drop()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return d.fatal(err)
		}
		if !d.rec.blank() && d.rec.bad == "" {
			d.setWidth(len(d.rec.fields))
			d.widthLine = d.rec.line
			return nil
		}
	}
}

func (d *Decoder) setWidth(n int) {
	fields := make([]etl.Field, n)
	for i := range fields {
		fields[i] = etl.Field{Name: "col_" + strconv.Itoa(i+1), Type: etl.TypeString}
	}
	d.schema = etl.MustSchema(fields...)
	d.ncols = n
}

// headerFields turns header names into string fields, naming an empty one
// col_N and suffixing a repeated one name_2, name_3, ...; it returns a
// message per renamed field.
func headerFields(names []string) ([]etl.Field, []string) {
	fields := make([]etl.Field, len(names))
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		seen[n] = true
	}
	taken := make(map[string]bool, len(names))
	var renamed []string
	for i, n := range names {
		name := n
		if name == "" {
			name = "col_" + strconv.Itoa(i+1)
		}
		if taken[name] || (n == "" && seen[name]) {
			base := name
			for k := 2; taken[name] || seen[name]; k++ {
				name = base + "_" + strconv.Itoa(k)
			}
		}
		if name != n {
			if n == "" {
				renamed = append(renamed, fmt.Sprintf("column %d has no name, using %q", i+1, name))
			} else {
				renamed = append(renamed, fmt.Sprintf("column %d repeats %q, using %q", i+1, n, name))
			}
		}
		taken[name] = true
		fields[i] = etl.Field{Name: name, Type: etl.TypeString}
	}
	return fields, renamed
}

// delimiterName is how a delimiter is written in the config.
func delimiterName(d byte) string {
	switch d {
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	case '\t':
		return "tab"
	case '|':
		return "pipe"
	}
	return string(d)
}

// detectDelimiter picks the most frequent of , ; tab | outside quotes on
// the first line; a comma when none occurs or when it ties (unsure: the
// common case wins).
func detectDelimiter(line []byte) byte {
	candidates := [...]byte{',', ';', '\t', '|'}
	var counts [len(candidates)]int
	quoted := false
	for _, c := range line {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		for i, cand := range candidates {
			if c == cand {
				counts[i]++
			}
		}
	}
	best := 0
	for i := range counts {
		if counts[i] > counts[best] {
			best = i
		}
	}
	return candidates[best]
}

// Schema returns the file's schema: the header's fields, or col_1..col_N
// once a headerless file's first record is read; nil before that.
func (d *Decoder) Schema() *etl.Schema { return d.schema }

// Position implements fileformat.Decoder.
func (d *Decoder) Position() (offset, line int64) { return d.offset, d.line }

func (d *Decoder) fatal(err error) error {
	var big *tooLargeError
	if errors.As(err, &big) {
		return err
	}
	return fmt.Errorf("read: %w", err)
}

// Decode implements fileformat.Decoder.
func (d *Decoder) Decode(ctx context.Context, n int) (*etl.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		n = etl.DefaultBatchSize
	}
	v := d.reuse()
	arena := v.arena[:0]
	if cap(arena) < d.arenaHint {
		arena = make([]byte, 0, d.arenaHint)
	}
	d.spans, d.lines = d.spans[:0], d.lines[:0]
	if rows := min(n, maxPresized); d.ncols > 0 && cap(d.lines) < rows {
		// Room for the batch's fields from the start: grown by append,
		// the spans were copied again and again, ~5 % of a load's CPU.
		d.spans, d.lines = make([]span, 0, rows*d.ncols), make([]int64, 0, rows)
	}
	var rejects []etl.Reject
	eof := false
	start := d.sc.offset()
	for records := 0; records < n && d.sc.offset()-start < maxBatchText; {
		mark := len(arena)
		// The record's fields go straight into d.spans' spare room (kept
		// below unless the record is not one), not through a copy.
		d.rec.fields = d.spans[len(d.spans):len(d.spans)]
		var err error
		arena, err = d.sc.readRecord(arena, &d.rec)
		if errors.Is(err, io.EOF) {
			eof = true
			break
		}
		if err != nil {
			return nil, d.fatal(err)
		}
		d.offset, d.line = d.sc.offset(), d.sc.lines
		rec := &d.rec
		// A blank line is no record, except in a one-column file, where it
		// is the way a null is written.
		if rec.blank() && (d.ncols != 1 || rec.line < d.widthLine) {
			arena = arena[:mark]
			continue
		}
		records++
		if d.schema == nil && rec.bad == "" {
			d.setWidth(len(rec.fields)) // a malformed record's fields are not a width
		}
		if rec.bad == "" && d.schema != nil && len(rec.fields) != d.ncols {
			if d.header {
				rec.bad = fmt.Sprintf("%d fields, header has %d", len(rec.fields), d.ncols)
			} else {
				rec.bad = fmt.Sprintf("%d fields, the first record has %d", len(rec.fields), d.ncols)
			}
		}
		if rec.bad != "" {
			arena = arena[:mark]
			rejects = append(rejects, etl.Reject{
				Step:   "source",
				Origin: etl.Origin{File: d.file, Line: rec.line},
				Reason: fmt.Sprintf("line %d: %s", rec.line, rec.bad),
				Value:  fileformat.RejectValue(d.sc.rawRecord()),
			})
			continue
		}
		if k := len(d.spans); cap(d.spans)-k >= len(rec.fields) && len(rec.fields) > 0 && &d.spans[k : k+1][0] == &rec.fields[0] {
			d.spans = d.spans[:k+len(rec.fields)] // read in place
		} else {
			d.spans = append(d.spans, rec.fields...) // they outgrew the room
		}
		d.lines = append(d.lines, rec.line)
		if records&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	if !eof && d.sc.atEOF() {
		eof = true
	}
	if d.sc.rerr != nil {
		return nil, d.fatal(d.sc.rerr)
	}
	if len(arena) > 0 {
		d.arenaHint = len(arena) + len(arena)/8
	}
	d.sc.feed(d.offset)
	v.chunks = d.sc.take(v.chunks)
	b := d.build(v, arena)
	if d.schema == nil {
		// No well-formed record yet: the width is still to learn.
		b.Schema = etl.MustSchema()
	}
	b.Rejects = rejects
	if eof {
		return b, io.EOF
	}
	return b, nil
}

// freeVectors is how many released batches' vectors a decoder keeps for
// later batches: the 10 batches of a PostgreSQL transaction (100,000
// rows), released together at its commit, and a few more. Kept vectors
// are live memory (up to ~2.4 MB each for 10,000 leads), which raises the
// GC's heap goal: measured on 1M leads to PostgreSQL, 12 against 4 kept
// cost 5-9 MB of peak RSS and saved 5-7 of 22 GC cycles.
const freeVectors = 12

// vectors are the memory of a batch: one string slab and one null slab
// shared by all columns, its origins, and what its strings point into:
// the chunks the scanner read them into, and the arena for the fields it
// had to copy (unescaped, or records read across chunks).
type vectors struct {
	strs    []string
	nulls   []bool
	origins []etl.Origin
	arena   []byte
	chunks  []*fileformat.Chunk
}

// reuse returns the memory of a released batch, the one released last
// (the most likely still in the CPU's caches), or empty vectors.
func (d *Decoder) reuse() *vectors {
	if v, ok := d.free.Pop(); ok {
		return v
	}
	return &vectors{}
}

// slabs sizes v's slabs for rows records of ncols fields, new ones where
// they are too small.
func (v *vectors) slabs(rows, ncols int) {
	if cap(v.strs) < rows*ncols || cap(v.origins) < rows {
		v.strs, v.nulls, v.origins = make([]string, rows*ncols), make([]bool, rows*ncols), make([]etl.Origin, rows)
		return
	}
	v.strs, v.nulls, v.origins = v.strs[:rows*ncols], v.nulls[:rows*ncols], v.origins[:rows]
}

// give takes back the memory of a released batch. Its strings are cleared
// first: kept, they would point into the arena the next batch overwrites.
func (d *Decoder) give(v *vectors) {
	clear(v.strs)
	v.chunks = fileformat.UnrefAll(v.chunks)
	d.free.Push(v, freeVectors)
}

// build makes the batch's columns from the spans over arena and v.chunks,
// in the memory of v (a released batch's when there is one, see
// etl.Releaser): one string slab and one null slab shared by all columns,
// strings pointing into the chunks and the arena. A released batch's
// arena and chunks are read into again, so nothing may keep a batch's
// strings past its release: steps and targets that say they release
// batches keep none, and the runner gives the rejects it stores after the
// release strings of their own.
func (d *Decoder) build(v *vectors, arena []byte) *etl.Batch {
	rows := len(d.lines)
	ncols := d.ncols
	v.slabs(rows, ncols)
	v.arena = arena
	b := &etl.Batch{Schema: d.schema, Cols: make([]etl.Column, ncols), Origins: v.origins}
	b.OnRelease(func() { d.give(v) })
	strs, nulls := v.strs, v.nulls
	// bases[k] is where span.chunk k's positions count from.
	bases := make([]unsafe.Pointer, 1+len(v.chunks))
	bases[0] = unsafe.Pointer(unsafe.SliceData(arena))
	for k, c := range v.chunks {
		bases[k+1] = unsafe.Pointer(unsafe.SliceData(c.Data))
	}
	for j := range b.Cols {
		lo, hi := j*rows, (j+1)*rows
		b.Cols[j] = etl.Column{Type: etl.TypeString, Str: strs[lo:hi:hi], Null: nulls[lo:hi:hi]}
	}
	for i, line := range d.lines {
		b.Origins[i] = etl.Origin{File: d.file, Line: line}
		row := d.spans[i*ncols : (i+1)*ncols]
		for j, f := range row {
			k := j*rows + i
			if f.end == f.start {
				strs[k], nulls[k] = "", !f.quoted
				continue
			}
			strs[k], nulls[k] = unsafe.String((*byte)(unsafe.Add(bases[f.chunk], f.start)), f.end-f.start), false
		}
	}
	return b
}
