// Package postgres is nightjar's PostgreSQL connector: the "postgres"
// connection type (a DSN), the "table/postgres" target, which appends,
// merges (upserts by key) or replaces a table through binary COPY (one
// COPY streamed across the batches of each transaction, see stream.go),
// and the "sql/postgres" source, which reads a table or a query in
// keyset-paginated chunks, incrementally by a cursor column.
//
// The generic SQL work (quoting, statements, the target's modes and
// retries, the source's pagination and positions) lives in
// connectors/internal/sqlconn; this package holds what is PostgreSQL's own:
// the dialect, connecting through pgx's database/sql driver, COPY into the
// table or a temporary staging table, the transactional swap, the type
// mapping and the errors worth a retry. It must not import other
// connectors, jobs or transforms.
package postgres
