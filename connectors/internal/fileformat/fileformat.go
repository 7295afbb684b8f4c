package fileformat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/nightjar-etl/nightjar/etl"
)

// MaxFieldSize bounds one field (CSV) or one line (JSON Lines): a longer one
// is an error naming the file and line, not an out-of-memory crash. It is
// the default of csv.max_field_size.
const MaxFieldSize = 16 << 20

// DefaultMaxColumns is the default of csv.max_columns: Excel's own limit,
// 16,384 columns.
const DefaultMaxColumns = 16384

// DefaultMaxRecordSize is the default of csv.max_record_size: one record's
// text, every field and quoted line break counted.
const DefaultMaxRecordSize = 64 << 20

// DefaultMaxDepth is the default of json.max_depth: how deeply objects and
// arrays may nest within one record.
const DefaultMaxDepth = 1000

// MaxRejectValue bounds the raw record text kept in a reject.
const MaxRejectValue = 1 << 10

// CSVOptions configure CSV reading; they are the files source's `csv` key.
type CSVOptions struct {
	// Delimiter is one character: ",", ";", "|", "\t" (or "tab"), or
	// "auto" (the default) to pick the most frequent of those on the first
	// line, "," when none occurs or two are as frequent.
	Delimiter string `yaml:"delimiter" doc:"one character: \",\", \";\", \"|\", \"\\t\" (or \"tab\"), or \"auto\" (the default) to pick the most frequent of those on the first line, \",\" when none occurs or two are as frequent"`
	// Header says the first record names the fields; without it fields
	// are named col_1, col_2, ...
	Header bool `yaml:"header" doc:"the first record names the fields; without it fields are named col_1, col_2, ..."`
	// Encoding is the text encoding: "auto" (a BOM says UTF-8 or UTF-16
	// LE/BE; otherwise UTF-8 when the bytes are valid UTF-8, else
	// Windows-1252), "utf-8", "utf-16le", "utf-16be" or "windows-1252".
	// The files source applies it to every text format.
	Encoding string `yaml:"encoding" doc:"the text encoding: \"auto\" (a BOM says UTF-8 or UTF-16 LE/BE; otherwise UTF-8 when the bytes are valid UTF-8, else Windows-1252), \"utf-8\", \"utf-16le\", \"utf-16be\" or \"windows-1252\""`
	// MaxFieldSize bounds one field, in bytes (default MaxFieldSize, 16
	// MiB); a longer field fails the file naming its line and field.
	MaxFieldSize Limit `yaml:"max_field_size" doc:"bounds one field, in bytes (default 16 MiB); a longer field fails the file naming its line and field"`
	// MaxColumns bounds the fields of one record (default
	// DefaultMaxColumns); a wider record is rejected naming its line.
	MaxColumns Limit `yaml:"max_columns" doc:"bounds the fields of one record (default 16,384); a wider record is rejected naming its line"`
	// MaxRecordSize bounds one record's text, in bytes (default
	// DefaultMaxRecordSize, 64 MiB); a longer record fails the file naming
	// its line.
	MaxRecordSize Limit `yaml:"max_record_size" doc:"bounds one record's text, in bytes (default 64 MiB); a longer record fails the file naming its line"`
}

// Limits returns the CSV bounds with defaults applied, or an error naming
// the key of a negative one.
func (o CSVOptions) Limits() (field, columns, record int, err error) {
	field, err = orDefault("csv.max_field_size", o.MaxFieldSize, MaxFieldSize)
	if err == nil {
		columns, err = orDefault("csv.max_columns", o.MaxColumns, DefaultMaxColumns)
	}
	if err == nil {
		record, err = orDefault("csv.max_record_size", o.MaxRecordSize, DefaultMaxRecordSize)
	}
	switch {
	case err != nil:
	case field > MaxCSVBound:
		err = fmt.Errorf("csv.max_field_size %d is over %s, the most it may be", field, SizeText(MaxCSVBound))
	case record > MaxCSVBound:
		err = fmt.Errorf("csv.max_record_size %d is over %s, the most it may be", record, SizeText(MaxCSVBound))
	}
	return field, columns, record, err
}

