package csvfile

import (
	"io"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// Format is the "csv" file format, registered with fileformat from init.
var Format = fileformat.Format{
	Name:       "csv",
	Extensions: []string{".csv"},
	NewDecoder: func(r io.ReadSeeker, opts fileformat.DecodeOptions) (fileformat.Decoder, error) {
		return NewDecoder(r, opts)
	},
	NewEncoder: func(w io.Writer, opts fileformat.EncodeOptions) fileformat.Encoder {
		return NewEncoder(w, ',', opts)
	},
}

func init() { fileformat.Register(Format) }
