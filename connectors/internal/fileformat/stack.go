package fileformat

import "sync"

// Stack keeps released memory for a decoder's reuse, the last put on top
// (the likeliest still in the CPU's caches). Batches are released on
// other goroutines than the decoder's, which takes their memory back.
type Stack[T any] struct {
	mu    sync.Mutex
	items []T
}

// Pop takes the item put last, if any.
func (s *Stack[T]) Pop() (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v T
	n := len(s.items)
	if n == 0 {
		return v, false
	}
	v, s.items[n-1] = s.items[n-1], v
	s.items = s.items[:n-1]
	return v, true
}

// Push keeps v unless the stack holds max items already.
func (s *Stack[T]) Push(v T, max int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.items) < max {
		s.items = append(s.items, v)
	}
}

// Len is how many items the stack holds.
func (s *Stack[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}
