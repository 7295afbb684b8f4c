package fileformat

import "testing"

// TestStack: the last item put is the first taken, and a full stack drops
// what is put on it.
func TestStack(t *testing.T) {
	var s Stack[int]
	if _, ok := s.Pop(); ok {
		t.Fatal("an empty stack gave an item")
	}
	for i := range 4 {
		s.Push(i, 3)
	}
	if s.Len() != 3 {
		t.Fatalf("len %d, want 3 (the bound)", s.Len())
	}
	for _, want := range []int{2, 1, 0} {
		if got, ok := s.Pop(); !ok || got != want {
			t.Fatalf("pop = %d, %v; want %d", got, ok, want)
		}
	}
	if _, ok := s.Pop(); ok {
		t.Fatal("a stack emptied gave an item")
	}
}
