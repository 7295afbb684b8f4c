// Command duckdb-read-csv is bench/csv-duckdb.sh's peer: it loads a CSV
// file into table leads of a new DuckDB file with DuckDB's own reader
// (read_csv, every column VARCHAR, as nightjar reads a CSV), through the
// library nightjar uses, and prints the rows loaded.
//
//	duckdb-read-csv DB CSV
package main

import (
	"database/sql"
	"fmt"
	"os"

	_ "github.com/duckdb/duckdb-go/v2"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: duckdb-read-csv DB CSV")
		os.Exit(2)
	}
	n, err := load(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "duckdb-read-csv:", err)
		os.Exit(1)
	}
	fmt.Println(n)
}

func load(path, csvPath string) (n int64, err error) {
	db, err := sql.Open("duckdb", path)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := db.Exec("CREATE TABLE leads AS SELECT * FROM read_csv(?, header = true, all_varchar = true)", csvPath); err != nil {
		return 0, err
	}
	err = db.QueryRow("SELECT count(*) FROM leads").Scan(&n)
	return n, err
}
