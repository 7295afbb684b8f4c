// Package pgstore is the PostgreSQL state store: runs, positions, the file
// ledger, quarantine, fingerprints and leases in a schema of their own on
// a PostgreSQL server, for several machines sharing one nightjar.yaml
// (`state: postgres://…`). It keeps every promise of etl.Store as the
// SQLite store does; etl/storetest runs the same suite against both.
//
// SQL goes through sqlx over pgx's database/sql driver, as everywhere in
// nightjar; the pgx pool under it is exposed (Pool) so that River's
// riverpgxv5 driver shares its connections and a partition's claim can be
// one transaction with River's insert.
//
// Its operations are those of etl/internal/sqlstore, which the SQLite
// store runs too, with PostgreSQL's statements (sql/statestore/postgres.sql
// and shared.sql); the partitions are its own (partitions.go).
//
// It imports etl, etl/internal/sqlstore and sql only.
package pgstore
