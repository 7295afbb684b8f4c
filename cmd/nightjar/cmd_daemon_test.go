package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
)

// TestDaemonSIGTERMMidRunThenResume starts `nightjar daemon`, sends it
// SIGTERM in the middle of a long load, checks that it exits cleanly within
// the grace period with a consistent state, then starts it again and checks
// that it finishes the load with every row exactly once.
func TestDaemonSIGTERMMidRunThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and signals it")
	}
	dir := t.TempDir()
	bin := nightjarBinary(t)
	const rows = 10_000
	want := writeLeads(t, filepath.Join(dir, "in", "leads.csv"), rows)
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeTwoTargetConfig(t, cfg, 250, 500, "    schedule: \"@every 1s\"\n")
	appendDB := filepath.Join(dir, "out", "append.db")
	const grace = 10 * time.Second

	start := func() (*exec.Cmd, <-chan error, *strings.Builder) {
		cmd := exec.Command(bin, "daemon", "-c", cfg, "--http", "", "--grace", grace.String())
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, done, &out
	}
	terminate := func(cmd *exec.Cmd, done <-chan error, out *strings.Builder) time.Duration {
		t.Helper()
		sent := time.Now()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("daemon exited with %v after SIGTERM\n%s", err, out)
			}
		case <-time.After(grace + 5*time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("daemon still running %s after SIGTERM\n%s", grace+5*time.Second, out)
		}
		return time.Since(sent)
	}

	// First start: SIGTERM once some batches are in and before the last.
	cmd, done, out := start()
	deadline := time.Now().Add(20 * time.Second)
	for n := countRows(appendDB); n == 0; n = countRows(appendDB) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no rows loaded 20 s after start\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := terminate(cmd, done, out)
	loaded := countRows(appendDB)
	t.Logf("SIGTERM with %d of %d rows loaded; exited in %s", loaded, rows, took.Round(time.Millisecond))
	if loaded >= rows {
		t.Fatalf("the load was over before SIGTERM (%d rows): the test proved nothing", loaded)
	}
	if took > grace {
		t.Errorf("exit took %s, longer than the grace period %s", took, grace)
	}

	// The state is consistent: the run is recorded as cancelled (not left
	// running), and its counters are exactly the rows in the targets.
	runs := history(t, cfg)
	if len(runs) != 1 || runs[0].Status != etl.RunCancelled || runs[0].Trigger != "schedule" {
		t.Fatalf("runs after SIGTERM: %+v, want one cancelled scheduled run", runs)
	}
	if runs[0].Written != int64(loaded) {
		t.Errorf("the stopped run recorded %d rows written, the append table has %d", runs[0].Written, loaded)
	}
	if n := countRows(filepath.Join(dir, "out", "merge.db")); n != loaded {
		t.Errorf("merge table has %d rows, append table %d", n, loaded)
	}

	// Second start: the stopped run is resumed at once, from its position.
	cmd, done, out = start()
	deadline = time.Now().Add(30 * time.Second)
	for countRows(appendDB) < rows || !succeeded(history(t, cfg)) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("load not finished 30 s after restart (%d rows)\n%s", countRows(appendDB), out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	terminate(cmd, done, out)

	for _, db := range []string{"append.db", "merge.db"} {
		got := readLeads(t, openDB(t, filepath.Join(dir, "out", db)), `"leads"`)
		if len(got) != rows {
			t.Errorf("%s: %d distinct ids, want %d", db, len(got), rows)
		}
		for id, notes := range want {
			if got[id] != notes {
				t.Errorf("%s: id %s: notes %q, want %q", db, id, got[id], notes)
				break
			}
		}
		if n := countRows(filepath.Join(dir, "out", db)); n != rows {
			t.Errorf("%s: %d rows, want %d (none lost, none doubled)", db, n, rows)
		}
	}
	runs = history(t, cfg)
	resumed := runs[1]
	if resumed.Trigger != "resume" || resumed.Status != etl.RunSucceeded || resumed.Written != int64(rows-loaded) {
		t.Errorf("second run %+v, want a resume that succeeded writing the %d rows left", resumed, rows-loaded)
	}

	// `nightjar history` shows the daemon's runs.
	code, text, errText := nightjar(t, "history", "-c", cfg, "leads")
	if code != 0 || !strings.Contains(text, "resume") || !strings.Contains(text, "cancelled") {
		t.Errorf("history: exit %d\n%s%s", code, text, errText)
	}
}

// history returns the runs of the config, oldest first.
func history(t *testing.T, cfg string) []etl.Run {
	t.Helper()
	code, out, errOut := nightjar(t, "history", "-c", cfg, "--json")
	if code != 0 {
		t.Fatalf("history: exit %d\n%s", code, errOut)
	}
	var runs []etl.Run
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatalf("history --json: %v\n%s", err, out)
	}
	for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
		runs[i], runs[j] = runs[j], runs[i]
	}
	return runs
}

func succeeded(runs []etl.Run) bool {
	for _, r := range runs {
		if r.Status == etl.RunSucceeded {
			return true
		}
	}
	return false
}
