//go:build !duckdb_extensions

package duckdb

// DuckDB is linked statically, with the extensions nightjar uses built in
// (parquet, json, icu, core functions). duckdb-go-bindings links with
// -rdynamic so that extensions loaded at run time (LOAD spatial) find
// DuckDB's symbols in the executable; that exports DuckDB's C++ symbols to
// the dynamic symbol table, which the dynamic loader reads in full at
// every start: ~7 MB of resident memory in every nightjar process, DuckDB
// job or not (README's benchmarks: peak RSS). nightjar leaves them out;
// build with -tags duckdb_extensions to LOAD extensions that are not
// built in.

// #cgo LDFLAGS: -Wl,--no-export-dynamic
import "C"
