package duckdb

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestCreateKilledSearch creates a database file in a child process killed
// at random moments of its creation, again and again: the file is then
// missing, or a database that opens; never one that DuckDB refuses. With
// DuckDB creating the file in place, some kills left a file "not a valid
// DuckDB database file".
func TestCreateKilledSearch(t *testing.T) {
	t.Parallel()
	if path := os.Getenv("NIGHTJAR_DUCKDB_CREATE"); path != "" {
		os.Stdout.WriteString("creating\n")
		db, err := openDB(context.Background(), path, 1)
		if err == nil {
			db.Close()
		}
		os.Exit(0)
	}
	var valid, missing int
	for i := range 40 {
		dir := t.TempDir()
		path := filepath.Join(dir, "wh.duckdb")
		cmd := exec.Command(os.Args[0], "-test.run=^TestCreateKilledSearch$")
		cmd.Env = append(os.Environ(), "NIGHTJAR_DUCKDB_CREATE="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Killed within the creation, which the child begins once it
		// says so (it takes up to 100 ms here): at a random moment, or
		// (every other time) as soon as a file appears, DuckDB's or the
		// one built aside, when its header may not be written yet.
		line := make([]byte, len("creating\n"))
		if _, err := io.ReadFull(out, line); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			time.Sleep(time.Duration(rand.IntN(100_000)) * time.Microsecond)
		} else {
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
				if _, err := os.Stat(path); err == nil {
					break
				}
				if _, err := os.Stat(path + ".creating"); err == nil {
					break
				}
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		if _, err := os.Stat(path); err != nil {
			missing++
			continue
		}
		db, err := openDB(context.Background(), path, 1)
		if err != nil {
			t.Fatalf("kill %d left a file that does not open: %v", i, err)
		}
		db.Close()
		valid++
	}
	t.Logf("40 kills: %d files missing, %d valid", missing, valid)
}

// TestCreateReplacesALeftover: a creation killed before its link leaves
// its ".creating" file; the next creation replaces it.
func TestCreateReplacesALeftover(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wh.duckdb")
	if err := os.WriteFile(path+".creating", []byte("half a header"), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := openDB(context.Background(), path, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t (i INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".creating"); err == nil {
		t.Error("the .creating file is still there")
	}
}
