package csvfile

import (
	"sync/atomic"

	"github.com/nightjar-etl/nightjar/connectors/internal/fileformat"
)

// chunk is one of the scanner's read buffers. The fields a record is split
// into point into the chunk it was read into (no copy), so a chunk lives
// as long as the batches whose strings point into it: refs counts them,
// and the scanner while it reads into the chunk. At zero the chunk goes
// back to its pool; a batch that is never released keeps its chunks from
// the pool, and the garbage collector takes them with it.
type chunk struct {
	data []byte
	refs atomic.Int32
	pool *chunkPool
}

// unref drops one reference to c, returning it to its pool at the last.
func (c *chunk) unref() {
	if c.refs.Add(-1) == 0 {
		c.pool.put(c)
	}
}

// maxFreeChunks is how many unreferenced chunks a pool keeps (20 MiB): a
// PostgreSQL transaction's 10 batches of leads hold about 30 of them until
// its commit, all released together. Measured on 1M leads to PostgreSQL:
// with 16 kept, each commit left ~14 to the garbage collector and the run
// took 97 MB of peak RSS and ~10 % more CPU; with 40, 82 MB.
const maxFreeChunks = 40

// chunkPool keeps the chunks no batch points into any more, for a
// decoder's later reads.
type chunkPool struct{ free fileformat.Stack[*chunk] }

// get returns a chunk referenced once (by its caller).
func (p *chunkPool) get() *chunk {
	c, ok := p.free.Pop()
	if !ok {
		c = &chunk{data: make([]byte, chunkSize), pool: p}
	}
	c.refs.Store(1)
	return c
}

func (p *chunkPool) put(c *chunk) { p.free.Push(c, maxFreeChunks) }
