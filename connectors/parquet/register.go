package parquet

import (
	"io"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// Format is the "parquet" file format (write only), registered with
// fileformat from init.
var Format = fileformat.Format{
	Name:       "parquet",
	Extensions: []string{".parquet"},
	Binary:     true,
	NewEncoder: func(w io.Writer, opts fileformat.EncodeOptions) fileformat.Encoder {
		return NewEncoder(w, opts)
	},
}

func init() { fileformat.Register(Format) }
