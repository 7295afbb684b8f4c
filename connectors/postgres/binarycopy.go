package postgres

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/nightjar-etl/nightjar/etl"
)

// binaryOIDs are the column types a field of each type is written to by
// binaryCopy: those nightjar creates (see Dialect.ColumnType), and varchar
// for strings (its binary input is text's). A table with any other column
// type is loaded through pgx's CopyFrom, which converts.
var binaryOIDs = map[etl.Type][]uint32{
	etl.TypeString:    {pgtype.TextOID, pgtype.VarcharOID},
	etl.TypeInt:       {pgtype.Int8OID},
	etl.TypeFloat:     {pgtype.Float8OID},
	etl.TypeBool:      {pgtype.BoolOID},
	etl.TypeTimestamp: {pgtype.TimestamptzOID},
	etl.TypeDate:      {pgtype.DateOID},
	etl.TypeJSON:      {pgtype.JSONBOID},
	etl.TypeBytes:     {pgtype.ByteaOID},
	etl.TypeDecimal:   {pgtype.NumericOID},
	etl.TypeUUID:      {pgtype.UUIDOID},
	// A local timestamp's binary form is an instant's, read as UTC.
	etl.TypeLocalTimestamp: {pgtype.TimestampOID},
	// An array: its element type's array (see arrayOIDs).
}

// binaryCompatible reports whether every field of s has a column in oids
// (column name → type OID) of the type binaryCopy writes it as.
func binaryCompatible(s *etl.Schema, oids map[string]uint32) bool {
	for i := range s.Len() {
		f := s.Field(i)
		oid, ok := oids[f.Name]
		if !ok {
			return false
		}
		match := f.Type == etl.TypeArray && oid == arrayOIDs[f.Elem][0] && oid != 0
		for _, want := range binaryOIDs[f.Type] {
			match = match || oid == want
		}
		if !match {
			return false
		}
	}
	return true
}

// copyChunk is how many bytes binaryCopy encodes at a time: the size of
// pgconn's CopyData messages.
const copyChunk = 64 << 10

// copySignature opens a binary COPY stream; flags and the header
// extension length (both 0) follow.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

// Offsets of PostgreSQL's epoch (2000-01-01 UTC) from Unix's.
const (
	pgEpochMicros = 946_684_800 * 1_000_000
	pgEpochDays   = 10_957
)

// binaryCopy is an io.Reader of a batch as PostgreSQL's binary COPY
// stream, encoded straight from the column vectors: per row the field
// count, then per field its length (-1 for null) and bytes; with ord, each
// row ends with its index in the batch (a bigint). It encodes a chunk of
// rows at a time into a buffer kept for the next batch.
type binaryCopy struct {
	batch *etl.Batch
	ord   bool
	// ordBase is added to the row index written with ord.
	ordBase int64
	// streamed: the stream spans batches (see stream), so that the header
	// and trailer are written by it, not here.
	streamed bool
	row      int // next row to encode; -1 before the header
	buf      []byte
	off      int // read offset in buf
	done     bool
	// err is the error that ended the stream early; COPY reports only
	// its text.
	err     error
	json    bytes.Buffer
	jsonEnc *json.Encoder
}

var _ io.Reader = (*binaryCopy)(nil)

func (r *binaryCopy) reset(b *etl.Batch, ord bool) {
	r.batch, r.ord, r.row, r.off, r.done, r.err = b, ord, -1, 0, false, nil
	r.ordBase, r.streamed = 0, false
	r.buf = r.buf[:0]
}

// appendCopyHeader appends the header opening a binary COPY stream.
func appendCopyHeader(buf []byte) []byte {
	buf = append(buf, copySignature...)
	buf = binary.BigEndian.AppendUint32(buf, 0)  // flags
	return binary.BigEndian.AppendUint32(buf, 0) // header extension length
}

// copyTrailer ends a binary COPY stream: a field count of -1.
var copyTrailer = []byte{0xff, 0xff}

