// Package httpapitest holds test helpers for the API connectors: a log sink
// to search for leaked secrets. (Their fake clock, whose Sleep advances the
// time at once, is etltest.Clock.)
package httpapitest

import (
	"bytes"
	"log/slog"
	"sync"
)

// LogBuffer is a concurrency-safe buffer for a test logger's output.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a debug-level text logger writing to b.
func (b *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
