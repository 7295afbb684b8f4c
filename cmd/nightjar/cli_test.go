package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// nightjar runs the CLI in-process and returns the exit code and outputs.
func nightjar(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestExampleProjectRunsOnceThenLoadsNothingNew(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := nightjar(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	cfg := filepath.Join(dir, "nightjar.yaml")
	if code, out, errOut := nightjar(t, "validate", "-c", cfg); code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut := nightjar(t, "run", "-c", cfg, "--all")
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errOut)
	}
	written := regexp.MustCompile(`(?m)^(\w+): run \d+ succeeded: read (\d+), written (\d+), rejected (\d+)`)
	first := written.FindAllStringSubmatch(out, -1)
	if len(first) != 3 {
		t.Fatalf("first run output has %d job summaries, want 3:\n%s", len(first), out)
	}
	for _, m := range first {
		if m[3] == "0" {
			t.Errorf("job %s wrote no rows on its first run:\n%s", m[1], out)
		}
	}

	// The hot leads went to their own file, through the route step.
	hot, _ := filepath.Glob(filepath.Join(dir, "out", "hot-leads-*.csv"))
	if len(hot) != 1 {
		t.Fatalf("hot leads files: %v, want one", hot)
	}
	if data, err := os.ReadFile(hot[0]); err != nil || !strings.HasPrefix(string(data), "conversation_id,") || strings.Count(string(data), ",hot\n") == 0 {
		t.Errorf("hot leads file %s (%v):\n%s", hot[0], err, data)
	}

	code, out, errOut = nightjar(t, "run", "-c", cfg, "--all")
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errOut)
	}
	for _, m := range written.FindAllStringSubmatch(out, -1) {
		if m[2] != "0" || m[3] != "0" {
			t.Errorf("second run of %s read %s and wrote %s rows, want nothing new:\n%s", m[1], m[2], m[3], out)
		}
	}

	// The malformed CSV row and the unparseable score are in the quarantine,
	// each with its file and line.
	code, out, errOut = nightjar(t, "quarantine", "list", "-c", cfg, "leads")
	if code != 0 {
		t.Fatalf("quarantine list: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"data/leads.csv:", "11 fields", "score", "n/a", "expected int"} {
		if !strings.Contains(out, want) {
			t.Errorf("quarantine list lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = nightjar(t, "history", "-c", cfg, "--csv")
	if code != 0 || !strings.HasPrefix(out, "id,job,trigger,status") || strings.Count(out, "succeeded") != 6 {
		t.Errorf("history --csv: exit %d\n%s", code, out)
	}
}

func TestExampleStepTestsAndPreview(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := nightjar(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	cfg := filepath.Join(dir, "nightjar.yaml")
	code, out, errOut := nightjar(t, "test", "-c", cfg)
	if code != 0 || !strings.Contains(out, "2 passed, 0 failed") {
		t.Fatalf("test: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = nightjar(t, "preview", "-c", cfg, "chat_leads", "--step", "2", "--limit", "2")
	if code != 0 || !strings.Contains(out, "== step 2 cast: 283 row(s)") || !strings.Contains(out, "sent_at (timestamp)") ||
		strings.Count(out, "\nconv-001") != 2 || strings.Contains(out, "== source") {
		t.Fatalf("preview: exit %d\n%s%s", code, out, errOut)
	}

	// A failing expectation prints what differs, and exits 1.
	writeFile(t, filepath.Join(dir, "leads.test.yaml"), `job: leads
tests:
  - name: wrong expectation
    input:
      - { id: "1", email: " X@Y.COM", first_name: a, last_name: b, company: c, phone: "", source: web, score: "5", created_at: "2026-01-01T00:00:00Z", notes: "" }
    expect:
      - { email: X@Y.COM }
`)
	code, out, _ = nightjar(t, "test", "-c", cfg)
	if code != 1 || !strings.Contains(out, `email: got "x@y.com", want "X@Y.COM"`) || !strings.Contains(out, "leads.test.yaml:3") {
		t.Fatalf("failing test: exit %d\n%s", code, out)
	}
}

func TestValidateReportsUnknownKeyWithPosition(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nightjar.yaml")
	t.Setenv("NJ_TEST_SECRET", "s3cr3t-token-value")
	writeFile(t, cfg, `connections:
  warehouse: { type: sqlite, path: "${NJ_TEST_SECRET}.db" }
jobs:
  leads:
    source: { type: files, path: in/*.csv }
    stepz:
      - rename: { a: b }
    targets:
      - { type: table, connection: warehouse, table: leads, mode: upsert }
`)
	code, out, errOut := nightjar(t, "validate", "-c", cfg)
	if code != 2 {
		t.Fatalf("validate: exit %d, want 2\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		cfg + ":6:5: unknown key stepz in jobs.leads (did you mean steps?)",
		cfg + ":9:", "upsert",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("validate output lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out+errOut, "s3cr3t") {
		t.Errorf("validate output shows the secret:\n%s%s", out, errOut)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	if code, _, _ := nightjar(t, "init", dir); code != 0 {
		t.Fatal("init failed")
	}
	cfg := filepath.Join(dir, "nightjar.yaml")
	for _, args := range [][]string{
		{"run", "-c", cfg},
		{"run", "-c", cfg, "nosuchjob"},
		{"run", "-c", cfg, "--bogus"},
		{"frobnicate"},
		{"validate", "-c", filepath.Join(dir, "missing.yaml")},
	} {
		if code, out, errOut := nightjar(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s%s", args, code, out, errOut)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestQuarantineExportAndStateReset(t *testing.T) {
	dir := t.TempDir()
	if code, _, _ := nightjar(t, "init", dir); code != 0 {
		t.Fatal("init failed")
	}
	cfg := filepath.Join(dir, "nightjar.yaml")
	if code, out, errOut := nightjar(t, "run", "-c", cfg, "leads"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	export := filepath.Join(dir, "rejects.csv")
	if code, out, errOut := nightjar(t, "quarantine", "export", "-c", cfg, "leads", "-o", export); code != 0 {
		t.Fatalf("export: exit %d\n%s%s", code, out, errOut)
	}
	data, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if !strings.HasPrefix(lines[0], "id,job,run_id,at,step,origin,field,value,reason,row") || !strings.Contains(string(data), "data/leads.csv:") {
		t.Fatalf("export:\n%s", data)
	}

	if code, _, _ := nightjar(t, "state", "reset", "-c", cfg, "leads"); code != 2 {
		t.Errorf("state reset without --yes: exit %d, want 2", code)
	}
	if code, out, errOut := nightjar(t, "state", "reset", "-c", cfg, "leads", "--yes"); code != 0 {
		t.Fatalf("state reset: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := nightjar(t, "state", "show", "-c", cfg, "leads")
	if code != 0 || !strings.Contains(out, `"positions": []`) || !strings.Contains(out, `"files": []`) {
		t.Fatalf("state show after reset: exit %d\n%s%s", code, out, errOut)
	}
	// After the reset the file loads again.
	code, out, _ = nightjar(t, "run", "-c", cfg, "leads")
	if code != 0 || strings.Contains(out, "read 0,") {
		t.Fatalf("run after reset: exit %d\n%s", code, out)
	}
}
