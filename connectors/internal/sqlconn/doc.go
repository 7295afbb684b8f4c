// Package sqlconn is the SQL plumbing shared by nightjar's database table
// targets and sources (SQLite, DuckDB, PostgreSQL, MySQL/MariaDB): a Dialect for
// identifier quoting, type mapping and upsert syntax; builders of multi-row
// INSERT and upsert statements sized to the driver's parameter limit; the
// comparison of a batch schema with a table's columns (evolve or strict);
// and the replay markers that make a replayed append batch harmless.
//
// It also holds what the SQL connectors share beyond a dialect: the table
// target (Table, over a Backend that loads rows and swaps tables), the
// keyset-paginated source (Source, over a SourceDriver), their configs,
// the conversion of driver values into column vectors, and positions.
//
// sqlconn is dialect-neutral: it must not import a database driver nor any
// connector. It imports only etl, sqlx and the standard library.
package sqlconn
