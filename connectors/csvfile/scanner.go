package csvfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// chunkSize is the size of the chunks the scanner reads into:
// fileformat.ChunkSize, but for tests, which make it small so that records
// cross chunks (fileformattest.DrawChunkSize).
var chunkSize = fileformat.ChunkSize

// span is one field of a record: its unescaped bytes are [start:end] of
// the buffer readRecord appended to (dst) when chunk is 0, else of the
// data of the chunk at that place of the scanner's held (read into, not
// copied). quoted tells "" (an empty string) from an empty unquoted field
// (null). Positions are 32-bit, so that a batch's spans (one per field)
// take 12 bytes each instead of 24: the decoder writes and reads them once
// per field, and a batch's text stays under 2 GiB (fileformat.MaxCSVBound
// bounds a record, maxBatchText the rest).
type span struct {
	start, end int32
	quoted     bool
	chunk      uint8
}

// mkSpan is a span of dst.
func mkSpan(start, end int, quoted bool) span { return span{int32(start), int32(end), quoted, 0} }

// maxHeld bounds the chunks one batch's spans point into (span.chunk).
const maxHeld = 255

// record is one parsed CSV record.
type record struct {
	fields []span
	// line is the 1-based line the record starts on.
	line int64
	// bad, when set, says why the record is malformed; it is rejected.
	bad string
}

// blank reports whether the record is an empty line.
func (r *record) blank() bool {
	return len(r.fields) == 1 && !r.fields[0].quoted && r.fields[0].end == r.fields[0].start
}

// tooLargeError is returned for a field over csv.max_field_size or a
// record over csv.max_record_size.
type tooLargeError struct {
	line  int64 // where the record starts
	field int   // 1-based; 0 for the whole record
	limit int
}

func (e *tooLargeError) Error() string {
	if e.field == 0 {
		return fmt.Sprintf("line %d: record is larger than %s (csv.max_record_size; an unterminated quote?)",
			e.line, fileformat.SizeText(int64(e.limit)))
	}
	return fmt.Sprintf("line %d: field %d is larger than %s (csv.max_field_size; an unterminated quote?)",
		e.line, e.field, fileformat.SizeText(int64(e.limit)))
}

// Scanner states within a record.
const (
	stFieldStart = iota // before the first byte of a field
	stUnquoted          // inside an unquoted field
	stQuoted            // inside a quoted field
	stQuoteSeen         // just after a quote inside a quoted field
	stQuoteCR           // after a closing quote and a CR
	stSkip              // a malformed record: skipping to its line end
)

// scanner splits CSV input into records. It reads into its own buffer and
// parses with a resumable state machine, so a record may span any number of
// reads and no line is ever buffered whole.
type scanner struct {
	rd io.Reader
	// buf is cur's data. held are the chunks the spans read since the
	// last take point into (span.chunk is a place in it).
	buf      []byte
	cur      *fileformat.Chunk
	pool     *fileformat.ChunkPool
	held     fileformat.Held
	pos, end int
	base     int64 // input offset of buf[0]
	eof      bool
	rerr     error
	delim    byte
	lines    int64 // line breaks consumed

	// Bounds: bytes of one field, fields of one record, bytes of one
	// record (csv.max_field_size, max_columns, max_record_size).
	maxField, maxColumns, maxRecord int

	raw      []byte // text of the current record from earlier reads, capped
	recStart int    // where the current record's unsaved text starts in buf

	// consumed gets the input consumed, up to fed (an input offset):
	// fill passes a buffer's bytes before it reads over them, the decoder
	// the bytes up to a batch's end (DecodeOptions.Consumed).
	consumed func([]byte)
	fed      int64
}

func newScanner(rd io.Reader, delim byte, offset, lines int64) *scanner {
	pool := fileformat.NewChunkPool(chunkSize, fileformat.MaxFreeChunks)
	cur := pool.Get()
	return &scanner{
		rd: rd, buf: cur.Data, cur: cur, pool: pool, delim: delim, base: offset, lines: lines, fed: offset,
		maxField: fileformat.MaxFieldSize, maxColumns: fileformat.DefaultMaxColumns, maxRecord: fileformat.DefaultMaxRecordSize,
	}
}

// text returns the bytes of a field span of a record read into dst.
func (s *scanner) text(dst []byte, f span) []byte {
	if f.chunk == 0 {
		return dst[f.start:f.end]
	}
	return s.held.At(int(f.chunk)).Data[f.start:f.end]
}

