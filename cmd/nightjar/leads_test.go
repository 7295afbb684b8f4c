package main

import (
	"database/sql"
	"errors"
	"os"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"
)

// writeLeads writes a CSV whose notes hold quoted commas, newlines, CR LF
// and doubled quotes, and returns each id's notes as they must load.
func writeLeads(t *testing.T, path string, n int) map[string]string {
	t.Helper()
	return writeLeadRange(t, path, 0, n)
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
