// Package sqlconn is the SQL plumbing shared by nightjar's database table
// targets (SQLite today, PostgreSQL and MySQL later): a Dialect for
// identifier quoting, type mapping and upsert syntax; builders of multi-row
// INSERT and upsert statements sized to the driver's parameter limit; the
// comparison of a batch schema with a table's columns (evolve or strict);
// and the replay markers that make a replayed append batch harmless.
//
// sqlconn is dialect-neutral: it must not import a database driver nor any
// connector. It imports only etl and the standard library.
package sqlconn
