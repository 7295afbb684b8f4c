package fileformat

import (
	"errors"
	"io"
	"sync/atomic"
)

// ChunkSize is the size of the chunks the CSV and JSON Lines decoders read
// into: large enough that a read syscall is rare, small enough to keep
// many open decoders cheap.
const ChunkSize = 512 << 10

// MaxFreeChunks is how many unreferenced chunks a decoder's pool keeps (20
// MiB): a PostgreSQL transaction's 10 batches of leads hold about 30 of
// them until its commit, all released together. Measured on 1M leads to
// PostgreSQL, 3 runs each: with 16 kept, each commit left ~14 to the
// garbage collector, and the runs peaked at 95-98 MB RSS and took
// 1.08-1.09 CPU-s; with 40, 81-82 MB and 0.87-0.97 CPU-s.
const MaxFreeChunks = 40

// Chunk is one of a text decoder's read buffers. The strings of the records
// read into it point into it (no copy), so a chunk lives as long as the
// batches whose strings point into it: its count of references counts
// them, and the decoder while it reads into the chunk. At zero the chunk
// goes back to its pool; a batch that is never released keeps its chunks
// from the pool, and the garbage collector takes them with it.
type Chunk struct {
	Data []byte
	refs atomic.Int32
	pool *ChunkPool
}

// Ref adds a reference to c, for a batch whose strings point into it.
func (c *Chunk) Ref() { c.refs.Add(1) }

// Unref drops one reference to c, returning it to its pool at the last.
func (c *Chunk) Unref() {
	if c.refs.Add(-1) == 0 {
		c.pool.free.Push(c, c.pool.max)
	}
}

// Shared reports whether anything but its reader references c: then no
// byte of it may be read over.
func (c *Chunk) Shared() bool { return c.refs.Load() > 1 }

// ChunkPool keeps the chunks nothing references any more, for a decoder's
// later reads. Its chunks are released on other goroutines than the
// decoder's, which gets them.
type ChunkPool struct {
	size, max int
	free      Stack[*Chunk]
	made      int // chunks allocated (on the decoder's goroutine)
}

// NewChunkPool returns a pool of chunks of size bytes that keeps up to max
// unreferenced ones.
func NewChunkPool(size, max int) *ChunkPool { return &ChunkPool{size: size, max: max} }

// Get returns a chunk referenced once (by its caller).
func (p *ChunkPool) Get() *Chunk {
	c, ok := p.free.Pop()
	if !ok {
		c = &Chunk{Data: make([]byte, p.size), pool: p}
		p.made++
	}
	c.refs.Store(1)
	return c
}

// Made is how many chunks p allocated, and Free how many unreferenced
// ones it keeps: once every batch is released, all but the reader's, up
// to the pool's bound (the decoders' release searches check it).
func (p *ChunkPool) Made() int { return p.made }
func (p *ChunkPool) Free() int { return p.free.Len() }

// ReadSome reads into p until it gets a byte, an error or the end of r,
// giving up after 100 reads of nothing (io.ErrNoProgress, as bufio does).
// eof is set at the end of r, err for any other error.
func ReadSome(r io.Reader, p []byte) (n int, eof bool, err error) {
	for range 100 {
		n, err := r.Read(p)
		switch {
		case errors.Is(err, io.EOF):
			return n, true, nil
		case err != nil:
			return n, false, err
		case n > 0:
			return n, false, nil
		}
	}
	return 0, false, io.ErrNoProgress
}

// Writable returns c when nothing but its reader references it, to be
// read over; else a fresh chunk, the reader's reference to c dropped (the
// batches holding c keep it as it is).
func (p *ChunkPool) Writable(c *Chunk) *Chunk {
	if !c.Shared() {
		return c
	}
	n := p.Get()
	c.Unref()
	return n
}

// Held are the chunks the strings of a batch being read point into, each
// referenced once for it, in the order it first pointed into them. A
// decoder reads into one chunk at a time and never returns to one it left
// (a chunk it left is held, or back in the pool), so the chunk it reads
// into is held when it is the last held.
type Held struct{ chunks []*Chunk }

// Index is c's place in h, from 1, as Hold gives it: the last chunk held,
// or the place after.
func (h *Held) Index(c *Chunk) int {
	if n := len(h.chunks); n > 0 && h.chunks[n-1] == c {
		return n
	}
	return len(h.chunks) + 1
}

// Hold makes h hold c, with a reference, unless it is the last chunk held.
func (h *Held) Hold(c *Chunk) {
	if n := len(h.chunks); n > 0 && h.chunks[n-1] == c {
		return
	}
	c.Ref()
	h.chunks = append(h.chunks, c)
}

// At is the chunk at place i (Index) of h.
func (h *Held) At(i int) *Chunk { return h.chunks[i-1] }

// Take appends h's chunks to into, their references with them, and
// empties h; the caller unrefs each when its batch is released.
func (h *Held) Take(into []*Chunk) []*Chunk {
	into = append(into, h.chunks...)
	clear(h.chunks)
	h.chunks = h.chunks[:0]
	return into
}

// Drop releases h's chunks and empties h.
func (h *Held) Drop() { h.chunks = UnrefAll(h.chunks) }

// UnrefAll drops a reference to each of cs (a batch's chunks, when it is
// released) and returns cs emptied, its room kept.
func UnrefAll(cs []*Chunk) []*Chunk {
	for _, c := range cs {
		c.Unref()
	}
	clear(cs)
	return cs[:0]
}