// MaxCSVBound is the most csv.max_field_size and csv.max_record_size may
// be: the CSV decoder keeps a batch's text positions in 32 bits.
const MaxCSVBound = 1 << 30

// Encodings lists the accepted CSVOptions.Encoding values.
var Encodings = []string{"auto", "utf-8", "utf-16le", "utf-16be", "windows-1252"}

// JSONOptions configure JSON (not JSON Lines) reading; they are the files
// source's `json` key.
type JSONOptions struct {
	// Records is the dotted path of the array of records within a
	// top-level object ("data.items"); empty when the file is an array.
	Records string `yaml:"records" doc:"the dotted path of the array of records within a top-level object (\"data.items\"); empty when the file is an array"`
	// MaxDepth bounds how deeply objects and arrays nest within one record
	// (default DefaultMaxDepth); a deeper record is rejected naming its
	// line (JSON Lines) or fails the file (a JSON document).
	MaxDepth Limit `yaml:"max_depth" doc:"bounds how deeply values nest within one record (default 1,000); a deeper record is rejected naming its line"`
}

// Depth returns MaxDepth with its default applied, or an error when it is
// negative.
func (o JSONOptions) Depth() (int, error) {
	return orDefault("json.max_depth", o.MaxDepth, DefaultMaxDepth)
}

// XMLOptions configure XML reading; they are the files source's `xml`
// key.
type XMLOptions struct {
	// RecordPath is the slash-separated path of the record elements from
	// the root element ("feed/entry"; a leading "/" is allowed). Each step
	// is a local name (any namespace), prefix:name with the prefix mapped
	// in Namespaces, or {uri}name (Clark notation). Empty: every child of
	// the root element is a record.
	RecordPath string `yaml:"record_path" doc:"the slash-separated path of the record elements from the root element (\"feed/entry\"; a leading \"/\" is allowed)"`
	// Namespaces maps the prefixes used in RecordPath to namespace URIs;
	// the file's own prefixes do not matter, only the URIs they stand for.
	Namespaces map[string]string `yaml:"namespaces" doc:"maps the prefixes used in record_path to namespace URIs; only the URIs count, not the file's own prefixes"`
	// MaxDepth bounds how deeply elements nest within one record, the
	// record itself the first level (default DefaultMaxDepth); a deeper
	// record is rejected naming its line and field.
	MaxDepth Limit `yaml:"max_depth" doc:"bounds how deeply values nest within one record (default 1,000); a deeper record is rejected naming its line"`
	// MaxRecordSize bounds one record's text, in bytes (default
	// DefaultMaxRecordSize, 64 MiB), and so the text the reader holds
	// between records; a larger one fails the file naming its line.
	MaxRecordSize Limit `yaml:"max_record_size" doc:"bounds one record's text, in bytes (default 64 MiB); a longer record fails the file naming its line"`
}

// Limits returns the XML bounds with defaults applied, or an error naming
// the key of a negative one.
func (o XMLOptions) Limits() (depth, record int, err error) {
	depth, err = orDefault("xml.max_depth", o.MaxDepth, DefaultMaxDepth)
	if err == nil {
		record, err = orDefault("xml.max_record_size", o.MaxRecordSize, DefaultMaxRecordSize)
	}
	return depth, record, err
}

