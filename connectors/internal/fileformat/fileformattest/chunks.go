package fileformattest

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// DrawChunkSize sets *size, a decoder's chunk size, small for one rapid
// case in most cases (a few bytes to a few records), so that records cross
// chunks, fill them, and batches share them; fileformat.ChunkSize is put
// back when the test ends. Tests that call it must not run in parallel.
func DrawChunkSize(t *testing.T, rt *rapid.T, size *int) {
	def := fileformat.ChunkSize
	*size = def
	if rapid.IntRange(0, 4).Draw(rt, "default chunks") > 0 {
		*size = rapid.IntRange(4, 300).Draw(rt, "chunk size")
	}
	t.Cleanup(func() { *size = def })
}
