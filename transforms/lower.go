package transforms

import (
	"strings"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "lower",
			Summary: "Lowercase string fields (Unicode-aware).",
			Example: `lower: [email]`,
			Config:  func() any { return new(FieldList) },
		},
		New: newTextStep("lower", func(c *etl.Column) {
			mapASCIICase(c, func(b byte) bool { return b >= 'A' && b <= 'Z' }, func(b byte) byte {
				if b >= 'A' && b <= 'Z' {
					return b + 'a' - 'A'
				}
				return b
			}, strings.ToLower)
		}),
	})
}
