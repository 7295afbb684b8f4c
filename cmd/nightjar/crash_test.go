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

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"
)

// warehouse is a database the crash test loads: its connection configs
// for the append and the merge table, and how the test reads them.
type warehouse struct {
	name string
	// connections is the YAML of the connections appendwh and mergewh;
	// targets adds the keys placing each target's table.
	connections string
	appendAt    string
	mergeAt     string
	// table opens the append ("append") or merge ("merge") table's
	// database and names its table, quoted; nil when it does not exist yet.
	table func(t *testing.T, which string) (*sql.DB, string)
}

// crashWarehouses are SQLite files, and the test servers' PostgreSQL and
// MariaDB when their variables are set (each in a schema or database of its
// own, dropped at the end).
func crashWarehouses(t *testing.T, dir string) []warehouse {
	whs := []warehouse{{
		name:        "sqlite",
		connections: "  appendwh: { type: sqlite, path: out/append.db }\n  mergewh: { type: sqlite, path: out/merge.db }\n",
		table: func(t *testing.T, which string) (*sql.DB, string) {
			path := filepath.Join(dir, "sqlite", "out", which+".db")
			if _, err := os.Stat(path); err != nil {
				return nil, ""
			}
			return openDB(t, path), `"leads"`
		},
	}}
	suffix := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
	if dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES"); dsn != "" {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		schema := func(which string) string { return "nj_crash_" + which + "_" + suffix }
		t.Cleanup(func() {
			db.Exec(`DROP SCHEMA IF EXISTS "` + schema("append") + `" CASCADE`)
			db.Exec(`DROP SCHEMA IF EXISTS "` + schema("merge") + `" CASCADE`)
			db.Close()
		})
		whs = append(whs, warehouse{
			name:        "postgres",
			connections: fmt.Sprintf("  appendwh: { type: postgres, dsn: %q }\n  mergewh: { type: postgres, dsn: %q }\n", dsn, dsn),
			appendAt:    ", schema_name: " + schema("append"),
			mergeAt:     ", schema_name: " + schema("merge"),
			table: func(t *testing.T, which string) (*sql.DB, string) {
				return db, `"` + schema(which) + `"."leads"`
			},
		})
	} else {
		t.Log("NIGHTJAR_TEST_POSTGRES not set: the crash test skips PostgreSQL")
	}
	if dsn := os.Getenv("NIGHTJAR_TEST_MYSQL"); dsn != "" {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		database := func(which string) string { return "nj_crash_" + which + "_" + suffix }
		t.Cleanup(func() {
			db.Exec("DROP DATABASE IF EXISTS `" + database("append") + "`")
			db.Exec("DROP DATABASE IF EXISTS `" + database("merge") + "`")
			db.Close()
		})
		whs = append(whs, warehouse{
			name:        "mysql",
			connections: fmt.Sprintf("  appendwh: { type: mysql, dsn: %q }\n  mergewh: { type: mysql, dsn: %q }\n", dsn, dsn),
			appendAt:    ", database: " + database("append"),
			mergeAt:     ", database: " + database("merge"),
			table: func(t *testing.T, which string) (*sql.DB, string) {
				return db, "`" + database(which) + "`.`leads`"
			},
		})
	} else {
		t.Log("NIGHTJAR_TEST_MYSQL not set: the crash test skips MariaDB")
	}
	return whs
}

// TestCrashRecovery kills nightjar with SIGKILL at random moments of a
// multi-batch CSV load into an append and a merge table, in SQLite,
// PostgreSQL and MariaDB, reruns it until a run completes, and checks that
// every row landed exactly once with its quoted commas, newlines and CR LF
// intact.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	dir := t.TempDir()
	bin := nightjarBinary(t)
	const rows = 40_000
	for _, wh := range crashWarehouses(t, dir) {
		t.Run(wh.name, func(t *testing.T) {
			crashRecovery(t, bin, filepath.Join(dir, wh.name), wh, rows)
		})
	}
}

func crashRecovery(t *testing.T, bin, dir string, wh warehouse, rows int) {
	want := writeLeads(t, filepath.Join(dir, "in", "leads.csv"), rows)
	cfg := filepath.Join(dir, "nightjar.yaml")
	// Transactions of three batches: a kill lands between and within them.
	writeFile(t, cfg, "connections:\n"+wh.connections+`jobs:
  leads:
    batch_size: 500
    source: { type: files, path: in/*.csv, settle: 0s }
    targets:
      - { type: table, connection: appendwh, table: leads, mode: append, commit_rows: 1500`+wh.appendAt+` }
      - { type: table, connection: mergewh, table: leads, mode: merge, key: [id], commit_rows: 1500`+wh.mergeAt+` }
`)
	count := func(which string) int {
		db, table := wh.table(t, which)
		if db == nil {
			return 0
		}
		var n int
		_ = db.QueryRow("SELECT count(*) FROM " + table).Scan(&n) // 0 while it does not exist
		return n
	}

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
			if n := count("append"); n > 0 && n < rows {
				midLoad++
			}
		}
	}
check:
	t.Logf("%d kills, %d of them after some rows and before the last", kills, midLoad)
	if midLoad == 0 {
		t.Fatalf("no kill landed in the middle of the load; the test proved nothing")
	}
	for _, which := range []string{"append", "merge"} {
		db, table := wh.table(t, which)
		if db == nil {
			t.Fatalf("%s table missing", which)
		}
		got := readLeads(t, db, table)
		if len(got) != rows {
			t.Errorf("%s: %d distinct ids, want %d", which, len(got), rows)
		}
		for id, notes := range want {
			if got[id] != notes {
				t.Errorf("%s: id %s: notes %q, want %q", which, id, got[id], notes)
				break
			}
		}
		if total := count(which); total != rows {
			t.Errorf("%s: %d rows, want %d (none lost, none doubled)", which, total, rows)
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

func readLeads(t *testing.T, db *sql.DB, table string) map[string]string {
	t.Helper()
	rows, err := db.Query("SELECT id, notes FROM " + table)
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
			t.Errorf("%s: id %s loaded twice", table, id)
		}
		got[id] = notes
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
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