// Read copies the stream into p, encoding rows as needed.
func (r *binaryCopy) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.off == len(r.buf) {
			if r.done {
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
	if n == 0 && r.done {
		return 0, io.EOF
	}
	return n, nil
}

// fill encodes the next rows, about copyChunk bytes, into r.buf; after
// the last row comes the trailer.
func (r *binaryCopy) fill() error {
	buf := r.buf[:0]
	r.off = 0
	if r.row < 0 {
		if !r.streamed {
			buf = appendCopyHeader(buf)
		}
		r.row = 0
	}
	cols := r.batch.Cols
	fields := len(cols)
	if r.ord {
		fields++
	}
	n := r.batch.Len()
	for ; r.row < n && len(buf) < copyChunk; r.row++ {
		i := r.row
		buf = binary.BigEndian.AppendUint16(buf, uint16(fields))
		for c := range cols {
			col := &cols[c]
			if col.Null[i] {
				buf = binary.BigEndian.AppendUint32(buf, math.MaxUint32) // -1
				continue
			}
			var err error
			switch col.Type {
			case etl.TypeDecimal:
				buf = appendNumeric(buf, col.Str[i])
			case etl.TypeUUID:
				buf = appendUUID(buf, col.Str[i])
			case etl.TypeString, etl.TypeBytes: // bytea's binary form is the bytes
				buf = appendText(buf, col.Str[i])
			case etl.TypeInt:
				buf = appendInt64(buf, col.Int[i])
			case etl.TypeFloat:
				buf = appendInt64(buf, int64(math.Float64bits(col.Float[i])))
			case etl.TypeBool:
				buf = appendBool(buf, col.Bool[i])
			case etl.TypeTimestamp, etl.TypeLocalTimestamp:
				buf = appendTimestamp(buf, col.Time[i])
			case etl.TypeDate:
				buf = appendDate(buf, col.Time[i])
			case etl.TypeJSON:
				buf, err = r.appendJSON(buf, col.JSON[i])
			case etl.TypeArray:
				buf, err = appendArray(buf, r.batch.Schema.Field(c).Elem, col.JSON[i])
			default:
				return fmt.Errorf("field %q: no binary encoding for type %s", r.batch.Schema.Field(c).Name, col.Type)
			}
			if err != nil {
				return fmt.Errorf("row %s: field %q: %w", r.batch.Origins[i], r.batch.Schema.Field(c).Name, err)
			}
		}
		if r.ord {
			buf = appendInt64(buf, r.ordBase+int64(i))
		}
	}
	if r.row == n {
		if !r.streamed {
			buf = append(buf, copyTrailer...)
		}
		r.done = true
	}
	r.buf = buf
	return nil
}

// appendText appends a field of text (or bytea) from its bytes.
func appendText(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}

// appendUUID appends a uuid field, 16 bytes, from its checked text.
func appendUUID(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 16)
	buf, _ = hex.AppendDecode(buf, []byte(strings.ReplaceAll(s, "-", "")))
	return buf
}

// appendBool appends a boolean field.
func appendBool(buf []byte, v bool) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 1)
	if v {
		return append(buf, 1)
	}
	return append(buf, 0)
}

// appendTimestamp appends a timestamptz or timestamp field: microseconds
// since PostgreSQL's epoch (a local timestamp's wall clock is held in
// UTC).
func appendTimestamp(buf []byte, t time.Time) []byte {
	return appendInt64(buf, t.Unix()*1_000_000+int64(t.Nanosecond())/1000-pgEpochMicros)
}

// appendDate appends a date field: days since PostgreSQL's epoch.
func appendDate(buf []byte, t time.Time) []byte {
	days := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix()/86400 - pgEpochDays
	buf = binary.BigEndian.AppendUint32(buf, 4)
	return binary.BigEndian.AppendUint32(buf, uint32(int32(days)))
}

// appendInt64 appends an 8-byte field.
func appendInt64(buf []byte, v int64) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 8)
	return binary.BigEndian.AppendUint64(buf, uint64(v))
}

// appendJSON appends a jsonb field: version 1, then the JSON text (HTML
// characters not escaped, as EncodeJSON writes them).
func (r *binaryCopy) appendJSON(buf []byte, v any) ([]byte, error) {
	if r.jsonEnc == nil {
		r.jsonEnc = json.NewEncoder(&r.json)
		r.jsonEnc.SetEscapeHTML(false)
	}
	r.json.Reset()
	if err := r.jsonEnc.Encode(v); err != nil {
		return buf, err
	}
	text := bytes.TrimSuffix(r.json.Bytes(), []byte("\n"))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(text)+1))
	buf = append(buf, 1)
	return append(buf, text...), nil
}

// appendNumeric appends a numeric field from a decimal's text (checked by
// etl.ParseDecimal: "-123.4500"): digit count, weight (of the first
// base-10000 digit), sign, display scale, then the base-10000 digits.
func appendNumeric(buf []byte, s string) []byte {
	sign := uint16(0)
	if strings.HasPrefix(s, "-") {
		sign, s = 0x4000, s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	dscale := len(frac)
	whole = strings.Repeat("0", (4-len(whole)%4)%4) + whole
	frac += strings.Repeat("0", (4-len(frac)%4)%4)
	all := whole + frac
	digits := make([]uint16, 0, len(all)/4)
	for i := 0; i < len(all); i += 4 {
		d := uint16(0)
		for _, c := range all[i : i+4] {
			d = d*10 + uint16(c-'0')
		}
		digits = append(digits, d)
	}
	weight := len(whole)/4 - 1
	for len(digits) > 0 && digits[0] == 0 {
		digits, weight = digits[1:], weight-1
	}
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		weight, sign = 0, 0
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(8+2*len(digits)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(digits)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, uint16(dscale))
	for _, d := range digits {
		buf = binary.BigEndian.AppendUint16(buf, d)
	}
	return buf
}
