package refdocs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

// TestExamplesValidate runs every registered component's YAML example
// (with its connection type's example) through the strict config loader,
// in a job: the examples docs/reference shows stay valid.
func TestExamplesValidate(t *testing.T) {
	indent := func(s string, n int) string {
		pad := strings.Repeat(" ", n)
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		for i := range lines {
			lines[i] = pad + lines[i]
		}
		return strings.Join(lines, "\n") + "\n"
	}
	check := func(t *testing.T, typ, example, sourceYAML, targetsYAML string, files map[string]string) {
		_, connType, bound := strings.Cut(typ, "/")
		conns := ""
		if bound {
			cs, ok := etl.LookupConnection(connType)
			if !ok || cs.Example == "" {
				t.Fatalf("%s: connection type %s has no example", typ, connType)
			}
			conns = cs.Example
		}
		cfg := conns + "jobs:\n  j:\n" + sourceYAML + targetsYAML
		for _, m := range envRef.FindAllStringSubmatch(cfg, -1) {
			t.Setenv(m[1], exampleValue(m[1], connType))
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "nightjar.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := config.Load(path); err != nil {
			t.Errorf("%s example does not validate:\n%s\n--- config ---\n%s", typ, err, cfg)
		}
	}
	const filesSource = "    source: { type: files, path: in/*.csv }\n"
	const fileTarget = "    targets: [{ type: file, path: out.csv }]\n"
	for _, typ := range etl.TargetTypes() {
		spec, _ := etl.LookupTarget(typ)
		t.Run("target "+typ, func(t *testing.T) {
			if !strings.HasPrefix(spec.Example, "targets:") {
				t.Fatalf("example should start with targets:, got:\n%s", spec.Example)
			}
			check(t, typ, spec.Example, filesSource, indent(spec.Example, 4), spec.ExampleFiles)
		})
	}
	for _, typ := range etl.ConnectionTypes() {
		spec, _ := etl.LookupConnection(typ)
		t.Run("connection "+typ, func(t *testing.T) {
			if !strings.HasPrefix(spec.Example, "connections:") {
				t.Fatalf("example should start with connections:, got:\n%s", spec.Example)
			}
			check(t, "connection/"+typ, spec.Example, filesSource, fileTarget, spec.ExampleFiles)
		})
	}
	for _, kind := range etl.StepKinds() {
		spec, _ := etl.LookupStep(kind)
		t.Run("step "+kind, func(t *testing.T) {
			t.Setenv("NIGHTJAR_REDACT_KEY", "example-key")
			steps := "    steps:\n" + indent("- "+strings.ReplaceAll(strings.TrimRight(spec.Example, "\n"), "\n", "\n  "), 6)
			check(t, "step/sqlite", spec.Example, filesSource+steps, fileTarget, spec.ExampleFiles)
		})
	}
	for _, typ := range etl.SourceTypes() {
		spec, _ := etl.LookupSource(typ)
		t.Run("source "+typ, func(t *testing.T) {
			if !strings.HasPrefix(spec.Example, "source:") {
				t.Fatalf("example should start with source:, got:\n%s", spec.Example)
			}
			check(t, typ, spec.Example, indent(spec.Example, 4), fileTarget, spec.ExampleFiles)
		})
	}
}

// exampleValue is a plausible value for an environment variable an example
// refers to: DSNs must parse, URLs must be URLs.
func exampleValue(name, connType string) string {
	switch {
	case strings.Contains(name, "DSN") && connType == "postgres":
		return "postgres://nightjar@127.0.0.1:5432/warehouse"
	case strings.Contains(name, "DSN") && connType == "mysql":
		return "nightjar@tcp(127.0.0.1:3306)/warehouse"
	case strings.HasSuffix(name, "URL"):
		return "https://example.com/hook"
	case connType == "mailchimp":
		return "0123456789abcdef0123456789abcdef-us21" // a key ends in its data centre
	}
	return "example-value-" + strings.ToLower(name)
}