// XLSXOptions configure workbook reading; they are the files source's
// `xlsx` key.
type XLSXOptions struct {
	// Sheet is a sheet's name, its 1-based index ("2"), or "*" for every
	// sheet (rows then carry a _sheet field); empty means the first sheet.
	Sheet string `yaml:"sheet" doc:"a sheet's name, its 1-based index (\"2\"), or \"*\" for every sheet (rows then carry a _sheet field); empty means the first sheet"`
	// HeaderRow is the 1-based row holding the field names; rows above it
	// are skipped. Default 1.
	HeaderRow int `yaml:"header_row" doc:"the 1-based row holding the field names; rows above it are skipped"`
	// Header says a header row exists; without it fields are named col_1,
	// col_2, ... and data starts at HeaderRow.
	Header bool `yaml:"header" doc:"a header row exists; without it fields are named col_1, col_2, ..."`
	// MaxCellSize bounds one cell's text (or one shared string's), in
	// bytes of XML (default DefaultMaxCellSize, 1 MiB; Excel holds 32,767
	// characters): a larger one fails the file naming its sheet and row.
	MaxCellSize Limit `yaml:"max_cell_size" doc:"bounds one cell's text (or one shared string's), in bytes of XML (default 1 MiB): a larger one fails the file naming its sheet and row"`
	// MaxSharedStrings bounds the workbook's shared strings, which are held
	// in memory (default DefaultMaxSharedStrings).
	MaxSharedStrings Limit `yaml:"max_shared_strings" doc:"bounds the workbook's shared strings, which are held in memory (default 5,000,000)"`
	// MaxUnzippedSize bounds each part (a sheet, the shared strings) once
	// unzipped, in bytes (default DefaultMaxUnzippedSize, 2 GiB): a zip
	// bomb fails instead of inflating without end.
	MaxUnzippedSize Limit `yaml:"max_unzipped_size" doc:"bounds each part (a sheet, the shared strings) once unzipped, in bytes (default 2 GiB): a zip bomb fails instead of inflating without end"`
}

// Defaults of the XLSX bounds.
const (
	DefaultMaxCellSize      = 1 << 20
	DefaultMaxSharedStrings = 5_000_000
	DefaultMaxUnzippedSize  = 2 << 30
)

// Limits returns the XLSX bounds with defaults applied, or an error naming
// the key of a negative one.
func (o XLSXOptions) Limits() (cell, sharedStrings int, unzipped int64, err error) {
	cell, err = orDefault("xlsx.max_cell_size", o.MaxCellSize, DefaultMaxCellSize)
	if err == nil {
		sharedStrings, err = orDefault("xlsx.max_shared_strings", o.MaxSharedStrings, DefaultMaxSharedStrings)
	}
	if err == nil {
		unzipped, err = orDefault("xlsx.max_unzipped_size", o.MaxUnzippedSize, int64(DefaultMaxUnzippedSize))
	}
	return cell, sharedStrings, unzipped, err
}

// SizeText shows a byte count for an error, in GiB or MiB when it is a
// whole number of them.
func SizeText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Limit is a bound in config: a count, or a size in bytes written as a
// number or with a unit (64KiB, 16 MiB, 2GiB). Zero means the bound's
// default; a negative value is refused when the config is decoded.
type Limit int64

// ConfigShape implements etl.Shaper, for the reference docs.
func (*Limit) ConfigShape() string { return "count or byte size (64KiB, 16 MiB)" }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Limit) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	num := strings.TrimRight(s, "KMGBikmgb ")
	unit := strings.ToLower(strings.TrimSpace(s[len(num):]))
	mult := map[string]int64{"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case err != nil || mult == 0:
		return fmt.Errorf("%q is not a number or a size such as 16MiB", s)
	case n < 0:
		return fmt.Errorf("%s is negative (0 means the default)", s)
	case n > math.MaxInt64/mult:
		return fmt.Errorf("%s is too large", s)
	}
	*l = Limit(n * mult)
	return nil
}

// orDefault returns v, or def when v is 0; a negative v (set from Go, not
// config) is an error naming key.
func orDefault[T int | int64](key string, v Limit, def T) (T, error) {
	switch {
	case v < 0:
		return 0, fmt.Errorf("%s %d is negative (0 means the default, %d)", key, v, def)
	case v == 0:
		return def, nil
	}
	return T(v), nil
}

