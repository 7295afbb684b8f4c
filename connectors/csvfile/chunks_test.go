package csvfile

import (
	"testing"

	"pgregory.net/rapid"
)

// drawChunkSize makes the scanner's chunks small for one rapid case, in
// most cases (a few bytes to a few records), so that records cross chunks,
// fill them, and batches share them; it is put back when the test ends.
// Tests that call it must not run in parallel.
func drawChunkSize(t *testing.T, rt *rapid.T) {
	size := readBufferSize
	if rapid.IntRange(0, 4).Draw(rt, "default chunks") > 0 {
		size = rapid.IntRange(4, 300).Draw(rt, "chunk size")
	}
	chunkSize = size
	t.Cleanup(func() { chunkSize = readBufferSize })
}
