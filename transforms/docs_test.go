package transforms

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

var update = flag.Bool("update", false, "regenerate docs/steps.md's step reference")

// stepOrder is the order of the reference in docs/steps.md: shaping, then
// quality, then the steps that hold rows, then enrichment and routing.
var stepOrder = []string{
	"select", "drop", "rename", "set", "default", "coalesce", "trim", "lower", "upper", "cast", "flatten", "template",
	"filter", "validate", "dedupe", "redact", "extract", "explode", "aggregate", "sort", "score", "route", "lookup",
}

const (
	docBegin = "<!-- BEGIN GENERATED: step reference -->\n"
	docEnd   = "<!-- END GENERATED: step reference -->\n"
)

func stepReference(t *testing.T) string {
	var b strings.Builder
	b.WriteString("| step | what it does |\n|---|---|\n")
	for _, kind := range stepOrder {
		spec, _ := etl.LookupStep(kind)
		b.WriteString("| [`" + kind + "`](#" + kind + ") | " + spec.Summary + " |\n")
	}
	for _, kind := range stepOrder {
		spec, _ := etl.LookupStep(kind)
		b.WriteString("\n### " + kind + "\n\n" + spec.Summary + "\n\n```yaml\n" + spec.Example + "\n```\n")
	}
	return b.String()
}

// TestStepsDoc keeps docs/steps.md's reference in step with the specs.
func TestStepsDoc(t *testing.T) {
	if diff := cmp.Diff(etl.StepKinds(), sortedCopy(stepOrder)); diff != "" {
		t.Fatalf("stepOrder does not list the registered steps (-registered +listed):\n%s", diff)
	}
	const path = "../docs/steps.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	start, end := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if start < 0 || end < start {
		t.Fatalf("%s lacks the generated-reference markers", path)
	}
	want := doc[:start+len(docBegin)] + stepReference(t) + doc[end:]
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != doc {
		t.Errorf("%s is out of date: go test ./transforms -run TestStepsDoc -update", path)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
