package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// laughs is a config whose step tests hold an alias chain of the given
// levels, each repeating the one below ten times: 10^levels values.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("x-lol:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [", i, i)
		for k := range 10 {
			if k > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	fmt.Fprintf(&b, `jobs:
  j:
    source: { type: testsrc, path: in/*.csv }
    targets: [{ type: testfile, path: out/x.csv }]
    tests:
      - name: bomb
        input: [{ a: *l%d }]
`, levels)
	return b.String()
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nightjar.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAliasBomb: aliases that expand to more values than the bound fail
// Load (so validate says it) at the alias's line, before anything decodes
// them; a config just under the bound loads.
func TestAliasBomb(t *testing.T) {
	t.Setenv("NIGHTJAR_MAX_CONFIG_VALUES", "")
	path := writeConfig(t, laughs(9))
	_, err := Load(path)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Line != 18 ||
		!strings.Contains(errs[0].Msg, "alias *l9 expands to more than 1000000 values, and the config to more than 1000000 (NIGHTJAR_MAX_CONFIG_VALUES)") {
		t.Fatalf("err = %v, want one error at line 18 naming alias *l9", err)
	}
	// 10^5 values (and a little more): under the default bound.
	cfg, err := Load(writeConfig(t, laughs(4)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.StepTests(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NIGHTJAR_MAX_CONFIG_VALUES", "10000")
	if _, err := Load(writeConfig(t, laughs(4))); err == nil || !strings.Contains(err.Error(), "alias *l4 expands to more than 10000 values") {
		t.Fatalf("with NIGHTJAR_MAX_CONFIG_VALUES=10000: err = %v", err)
	}
}

// TestConfigTooLarge: a config over the size bound fails naming the file
// without being parsed; at the bound it is read.
func TestConfigTooLarge(t *testing.T) {
	t.Setenv("NIGHTJAR_MAX_CONFIG_SIZE", "")
	valid := "jobs:\n  j:\n    source: { type: testsrc, path: in/*.csv }\n    targets: [{ type: testfile, path: out/x.csv }]\n"
	pad := func(n int) string { return valid + "#" + strings.Repeat("x", n-len(valid)-2) + "\n" }
	if _, err := Load(writeConfig(t, pad(DefaultMaxConfigSize))); err != nil {
		t.Fatalf("at the bound: %v", err)
	}
	path := writeConfig(t, pad(DefaultMaxConfigSize+1))
	_, err := Load(path)
	if want := path + ": read config: larger than 1048576 bytes (NIGHTJAR_MAX_CONFIG_SIZE raises the bound)"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	t.Setenv("NIGHTJAR_MAX_CONFIG_SIZE", "-1")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), `NIGHTJAR_MAX_CONFIG_SIZE="-1" is not a positive number`) {
		t.Fatalf("negative bound: err = %v", err)
	}
}
