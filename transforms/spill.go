package transforms

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/nightjar-etl/nightjar/etl"
)

// This file is the external sorter behind the steps that hold rows across
// batches (sort, dedupe, aggregate): rows are buffered up to a bound, then
// sorted and spilled to a temporary file as a run; at the end the runs are
// merged. Memory thus stays within the bound however large the input, and
// the steps themselves only ever see rows in sorted order.

// DefaultMemoryRows is how many rows a holding step keeps in memory before
// it spills to disk, unless its config says memory_rows.
const DefaultMemoryRows = 200_000

// spillChunkRows is the number of rows per gob record in a run file.
const spillChunkRows = 4096

// SpillConfig is the memory bound of a step that holds rows.
type SpillConfig struct {
	// MemoryRows is the number of rows held in memory before spilling.
	MemoryRows int `yaml:"memory_rows" doc:"the number of rows held in memory before spilling"`
	// SpillDir is where run files go; the system's temporary directory by
	// default. Relative to the config file.
	SpillDir string `yaml:"spill_dir" doc:"where run files go; the system's temporary directory by default"`
	// BatchSize is the most rows per batch the step emits at the end of
	// input; the job's batch size by default.
	BatchSize int `yaml:"batch_size" doc:"the most rows per batch the step emits at the end of input; the job's batch size by default"`
}

func (c SpillConfig) check() error {
	if c.MemoryRows < 0 {
		return &etl.FieldError{Path: []string{"memory_rows"}, Err: fmt.Errorf("must be positive, got %d", c.MemoryRows)}
	}
	if c.BatchSize < 0 {
		return &etl.FieldError{Path: []string{"batch_size"}, Err: fmt.Errorf("must be positive, got %d", c.BatchSize)}
	}
	return nil
}

func (c SpillConfig) resolve(env etl.BuildEnv) SpillConfig {
	if c.MemoryRows == 0 {
		c.MemoryRows = DefaultMemoryRows
	}
	if c.BatchSize == 0 {
		c.BatchSize = env.BatchSize
	}
	if c.BatchSize <= 0 {
		c.BatchSize = etl.DefaultBatchSize
	}
	if c.SpillDir != "" && !filepath.IsAbs(c.SpillDir) && env.BaseDir != "" {
		c.SpillDir = filepath.Join(env.BaseDir, c.SpillDir)
	}
	return c
}

// rowCompare orders two rows of the sorter's schema; ties are broken by
// insertion sequence.
type rowCompare func(a *etl.Batch, i int, b *etl.Batch, j int) int

// spillChunk is one record of a run file.
type spillChunk struct {
	Cols    []etl.Column
	Origins []etl.Origin
	Seq     []int64
	Routes  map[string][]bool
}

// rowSorter sorts rows of one schema within a memory bound.
type rowSorter struct {
	cfg     SpillConfig
	compare rowCompare
	schema  *etl.Schema
	buf     *etl.Batch
	seq     []int64
	next    int64
	dir     string   // created on the first spill
	runs    []string // run files, each sorted
}

func newRowSorter(cfg SpillConfig, compare rowCompare) *rowSorter {
	return &rowSorter{cfg: cfg, compare: compare}
}

// spilled reports whether any run went to disk.
func (s *rowSorter) spilled() bool { return len(s.runs) > 0 }

// add appends every row of b.
func (s *rowSorter) add(b *etl.Batch) error {
	for i := 0; i < b.Len(); i++ {
		if err := s.addRow(b, i, -1); err != nil {
			return err
		}
	}
	return nil
}

// addRow appends row i of b with sequence seq (-1: the next one).
func (s *rowSorter) addRow(b *etl.Batch, i int, seq int64) error {
	if s.schema == nil {
		s.schema = b.Schema
	} else if b.Schema != s.schema && !b.Schema.Equal(s.schema) {
		return fmt.Errorf("input schema changed from (%s) to (%s); a step holding rows needs one schema", s.schema, b.Schema)
	}
	if s.buf == nil {
		s.buf = etl.NewBatch(s.schema, min(s.cfg.MemoryRows, 1024))
	}
	if seq < 0 {
		seq = s.next
		s.next++
	}
	appendRow(s.buf, b, i)
	s.seq = append(s.seq, seq)
	if s.buf.Len() >= s.cfg.MemoryRows {
		return s.spill()
	}
	return nil
}

