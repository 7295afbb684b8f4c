package transforms

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
)

// TestExprDepth: brackets nested past maxExprDepth are an error naming the
// column, not a stack overflow (half a million levels crashed the process
// at validate time); at the bound, and within string literals, they
// compile.
func TestExprDepth(t *testing.T) {
	nest := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	if _, err := compileExpr(etl.SystemClock{}, nest("(", ")", maxExprDepth)); err != nil {
		t.Fatalf("at the bound: %v", err)
	}
	if _, err := compileExpr(etl.SystemClock{}, `"`+strings.Repeat("(", 2*maxExprDepth)+`" + 'a\'((' + "b"`); err != nil {
		t.Fatalf("brackets in strings: %v", err)
	}
	for src, col := range map[string]int{
		nest("(", ")", maxExprDepth+1): 1001, nest("[", "]", 500_000): 1001, nest("(", ")", 500_000): 1001,
		"{a: " + nest("[", "]", maxExprDepth) + "}": 1004,
	} {
		_, err := compileExpr(etl.SystemClock{}, src)
		if want := fmt.Sprintf("brackets nested deeper than 1000 levels at column %d", col); err == nil || err.Error() != want {
			t.Errorf("%.20s...: err = %v, want %q", src, err, want)
		}
	}
}
