package transforms

import "github.com/nightjar-etl/nightjar/etl"

// These steps keep nothing of a batch once Apply returns: what they hold
// across batches is per schema (plans, expression bindings), so a run may
// fill a released batch's vectors with later rows (etl.Releaser). A step
// that holds rows (dedupe, sort, aggregate), caches values it read (lookup)
// or keeps per-row state between batches is left out until it is shown not
// to keep a batch's vectors.
var (
	_ etl.Releaser = (*renameStep)(nil)
	_ etl.Releaser = (*projectStep)(nil)
	_ etl.Releaser = (*textStep)(nil)
	_ etl.Releaser = (*castStep)(nil)
	_ etl.Releaser = (*defaultStep)(nil)
	_ etl.Releaser = (*coalesceStep)(nil)
	_ etl.Releaser = (*filterStep)(nil)
)

// ReleasesBatches implements etl.Releaser: rename swaps the schema only.
func (s *renameStep) ReleasesBatches() bool { return true }

// ReleasesBatches implements etl.Releaser: select and drop swap the
// batch's column list only.
func (s *projectStep) ReleasesBatches() bool { return true }

// ReleasesBatches implements etl.Releaser: trim, lower and upper rewrite
// strings in place.
func (s *textStep) ReleasesBatches() bool { return true }

// ReleasesBatches implements etl.Releaser: cast builds new columns.
func (s *castStep) ReleasesBatches() bool { return true }

// ReleasesBatches implements etl.Releaser: default fills values in place.
func (s *defaultStep) ReleasesBatches() bool { return true }

// ReleasesBatches implements etl.Releaser: coalesce builds new columns.
func (s *coalesceStep) ReleasesBatches() bool { return true }

// ReleasesBatches implements etl.Releaser: filter's evaluator lives for
// one Apply, and Keep compacts in place.
func (s *filterStep) ReleasesBatches() bool { return true }
