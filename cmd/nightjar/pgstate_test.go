package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/etl/pgstore"
)

// TestExampleProjectWithPostgresState runs the example project with its
// state in PostgreSQL (`state: {type: postgres, …}`): the first run loads,
// the second finds nothing new (the file ledger and positions held in the
// server), history and the quarantine read from there, and a state reset
// makes the job load its files again.
func TestExampleProjectWithPostgresState(t *testing.T) {
	dsn, schema := workerSchema(t, "nightjar_cli_")
	dir := t.TempDir()
	if code, out, errOut := nightjar(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	cfg := filepath.Join(dir, "nightjar.yaml")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NIGHTJAR_TEST_STATE_DSN", dsn)
	writeFile(t, cfg, withState(string(text), "state: {type: postgres, dsn: \"${NIGHTJAR_TEST_STATE_DSN}\", schema: "+schema+"}"))

	written := regexp.MustCompile(`(?m)^(\w+): run \d+ succeeded: read (\d+), written (\d+), rejected (\d+)`)
	code, out, errOut := nightjar(t, "run", "-c", cfg, "--all")
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errOut)
	}
	first := written.FindAllStringSubmatch(out, -1)
	if len(first) != 3 {
		t.Fatalf("first run output has %d job summaries, want 3:\n%s", len(first), out)
	}
	if _, err := os.Stat(filepath.Join(dir, ".nightjar", "state.db")); err == nil {
		t.Error("a SQLite state file was made although state: names PostgreSQL")
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
	code, out, _ = nightjar(t, "history", "-c", cfg, "--csv")
	if code != 0 || strings.Count(out, "succeeded") != 6 {
		t.Errorf("history --csv: exit %d\n%s", code, out)
	}
	code, out, _ = nightjar(t, "quarantine", "list", "-c", cfg, "leads")
	if code != 0 || !strings.Contains(out, "data/leads.csv:") {
		t.Errorf("quarantine list: exit %d\n%s", code, out)
	}

	// What the CLI wrote is in the schema the config named.
	st, err := pgstore.Open(t.Context(), dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	files, err := st.Files(t.Context(), "leads")
	if err != nil || len(files) == 0 {
		t.Fatalf("file ledger of leads in %s: %d entries, %v", schema, len(files), err)
	}

	if code, out, errOut := nightjar(t, "state", "reset", "-c", cfg, "leads", "--yes"); code != 0 {
		t.Fatalf("state reset: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = nightjar(t, "run", "-c", cfg, "leads")
	if code != 0 {
		t.Fatalf("run after reset: exit %d\n%s%s", code, out, errOut)
	}
	again := written.FindStringSubmatch(out)
	if again == nil || again[2] == "0" {
		t.Errorf("after a state reset leads read nothing:\n%s", out)
	}
}

// TestPostgresStateErrorHidesSecrets: a state server that cannot be
// reached is reported without the password taken from the environment.
func TestPostgresStateErrorHidesSecrets(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := nightjar(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	cfg := filepath.Join(dir, "nightjar.yaml")
	text, _ := os.ReadFile(cfg)
	t.Setenv("NIGHTJAR_TEST_STATE_PW", "hunter2hunter2")
	writeFile(t, cfg, withState(string(text), "state: postgres://u:${NIGHTJAR_TEST_STATE_PW}@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"))
	code, out, errOut := nightjar(t, "history", "-c", cfg)
	if code == 0 {
		t.Fatalf("history against an unreachable state server succeeded:\n%s", out)
	}
	if strings.Contains(out+errOut, "hunter2") {
		t.Errorf("the password is in the output:\n%s%s", out, errOut)
	}
	if !strings.Contains(errOut, "open state store postgres 127.0.0.1:1/x") {
		t.Errorf("the error does not name the state server:\n%s", errOut)
	}
}

// withState replaces the config's state: line.
func withState(config, state string) string {
	return regexp.MustCompile(`(?m)^state:.*$`).ReplaceAllLiteralString(config, state)
}
