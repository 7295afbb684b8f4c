package transforms

import (
	"fmt"
	"strings"
	"sync"

	"github.com/nightjar-etl/nightjar/etl"
)

// maxCachedSchemas bounds a schemaCache: a source normally produces one or
// a few schemas per run, and a misbehaving one that builds a new schema per
// batch must not make the cache grow without end.
const maxCachedSchemas = 64

// schemaCache memoises what a step derives from an input schema (the output
// schema, column indexes, bound expressions), keyed by the schema's pointer
// since schemas are immutable. A plan that failed to build is cached with
// its error. Safe for concurrent use.
type schemaCache[P any] struct {
	mu      sync.Mutex
	entries map[*etl.Schema]schemaCacheEntry[P]
}

type schemaCacheEntry[P any] struct {
	plan P
	err  error
}

// get returns the plan for s, building it with build on first sight.
func (c *schemaCache[P]) get(s *etl.Schema, build func(*etl.Schema) (P, error)) (P, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[s]; ok {
		return e.plan, e.err
	}
	if c.entries == nil || len(c.entries) >= maxCachedSchemas {
		c.entries = make(map[*etl.Schema]schemaCacheEntry[P])
	}
	plan, err := build(s)
	c.entries[s] = schemaCacheEntry[P]{plan, err}
	return plan, err
}

// missingFieldError says that a field named in the config is not in the
// input, listing the fields that are: a config bug, not a row problem.
func missingFieldError(name string, s *etl.Schema) error {
	return fmt.Errorf("field %q not in input (have: %s)", name, strings.Join(s.Names(), ", "))
}
