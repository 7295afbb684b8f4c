package files

import (
	"testing"

	"pgregory.net/rapid"
)

// TestNonASCIISearch compares nonASCII, which looks at 32 and 8 bytes at
// a time, with a byte loop on random ASCII text of every length around
// those steps, with or without one high byte at a random place.
func TestNonASCIISearch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 100).Draw(t, "len")
		p := rapid.SliceOfN(rapid.ByteRange(0, 0x7f), n, n).Draw(t, "ascii")
		if len(p) > 0 && rapid.Bool().Draw(t, "high") {
			p[rapid.IntRange(0, len(p)-1).Draw(t, "at")] = byte(rapid.IntRange(0x80, 0xff).Draw(t, "byte"))
		}
		want := -1
		for i, c := range p {
			if c >= 0x80 {
				want = i
				break
			}
		}
		if got := nonASCII(p); got != want {
			t.Fatalf("nonASCII(%q) = %d, want %d", p, got, want)
		}
	})
}
