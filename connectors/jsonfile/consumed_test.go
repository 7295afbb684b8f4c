package jsonfile

import (
	"bytes"
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
// the read buffer, no final line break.
func TestConsumedIsTheInputToEachPosition(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fileformattest.DrawChunkSize(t, rt, &chunkSize, defaultChunkSize)
		var in bytes.Buffer
		if rapid.Bool().Draw(rt, "bom") {
			in.WriteString("\uFEFF")
		}
		line := rapid.SampledFrom([]string{`{"a":1,"b":"x"}`, `{"a":2}`, ``, `  `, `{"b":"é\"q"}`, `{"a":`, `[1]`, `{"c":null,"a":3.5}`})
		eol := rapid.SampledFrom([]string{"\n", "\r\n"})
		rows := rapid.IntRange(0, 60).Draw(rt, "rows")
		for i := range rows {
			if rapid.IntRange(0, 60).Draw(rt, "long") == 0 {
				in.WriteString(`{"a":"` + strings.Repeat("z", chunkSize+rapid.IntRange(0, 100).Draw(rt, "extra")) + `"}`)
			} else {
				in.WriteString(line.Draw(rt, "line"))
			}
			if i < rows-1 || rapid.Bool().Draw(rt, "final eol") {
				in.WriteString(eol.Draw(rt, "eol"))
			}
		}
		newDecoder := func(r io.ReadSeeker, opts fileformat.DecodeOptions) (fileformat.Decoder, error) {
			return NewDecoder(r, opts)
		}
		fileformattest.CheckConsumed(rt, newDecoder, in.Bytes(), fileformat.DecodeOptions{File: "x.jsonl"})
	})
}
