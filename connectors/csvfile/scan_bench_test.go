package csvfile

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// BenchmarkCSVScan measures the record scanner alone, without building
// column batches: the parser's share of BenchmarkCSVRead.
func BenchmarkCSVScan(b *testing.B) {
	data := leadsCSV(b, 100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var dst []byte
	var rec record
	for b.Loop() {
		sc := newScanner(bytes.NewReader(data), ',', 0, 0)
		for {
			var err error
			dst, err = sc.readRecord(dst[:0], &rec)
			if errors.Is(err, io.EOF) {
				break
			}
		}
	}
}
