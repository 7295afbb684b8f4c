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
// It imports etl and sql only.
package pgstore