// order returns the buffer's row indexes in sorted order.
func (s *rowSorter) order() []int {
	perm := make([]int, s.buf.Len())
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int {
		if c := s.compare(s.buf, a, s.buf, b); c != 0 {
			return c
		}
		return cmpInt64(s.seq[a], s.seq[b])
	})
	return perm
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// spill sorts the buffer and writes it as a run file.
func (s *rowSorter) spill() error {
	if s.buf == nil || s.buf.Len() == 0 {
		return nil
	}
	if s.dir == "" {
		dir, err := os.MkdirTemp(s.cfg.SpillDir, "nightjar-spill-")
		if err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		s.dir = dir
	}
	path := filepath.Join(s.dir, fmt.Sprintf("run-%04d.gob", len(s.runs)))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := gob.NewEncoder(w)
	perm := s.order()
	for start := 0; start < len(perm); start += spillChunkRows {
		end := min(start+spillChunkRows, len(perm))
		chunk := etl.NewBatch(s.schema, end-start)
		seqs := make([]int64, 0, end-start)
		for _, i := range perm[start:end] {
			appendRow(chunk, s.buf, i)
			seqs = append(seqs, s.seq[i])
		}
		// Columns encode themselves (etl's Column.MarshalBinary), so
		// that every value reads back with its Go type.
		if err := enc.Encode(spillChunk{Cols: chunk.Cols, Origins: chunk.Origins, Seq: seqs, Routes: chunk.Routes}); err != nil {
			f.Close()
			return fmt.Errorf("spill %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("spill %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("spill %s: %w", path, err)
	}
	s.runs = append(s.runs, path)
	s.buf, s.seq = nil, nil
	return nil
}

// each calls fn for every row in sorted order, with its sequence. The
// batch passed to fn is only valid during the call.
func (s *rowSorter) each(fn func(b *etl.Batch, i int, seq int64) error) error {
	it, err := s.iter()
	if err != nil {
		return err
	}
	defer it.close()
	for {
		b, i, seq, err := it.next()
		if err != nil || b == nil {
			return err
		}
		if err := fn(b, i, seq); err != nil {
			return err
		}
	}
}

// rowIter walks a sorter's rows in order: the sorted buffer, or a k-way
// merge of the runs on disk, one row at a time, so that a step can hand
// its output on in bounded batches.
type rowIter struct {
	s    *rowSorter
	perm []int // in memory: the buffer's rows in order
	k    int
	h    *runHeap   // spilled: the runs, by their current row
	cur  *runReader // the run whose row next returned last
}

// iter starts walking the sorter's rows; no row may be added after. On
// error the sorter is closed (its run files removed).
func (s *rowSorter) iter() (it *rowIter, err error) {
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	it = &rowIter{s: s}
	if !s.spilled() {
		if s.buf != nil {
			it.perm = s.order()
		}
		return it, nil
	}
	if err := s.spill(); err != nil {
		return nil, err
	}
	h := &runHeap{compare: s.compare}
	for _, path := range s.runs {
		r, err := openRun(path, s.schema)
		if err != nil {
			h.close()
			return nil, err
		}
		h.readers = append(h.readers, r)
		if err := r.advance(); err != nil {
			h.close()
			return nil, err
		}
	}
	for _, r := range h.readers {
		if r.chunk != nil {
			h.heap = append(h.heap, r)
		}
	}
	heap.Init(h)
	it.h = h
	// The open readers keep the run files readable: removing them now
	// leaves nothing behind should the caller never finish the walk (a
	// run failing while a step flushes). Where open files cannot be
	// removed, close removes them at the end.
	if err := os.RemoveAll(s.dir); err == nil {
		s.dir, s.runs = "", nil
	}
	return it, nil
}

// next returns the next row as row i of b, with its sequence; b is nil
// after the last row. b is valid until the next call.
func (it *rowIter) next() (b *etl.Batch, i int, seq int64, err error) {
	if it.h == nil {
		if it.k >= len(it.perm) {
			return nil, 0, 0, nil
		}
		i = it.perm[it.k]
		it.k++
		return it.s.buf, i, it.s.seq[i], nil
	}
	if r := it.cur; r != nil {
		// r is still the heap's top: nothing moved since it was returned.
		it.cur = nil
		if err := r.advance(); err != nil {
			return nil, 0, 0, err
		}
		if r.chunk == nil {
			heap.Pop(it.h)
		} else {
			heap.Fix(it.h, 0)
		}
	}
	if it.h.Len() == 0 {
		return nil, 0, 0, nil
	}
	r := it.h.heap[0]
	it.cur = r
	return r.chunk, r.pos, r.seqs[r.pos], nil
}

// close ends the walk: the run files are closed and removed, the buffer
// released.
func (it *rowIter) close() error {
	if it.h != nil {
		it.h.close()
		it.h = nil
	}
	it.perm = nil
	return it.s.close()
}

// rowStream hands a sorter's rows on in batches of at most size rows.
type rowStream struct {
	it   *rowIter
	size int
}

// nextBatch returns the next batch of rows, or nil after the last one.
func (st *rowStream) nextBatch(ctx context.Context) (*etl.Batch, error) {
	if st.it == nil {
		return nil, nil
	}
	if st.it.s.schema == nil { // no rows at all
		return nil, st.stop()
	}
	if err := ctx.Err(); err != nil {
		st.stop()
		return nil, err
	}
	out := etl.NewBatch(st.it.s.schema, min(st.size, 1024))
	for out.Len() < st.size {
		b, i, _, err := st.it.next()
		if err != nil {
			st.stop()
			return nil, err
		}
		if b == nil {
			if err := st.stop(); err != nil {
				return nil, err
			}
			break
		}
		appendRow(out, b, i)
	}
	if out.Len() == 0 {
		return nil, nil
	}
	return out, nil
}

// stop ends the walk early or at its end.
func (st *rowStream) stop() error {
	if st.it == nil {
		return nil
	}
	err := st.it.close()
	st.it = nil
	return err
}

// close removes the run files.
func (s *rowSorter) close() error {
	s.buf, s.seq = nil, nil
	if s.dir == "" {
		return nil
	}
	err := os.RemoveAll(s.dir)
	s.dir, s.runs = "", nil
	return err
}

// runReader reads a run file chunk by chunk.
type runReader struct {
	f      *os.File
	dec    *gob.Decoder
	schema *etl.Schema
	chunk  *etl.Batch // nil at the end
	seqs   []int64
	pos    int
}

func openRun(path string, schema *etl.Schema) (*runReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read spill: %w", err)
	}
	return &runReader{f: f, dec: gob.NewDecoder(bufio.NewReaderSize(f, 1<<20)), schema: schema, pos: -1}, nil
}

// advance moves to the next row, reading the next chunk when needed.
func (r *runReader) advance() error {
	r.pos++
	if r.chunk != nil && r.pos < r.chunk.Len() {
		return nil
	}
	var c spillChunk
	if err := r.dec.Decode(&c); err != nil {
		r.chunk = nil
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("read spill %s: %w", r.f.Name(), err)
	}
	r.chunk = &etl.Batch{Schema: r.schema, Cols: c.Cols, Origins: c.Origins, Routes: c.Routes}
	r.seqs, r.pos = c.Seq, 0
	return nil
}

type runHeap struct {
	compare rowCompare
	readers []*runReader
	heap    []*runReader
}

func (h *runHeap) Len() int { return len(h.heap) }
func (h *runHeap) Less(a, b int) bool {
	x, y := h.heap[a], h.heap[b]
	if c := h.compare(x.chunk, x.pos, y.chunk, y.pos); c != 0 {
		return c < 0
	}
	return x.seqs[x.pos] < y.seqs[y.pos]
}
func (h *runHeap) Swap(a, b int) { h.heap[a], h.heap[b] = h.heap[b], h.heap[a] }
func (h *runHeap) Push(x any)    { h.heap = append(h.heap, x.(*runReader)) }
func (h *runHeap) Pop() any {
	last := h.heap[len(h.heap)-1]
	h.heap = h.heap[:len(h.heap)-1]
	return last
}

func (h *runHeap) close() {
	for _, r := range h.readers {
		r.f.Close()
	}
}

// sortKey is a field to order by, descending or not.
type sortKey struct {
	field string
	desc  bool
}

// parseSortKeys reads "created" or "-created" (descending).
func parseSortKeys(names []string) []sortKey {
	out := make([]sortKey, len(names))
	for i, n := range names {
		if len(n) > 1 && n[0] == '-' {
			out[i] = sortKey{field: n[1:], desc: true}
		} else {
			out[i] = sortKey{field: n}
		}
	}
	return out
}

// keyCompare orders rows by columns cols (descending where desc[k]).
func keyCompare(cols []int, desc []bool) rowCompare {
	return func(a *etl.Batch, i int, b *etl.Batch, j int) int {
		for k, c := range cols {
			r := compareCells(&a.Cols[c], i, &b.Cols[c], j)
			if r != 0 {
				if desc != nil && desc[k] {
					return -r
				}
				return r
			}
		}
		return 0
	}
}
