// Package sql holds nightjar's SQL as embedded .sql files: the numbered
// migrations of the state store (state/NNNN_name.sql) and the statements
// the state stores run, one file per dialect of named blocks
// (statestore/sqlite.sql, postgres.sql, and shared.sql for both; see
// Named).
//
// It holds files and the splitting of named blocks only, and imports
// nothing of the module; the stores and connectors that run the
// statements import it.
package sql
