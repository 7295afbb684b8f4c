// Package sql holds nightjar's SQL as embedded .sql files: the numbered
// migrations of the state store (state/NNNN_name.sql) and, later,
// per-dialect statements.
//
// It holds files only and imports nothing of the module; the stores and
// connectors that run the statements import it.
package sql
