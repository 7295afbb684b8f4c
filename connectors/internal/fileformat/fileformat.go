package fileformat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/nightjar-etl/nightjar/etl"
)

// MaxFieldSize bounds one field (CSV) or one line (JSON Lines): a longer one
// is an error naming the file and line, not an out-of-memory crash.
const MaxFieldSize = 16 << 20

// MaxRejectValue bounds the raw record text kept in a reject.
const MaxRejectValue = 1 << 10

// CSVOptions configure CSV reading; they are the files source's `csv` key.
type CSVOptions struct {
	// Delimiter is one character: ",", ";", "|", "\t" (or "tab"), or
	// "auto" to pick the most frequent of those on the first line.
	Delimiter string `yaml:"delimiter"`
	// Header says the first record names the fields; without it fields
	// are named col_1, col_2, ...
	Header bool `yaml:"header"`
}

// DefaultCSVOptions are the CSV options unless the config says otherwise.
func DefaultCSVOptions() CSVOptions { return CSVOptions{Delimiter: ",", Header: true} }

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
	Logger *slog.Logger
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

// EncodeOptions configure an Encoder.
type EncodeOptions struct {
	// File is the output path as shown to users, for errors.
	File string
}

// Encoder writes batches to one output stream. It writes each batch to its
// writer before Write returns (buffering, if any, is the writer's).
type Encoder interface {
	// Write encodes the batch's rows; a batch with no rows writes nothing.
	Write(b *etl.Batch) error
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

// ForPath returns the format implied by path's extension.
func ForPath(path string) (Format, bool) {
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
