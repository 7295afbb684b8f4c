package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad loads arbitrary YAML as a config (with the test fakes'
// component types): it loads, or fails with errors that each name the
// file and, unless the file as a whole is at fault, a line; a config that
// loads has its step tests decoded the same way, and every job it names
// is found. NIGHTJAR_MAX_CONFIG_VALUES is small so that alias bombs cost
// little.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/nightjar.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(laughs(9)))
	f.Setenv("NIGHTJAR_MAX_CONFIG_VALUES", "10000")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "nightjar.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			checkErrors(t, path, err)
			return
		}
		for _, name := range cfg.JobNames() {
			if _, ok := cfg.Job(name); !ok {
				t.Fatalf("job %q listed but not found", name)
			}
		}
		if _, err := cfg.StepTests(); err != nil {
			checkErrors(t, path, err)
		}
	})
}

// fileLevel are the messages of problems with the file as a whole, which
// have no line ("missing key jobs": a top-level key, no path before it).
var fileLevel = []string{"read config: ", "parse config: ", "config is empty", "missing key "}

func checkErrors(t *testing.T, path string, err error) {
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error %v (%T) is not a list of config errors", err, err)
	}
	for _, e := range errs {
		if e.File != path {
			t.Fatalf("error %q names file %q, want %q", e.Msg, e.File, path)
		}
		if e.Line < 1 && !hasAnyPrefix(e.Msg, fileLevel) {
			t.Fatalf("error %q names no line", e.Msg)
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