// take hands the chunks the spans read so far point into to the caller,
// which unrefs each when it no longer needs them.
func (s *scanner) take(into []*fileformat.Chunk) []*fileformat.Chunk { return s.held.Take(into) }

// drop releases the chunks the spans read so far point into.
func (s *scanner) drop() { s.held.Drop() }

// writable makes buf a chunk no span points into, to read over: the same
// one when nothing else references it, else a fresh one from the pool.
func (s *scanner) writable() {
	s.cur = s.pool.Writable(s.cur)
	s.buf = s.cur.Data
}

// offset is the input offset of the next unread byte.
func (s *scanner) offset() int64 { return s.base + int64(s.pos) }

// feed passes the input before offset to, not passed yet, to consumed;
// it must be in buf.
func (s *scanner) feed(to int64) {
	if s.consumed != nil && to > s.fed {
		s.consumed(s.buf[s.fed-s.base : to-s.base])
		s.fed = to
	}
}

// fill replaces the consumed buffer with the next read. It reports false at
// the end of input or on a read error (in s.rerr).
func (s *scanner) fill() bool {
	if s.eof || s.rerr != nil {
		return false
	}
	s.feed(s.base + int64(s.end))
	s.saveRaw()
	s.writable()
	s.base += int64(s.end)
	s.pos, s.end, s.recStart = 0, 0, 0
	return s.read()
}

// read reads into buf after end, reporting whether it got any bytes.
func (s *scanner) read() bool {
	n, eof, err := fileformat.ReadSome(s.rd, s.buf[s.end:])
	s.end += n
	s.eof = s.eof || eof
	if err != nil {
		s.rerr = err
	}
	return n > 0
}

// extend reads more of the record at pos, which goes on past end, so that
// readLine sees it whole: after end when the chunk has room, else into
// the start of a chunk no span points into, the record's bytes so far
// moved there first. It reports false at the end of input, on a read
// error, or when the record fills a chunk (left to the general path).
func (s *scanner) extend() bool {
	if s.eof || s.rerr != nil {
		return false
	}
	if s.end == len(s.buf) {
		if s.pos == 0 {
			return false
		}
		// The record starts at pos (recStart): nothing of it is in raw.
		s.feed(s.offset())
		// writable keeps this chunk when nothing else references it (the
		// copy moves the record down within it), else takes another: the
		// batches holding this one keep it as it is.
		old := s.buf[s.pos:s.end]
		s.writable()
		n := copy(s.buf, old)
		s.base += int64(s.pos)
		s.pos, s.end, s.recStart = 0, n, 0
	}
	return s.read()
}

// saveRaw keeps the current record's text in buf before it is discarded,
// up to what a reject shows.
func (s *scanner) saveRaw() {
	if room := fileformat.MaxRejectValue + 4 - len(s.raw); room > 0 {
		chunk := s.buf[s.recStart:s.pos]
		s.raw = append(s.raw, chunk[:min(room, len(chunk))]...)
	}
	s.recStart = s.pos
}

// rawRecord returns the text of the record just read, capped.
func (s *scanner) rawRecord() []byte {
	s.saveRaw()
	return s.raw
}

// atEOF reports whether the input has no more bytes; it may read.
func (s *scanner) atEOF() bool {
	return s.pos >= s.end && !s.fill() && s.rerr == nil
}

// skipBOM drops a UTF-8 byte order mark at the current position; call it at
// the start of the input only.
func (s *scanner) skipBOM() error {
	if s.end-s.pos < 3 && !s.eof {
		// Read at least three bytes so a BOM split across reads is seen.
		copy(s.buf, s.buf[s.pos:s.end])
		s.base += int64(s.pos)
		s.end -= s.pos
		s.pos, s.recStart = 0, 0
		n, err := io.ReadAtLeast(s.rd, s.buf[s.end:], 3-s.end)
		s.end += n
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			s.eof = true
		case err != nil:
			return err
		}
	}
	if bytes.HasPrefix(s.buf[s.pos:s.end], []byte("\uFEFF")) {
		s.pos += 3
		s.recStart = s.pos
	}
	return nil
}

// firstLine returns up to the first line break of the unread input without
// consuming it (at most one buffer).
func (s *scanner) firstLine() []byte {
	if s.pos >= s.end && !s.fill() {
		return nil
	}
	b := s.buf[s.pos:s.end]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return b
}

