// Package sqlite is nightjar's SQLite connector: the "sqlite" connection
// type (a database file) and the "table/sqlite" target, which appends,
// merges (upserts by key) or replaces a table, creating it from the batch
// schema and adding columns for new fields.
//
// The generic SQL work (quoting, statement building, schema comparison,
// replay markers) lives in connectors/internal/sqlconn; this package holds
// what is SQLite's own: the dialect, the DSN and pragmas, value encoding
// and the staging-table swap. It must not import other connectors, jobs or
// transforms.
package sqlite
