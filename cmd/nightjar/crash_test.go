package main

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// TestCrashRecovery kills nightjar with SIGKILL at random moments of a
// multi-batch CSV → SQLite load into an append and a merge table, reruns it
// until a run completes, and checks that every row landed exactly once with
// its quoted commas, newlines and CR LF intact.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	dir := t.TempDir()
	bin := nightjarBinary(t)
	const rows = 40_000
	want := writeLeads(t, filepath.Join(dir, "in", "leads.csv"), rows)
	cfg := filepath.Join(dir, "nightjar.yaml")
	// Transactions of three batches: a kill lands between and within them.
	writeTwoTargetConfig(t, cfg, 500, 1500, "")

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills, midLoad := 0, 0
	for attempt := 1; ; attempt++ {
		if attempt > 200 {
			t.Fatalf("no run completed after %d attempts", attempt-1)
		}
		cmd := exec.Command(bin, "run", "-c", cfg, "leads")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill at a random moment; later attempts are allowed longer, so the
		// load finishes eventually even on a slow machine.
		delay := time.Duration(rng.IntN(40+attempt*20)) * time.Millisecond
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("attempt %d failed without being killed: %v\n%s", attempt, err, out.String())
			}
			t.Logf("run completed on attempt %d after %d kills", attempt, kills)
			goto check
		case <-time.After(delay):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			if err := <-done; err == nil {
				t.Logf("run completed on attempt %d after %d kills (kill came late)", attempt, kills)
				goto check
			}
			kills++
			// A kill that lands after some batches and before the end is
			// the case this test is about.
			if n := countRows(filepath.Join(dir, "out", "append.db")); n > 0 && n < rows {
				midLoad++
			}
		}
	}
check:
	t.Logf("%d kills, %d of them after some rows and before the last", kills, midLoad)
	if midLoad == 0 {
		t.Fatalf("no kill landed in the middle of the load; the test proved nothing")
	}
	for _, db := range []string{"append.db", "merge.db"} {
		got := readLeads(t, filepath.Join(dir, "out", db))
		if len(got) != rows {
			t.Errorf("%s: %d distinct ids, want %d", db, len(got), rows)
		}
		for id, notes := range want {
			if got[id] != notes {
				t.Errorf("%s: id %s: notes %q, want %q", db, id, got[id], notes)
				break
			}
		}
		var total int
		openDB(t, filepath.Join(dir, "out", db)).QueryRow(`SELECT count(*) FROM "leads"`).Scan(&total)
		if total != rows {
			t.Errorf("%s: %d rows, want %d (none lost, none doubled)", db, total, rows)
		}
	}

	// A rerun finds nothing new.
	code, out, errOut := nightjar(t, "run", "-c", cfg, "leads")
	if code != 0 || !strings.Contains(out, "read 0, written 0") {
		t.Errorf("rerun: exit %d\n%s%s", code, out, errOut)
	}
}

// writeLeads writes a CSV whose notes hold quoted commas, newlines, CR LF
// and doubled quotes, and returns each id's notes as they must load.
func writeLeads(t *testing.T, path string, n int) map[string]string {
	t.Helper()
	var b strings.Builder
	want := make(map[string]string, n)
	b.WriteString("id,email,company,notes\n")
	for i := range n {
		notes := fmt.Sprintf("plain %d", i)
		switch i % 4 {
		case 1:
			notes = fmt.Sprintf("asked about pricing, plan %d\nfollow up \"soon\"", i%7)
		case 2:
			notes = fmt.Sprintf("line one\r\nline two, %d", i)
		}
		want[fmt.Sprint(i)] = notes
		fmt.Fprintf(&b, "%d,user%d@example.com,\"Company %d, Inc.\",\"%s\"\n", i, i, i%97, strings.ReplaceAll(notes, `"`, `""`))
	}
	writeFile(t, path, b.String())
	return want
}

func readLeads(t *testing.T, path string) map[string]string {
	t.Helper()
	rows, err := openDB(t, path).Query(`SELECT "id", "notes" FROM "leads"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var id, notes string
		if err := rows.Scan(&id, &notes); err != nil {
			t.Fatal(err)
		}
		if _, dup := got[id]; dup {
			t.Errorf("%s: id %s loaded twice", path, id)
		}
		got[id] = notes
	}
	return got
}

// countRows counts the rows of leads in a database that may not exist yet.
func countRows(path string) int {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return 0
	}
	defer db.Close()
	var n int
	_ = db.QueryRow(`SELECT count(*) FROM "leads"`).Scan(&n)
	return n
}

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s does not exist", path)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
