package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests in this file follow a new user's first hour (issue 18): every
// hint runs as pasted, and every mistake says what to do next.

// TestHintsCarryTheConfigFlag: the quarantine hint after a run names the
// -c FILE the run was given, and runs as printed.
func TestHintsCarryTheConfigFlag(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := nightjar(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	cfg := filepath.Join(dir, "nightjar.yaml")
	code, out, errOut := nightjar(t, "run", "-c", cfg, "leads")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	want := "see them with: nightjar quarantine list -c " + cfg + " leads"
	if !strings.Contains(out, want) {
		t.Fatalf("run output lacks %q:\n%s", want, out)
	}
	hint := strings.Fields(out[strings.Index(out, want)+len("see them with: "):])[:6]
	code, out, errOut = nightjar(t, hint[1:]...)
	if code != 0 || !strings.Contains(out, "expected int") {
		t.Errorf("the hint %q: exit %d\n%s%s", strings.Join(hint, " "), code, out, errOut)
	}
	_, _, errOut = nightjar(t, "state", "reset", "-c", cfg, "leads")
	if want := "to confirm: nightjar state reset -c " + cfg + " leads --yes"; !strings.Contains(errOut, want) {
		t.Errorf("state reset without --yes lacks %q:\n%s", want, errOut)
	}
}

// TestInitWritesAProjectAndItsNextSteps: the project's comments describe
// the project (not the repository's example), and every command init
// suggests runs as printed.
func TestInitWritesAProjectAndItsNextSteps(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := nightjar(t, "init", dir)
	if code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	data, err := os.ReadFile(filepath.Join(dir, "nightjar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stale := range []string{"repository root", "examples/chatbot", "go run"} {
		if strings.Contains(string(data), stale) {
			t.Errorf("the new project's nightjar.yaml mentions %q:\n%.600s", stale, data)
		}
	}
	if !strings.Contains(string(data), "Run it from this folder") {
		t.Errorf("the new project's nightjar.yaml does not say how to run it:\n%.600s", data)
	}
	var suggested [][]string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "  nightjar ") {
			suggested = append(suggested, strings.Fields(line)[1:])
		}
	}
	if len(suggested) < 4 {
		t.Fatalf("init suggests %d commands, want at least 4:\n%s", len(suggested), out)
	}
	for _, args := range suggested {
		if code, out, errOut := nightjar(t, args...); code != 0 {
			t.Errorf("suggested %q: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
}

// TestMissingConfigSuggestsInit and the other usage slips of a first hour.
func TestFirstHourSlips(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, errOut := nightjar(t, "status")
	if code != exitUsage || !strings.Contains(errOut, "no config at nightjar.yaml") || !strings.Contains(errOut, "nightjar init DIR") {
		t.Errorf("status without a config: exit %d\n%s", code, errOut)
	}
	code, out, _ := nightjar(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "nightjar ") {
		t.Errorf("--version: exit %d %q", code, out)
	}
	code, out, _ = nightjar(t, "init", "--help")
	if code != 0 || strings.Contains(out, "--config") {
		t.Errorf("init --help lists --config, which init ignores:\n%s", out)
	}
	code, out, _ = nightjar(t, "-c", "elsewhere.yaml", "validate", "--help")
	if code != 0 || strings.Count(out, "--config") != 1 {
		t.Errorf("validate --help lists --config %d times, want once:\n%s", strings.Count(out, "--config"), out)
	}
	code, _, errOut = nightjar(t, "-c", "elsewhere.yaml", "validate")
	if code != exitUsage || !strings.Contains(errOut, "no config at elsewhere.yaml") {
		t.Errorf("-c before the command is not read: exit %d\n%s", code, errOut)
	}
	code, _, errOut = nightjar(t, "preview", "chat_leads", "--stepp", "4")
	if code != exitUsage || !strings.Contains(errOut, "unknown flag: --stepp\nsee: nightjar preview --help\n") {
		t.Errorf("a mistyped flag: exit %d\n%s", code, errOut)
	}
	code, out, _ = nightjar(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d\n%.200s", code, out)
	}
}

// TestStepNumbersAreTheOnesUsersType: preview --step 4 is labelled step 4,
// and the quarantine names the step the same way.
func TestStepNumbersAreTheOnesUsersType(t *testing.T) {
	dir := t.TempDir()
	nightjar(t, "init", dir)
	cfg := filepath.Join(dir, "nightjar.yaml")
	code, out, errOut := nightjar(t, "preview", "-c", cfg, "chat_leads", "--step", "4", "--limit", "1")
	if code != 0 || !strings.HasPrefix(out, "== step 4 aggregate:") {
		t.Errorf("preview --step 4: exit %d\n%s%s", code, out, errOut)
	}
	_, _, errOut = nightjar(t, "run", "-c", cfg, "leeds")
	if !strings.Contains(errOut, `unknown job "leeds": did you mean leads?`) {
		t.Errorf("a mistyped job name:\n%s", errOut)
	}
	nightjar(t, "run", "-c", cfg, "leads")
	_, out, _ = nightjar(t, "quarantine", "list", "-c", cfg, "leads")
	if !strings.Contains(out, "step 4 cast") { // the 4th item of the leads job's steps:
		t.Errorf("quarantine list does not name the cast step as step 4:\n%s", out)
	}
}

// TestSemicolonExportAndTooManyRejects: a ";"-separated export loads as
// its columns, and a file that is almost all rejects fails the run with
// the quarantine hint, though the job sets no on_reject.
func TestSemicolonExportAndTooManyRejects(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, `connections:
  wh: { type: sqlite, path: out/wh.db }
jobs:
  leads:
    source: { type: files, path: in/*.csv, settle: 0s }
    steps:
      - cast: { id: int }
    targets: [{ type: table, connection: wh, table: leads, mode: append }]
`)
	writeFile(t, filepath.Join(dir, "in", "a.csv"), "id;name\n1;Ann\n2;Bo\n")
	code, out, errOut := nightjar(t, "run", "-c", cfg, "leads")
	if code != 0 || !strings.Contains(out, "written 2, rejected 0") || !strings.Contains(errOut, "csv delimiter semicolon, detected") {
		t.Fatalf("semicolon export: exit %d\n%s%s", code, out, errOut)
	}
	var b strings.Builder
	b.WriteString("id,name\n1,ok\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "x%d,bad\n", i)
	}
	writeFile(t, filepath.Join(dir, "in", "b.csv"), b.String())
	code, out, errOut = nightjar(t, "run", "-c", cfg, "leads")
	if code != exitFailed || !strings.Contains(out, "rejected 1000") ||
		!strings.Contains(errOut, "too many rows rejected: see why with nightjar quarantine list -c "+cfg+" leads") {
		t.Errorf("1,000 of 1,001 rows rejected: exit %d\n%s%s", code, out, errOut)
	}
}

// TestBadDSNReportedOnce: a connection's bad DSN is one error, at the
// connection, not again at each target that uses it.
func TestBadDSNReportedOnce(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "nightjar.yaml")
	writeFile(t, cfg, `connections:
  pg: { type: postgres, dsn: "not a dsn" }
jobs:
  leads:
    source: { type: files, path: in/*.csv }
    targets:
      - { type: table, connection: pg, table: leads, mode: append }
      - { type: table, connection: pg, table: leads_copy, mode: append }
`)
	code, _, errOut := nightjar(t, "validate", "-c", cfg)
	if code != exitUsage || strings.Count(errOut, "dsn:") != 1 || !strings.Contains(errOut, "connections.pg.dsn") {
		t.Errorf("validate: exit %d, want the DSN error once, at connections.pg.dsn:\n%s", code, errOut)
	}
}

// TestProgressLine: no rate until a second of rows is measured (a short
// run showed "0 rows/hr"), and a log line on a terminal first erases the
// progress bar's line, so the two never share a line.
func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		rows    int64
		elapsed time.Duration
		want    string
	}{
		{41, 20 * time.Millisecond, ""},
		{0, 3 * time.Second, ""},
		{3000, 2 * time.Second, ", 1500 rows/s"},
	} {
		if got := progressRate(tc.rows, tc.elapsed); got != tc.want {
			t.Errorf("progressRate(%d, %s) = %q, want %q", tc.rows, tc.elapsed, got, tc.want)
		}
	}
	var out strings.Builder
	lines := &terminalLines{w: &out}
	fmt.Fprint(lines.bar(), "\r| leads 1.0 MiB (5000/-)")
	fmt.Fprint(lines, "level=INFO msg=\"file read\"\n")
	if want := "\r| leads 1.0 MiB (5000/-)\r\x1b[Klevel=INFO msg=\"file read\"\n"; out.String() != want {
		t.Errorf("terminal got %q, want %q", out.String(), want)
	}
}

// TestDryRunShowsWhatWouldBeSent: a dry run lists each target with the
// rows it would receive (after routes) and, for a file target, the file.
func TestDryRunShowsWhatWouldBeSent(t *testing.T) {
	dir := t.TempDir()
	nightjar(t, "init", dir)
	cfg := filepath.Join(dir, "nightjar.yaml")
	code, out, errOut := nightjar(t, "run", "-c", cfg, "chat_leads", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"chat_leads: would send:\n  targets[0] table warehouse: 31 row(s)\n",
		"    INSERT INTO \"chat_leads\" (", "DO UPDATE SET … (20 columns): 31 row(s)\n  targets[1] file: 7 row(s)\n",
		"    write 7 row(s) to out/hot-leads-",
		"(dry run: nothing written)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("a dry run created %s/out", dir)
	}
}
