package refdocs

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
)

var update = flag.Bool("update", false, "regenerate docs/reference")

const refDir = "../../docs/reference"

// TestReferenceDocs keeps docs/reference in step with the specs: it fails
// when a page differs from what the registered components generate, and
// when a component has a key without a description.
func TestReferenceDocs(t *testing.T) {
	for _, p := range Pages {
		t.Run(p.File, func(t *testing.T) {
			got, err := Render(p)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(refDir, p.File)
			if *update {
				if err := os.MkdirAll(refDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (generate it: go test ./internal/refdocs -run TestReferenceDocs -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("docs/reference/%s is stale: regenerate it with go test ./internal/refdocs -run TestReferenceDocs -update\n(-checked in +generated):\n%s", p.File, diff)
			}
		})
	}
}

// TestDocumentedKeysDecode feeds every documented key, alone, to the
// loader's strict decoder over a fresh config of its component: a key the
// docs list but the config does not decode fails, and so does a key's
// example that does not decode.
func TestDocumentedKeysDecode(t *testing.T) {
	for _, p := range Pages {
		for _, c := range Components(p.Role) {
			doc, err := c.Doc()
			if err != nil {
				t.Errorf("%s %v", p.Role, err)
				continue
			}
			var check func(path []string, fs []etl.ConfigField)
			check = func(path []string, fs []etl.ConfigField) {
				for _, f := range fs {
					keys := append(append([]string(nil), path...), f.Name)
					value := "null" // keeps the default: only the key is checked
					if f.Example != "" {
						value = f.Example
					}
					src := nestYAML(keys, value)
					if err := decodeProblems(config.DecodeComponent(c.Type+".yaml", []byte(src), c.Config())); err != "" {
						t.Errorf("%s %s: documented key %s does not decode:\n%s\n--- yaml ---\n%s", p.Role, c.Type, strings.Join(keys, "."), err, src)
					}
					if strings.HasPrefix(f.Type, "list of") || strings.HasPrefix(f.Type, "mapping of") {
						continue // the keys of items are checked where the items decode
					}
					check(keys, f.Fields)
				}
			}
			check(nil, doc.Fields)
		}
	}
}

// decodeProblems lists a decoding's errors other than the required keys
// a one-key config lacks.
func decodeProblems(err error) string {
	var es config.Errors
	if err == nil || !errors.As(err, &es) {
		return errString(err)
	}
	var out []string
	for _, e := range es {
		if !strings.Contains(e.Msg, "missing key ") {
			out = append(out, e.Error())
		}
	}
	return strings.Join(out, "\n")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// nestYAML is "a:\n  b: value" for keys [a b].
func nestYAML(keys []string, value string) string {
	var b strings.Builder
	for i, k := range keys {
		b.WriteString(strings.Repeat("  ", i) + k + ":")
		if i < len(keys)-1 {
			b.WriteString("\n")
		}
	}
	b.WriteString(" " + value + "\n")
	return b.String()
}
