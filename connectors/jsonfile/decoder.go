package jsonfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// Decoder reads JSON Lines: one object per line, blank lines skipped. Each
// batch's schema is inferred from its objects, fields in first-seen key
// order: all strings → string, all integral numbers → int, numbers → float,
// all booleans → bool, anything else (objects, arrays, mixed) → json; a
// field only ever null is a string. A line that is not a JSON object is
// rejected with its line number and encoding/json's parse error. Each line
// is scanned once, straight into the batch's column vectors (see objects);
// strings decode exactly as encoding/json decodes them.
type Decoder struct {
	lr   *lineReader
	file string

	offset, line int64
	// consumed gets each line as it is read (DecodeOptions.Consumed).
	consumed func([]byte)

	objects objects
}

var _ fileformat.Decoder = (*Decoder)(nil)

// NewDecoder returns a decoder of r from opts.Offset. The fields' types
// come from the first records of the file (see sampleTypes), wherever the
// decoder starts.
func NewDecoder(r io.ReadSeeker, opts fileformat.DecodeOptions) (*Decoder, error) {
	fixed := sampleTypes(func() (sampler, error) {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return newDecoder(r, fileformat.DecodeOptions{File: opts.File, JSON: opts.JSON})
	})
	if _, err := r.Seek(opts.Offset, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek to offset %d: %w", opts.Offset, err)
	}
	d, err := newDecoder(r, opts)
	if err != nil {
		return nil, err
	}
	d.objects.fixed = fixed
	return d, nil
}

// newDecoder is a decoder of r, which is at opts.Offset, that infers its
// fields' types from its first batch.
func newDecoder(r io.ReadSeeker, opts fileformat.DecodeOptions) (*Decoder, error) {
	depth, err := opts.JSON.Depth()
	if err != nil {
		return nil, err
	}
	d := &Decoder{
		lr: newLineReader(r), file: opts.File,
		offset: opts.Offset, line: opts.Line, objects: objects{file: opts.File, maxDepth: depth},
	}
	if opts.Offset == 0 {
		if bom := d.lr.peek(3); bytes.Equal(bom, []byte("\uFEFF")) {
			if opts.Consumed != nil {
				opts.Consumed(bom)
			}
			d.lr.discard(3)
			d.offset = 3
		}
	}
	d.consumed = opts.Consumed
	return d, nil
}

// Position implements fileformat.Decoder.
func (d *Decoder) Position() (offset, line int64) { return d.offset, d.line }

func (d *Decoder) sampled() map[string]etl.Type { return d.objects.fixed }

// readLine returns the next line without its line break, or io.EOF;
// inChunk tells whether it lies in one of the reader's chunks.
func (d *Decoder) readLine() (line []byte, inChunk bool, err error) {
	line, inChunk, err = d.lr.next()
	if errors.Is(err, errLineTooLong) {
		return nil, false, fmt.Errorf("line %d is longer than %d MiB", d.line+1, fileformat.MaxFieldSize>>20)
	}
	if err != nil {
		return nil, false, err
	}
	if d.consumed != nil {
		d.consumed(line)
	}
	d.offset += int64(len(line))
	d.line++ // the last line counts even without a line break
	line = bytes.TrimSuffix(line, []byte{'\n'})
	return bytes.TrimRight(line, "\r"), inChunk, nil
}

// Decode implements fileformat.Decoder.
func (d *Decoder) Decode(ctx context.Context, n int) (*etl.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		n = etl.DefaultBatchSize
	}
	d.objects.reset(n)
	var rejects []etl.Reject
	eof := false
	for records := 0; records < n; {
		line, inChunk, err := d.readLine()
		if errors.Is(err, io.EOF) {
			eof = true
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		records++
		if inChunk {
			d.lr.keep() // the batch's strings may point into the line
		}
		d.objects.stable = inChunk
		if err := d.objects.add(line, d.line); err != nil {
			rejects = append(rejects, etl.Reject{
				Step:   "source",
				Origin: etl.Origin{File: d.file, Line: d.line},
				Reason: fmt.Sprintf("line %d: %v", d.line, err),
				Value:  fileformat.RejectValue(line),
			})
			continue
		}
		if records&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	if !eof && d.lr.atEOF() {
		eof = true
	}
	d.objects.chunks = d.lr.take()
	b, err := d.objects.build()
	if err != nil {
		return nil, err
	}
	b.Rejects = append(rejects, b.Rejects...)
	if eof {
		return b, io.EOF
	}
	return b, nil
}
