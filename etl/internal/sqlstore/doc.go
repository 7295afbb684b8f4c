// Package sqlstore is the state store's logic written once for both of its
// databases: the statements each operation of etl.Store runs, in which
// transaction and order, and what their results mean. The SQLite store
// (etl/sqlitestore) and the PostgreSQL store (etl/pgstore) embed its Store
// and give it a Dialect: their SQL as named statements
// (sql/statestore/<dialect>.sql), how a time is bound, how the
// transaction of staged rows begins, and how a write's error is
// explained. What they do alone (opening, migrating, SQLite's file
// handling, PostgreSQL's partitions) stays in them.
//
// It imports etl and sql of the module, nothing else of it.
package sqlstore
