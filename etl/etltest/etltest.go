// Package etltest holds hand-written fakes of etl's contracts for tests:
// a source that replays prepared batches and a target that records what it
// was given, each with function fields to inject failures.
package etltest

import (
	"context"
	"sync"

	"github.com/nightjar-etl/nightjar/etl"
)

// Source replays Batches, resuming after the batch whose Position equals
// the position it is opened with.
type Source struct {
	Batches []*etl.Batch
	// NextHook, if set, runs before each Next and may fail it.
	NextHook func(i int) error
	// CloseHook, if set, runs at Close and its error is Close's.
	CloseHook func(ctx context.Context) error
	// Closed counts the calls to Close.
	Closed int

	env  etl.SourceEnv
	next int
}

var _ etl.Source = (*Source)(nil)

// Open positions the source after env.Position.
func (s *Source) Open(_ context.Context, env etl.SourceEnv) error {
	s.env, s.next = env, 0
	if env.Position == nil {
		return nil
	}
	for i, b := range s.Batches {
		if string(b.Position) == string(env.Position) {
			s.next = i + 1
		}
	}
	return nil
}

// Next returns a copy-free handle on the next prepared batch.
func (s *Source) Next(context.Context) (*etl.Batch, error) {
	if s.NextHook != nil {
		if err := s.NextHook(s.next); err != nil {
			return nil, err
		}
	}
	if s.next >= len(s.Batches) {
		return nil, etl.ErrEndOfInput
	}
	b := s.Batches[s.next]
	s.next++
	return b, nil
}

// Close counts the call and runs CloseHook.
func (s *Source) Close(ctx context.Context) error {
	s.Closed++
	if s.CloseHook != nil {
		return s.CloseHook(ctx)
	}
	return nil
}

// Target records the batches written to it.
type Target struct {
	// WriteHook, if set, runs before each Write and may fail it.
	WriteHook func(b *etl.Batch) error
	Durable   etl.Durability

	mu        sync.Mutex
	Env       etl.TargetEnv
	Written   []*etl.Batch
	Committed bool
	Closed    bool
}

var _ etl.Target = (*Target)(nil)

// Open records env.
func (t *Target) Open(_ context.Context, env etl.TargetEnv) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Env = env
	return nil
}

// Write records b unless WriteHook fails.
func (t *Target) Write(_ context.Context, b *etl.Batch) error {
	if t.WriteHook != nil {
		if err := t.WriteHook(b); err != nil {
			return err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Written = append(t.Written, b)
	return nil
}

// Commit marks the target committed.
func (t *Target) Commit(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Committed = true
	return nil
}

// Close marks the target closed.
func (t *Target) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Closed = true
	return nil
}

// Durability returns t.Durable.
func (t *Target) Durability() etl.Durability { return t.Durable }

// Rows returns how many rows were written.
func (t *Target) Rows() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, b := range t.Written {
		n += b.Len()
	}
	return n
}

// StringBatch builds a batch of string fields from rows, with origins on
// lines 2… of file and the given position.
func StringBatch(file string, firstLine int64, pos string, fields []string, rows ...[]string) *etl.Batch {
	fs := make([]etl.Field, len(fields))
	for i, f := range fields {
		fs[i] = etl.Field{Name: f, Type: etl.TypeString}
	}
	b := etl.NewBatch(etl.MustSchema(fs...), len(rows))
	for r, row := range rows {
		for i, v := range row {
			b.Cols[i].AppendString(v)
		}
		b.Origins = append(b.Origins, etl.Origin{File: file, Line: firstLine + int64(r)})
	}
	b.Position = etl.Position(pos)
	return b
}

// SyncTarget is a Target that is an etl.Syncer: batches written become
// durable (Synced) at Sync, which is due after every Every batches; Close
// drops what was not synced, as a rolled-back transaction would.
type SyncTarget struct {
	Target
	Every int
	// SyncHook, if set, runs before each Sync (numbered from 1) and may
	// fail it.
	SyncHook func(n int) error

	Syncs    int
	Synced   []*etl.Batch
	unsynced []*etl.Batch
}

var _ etl.Syncer = (*SyncTarget)(nil)

// Write records b as written but not durable.
func (t *SyncTarget) Write(ctx context.Context, b *etl.Batch) error {
	if err := t.Target.Write(ctx, b); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unsynced = append(t.unsynced, b)
	return nil
}

// Sync makes the batches written so far durable unless SyncHook fails.
func (t *SyncTarget) Sync(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Syncs++
	if t.SyncHook != nil {
		if err := t.SyncHook(t.Syncs); err != nil {
			return err
		}
	}
	t.Synced = append(t.Synced, t.unsynced...)
	t.unsynced = nil
	return nil
}

// SyncDue reports whether Every batches await a Sync.
func (t *SyncTarget) SyncDue() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Every > 0 && len(t.unsynced) >= t.Every
}

// Close drops the batches not synced.
func (t *SyncTarget) Close() error {
	t.mu.Lock()
	t.unsynced = nil
	t.mu.Unlock()
	return t.Target.Close()
}

// SyncedSeqs returns the sequence numbers of the batches synced.
func (t *SyncTarget) SyncedSeqs() []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var seqs []int64
	for _, b := range t.Synced {
		seqs = append(seqs, b.Seq)
	}
	return seqs
}
