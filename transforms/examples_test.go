package transforms

import (
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
)

// TestSpecExamples builds every step of this package from its spec's
// example, the way the config loader would: the docs cannot show a config
// that does not validate.
func TestSpecExamples(t *testing.T) {
	t.Setenv(DefaultRedactKeyEnv, "example-key")
	for _, kind := range etl.StepKinds() {
		t.Run(kind, func(t *testing.T) {
			spec, ok := etl.LookupStep(kind)
			if !ok {
				t.Fatalf("step %q not registered", kind)
			}
			if spec.Summary == "" || spec.Example == "" || spec.Config == nil || spec.New == nil {
				t.Fatalf("incomplete spec: %+v", spec)
			}
			if _, err := buildStep(t, spec.Example); err != nil {
				t.Fatalf("example %q: %v", spec.Example, err)
			}
		})
	}
}
