package transforms

import (
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/nightjar-etl/nightjar/etl"
)

// FuzzCompileExpr compiles arbitrary text as an expression (as set uses
// it, and as a condition with AsBool): it compiles or returns an error with
// a message, never panics; a compiled one lists its fields sorted, once
// each, each written in the source; bound to a batch of those fields it
// evaluates a null row and a text row to a value or an error, and a
// condition to a bool or an error.
func FuzzCompileExpr(f *testing.F) {
	for _, s := range []string{`lead_score >= 80 ? "hot" : "cold"`, `tier != "spam"`, `lower(email) + "x"`, `$env["E-Mail"]`} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, src string, condition bool) {
		var opts []expr.Option
		if condition {
			opts = append(opts, expr.AsBool())
		}
		c, err := compileExpr(etl.SystemClock{}, src, opts...)
		if err != nil {
			if exprMessage(err) == "" {
				t.Fatalf("%q: an error with no message", src)
			}
			return
		}
		if !slices.IsSorted(c.fields) || len(slices.Compact(slices.Clone(c.fields))) != len(c.fields) {
			t.Fatalf("%q: fields %q not sorted and unique", src, c.fields)
		}
		for _, name := range c.fields {
			if !strings.Contains(src, name) {
				t.Fatalf("%q: field %q is not in the source", src, name)
			}
		}
		names := c.fields
		if c.dynamic {
			names = []string{"E-Mail", "a"}
		}
		nulls, texts := make([]any, len(names)), make([]any, len(names))
		for i := range texts {
			texts[i] = "7"
		}
		b := textBatch(t, names, nulls, texts)
		bnd, err := c.bind(b.Schema)
		if err != nil {
			t.Fatalf("%q: bind to its own fields: %v", src, err)
		}
		ev := newExprEvaluator(c, bnd)
		for i := range b.Len() {
			out, err := ev.eval(b, i)
			if err != nil {
				continue
			}
			if _, ok := out.(bool); condition && !ok {
				t.Fatalf("%q: a condition evaluated to %T %v", src, out, out)
			}
		}
	})
}
