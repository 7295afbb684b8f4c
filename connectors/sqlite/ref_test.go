package sqlite

import (
	"math"
	"runtime"
	"testing"
)

func TestRefReadsValueInPlace(t *testing.T) {
	// Not parallel: AllocsPerRun needs the process to itself.
	strs := []string{"", "größe", `'); DROP TABLE x; --`}
	ints := []int64{0, -1, math.MaxInt64, 1 << 40}
	floats := []float64{0, -2.5, math.Inf(1), 1e-300}
	var got []any
	for i := range strs {
		got = append(got, ref(&strs[i]))
	}
	for i := range ints {
		got = append(got, ref(&ints[i]))
	}
	for i := range floats {
		got = append(got, ref(&floats[i]))
	}
	runtime.GC() // the interfaces keep the vectors alive
	var want []any
	for _, s := range strs {
		want = append(want, s)
	}
	for _, n := range ints {
		want = append(want, n)
	}
	for _, f := range floats {
		want = append(want, f)
	}
	for i := range want {
		if got[i] != want[i] { // compares dynamic type and value
			t.Errorf("ref %d = %#v, want %#v", i, got[i], want[i])
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = ref(&strs[1]); _ = ref(&ints[2]); _ = ref(&floats[3]) }); n != 0 {
		t.Errorf("ref allocates %v times", n)
	}
}
