// Package duckdb is nightjar's DuckDB connector: the "duckdb" connection
// type (a database file), the "table/duckdb" target, which appends, merges
// (upserts by key) or replaces a table, creating it from the batch schema
// and adding columns for new fields, and the "sql/duckdb" source.
//
// Rows go in through DuckDB's Appender (github.com/duckdb/duckdb-go/v2),
// within the batch's transaction: columns of text, numbers, booleans, times
// and dates a data chunk at a time, their values written into DuckDB's
// vectors (vectors.go), others row by row through duckdb-go; a merge
// appends them to a temporary staging table and upserts from it with
// INSERT ... ON CONFLICT. The
// generic SQL work (quoting, statement building, schema comparison, replay
// markers, the keyset-paginated source) lives in
// connectors/internal/sqlconn. It must not import other connectors, jobs
// or transforms.
package duckdb