// readRecord parses the next record, appending its unescaped field bytes to
// dst and their spans to rec. It returns io.EOF when no record is left; a
// malformed record is returned with rec.bad set and the input positioned
// after it, as is a record of more than maxColumns fields. Other errors
// (reading, a field over maxField, a record over maxRecord) are fatal.
func (s *scanner) readRecord(dst []byte, rec *record) ([]byte, error) {
	rec.fields = rec.fields[:0]
	rec.bad = ""
	rec.line = s.lines + 1
	s.raw = s.raw[:0]
	s.recStart = s.pos
	if s.pos < s.end || s.fill() {
		for {
			var st lineStatus
			if dst, st = s.readLine(dst, rec); st == lineRead {
				return dst, nil
			}
			rec.fields = rec.fields[:0]
			if st != lineShort || !s.extend() {
				break
			}
		}
	}
	startOffset := s.offset()
	fieldStart, recordStart := len(dst), len(dst)
	state := stFieldStart
	for {
		if s.pos >= s.end && !s.fill() {
			if s.rerr != nil {
				return dst, s.rerr
			}
			switch state {
			case stFieldStart:
				if s.offset() == startOffset {
					return dst, io.EOF
				}
				if len(rec.fields) >= s.maxColumns { // a delimiter just before the end
					rec.bad = s.tooManyColumns()
					return dst, nil
				}
				rec.fields = append(rec.fields, mkSpan(len(dst), len(dst), false))
			case stUnquoted:
				// Like encoding/csv, a CR before the end of input ends the line.
				if n := len(dst); n > fieldStart && dst[n-1] == '\r' {
					dst = dst[:n-1]
				}
				rec.fields = append(rec.fields, mkSpan(fieldStart, len(dst), false))
			case stQuoted:
				rec.fields = append(rec.fields, mkSpan(fieldStart, len(dst), true))
				rec.bad = fmt.Sprintf("field %d: quoted field not closed before the end of the file", len(rec.fields))
			case stQuoteSeen, stQuoteCR:
				rec.fields = append(rec.fields, mkSpan(fieldStart, len(dst), true))
			}
			return dst, nil
		}
		buf := s.buf[s.pos:s.end]
		switch state {
		case stFieldStart:
			fieldStart = len(dst)
			if len(rec.fields) >= s.maxColumns {
				rec.bad = s.tooManyColumns()
				state = stSkip
				continue
			}
			if buf[0] == '"' {
				s.pos++
				state = stQuoted
			} else {
				state = stUnquoted
			}
		case stUnquoted:
			i := 0
			for i < len(buf) && buf[i] != s.delim && buf[i] != '\n' {
				i++
			}
			dst = append(dst, buf[:i]...)
			s.pos += i
			if err := s.checkSize(dst, fieldStart, recordStart, rec); err != nil {
				return dst, err
			}
			if i == len(buf) {
				continue
			}
			s.pos++
			if buf[i] == s.delim {
				rec.fields = append(rec.fields, mkSpan(fieldStart, len(dst), false))
				state = stFieldStart
				continue
			}
			s.lines++
			if n := len(dst); n > fieldStart && dst[n-1] == '\r' {
				dst = dst[:n-1]
			}
			rec.fields = append(rec.fields, mkSpan(fieldStart, len(dst), false))
			return dst, nil
		case stQuoted:
			i := bytes.IndexByte(buf, '"')
			chunk := buf
			if i >= 0 {
				chunk = buf[:i]
			}
			dst = append(dst, chunk...)
			s.lines += int64(bytes.Count(chunk, newline))
			if err := s.checkSize(dst, fieldStart, recordStart, rec); err != nil {
				return dst, err
			}
			if i < 0 {
				s.pos = s.end
				continue
			}
			s.pos += i + 1
			state = stQuoteSeen
		case stQuoteSeen:
			switch c := buf[0]; c {
			case '"':
				dst = append(dst, '"')
				s.pos++
				state = stQuoted
			case s.delim:
				s.pos++
				rec.fields = append(rec.fields, mkSpan(fieldStart, len(dst), true))
				state = stFieldStart
			case '\n':
				s.pos++
				s.lines++
				rec.fields = append(rec.fields, mkSpan(fieldStart, len(dst), true))
				return dst, nil
			case '\r':
				s.pos++
				state = stQuoteCR
			default:
				rec.bad = fmt.Sprintf("field %d: unexpected %q after the closing quote", len(rec.fields)+1, c)
				state = stSkip
			}
		case stQuoteCR:
			if buf[0] == '\n' {
				s.pos++
				s.lines++
				rec.fields = append(rec.fields, mkSpan(fieldStart, len(dst), true))
				return dst, nil
			}
			rec.bad = fmt.Sprintf("field %d: unexpected CR after the closing quote", len(rec.fields)+1)
			state = stSkip
		case stSkip:
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				s.pos = s.end
				continue
			}
			s.pos += i + 1
			s.lines++
			return dst, nil
		}
	}
}

