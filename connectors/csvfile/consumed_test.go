package csvfile

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
// which the files source hashes a file while it is read, on random CSV: a
// BOM or not, CRLF, quoted line breaks and quotes, blank lines, malformed
// records, a record longer than a chunk, no final line break; chunks of
// 512 KiB or of a few bytes.
func TestConsumedIsTheInputToEachPosition(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fileformattest.DrawChunkSize(t, rt, &chunkSize, readBufferSize)
		var in bytes.Buffer
		if rapid.Bool().Draw(rt, "bom") {
			in.WriteString("\uFEFF")
		}
		cell := rapid.SampledFrom([]string{"", `""`, "a", "bb", "x y", `"q, r"`, "\"multi\r\nline\"", `"say ""hi"""`, "é", `"bad"x`, `"open`})
		eol := rapid.SampledFrom([]string{"\n", "\r\n"})
		in.WriteString("a,b,c" + eol.Draw(rt, "eol"))
		rows := rapid.IntRange(0, 60).Draw(rt, "rows")
		for i := range rows {
			switch {
			case rapid.IntRange(0, 15).Draw(rt, "blank") == 0:
			case rapid.IntRange(0, 60).Draw(rt, "long") == 0:
				in.WriteString(strings.Repeat("z", chunkSize+rapid.IntRange(0, 100).Draw(rt, "extra")) + ",1,2")
			default:
				for c := range 3 {
					if c > 0 {
						in.WriteByte(',')
					}
					in.WriteString(cell.Draw(rt, "cell"))
				}
			}
			if i < rows-1 || rapid.Bool().Draw(rt, "final eol") {
				in.WriteString(eol.Draw(rt, "eol"))
			}
		}
		newDecoder := func(r io.ReadSeeker, opts fileformat.DecodeOptions) (fileformat.Decoder, error) {
			return NewDecoder(r, opts)
		}
		fileformattest.CheckConsumed(rt, newDecoder, in.Bytes(), fileformat.DecodeOptions{File: "x.csv", CSV: fileformat.DefaultCSVOptions()})
	})
}