// DefaultXLSXOptions are the workbook options unless the config says
// otherwise.
func DefaultXLSXOptions() XLSXOptions { return XLSXOptions{HeaderRow: 1, Header: true} }

// DefaultCSVOptions are the CSV options unless the config says otherwise.
func DefaultCSVOptions() CSVOptions {
	// auto: a ";"-separated export (Excel in much of Europe) read with ","
	// would load as one column named "id;name".
	return CSVOptions{Delimiter: "auto", Header: true, Encoding: "auto"}
}

// DelimiterByte returns the delimiter as a byte, 0 for "auto", or an error
// for a value that is not one single-byte character usable as a delimiter.
func (o CSVOptions) DelimiterByte() (byte, error) {
	switch strings.ToLower(o.Delimiter) {
	case "auto":
		return 0, nil
	case "tab", `\t`:
		return '\t', nil
	}
	if len(o.Delimiter) != 1 {
		return 0, fmt.Errorf("delimiter %q is not one character (use \",\", \";\", \"|\", \"tab\" or \"auto\")", o.Delimiter)
	}
	switch d := o.Delimiter[0]; d {
	case '"', '\r', '\n':
		return 0, fmt.Errorf("delimiter %q cannot be a quote or a line break", o.Delimiter)
	default:
		if d >= 0x80 {
			return 0, fmt.Errorf("delimiter %q is not an ASCII character", o.Delimiter)
		}
		return d, nil
	}
}

// DecodeOptions configure a Decoder for one file.
type DecodeOptions struct {
	// File is the file's path as shown to users (relative to the config's
	// directory); it goes into every Origin and error.
	File string
	// Offset and Line are the resume point: the byte offset to continue
	// at and the number of lines before it; both 0 read from the start.
	Offset int64
	Line   int64
	CSV    CSVOptions
	JSON   JSONOptions
	XML    XMLOptions
	XLSX   XLSXOptions
	Logger *slog.Logger
	// Consumed, when set on a text decoder that supports it (CSV, JSON
	// Lines), is called in order with every byte of the input it consumes
	// from Offset on: when Decode returns, every byte before Position's
	// offset has been passed and none after it. p is valid during the
	// call only. The files source hashes a file from it while the decoder
	// reads, instead of reading the file a second time.
	Consumed func(p []byte)
}

// Decoder reads one file's records into batches. It is used by one
// goroutine and does not close its reader.
type Decoder interface {
	// Decode reads up to n records (rows and rejects together). The batch
	// holds the rows with their Origins and the rejected records in
	// Rejects; Position, Bytes and Files are left to the caller. It returns
	// io.EOF, with a possibly non-empty last batch, once the file has no
	// more records.
	Decode(ctx context.Context, n int) (*etl.Batch, error)
	// Position returns the byte offset just after the last record
	// consumed and the number of lines consumed up to it.
	Position() (offset, line int64)
}

// BinaryDecoder is implemented by decoders of binary formats, whose
// Position offset is not a byte offset: Bytes says how much of the file
// the records consumed so far stand for, for progress.
type BinaryDecoder interface {
	Decoder
	Bytes() int64
}

// EncodeOptions configure an Encoder.
type EncodeOptions struct {
	// File is the output path as shown to users, for errors.
	File string
	// Compression is a binary format's codec (Parquet: snappy, zstd,
	// none); empty for the format's default.
	Compression string
	// EscapeFormulas neutralises text a spreadsheet would run as a formula
	// (CSV): see csvfile.FormulaLike.
	EscapeFormulas bool
}

// Encoder writes batches to one output stream. It writes each batch to its
// writer before Write returns (buffering, if any, is the writer's).
type Encoder interface {
	// Write encodes the batch's rows; a batch with no rows writes nothing.
	Write(b *etl.Batch) error
}

// Finisher is an Encoder that must write a trailer (a JSON array's "]",
// a Parquet footer, a workbook) once every batch is written. The file
// target calls Finish before it syncs and renames the file; an encoder of
// a binary format may hold its output until then.
type Finisher interface {
	Encoder
	Finish() error
}

