package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExampleProjectOnDuckDB runs the example project with its commented
// DuckDB warehouse in place of SQLite, and checks that both warehouses
// hold the same rows: the alternative the example offers works as the
// default does.
func TestExampleProjectOnDuckDB(t *testing.T) {
	t.Parallel()
	dump := func(driver, path string) map[string][][]string {
		db, err := sql.Open(driver, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		out := map[string][][]string{}
		for table, query := range map[string]string{
			"messages":   "SELECT CAST(count(*) AS VARCHAR), CAST(count(DISTINCT text) AS VARCHAR) FROM messages",
			"leads":      "SELECT CAST(lead_id AS VARCHAR), email, CAST(score AS VARCHAR) FROM leads ORDER BY lead_id",
			"chat_leads": "SELECT contact, CAST(turns AS VARCHAR), tier FROM chat_leads ORDER BY contact",
		} {
			rows, err := db.Query(query)
			if err != nil {
				t.Fatalf("%s %s: %v", driver, table, err)
			}
			for rows.Next() {
				var a, b, c sql.NullString
				var dest = []any{&a, &b, &c}
				if table == "messages" {
					dest = dest[:2]
				}
				if err := rows.Scan(dest...); err != nil {
					t.Fatal(err)
				}
				out[table] = append(out[table], []string{a.String, b.String, c.String})
			}
			rows.Close()
		}
		return out
	}
	written := regexp.MustCompile(`(?m)^(\w+): run \d+ succeeded: read (\d+), written (\d+)`)
	project := func(duck bool) string {
		dir := t.TempDir()
		if code, out, errOut := nightjar(t, "init", dir); code != 0 {
			t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
		}
		cfg := filepath.Join(dir, "nightjar.yaml")
		if duck {
			data, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			const sqlite, duckdb = "  warehouse: { type: sqlite, path: out/warehouse.db }\n", "  # warehouse: { type: duckdb, path: out/warehouse.duckdb }\n"
			text := string(data)
			if !strings.Contains(text, sqlite) || !strings.Contains(text, duckdb) {
				t.Fatalf("the example no longer offers DuckDB as written here:\n%s", text)
			}
			text = strings.Replace(strings.Replace(text, sqlite, "", 1), duckdb, strings.Replace(duckdb, "# ", "", 1), 1)
			if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		code, out, errOut := nightjar(t, "run", "-c", cfg, "--all")
		if code != 0 {
			t.Fatalf("run (duckdb %v): exit %d\n%s%s", duck, code, out, errOut)
		}
		if m := written.FindAllStringSubmatch(out, -1); len(m) != 3 {
			t.Fatalf("run output has %d job summaries, want 3:\n%s", len(m), out)
		}
		return dir
	}
	lite, duck := project(false), project(true)
	want := dump("sqlite3", filepath.Join(lite, "out", "warehouse.db"))
	got := dump("duckdb", filepath.Join(duck, "out", "warehouse.duckdb"))
	if len(want["leads"]) == 0 || len(want["chat_leads"]) == 0 {
		t.Fatalf("the SQLite warehouse is empty: %v", want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DuckDB warehouse differs from SQLite's (-sqlite +duckdb):\n%s", diff)
	}
}
