package jsonfile

import (
	"bytes"
	"fmt"
	"io"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// chunkSize is the size of the chunks lines are read into:
// fileformat.ChunkSize, but for tests, which make it small so that lines
// cross chunks (fileformattest.DrawChunkSize).
var chunkSize = fileformat.ChunkSize

// lineReader reads lines into chunks, where they stay: a batch's strings
// point into the chunks of its lines (see objects.text), which it holds
// until it is released. A line that goes on past a chunk's end is moved
// to the start of a chunk nothing else references; a line longer than a
// chunk is gathered in long instead, and its strings are copied.
type lineReader struct {
	rd       io.Reader
	pool     *fileformat.ChunkPool
	cur      *fileformat.Chunk
	buf      []byte // cur's data
	pos, end int
	eof      bool
	err      error
	long     []byte

	// held are the chunks of the lines kept since the last take.
	held fileformat.Held
}

func newLineReader(rd io.Reader) *lineReader {
	pool := fileformat.NewChunkPool(chunkSize, fileformat.MaxFreeChunks)
	cur := pool.Get()
	return &lineReader{rd: rd, pool: pool, cur: cur, buf: cur.Data}
}

// next returns the next line with its line break (none at the end of the
// input), or io.EOF. When inChunk is set the line lies in a chunk: keep
// makes the batch being read hold it.
func (r *lineReader) next() (line []byte, inChunk bool, err error) {
	for {
		if i := bytes.IndexByte(r.buf[r.pos:r.end], '\n'); i >= 0 {
			line = r.buf[r.pos : r.pos+i+1]
			r.pos += i + 1
			return line, true, nil
		}
		if r.eof || r.err != nil {
			if r.pos < r.end {
				line = r.buf[r.pos:r.end]
				r.pos = r.end
				return line, true, nil
			}
			if r.err != nil {
				return nil, false, r.err
			}
			return nil, false, io.EOF
		}
		if r.end == len(r.buf) {
			if r.pos == 0 {
				line, err := r.readLong()
				return line, false, err
			}
			// Move the line so far to the start of a chunk that may be
			// read over: this one when nothing else references it (the
			// copy moves the line down within it), else another, the
			// batches holding this one keeping it as it is.
			old := r.buf[r.pos:r.end]
			r.writable()
			r.end = copy(r.buf, old)
			r.pos = 0
		}
		r.read()
	}
}

// readLong gathers a line longer than a chunk, the chunk full of its start,
// into long.
func (r *lineReader) readLong() ([]byte, error) {
	r.long = append(r.long[:0], r.buf[:r.end]...)
	r.pos, r.end = 0, 0
	r.writable()
	for {
		if len(r.long) > fileformat.MaxFieldSize {
			return nil, errLineTooLong
		}
		r.read()
		i := bytes.IndexByte(r.buf[:r.end], '\n')
		if i >= 0 || r.eof || r.err != nil {
			if i < 0 {
				i = r.end - 1
			}
			r.long = append(r.long, r.buf[:i+1]...)
			r.pos = i + 1
			if r.err != nil && r.pos >= r.end {
				return nil, r.err
			}
			if len(r.long) > fileformat.MaxFieldSize {
				return nil, errLineTooLong
			}
			return r.long, nil
		}
		r.long = append(r.long, r.buf[:r.end]...)
		r.pos, r.end = 0, 0
	}
}

var errLineTooLong = fmt.Errorf("longer than %d MiB", fileformat.MaxFieldSize>>20)

// read reads into buf after end.
func (r *lineReader) read() {
	n, eof, err := fileformat.ReadSome(r.rd, r.buf[r.end:])
	r.end += n
	r.eof = r.eof || eof
	if err != nil {
		r.err = fmt.Errorf("read: %w", err)
	}
}

// writable makes buf a chunk no batch references, to read over.
func (r *lineReader) writable() {
	r.cur = r.pool.Writable(r.cur)
	r.buf = r.cur.Data
}

// keep makes the batch being read hold the chunk of the line just read.
func (r *lineReader) keep() { r.held.Hold(r.cur) }

// take hands the chunks kept since the last take to the caller, which
// unrefs each when its batch is released.
func (r *lineReader) take() []*fileformat.Chunk { return r.held.Take(nil) }

// atEOF reports whether no byte is left; it may read.
func (r *lineReader) atEOF() bool {
	if r.pos < r.end {
		return false
	}
	if r.eof || r.err != nil {
		return r.eof && r.err == nil
	}
	r.pos, r.end = 0, 0
	r.writable()
	r.read()
	return r.pos >= r.end && r.eof && r.err == nil
}

// peek returns up to n unread bytes without consuming them (for a BOM at
// the start); it may read.
func (r *lineReader) peek(n int) []byte {
	for r.end-r.pos < n && !r.eof && r.err == nil && r.end < len(r.buf) {
		r.read()
	}
	return r.buf[r.pos:min(r.end, r.pos+n)]
}

// discard consumes n bytes that peek returned.
func (r *lineReader) discard(n int) { r.pos += n }
