package httpapitest

import (
	"cmp"
	"context"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// SharedTestdata returns the path of rel under testdata/ in the shared
// folder beside the module (../../../shared from connectors/X, or
// $NIGHTJAR_SHARED when it lies elsewhere, as from a git worktree).
// Without it the
// test fails in CI ($CI set) and is skipped elsewhere, naming what is
// missing.
func SharedTestdata(t testing.TB, rel, what string) string {
	t.Helper()
	path := filepath.Join(cmp.Or(os.Getenv("NIGHTJAR_SHARED"), "../../../shared"), "testdata", rel)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not at %s: set NIGHTJAR_SHARED to the shared folder", what, path)
		}
		t.Skipf("%s is not at %s: set NIGHTJAR_SHARED to the shared folder (CI fails here instead)", what, path)
	}
	return path
}

// Fingerprints is a state store's fingerprints in memory, listable
// (etl.FingerprintLister), safe for concurrent use.
type Fingerprints struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

var _ etl.FingerprintLister = (*Fingerprints)(nil)

// NewFingerprints returns an empty store.
func NewFingerprints() *Fingerprints { return &Fingerprints{m: map[string]map[string]string{}} }

// Fingerprints returns the values of ids under target.
func (s *Fingerprints) Fingerprints(_ context.Context, target string, ids []string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, id := range ids {
		if v, ok := s.m[target][id]; ok {
			out[id] = v
		}
	}
	return out, nil
}

// SaveFingerprints records values under target.
func (s *Fingerprints) SaveFingerprints(_ context.Context, target string, digests map[string]string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[target] == nil {
		s.m[target] = map[string]string{}
	}
	maps.Copy(s.m[target], digests)
	return nil
}

// AllFingerprints returns every value under target.
func (s *Fingerprints) AllFingerprints(_ context.Context, target string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m[target]), nil
}

// Target returns a copy of target's values.
func (s *Fingerprints) Target(target string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m[target])
}
