// Package sqlitestore is nightjar's embedded state store: an etl.Store in
// one SQLite file holding runs, positions, the file ledger, quarantined
// rows, CRM fingerprints and job leases.
//
// Several processes may share the file (a daemon and a manual "nightjar
// run"): it is opened in WAL mode, write transactions take the write lock
// when they begin (BEGIN IMMEDIATE), and a busy timeout makes a writer wait
// for another instead of failing with SQLITE_BUSY. The schema is the
// numbered migrations embedded in package sql (sql/state/NNNN_name.sql).
//
// Its operations are those of etl/internal/sqlstore, which the PostgreSQL
// store runs too, with SQLite's statements (sql/statestore/sqlite.sql and
// shared.sql).
//
// The package imports etl, etl/internal/sqlstore and sql of the module,
// nothing else of it.
package sqlitestore
