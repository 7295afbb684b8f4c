package transforms

import (
	"strings"

	"github.com/nightjar-etl/nightjar/etl"
)

func init() {
	etl.RegisterStep(etl.StepSpec{
		Spec: etl.Spec{
			Type:    "trim",
			Summary: "Remove leading and trailing white space from string fields.",
			Example: `trim: [email, first_name]`,
			Config:  func() any { return new(FieldList) },
		},
		New: newTextStep("trim", trimColumn),
	})
}

// trimColumn trims in place: TrimSpace returns a substring, so no row
// allocates.
func trimColumn(c *etl.Column) {
	for i, v := range c.Str {
		if !c.Null[i] {
			c.Str[i] = strings.TrimSpace(v)
		}
	}
}