var newline = []byte{'\n'}

// tooManyColumns is why a record over csv.max_columns is rejected.
func (s *scanner) tooManyColumns() string {
	return fmt.Sprintf("more than %d fields (csv.max_columns)", s.maxColumns)
}

// checkSize fails a record whose current field (from fieldStart in dst) or
// whole text (from recordStart) is over its bound.
func (s *scanner) checkSize(dst []byte, fieldStart, recordStart int, rec *record) error {
	if len(dst)-fieldStart > s.maxField {
		return &tooLargeError{line: rec.line, field: len(rec.fields) + 1, limit: s.maxField}
	}
	if len(dst)-recordStart > s.maxRecord {
		return &tooLargeError{line: rec.line, limit: s.maxRecord}
	}
	return nil
}

// lineStatus is what readLine made of the record at pos.
type lineStatus int

const (
	lineRead  lineStatus = iota // read: its fields are in rec
	lineShort                   // it goes on past end (within the bounds): extend and try again
	lineOther                   // malformed, over a bound, or too many chunks: for the general path
)

// readLine is readRecord's fast path for a well-formed record whose lines
// are all in the buffer: its fields point into the chunk it was read into,
// not copied, but for a quoted field with doubled quotes, unescaped into
// dst. It reports lineShort, with dst as it was, for a record that goes
// on past the bytes read so far, and lineOther for any other record.
func (s *scanner) readLine(dst []byte, rec *record) ([]byte, lineStatus) {
	buf := s.buf[s.pos:s.end]
	eol := bytes.IndexByte(buf, '\n')
	bound := min(s.maxField, s.maxRecord)
	switch {
	case eol > bound || (eol < 0 && len(buf) > bound):
		return dst, lineOther // the general path checks the bounds
	case eol < 0:
		return dst, lineShort
	}
	place := s.held.Index(s.cur)
	if place > maxHeld {
		return dst, lineOther
	}
	idx := uint8(place)
	base, off := len(dst), s.pos
	n := eol
	breaks := int64(1) // the line breaks the record takes, its last one too
	for i := 0; ; {
		if i < n && buf[i] == '"' {
			start, k, doubled := i+1, i+1, false
			for {
				q := bytes.IndexByte(buf[k:n], '"')
				if q < 0 {
					// The field goes on past this line: take the next one.
					next := bytes.IndexByte(buf[n+1:], '\n')
					switch {
					case n+1+next > bound || (next < 0 && len(buf) > bound):
						return dst[:base], lineOther // the general path reads on and checks the bounds
					case next < 0:
						return dst[:base], lineShort
					}
					n += 1 + next
					breaks++
					continue
				}
				q += k
				if q+1 < n && buf[q+1] == '"' {
					doubled = true
					k = q + 2
					continue
				}
				k = q + 1
				break
			}
			if doubled {
				d0 := len(dst)
				dst = appendUnescaped(dst, buf[start:k-1])
				rec.fields = append(rec.fields, mkSpan(d0, len(dst), true))
			} else {
				rec.fields = append(rec.fields, span{int32(off + start), int32(off + k - 1), true, idx})
			}
			switch {
			case k == n || (k == n-1 && buf[k] == '\r'):
			case buf[k] == s.delim:
				i = k + 1
				continue
			default:
				return dst[:base], lineOther // malformed: the general path says why
			}
			break
		}
		k := i
		for k < n && buf[k] != s.delim {
			k++
		}
		end := k
		if k == n && end > i && buf[end-1] == '\r' {
			end--
		}
		rec.fields = append(rec.fields, span{int32(off + i), int32(off + end), false, idx})
		if k == n {
			break
		}
		i = k + 1
	}
	if len(rec.fields) > s.maxColumns {
		return dst[:base], lineOther
	}
	s.held.Hold(s.cur)
	s.pos += n + 1
	s.lines += breaks
	return dst, lineRead
}

// appendUnescaped appends a quoted field's text, its doubled quotes made
// single, to dst.
func appendUnescaped(dst, raw []byte) []byte {
	for {
		q := bytes.IndexByte(raw, '"')
		if q < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:q+1]...)
		raw = raw[q+2:]
	}
}