// Format is a registered file format.
type Format struct {
	// Name is the format's name in config ("csv", "jsonl").
	Name string
	// Extensions are the file extensions, with the dot, that imply the
	// format (".csv"), matched case-insensitively.
	Extensions []string
	// NewDecoder returns a decoder reading r from opts.Offset; it may read
	// (a CSV header) and seek.
	NewDecoder func(r io.ReadSeeker, opts DecodeOptions) (Decoder, error)
	// NewEncoder returns an encoder writing to w.
	NewEncoder func(w io.Writer, opts EncodeOptions) Encoder
	// Binary formats (XLSX) get the file itself: no gzip layer, no text
	// decoding, and NewDecoder's offsets are the format's own.
	Binary bool
}

var registry struct {
	sync.RWMutex
	formats map[string]Format
}

// Register adds a format; call it from init. It panics on a duplicate name
// or an extension already claimed.
func Register(f Format) {
	registry.Lock()
	defer registry.Unlock()
	if registry.formats == nil {
		registry.formats = make(map[string]Format)
	}
	if _, dup := registry.formats[f.Name]; dup {
		panic(fmt.Sprintf("fileformat: format %q registered twice", f.Name))
	}
	for _, other := range registry.formats {
		for _, e := range f.Extensions {
			for _, oe := range other.Extensions {
				if strings.EqualFold(e, oe) {
					panic(fmt.Sprintf("fileformat: extension %s claimed by %q and %q", e, other.Name, f.Name))
				}
			}
		}
	}
	registry.formats[f.Name] = f
}

// Lookup returns the format registered under name.
func Lookup(name string) (Format, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.formats[strings.ToLower(name)]
	return f, ok
}

// Gzipped reports whether path names a gzip file (".gz") and returns the
// path without that extension.
func Gzipped(path string) (string, bool) {
	if strings.EqualFold(filepath.Ext(path), ".gz") {
		return path[:len(path)-3], true
	}
	return path, false
}

// ForPath returns the format implied by path's extension; a ".gz" suffix
// is looked through ("leads.csv.gz" is CSV).
func ForPath(path string) (Format, bool) {
	path, _ = Gzipped(path)
	ext := filepath.Ext(path)
	if ext == "" {
		return Format{}, false
	}
	registry.RLock()
	defer registry.RUnlock()
	for _, f := range registry.formats {
		for _, e := range f.Extensions {
			if strings.EqualFold(e, ext) {
				return f, true
			}
		}
	}
	return Format{}, false
}

