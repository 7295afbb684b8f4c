package mysql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// infileChunk is how many bytes infileRows encodes at a time; the driver
// sends them in packets of 16 KB.
const infileChunk = 64 << 10

// infileRows is an io.Reader of a batch as LOAD DATA reads it in
// infileFormat, encoded straight from the column vectors a chunk of rows at
// a time into a buffer kept for the next batch. A value is the text the
// driver writes into an INSERT for it, so that the server converts it to
// the column's type the same way: strings and JSON as they are, ints and
// floats in Go's shortest form, bools as 1 and 0, times as the driver
// formats them; escaped are backslash, tab, newline, carriage return and
// NUL, and a null is \N. With ord, each row starts with its number in the
// batch (from 1).
type infileRows struct {
	batch *etl.Batch
	ord   bool
	row   int // next row to encode
	buf   []byte
	off   int // read offset in buf
	// err is the error that ended the stream early; the driver passes it
	// on.
	err error
	// truncate is the DSN's timeTruncate, which the driver applies to the
	// times it writes.
	truncate time.Duration
	json     bytes.Buffer
	jsonEnc  *json.Encoder
}

var _ io.Reader = (*infileRows)(nil)

func (r *infileRows) reset(b *etl.Batch, ord bool) {
	r.batch, r.ord, r.row, r.off, r.err = b, ord, 0, 0, nil
	r.buf = r.buf[:0]
}

// Read copies the stream into p, encoding rows as needed.
func (r *infileRows) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n := 0
	for n < len(p) {
		if r.off == len(r.buf) {
			if r.row == r.batch.Len() {
				break
			}
			if err := r.fill(); err != nil {
				r.err = err
				return n, err
			}
		}
		c := copy(p[n:], r.buf[r.off:])
		r.off += c
		n += c
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// fill encodes the next rows, about infileChunk bytes, into r.buf. A row
// that fails to encode is left out of it.
func (r *infileRows) fill() error {
	buf := r.buf[:0]
	r.off = 0
	cols := r.batch.Cols
	for n := r.batch.Len(); r.row < n && len(buf) < infileChunk; r.row++ {
		i := r.row
		if r.ord {
			buf = strconv.AppendInt(buf, int64(i+1), 10)
			buf = append(buf, '\t')
		}
		for c := range cols {
			if c > 0 {
				buf = append(buf, '\t')
			}
			col := &cols[c]
			if col.Null[i] {
				buf = append(buf, `\N`...)
				continue
			}
			var err error
			switch col.Type.Storage() {
			case etl.StoreStr: // bytes never come here (see infileSafe)
				buf = appendEscaped(buf, col.Str[i])
			case etl.StoreInt:
				buf = strconv.AppendInt(buf, col.Int[i], 10)
			case etl.StoreFloat:
				buf, err = appendFloat(buf, col.Float[i])
			case etl.StoreBool:
				if col.Bool[i] {
					buf = append(buf, '1')
				} else {
					buf = append(buf, '0')
				}
			case etl.StoreTime:
				buf, err = appendTime(buf, col.Time[i], r.truncate)
			case etl.StoreJSON:
				buf, err = r.appendJSON(buf, col.JSON[i])
			default:
				err = fmt.Errorf("unsupported type %s", col.Type)
			}
			if err != nil {
				r.buf = buf[:0]
				return fmt.Errorf("%s: field %q: %w", r.batch.Origins[i], r.batch.Schema.Field(c).Name, err)
			}
		}
		buf = append(buf, '\n')
	}
	r.buf = buf
	return nil
}

// appendJSON appends v as compact JSON without HTML escaping, as
// sqlconn.EncodeJSON writes it, escaped.
func (r *infileRows) appendJSON(buf []byte, v any) ([]byte, error) {
	if r.jsonEnc == nil {
		r.jsonEnc = json.NewEncoder(&r.json)
		r.jsonEnc.SetEscapeHTML(false)
	}
	r.json.Reset()
	if err := r.jsonEnc.Encode(v); err != nil {
		return buf, fmt.Errorf("encode JSON: %w", err)
	}
	return appendEscaped(buf, bytes.TrimSuffix(r.json.Bytes(), []byte{'\n'})), nil
}

// appendEscaped appends s with LOAD DATA's backslash escapes for the
// bytes that would end a field or a row, or be read as an escape: \\, \t,
// \n, \r, \0.
func appendEscaped[T string | []byte](buf []byte, s T) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		esc := infileEscapes[s[i]]
		if esc == 0 {
			continue
		}
		buf = append(buf, s[start:i]...)
		buf = append(buf, '\\', esc)
		start = i + 1
	}
	return append(buf, s[start:]...)
}

// infileEscapes maps a byte to the letter escaping it, or to 0.
var infileEscapes = [256]byte{'\\': '\\', '\t': 't', '\n': 'n', '\r': 'r', 0: '0'}

// appendFloat appends f as the driver writes it, in Go's shortest form,
// but -0 as 0: the INSERT's literal -0 is the integer 0. MySQL stores no
// NaN or infinity (an INSERT of one fails too).
func appendFloat(buf []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return buf, fmt.Errorf("%v cannot be stored: MySQL has no NaN or infinity", f)
	}
	if f == 0 {
		f = 0
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64), nil
}

var errYearRange = errors.New("year outside 1-9999")

// zeroTime is Go's zero time, 0001-01-01 00:00:00 UTC, as MySQL reads it.
const zeroTime = "0001-01-01"

// appendTime appends t as go-sql-driver writes a time into a statement
// (with loc UTC), but for the zero time: go-sql-driver writes
// "0000-00-00", which is no date (PostgreSQL's 0001-01-01 came back from
// a round trip through MariaDB as 0000-00-00); it is 0001-01-01 here and
// in an INSERT (see backend.value). Else in UTC, truncated
// to truncate when set, the date, then the time of day unless midnight,
// then the fraction unless zero, without trailing zeros (a column with
// fewer digits truncates or rounds it as the server does for an INSERT).
func appendTime(buf []byte, t time.Time, truncate time.Duration) ([]byte, error) {
	if t.IsZero() {
		return append(buf, zeroTime...), nil
	}
	t = t.UTC()
	if truncate > 0 {
		t = t.Truncate(truncate)
	}
	year, month, day := t.Date()
	if year < 1 || year > 9999 {
		return buf, fmt.Errorf("%w: %d", errYearRange, year)
	}
	buf = appendDigits(buf, year, 4)
	buf = append(buf, '-')
	buf = appendDigits(buf, int(month), 2)
	buf = append(buf, '-')
	buf = appendDigits(buf, day, 2)
	hour, minute, sec := t.Clock()
	nsec := t.Nanosecond()
	if hour == 0 && minute == 0 && sec == 0 && nsec == 0 {
		return buf, nil
	}
	buf = append(buf, ' ')
	buf = appendDigits(buf, hour, 2)
	buf = append(buf, ':')
	buf = appendDigits(buf, minute, 2)
	buf = append(buf, ':')
	buf = appendDigits(buf, sec, 2)
	if nsec == 0 {
		return buf, nil
	}
	buf = append(buf, '.')
	digits := 9
	for nsec%10 == 0 {
		nsec /= 10
		digits--
	}
	return appendDigits(buf, nsec, digits), nil
}

// appendDigits appends n (≥ 0) in decimal, zero-padded to width digits.
func appendDigits(buf []byte, n, width int) []byte {
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(buf, d[:width]...)
}
