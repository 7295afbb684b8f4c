package etl

import (
	"fmt"
	"math"
	"testing"
)

// TestArraySpillsAsItWas: an array's elements keep their Go types through
// a spill file's encoding ([]byte stays bytes, not base64 text), so that a
// sorted or deduplicated array still writes as its element type.
func TestArraySpillsAsItWas(t *testing.T) {
	col := NewColumn(TypeArray, 3)
	col.AppendJSON([]any{int64(-1), nil, []byte{0, 0xff}, "2024-02-29", math.NaN(), math.Copysign(0, -1), true})
	col.AppendJSON([]any{[]any{int64(1), nil}, []any{int64(3), int64(4)}})
	col.AppendNull()
	enc, err := col.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Column
	if err := got.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	if want, have := fmt.Sprintf("%#v", col), fmt.Sprintf("%#v", got); want != have {
		t.Fatalf("read back\n%s\nwant\n%s", have, want)
	}
}
