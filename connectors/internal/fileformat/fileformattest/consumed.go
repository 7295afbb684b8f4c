// Package fileformattest holds checks every text decoder of fileformat
// must pass.
package fileformattest

import (
	"bytes"
	"context"
	"errors"
	"io"

	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// NewDecoder makes a decoder of r with opts.
type NewDecoder func(r io.ReadSeeker, opts fileformat.DecodeOptions) (fileformat.Decoder, error)

// CheckConsumed decodes data with newDecoder in random batch sizes, from
// its start or from the end of a first batch (a resume), reading it in
// random pieces as a pipe or a slow disk returns them, and fails rt unless
// the bytes DecodeOptions.Consumed got when each Decode returns are
// exactly data from the start offset to the decoder's Position. opts
// holds the format's options.
func CheckConsumed(rt *rapid.T, newDecoder NewDecoder, data []byte, opts fileformat.DecodeOptions) {
	if rapid.Bool().Draw(rt, "resume") {
		d, err := newDecoder(bytes.NewReader(data), opts)
		if err != nil {
			rt.Skip(err)
		}
		if _, err := d.Decode(context.Background(), rapid.IntRange(1, 20).Draw(rt, "first batch")); err != nil && !errors.Is(err, io.EOF) {
			rt.Skip(err)
		}
		opts.Offset, opts.Line = d.Position()
	}
	var got []byte
	opts.Consumed = func(p []byte) { got = append(got, p...) }
	pieces := rapid.SliceOfN(rapid.IntRange(1, 64), 1, 16).Draw(rt, "read sizes")
	d, err := newDecoder(&pieceReader{Reader: bytes.NewReader(data), sizes: pieces}, opts)
	if err != nil {
		rt.Skip(err)
	}
	for {
		_, err := d.Decode(context.Background(), rapid.IntRange(1, 20).Draw(rt, "batch"))
		if err != nil && !errors.Is(err, io.EOF) {
			return // a fatal error ends the file; nothing is hashed from it
		}
		off, _ := d.Position()
		if want := data[opts.Offset:off]; !bytes.Equal(got, want) {
			rt.Fatalf("consumed %d bytes, want the %d from %d to the position %d", len(got), len(want), opts.Offset, off)
		}
		if errors.Is(err, io.EOF) {
			return
		}
	}
}

// pieceReader returns reads of the sizes given in turn, over and over.
type pieceReader struct {
	*bytes.Reader
	sizes []int
	next  int
}

func (r *pieceReader) Read(p []byte) (int, error) {
	n := r.sizes[r.next%len(r.sizes)]
	r.next++
	return r.Reader.Read(p[:min(n, len(p))])
}

// DrawText draws a text file for CheckConsumed: a UTF-8 BOM or not,
// header when it is not "", then up to 60 records, each record() or, one
// time in 61, long(), a record longer than a chunk; every line ends in LF
// or CRLF but the last maybe not.
func DrawText(rt *rapid.T, header string, record, long func() string) []byte {
	var in bytes.Buffer
	if rapid.Bool().Draw(rt, "bom") {
		in.WriteString("\uFEFF")
	}
	eol := rapid.SampledFrom([]string{"\n", "\r\n"})
	if header != "" {
		in.WriteString(header + eol.Draw(rt, "eol"))
	}
	rows := rapid.IntRange(0, 60).Draw(rt, "rows")
	for i := range rows {
		if rapid.IntRange(0, 60).Draw(rt, "long") == 0 {
			in.WriteString(long())
		} else {
			in.WriteString(record())
		}
		if i < rows-1 || rapid.Bool().Draw(rt, "final eol") {
			in.WriteString(eol.Draw(rt, "eol"))
		}
	}
	return in.Bytes()
}
