package jsonfile

import (
	"io"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// Format is the "jsonl" file format, registered with fileformat from init.
var Format = fileformat.Format{
	Name:       "jsonl",
	Extensions: []string{".jsonl", ".ndjson"},
	NewDecoder: func(r io.ReadSeeker, opts fileformat.DecodeOptions) (fileformat.Decoder, error) {
		return NewDecoder(r, opts)
	},
	NewEncoder: func(w io.Writer, opts fileformat.EncodeOptions) fileformat.Encoder {
		return NewEncoder(w, opts)
	},
}

// ArrayFormat is the "json" file format: an array of records, at the top
// or under a path (json.records), written as one streamed array.
var ArrayFormat = fileformat.Format{
	Name:       "json",
	Extensions: []string{".json"},
	NewDecoder: func(r io.ReadSeeker, opts fileformat.DecodeOptions) (fileformat.Decoder, error) {
		return NewArrayDecoder(r, opts)
	},
	NewEncoder: func(w io.Writer, opts fileformat.EncodeOptions) fileformat.Encoder {
		return NewArrayEncoder(w, opts)
	},
}

func init() {
	fileformat.Register(Format)
	fileformat.Register(ArrayFormat)
}
