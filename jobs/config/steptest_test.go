package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeTestConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "nightjar.yaml")
}

func TestTargetNameSetsRoute(t *testing.T) {
	path := writeTestConfig(t, map[string]string{"nightjar.yaml": `jobs:
  leads:
    source: { type: testsrc, path: in.csv }
    targets:
      - { type: testfile, path: all.csv }
      - { type: testfile, name: hot, path: hot.csv }
`})
	cfg, err := load(path, mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	job, err := cfg.Build("leads", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, tg := range job.Targets {
		routes = append(routes, tg.Route)
		if fc := tg.Target.(*fakeTarget).cfg.(*fileTargetConfig); fc.Path == "" {
			t.Errorf("target %s lost its config", tg.Name)
		}
	}
	if diff := cmp.Diff([]string{"", "hot"}, routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}

	path = writeTestConfig(t, map[string]string{"nightjar.yaml": `jobs:
  leads:
    source: { type: testsrc, path: in.csv }
    targets:
      - { type: testfile, name: [hot], path: hot.csv }
`})
	_, err = load(path, mapLookup(nil))
	if err == nil || !strings.Contains(err.Error(), path+":5:33: jobs.leads.targets[0].name: want a route name") {
		t.Errorf("error: %v", err)
	}
}

func TestStepTestsLoadFromJobsAndFiles(t *testing.T) {
	path := writeTestConfig(t, map[string]string{
		"nightjar.yaml": `jobs:
  leads:
    source: { type: testsrc, path: in.csv }
    targets: [{ type: testfile, path: out.csv }]
    tests:
      - name: inline
        input: [{ a: "1" }]
        expect: [{ a: "1" }]
`,
		"more.test.yaml": `job: leads
tests:
  - input: [{ a: 2 }]
    expect: [{ a: 3 }]
    rejects: [{ row: 1, reason: nope }]
`,
		"bad.test.yaml": `job: laeds
tests: []
`,
	})
	cfg, err := load(path, mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.StepTests()
	if err == nil || !strings.Contains(err.Error(), "bad.test.yaml:1:1: unknown job laeds") {
		t.Fatalf("StepTests error: %v", err)
	}
	os.Remove(filepath.Join(filepath.Dir(path), "bad.test.yaml"))
	tests, err := cfg.StepTests()
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) != 2 || tests[0].Name != "inline" || tests[1].Name != "test 1" || !strings.HasSuffix(tests[1].File, "more.test.yaml") || tests[1].Line != 3 {
		t.Fatalf("tests: %+v", tests)
	}
	// The fake steps pass rows through: the first test passes, the second
	// shows each difference.
	res, err := cfg.RunStepTest(t.Context(), tests[0])
	if err != nil || !res.Passed() {
		t.Fatalf("inline test: %v %+v", err, res)
	}
	res, err = cfg.RunStepTest(t.Context(), tests[1])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`row 1 (from input:1): a: got "2", want "3"`,
		`missing reject: row 1 field  reason containing "nope"`,
	}
	if diff := cmp.Diff(want, res.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
