package transforms

import (
	"strings"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "upper",
			Summary: "Uppercase string fields (Unicode-aware).",
			Example: `upper: [country]`,
			Config:  func() any { return new(FieldList) },
		},
		New: newTextStep("upper", func(c *etl.Column) {
			mapASCIICase(c, func(b byte) bool { return b >= 'a' && b <= 'z' }, func(b byte) byte {
				if b >= 'a' && b <= 'z' {
					return b - ('a' - 'A')
				}
				return b
			}, strings.ToUpper)
		}),
	})
}
