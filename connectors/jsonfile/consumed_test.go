package jsonfile

import (
	"io"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat/fileformattest"
)

// TestConsumedIsTheInputToEachPosition checks DecodeOptions.Consumed, from
// which the files source hashes a file while it is read, on random JSON
// Lines: a BOM or not, CRLF, blank and malformed lines, a line longer than
// a chunk, no final line break; chunks of 512 KiB or of a few bytes.
func TestConsumedIsTheInputToEachPosition(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fileformattest.DrawChunkSize(t, rt, &chunkSize)
		line := rapid.SampledFrom([]string{`{"a":1,"b":"x"}`, `{"a":2}`, ``, `  `, `{"b":"é\"q"}`, `{"a":`, `[1]`, `{"c":null,"a":3.5}`})
		record := func() string { return line.Draw(rt, "line") }
		long := func() string {
			return `{"a":"` + strings.Repeat("z", chunkSize+rapid.IntRange(0, 100).Draw(rt, "extra")) + `"}`
		}
		in := fileformattest.DrawText(rt, "", record, long)
		newDecoder := func(r io.ReadSeeker, opts fileformat.DecodeOptions) (fileformat.Decoder, error) {
			return NewDecoder(r, opts)
		}
		fileformattest.CheckConsumed(rt, newDecoder, in, fileformat.DecodeOptions{File: "x.jsonl"})
	})
}