// Names lists the registered format names, sorted.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.formats))
	for n := range registry.formats {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Resolve picks the format for a config: by name when name is set, else by
// path's extension. The error says which and lists what is registered.
func Resolve(name, path string) (Format, error) {
	if name != "" {
		if f, ok := Lookup(name); ok {
			return f, nil
		}
		return Format{}, fmt.Errorf("unknown format %q (registered: %s)", name, strings.Join(Names(), ", "))
	}
	if f, ok := ForPath(path); ok {
		return f, nil
	}
	return Format{}, fmt.Errorf("cannot tell the format from %q: set format (registered: %s)", filepath.Base(path), strings.Join(Names(), ", "))
}

// RejectValue returns raw record text for a Reject's Value: at most
// MaxRejectValue bytes, cut at a character boundary, with a trailing line
// break removed.
func RejectValue(raw []byte) string {
	for len(raw) > 0 && (raw[len(raw)-1] == '\n' || raw[len(raw)-1] == '\r') {
		raw = raw[:len(raw)-1]
	}
	if len(raw) <= MaxRejectValue {
		return string(raw)
	}
	cut := MaxRejectValue
	// Back up over UTF-8 continuation bytes so the cut ends on a boundary.
	for cut > MaxRejectValue-4 && raw[cut]&0xC0 == 0x80 {
		cut--
	}
	return string(raw[:cut]) + "…"
}

// HeaderMapping maps an output's header (the first batch's field names)
// to schema s of a later batch: for each header field, its index in s, or
// -1 when s lacks it (written as null). A field of s the header lacks is
// an error naming file.
func HeaderMapping(header []string, s *etl.Schema, file string) ([]int, error) {
	mapping := make([]int, len(header))
	for i, name := range header {
		mapping[i] = s.Index(name)
	}
	for _, name := range s.Names() {
		if !slices.Contains(header, name) {
			return nil, fmt.Errorf("%s: field %q is not in the header written from the first batch", file, name)
		}
	}
	return mapping, nil
}

// FlushSize is how much encoded text an Output gathers before writing.
const FlushSize = 64 << 10

// Output gathers an encoder's text in Buf and writes it to W in chunks of
// about FlushSize; write errors name File.
type Output struct {
	W    io.Writer
	File string
	Buf  []byte
}

// FlushIfFull writes the gathered text once there is FlushSize of it.
func (o *Output) FlushIfFull() error {
	if len(o.Buf) < FlushSize {
		return nil
	}
	return o.Flush()
}

// Flush writes the gathered text.
func (o *Output) Flush() error {
	if len(o.Buf) == 0 {
		return nil
	}
	_, err := o.W.Write(o.Buf)
	o.Buf = o.Buf[:0]
	if err != nil {
		return fmt.Errorf("write %s: %w", o.File, err)
	}
	return nil
}

// XMLStep is one step of an XML record path: an element's local name and
// its namespace URI, or any namespace when AnySpace is set.
type XMLStep struct {
	Space    string
	Local    string
	AnySpace bool
}

// Matches reports whether an element named space and local is this step.
func (s XMLStep) Matches(space, local string) bool {
	return s.Local == local && (s.AnySpace || s.Space == space)
}

// Steps parses RecordPath: its steps from the root element, none when it
// is empty. An error names the step: an unknown prefix, an empty step, a
// malformed Clark name.
func (o XMLOptions) Steps() ([]XMLStep, error) {
	path := strings.TrimPrefix(strings.TrimSpace(o.RecordPath), "/")
	if path == "" {
		return nil, nil
	}
	var steps []XMLStep
	for rest := path; rest != ""; {
		var step string
		if strings.HasPrefix(rest, "{") { // a URI holds slashes: up to its brace first
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return nil, fmt.Errorf("record_path %q: %q has no closing }", o.RecordPath, rest)
			}
			slash := strings.IndexByte(rest[end:], '/')
			if slash < 0 {
				step, rest = rest, ""
			} else {
				step, rest = rest[:end+slash], rest[end+slash+1:]
			}
		} else if slash := strings.IndexByte(rest, '/'); slash < 0 {
			step, rest = rest, ""
		} else {
			step, rest = rest[:slash], rest[slash+1:]
			if rest == "" {
				return nil, fmt.Errorf("record_path %q ends with /", o.RecordPath)
			}
		}
		var s XMLStep
		switch {
		case step == "":
			return nil, fmt.Errorf("record_path %q has an empty step", o.RecordPath)
		case strings.HasPrefix(step, "{"):
			end := strings.IndexByte(step, '}')
			s = XMLStep{Space: step[1:end], Local: step[end+1:]}
		case strings.Contains(step, ":"):
			prefix, local, _ := strings.Cut(step, ":")
			uri, ok := o.Namespaces[prefix]
			if !ok {
				return nil, fmt.Errorf("record_path %q: prefix %q is not in namespaces", o.RecordPath, prefix)
			}
			s = XMLStep{Space: uri, Local: local}
		default:
			s = XMLStep{Local: step, AnySpace: true}
		}
		if s.Local == "" || strings.ContainsAny(s.Local, ":{} ") {
			return nil, fmt.Errorf("record_path %q: step %q is not an element name", o.RecordPath, step)
		}
		steps = append(steps, s)
	}
	return steps, nil
}
