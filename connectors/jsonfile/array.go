package jsonfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
	"github.com/nightjar-etl/nightjar/etl"
)

// ArrayDecoder reads a JSON document holding an array of records: the
// document itself, or the array under a dotted path of object keys
// (`records: data.items`). It streams: json.Decoder tokens walk to the
// array, then each element is decoded alone and typed like a JSON Lines
// object (nested values stay json). An element that is not an object is
// rejected with its line; a syntax error ends the file (its structure is
// lost from there).
//
// Its Position offset is the byte offset after the last element read; a
// resume reads from the start and skips the elements before it.
type ArrayDecoder struct {
	objects objects // the per-object parsing and batch building
	file    string
	path    []string
	in      *lineCounter
	dec     *json.Decoder
	started bool
	done    bool
	skipTo  int64
	offset  int64
	line    int64
}

var _ fileformat.Decoder = (*ArrayDecoder)(nil)

// lineCounter counts the line breaks read through it, and refuses to read
// more than limit bytes past mark: json.Decoder holds a whole value in
// memory, so one value of gigabytes would take as much.
type lineCounter struct {
	r     io.Reader
	lines int64
	read  int64 // bytes read
	mark  int64 // where the value being read starts
	limit int64
}

// errValueTooLarge is what json.Decoder gets from a lineCounter past its
// limit.
var errValueTooLarge = fmt.Errorf("a value larger than %d MiB", fileformat.MaxFieldSize>>20)

func (c *lineCounter) Read(p []byte) (int, error) {
	if c.limit > 0 {
		room := c.limit + 1 - (c.read - c.mark)
		if room <= 0 {
			return 0, errValueTooLarge
		}
		p = p[:min(int64(len(p)), room)]
	}
	n, err := c.r.Read(p)
	c.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	c.read += int64(n)
	return n, err
}

// NewArrayDecoder returns a decoder of r. The fields' types come from the
// first records of the file (see sampleTypes), wherever it starts.
func NewArrayDecoder(r io.ReadSeeker, opts fileformat.DecodeOptions) (*ArrayDecoder, error) {
	fixed := sampleTypes(func() (sampler, error) {
		return newArrayDecoder(r, fileformat.DecodeOptions{File: opts.File, JSON: opts.JSON})
	})
	d, err := newArrayDecoder(r, opts)
	if err != nil {
		return nil, err
	}
	d.objects.fixed = fixed
	return d, nil
}

func (d *ArrayDecoder) sampled() map[string]etl.Type { return d.objects.fixed }

// newArrayDecoder returns a decoder of r that infers its fields' types
// from its first batch; it reads nothing yet.
func newArrayDecoder(r io.ReadSeeker, opts fileformat.DecodeOptions) (*ArrayDecoder, error) {
	depth, err := opts.JSON.Depth()
	if err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek: %w", err)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\uFEFF")) {
		br.Discard(3)
	}
	in := &lineCounter{r: br, limit: fileformat.MaxFieldSize}
	dec := json.NewDecoder(in)
	dec.UseNumber()
	d := &ArrayDecoder{
		objects: objects{file: opts.File, maxDepth: depth},
		file:    opts.File, in: in, dec: dec, skipTo: opts.Offset,
	}
	if opts.JSON.Records != "" {
		d.path = strings.Split(opts.JSON.Records, ".")
	}
	return d, nil
}

// Position implements fileformat.Decoder.
func (d *ArrayDecoder) Position() (offset, line int64) { return d.offset, d.line }

// currentLine is the line of the decoder's read position.
func (d *ArrayDecoder) currentLine() int64 {
	buffered, _ := io.ReadAll(d.dec.Buffered())
	return 1 + d.in.lines - int64(bytes.Count(buffered, []byte{'\n'}))
}

// seek walks the document to the records array.
func (d *ArrayDecoder) seek() error {
	for i, key := range d.path {
		if err := d.expect('{', "an object"); err != nil {
			return fmt.Errorf("records path %s: %w", strings.Join(d.path[:i], "."), err)
		}
		for {
			tok, err := d.dec.Token()
			if err != nil {
				return d.syntax(err)
			}
			if delim, ok := tok.(json.Delim); ok && delim == '}' {
				return fmt.Errorf("records path %s: no key %q", strings.Join(d.path, "."), key)
			}
			if tok == key {
				break
			}
			var skip json.RawMessage
			if err := d.dec.Decode(&skip); err != nil {
				return d.syntax(err)
			}
		}
	}
	what := "a top-level array of records (or set json.records to the path of one)"
	if len(d.path) > 0 {
		what = "an array at " + strings.Join(d.path, ".")
	}
	return d.expect('[', what)
}

func (d *ArrayDecoder) expect(want json.Delim, what string) error {
	tok, err := d.dec.Token()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("line %d: want %s, found the end of the file", d.currentLine(), what)
	}
	if err != nil {
		return d.syntax(err)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != want {
		return fmt.Errorf("line %d: want %s, found %v", d.currentLine(), what, tok)
	}
	return nil
}

// syntax names the line of a parse error. The end of the input within the
// document is io.ErrUnexpectedEOF: an error wrapping io.EOF would read as
// the decoder's clean end, with no batch.
func (d *ArrayDecoder) syntax(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	line := d.currentLine()
	if errors.Is(err, errValueTooLarge) { // name the line the value starts on
		buffered, _ := io.ReadAll(d.dec.Buffered())
		lead := len(buffered) - len(bytes.TrimLeft(buffered, " \t\r\n,:"))
		line += int64(bytes.Count(buffered[:lead], []byte{'\n'}))
	}
	return fmt.Errorf("line %d: %w", line, err)
}

// Decode implements fileformat.Decoder.
func (d *ArrayDecoder) Decode(ctx context.Context, n int) (*etl.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		n = etl.DefaultBatchSize
	}
	d.objects.reset(n)
	if !d.started {
		d.started = true
		if err := d.seek(); err != nil {
			return nil, err
		}
	}
	var rejects []etl.Reject
	var raw json.RawMessage
	for records := 0; records < n && !d.done; {
		if !d.dec.More() {
			if _, err := d.dec.Token(); err != nil { // the closing ]
				return nil, d.syntax(err)
			}
			d.done = true
			break
		}
		if err := d.dec.Decode(&raw); err != nil {
			return nil, d.syntax(err)
		}
		end := d.currentLine()
		line := end - int64(bytes.Count(raw, []byte{'\n'}))
		d.offset, d.line = d.dec.InputOffset(), end
		d.in.mark = d.offset
		if d.offset <= d.skipTo {
			continue
		}
		records++
		if err := d.objects.add(raw, line); err != nil {
			rejects = append(rejects, etl.Reject{
				Step: "source", Origin: etl.Origin{File: d.file, Line: line},
				Reason: fmt.Sprintf("line %d: %v", line, err),
				Value:  fileformat.RejectValue(raw),
			})
			continue
		}
		if records&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	b, err := d.objects.build()
	if err != nil {
		return nil, err
	}
	b.Rejects = append(rejects, b.Rejects...)
	if d.done {
		return b, io.EOF
	}
	return b, nil
}
