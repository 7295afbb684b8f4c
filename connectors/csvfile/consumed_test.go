package csvfile

import (
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
		fileformattest.DrawChunkSize(t, rt, &chunkSize)
		cell := rapid.SampledFrom([]string{"", `""`, "a", "bb", "x y", `"q, r"`, "\"multi\r\nline\"", `"say ""hi"""`, "é", `"bad"x`, `"open`})
		record := func() string {
			if rapid.IntRange(0, 15).Draw(rt, "blank") == 0 {
				return ""
			}
			return cell.Draw(rt, "cell") + "," + cell.Draw(rt, "cell") + "," + cell.Draw(rt, "cell")
		}
		long := func() string {
			return strings.Repeat("z", chunkSize+rapid.IntRange(0, 100).Draw(rt, "extra")) + ",1,2"
		}
		in := fileformattest.DrawText(rt, "a,b,c", record, long)
		newDecoder := func(r io.ReadSeeker, opts fileformat.DecodeOptions) (fileformat.Decoder, error) {
			return NewDecoder(r, opts)
		}
		fileformattest.CheckConsumed(rt, newDecoder, in, fileformat.DecodeOptions{File: "x.csv", CSV: fileformat.DefaultCSVOptions()})
	})
}
