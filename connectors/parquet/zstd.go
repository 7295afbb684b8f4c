package parquet

import (
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"
)

// zstdWindow bounds the history a zstd encoder keeps, twice a page: every
// page fits in it unless one row's values alone outgrow it. parquet-go's
// own codec keeps the 8 MB default, and a page over zstd's 128 KB block
// takes the multi-block path, which allocates the whole window's history
// (16 MB) in each pooled encoder, one per P: 256 KB pages measured a live
// heap of 64 MB instead of 33 on a 2 GB CSV → Parquet load.
const zstdWindow = 2 * pageBufferSize

// zstdPages is the zstd codec of the files written here: parquet-go's
// (the same level, no CRC, empty input as an empty frame) with a window
// of zstdWindow and zstd's lower-memory mode. Frames read back the same
// with any zstd decoder.
//
// Idle encoders wait in a free list rather than a sync.Pool: a pool keeps
// one per P the writing goroutine has run on (each ~1.9 MB: its match
// tables and history), so even one writer came to hold two on two cores.
// The list holds as many as ever compressed at once, up to GOMAXPROCS.
type zstdPages struct {
	mu   sync.Mutex
	idle []*zstd.Encoder
}

var zstdCodec = &zstdPages{}

var _ compress.Codec = (*zstdPages)(nil)

// String implements compress.Codec.
func (c *zstdPages) String() string { return "ZSTD" }

// CompressionCodec implements compress.Codec.
func (c *zstdPages) CompressionCodec() format.CompressionCodec { return format.Zstd }

// Encode implements compress.Codec: it compresses src into dst.
func (c *zstdPages) Encode(dst, src []byte) ([]byte, error) {
	c.mu.Lock()
	var e *zstd.Encoder
	if n := len(c.idle); n > 0 {
		e, c.idle = c.idle[n-1], c.idle[:n-1]
	}
	c.mu.Unlock()
	if e == nil {
		var err error
		e, err = zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithZeroFrames(true),
			zstd.WithEncoderCRC(false),
			zstd.WithWindowSize(zstdWindow),
			zstd.WithLowerEncoderMem(true),
		)
		if err != nil {
			return dst, err
		}
	}
	dst = e.EncodeAll(src, dst[:0])
	c.mu.Lock()
	if len(c.idle) < runtime.GOMAXPROCS(0) {
		c.idle = append(c.idle, e)
	}
	c.mu.Unlock()
	return dst, nil
}

// Decode implements compress.Codec; the writer never decodes, so it is
// parquet-go's.
func (c *zstdPages) Decode(dst, src []byte) ([]byte, error) {
	return pq.Zstd.Decode(dst, src)
}
