package xmlfile

import (
	"io"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// Format is the "xml" file format, registered with fileformat from init.
var Format = fileformat.Format{
	Name:       "xml",
	Extensions: []string{".xml"},
	NewDecoder: func(r io.ReadSeeker, opts fileformat.DecodeOptions) (fileformat.Decoder, error) {
		return NewDecoder(r, opts)
	},
	NewEncoder: func(w io.Writer, opts fileformat.EncodeOptions) fileformat.Encoder {
		return NewEncoder(w, opts)
	},
}

func init() { fileformat.Register(Format) }
