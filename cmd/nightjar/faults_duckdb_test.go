package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// duckdbFiles are the DuckDB files the fault matrix's cells have open, by
// cell directory: DuckDB lets one process open a file to write it, so a
// cell closes its own before each run of the binary (releaseDuckDB).
var duckdbFiles = struct {
	sync.Mutex
	open map[string]*sql.DB
}{open: map[string]*sql.DB{}}

// duckdbFaultDB is the matrix's DuckDB warehouse: a file per cell. Its
// cells are the core ones (coreCells), no sample of the others: its loads
// are four times as long.
func duckdbFaultDB(*testing.T) faultDB {
	return faultDB{name: "duckdb", exclusive: true, cells: coreCells, rowsScale: 4, place: func(t *testing.T, dir, _ string) (string, string, func() *sql.DB, func(string) string) {
		path := filepath.Join(dir, "out", "wh.duckdb")
		t.Cleanup(func() { releaseDuckDB(dir) })
		open := func() *sql.DB {
			duckdbFiles.Lock()
			defer duckdbFiles.Unlock()
			if db := duckdbFiles.open[dir]; db != nil {
				return db
			}
			if _, err := os.Stat(path); err != nil {
				return nil
			}
			db, err := sql.Open("duckdb", path)
			if err != nil {
				t.Fatal(err)
			}
			duckdbFiles.open[dir] = db
			return db
		}
		return "  wh: { type: duckdb, path: out/wh.duckdb }\n", "", open, func(n string) string { return `"` + n + `"` }
	}}
}

// releaseDuckDB closes the cell's DuckDB file, so that the binary can open
// it.
func releaseDuckDB(dir string) {
	duckdbFiles.Lock()
	defer duckdbFiles.Unlock()
	if db := duckdbFiles.open[dir]; db != nil {
		db.Close()
		delete(duckdbFiles.open, dir)
	}
}
